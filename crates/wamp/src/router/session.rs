//! Session establishment (HELLO, CHALLENGE/AUTHENTICATE, WELCOME), closing (GOODBYE, ABORT)
//! and the dispatch of established sessions' messages to broker and dealer.

use std::time::Instant;

use base64::Engine as _;
use rand::RngCore as _;

use super::{ConnId, ConnState, Realm, RouterCore, broker, dealer, meta, uris};
use crate::auth;
use crate::id::{Id, IdSequence};
use crate::message::{Challenge, Goodbye, Hello, Message, Welcome, code};
use crate::uri;
use crate::value::{Dict, Value};

/// Agent string announced in WELCOME.
pub(crate) const ROUTER_AGENT: &str = concat!("wamp-rs-router/", env!("CARGO_PKG_VERSION"));

/// What the router knows about an established session.
#[derive(Debug)]
pub(crate) struct SessionInfo {
    pub(crate) conn: ConnId,
    pub(crate) id: Id,
    pub(crate) authid: String,
    pub(crate) authrole: String,
    pub(crate) authmethod: String,
    /// Callee announced `call_canceling` (INTERRUPT may be sent).
    pub(crate) callee_cancel: bool,
    /// Callee announced `progressive_call_results`.
    pub(crate) callee_progress: bool,
    /// Router-to-client request IDs (INVOCATION).
    pub(crate) requests: IdSequence,
    /// Subscriptions plus registrations held.
    pub(crate) resources: usize,
}

impl SessionInfo {
    /// Session details as published by `wamp.session.on_join` and `wamp.session.get`.
    pub(crate) fn details(&self) -> Dict {
        Dict::new()
            .with("session", self.id.get())
            .with("authid", self.authid.as_str())
            .with("authrole", self.authrole.as_str())
            .with("authmethod", self.authmethod.as_str())
            .with("authprovider", "static")
    }
}

/// A CHALLENGE was sent; this is what the AUTHENTICATE must match.
#[derive(Debug)]
pub(crate) struct PendingAuth {
    realm: String,
    authid: String,
    authrole: String,
    method: &'static str,
    hello: Dict,
    expected: Expected,
    session: Id,
}

#[derive(Debug)]
enum Expected {
    Ticket(String),
    Cra { key: Vec<u8>, challenge: String },
}

/// The router's roles and the features it implements, announced in WELCOME.
pub(crate) fn router_roles() -> Dict {
    let features = |names: &[&str]| {
        let mut f = Dict::new();
        for n in names {
            f.insert(*n, true);
        }
        Dict::new().with("features", f)
    };
    Dict::new()
        .with(
            "broker",
            features(&[
                "publisher_identification",
                "publisher_exclusion",
                "subscriber_blackwhite_listing",
                "pattern_based_subscription",
                "session_meta_api",
            ]),
        )
        .with(
            "dealer",
            features(&[
                "progressive_call_results",
                "call_canceling",
                "call_timeout",
                "caller_identification",
                "pattern_based_registration",
                "shared_registration",
                "session_meta_api",
            ]),
        )
}

fn role_feature(details: &Dict, role: &str, feature: &str) -> bool {
    details
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|r| r.get(role))
        .and_then(Value::as_dict)
        .and_then(|r| r.get("features"))
        .and_then(Value::as_dict)
        .and_then(|f| f.get_bool(feature))
        .unwrap_or(false)
}

impl RouterCore {
    pub(super) fn on_idle(&mut self, conn: ConnId, msg: Message, now: Instant) {
        if let Message::Abort(_) = msg {
            // "ABORT is never replied to" (basic/sessions.md): the peer gave up; close quietly.
            self.set_state(conn, ConnState::Closed);
            if let Some(c) = self.out.conns.get_mut(&conn) {
                c.sink.close();
            }
            return;
        }
        let Message::Hello(hello) = msg else {
            let why = format!("expected HELLO, got {}", msg.name());
            self.protocol_violation(conn, &why, now);
            return;
        };
        self.on_hello(conn, hello, now);
    }

    fn on_hello(&mut self, conn: ConnId, hello: Hello, now: Instant) {
        let Hello { realm, details } = hello;
        if !uri::is_valid(&realm, self.config.uri_rule, false) {
            self.abort(conn, uris::INVALID_URI, "invalid realm URI");
            return;
        }
        if !self.realms.contains_key(&realm) {
            if self.config.create_realms_on_demand
                && self.realms.len() < self.config.limits.max_realms
            {
                tracing::info!(realm, "creating realm on demand");
                self.realms.insert(realm.clone(), Realm::new());
            } else {
                self.abort(conn, uris::NO_SUCH_REALM, "no such realm");
                return;
            }
        }
        let authid = details.get_str("authid").map(str::to_owned);
        let methods: Vec<String> = match details.get("authmethods").and_then(Value::as_list) {
            Some(l) => l
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect(),
            None => vec!["anonymous".to_owned()],
        };
        let auth = &self.config.auth;
        for method in &methods {
            match method.as_str() {
                "ticket" => {
                    let Some(id) = &authid else { continue };
                    let Some(cred) = auth.tickets.get(id) else {
                        continue;
                    };
                    let pending = PendingAuth {
                        realm,
                        authid: id.clone(),
                        authrole: cred.role.clone(),
                        method: "ticket",
                        hello: details,
                        expected: Expected::Ticket(cred.secret.clone()),
                        session: Id::random(),
                    };
                    let challenge = Challenge {
                        auth_method: "ticket".into(),
                        extra: Dict::new(),
                    };
                    self.out.send(conn, Message::Challenge(challenge));
                    self.set_state(conn, ConnState::Challenging(Box::new(pending)));
                    return;
                }
                "wampcra" => {
                    let Some(id) = &authid else { continue };
                    let Some(cred) = auth.wampcra.get(id) else {
                        continue;
                    };
                    let session = Id::random();
                    let mut nonce = [0u8; 16];
                    rand::rng().fill_bytes(&mut nonce);
                    let challenge = serde_json::json!({
                        "authid": id,
                        "authrole": cred.role,
                        "authmethod": "wampcra",
                        "authprovider": "static",
                        "nonce": base64::engine::general_purpose::STANDARD.encode(nonce),
                        "timestamp": auth::utc_timestamp(),
                        "session": session.get(),
                    })
                    .to_string();
                    let mut extra = Dict::new().with("challenge", challenge.as_str());
                    let key = match &cred.salt {
                        Some(s) => {
                            extra.insert("salt", s.salt.as_str());
                            extra.insert("iterations", u64::from(s.iterations));
                            extra.insert("keylen", u64::from(s.keylen));
                            auth::derive_key(&cred.secret, &s.salt, s.iterations, s.keylen)
                                .into_bytes()
                        }
                        None => cred.secret.clone().into_bytes(),
                    };
                    let pending = PendingAuth {
                        realm,
                        authid: id.clone(),
                        authrole: cred.role.clone(),
                        method: "wampcra",
                        hello: details,
                        expected: Expected::Cra { key, challenge },
                        session,
                    };
                    let msg = Challenge {
                        auth_method: "wampcra".into(),
                        extra,
                    };
                    self.out.send(conn, Message::Challenge(msg));
                    self.set_state(conn, ConnState::Challenging(Box::new(pending)));
                    return;
                }
                "anonymous" if auth.allow_anonymous => {
                    let authid = authid.unwrap_or_else(|| format!("anon-{}", Id::random()));
                    let role = auth.anonymous_role.clone();
                    self.welcome(
                        conn,
                        &realm,
                        Id::random(),
                        authid,
                        role,
                        "anonymous",
                        &details,
                        now,
                    );
                    return;
                }
                _ => {}
            }
        }
        self.abort(
            conn,
            uris::NO_AUTH_METHOD,
            "no acceptable authentication method",
        );
    }

    pub(super) fn on_challenging(
        &mut self,
        conn: ConnId,
        pending: PendingAuth,
        msg: Message,
        now: Instant,
    ) {
        let Message::Authenticate(a) = msg else {
            if let Message::Abort(_) = msg {
                self.set_state(conn, ConnState::Closed);
                if let Some(c) = self.out.conns.get_mut(&conn) {
                    c.sink.close();
                }
                return;
            }
            let why = format!("expected AUTHENTICATE, got {}", msg.name());
            self.protocol_violation(conn, &why, now);
            return;
        };
        let ok = match &pending.expected {
            Expected::Ticket(t) => {
                // Constant-time comparison of the ticket.
                let (a, b) = (a.signature.as_bytes(), t.as_bytes());
                a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
            }
            Expected::Cra { key, challenge } => auth::wampcra_verify(key, challenge, &a.signature),
        };
        if !ok {
            self.abort(conn, uris::AUTHENTICATION_FAILED, "authentication failed");
            return;
        }
        if !self.realms.contains_key(&pending.realm) {
            self.abort(conn, uris::NO_SUCH_REALM, "no such realm");
            return;
        }
        let PendingAuth {
            realm,
            authid,
            authrole,
            method,
            hello,
            session,
            ..
        } = pending;
        self.welcome(conn, &realm, session, authid, authrole, method, &hello, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn welcome(
        &mut self,
        conn: ConnId,
        realm: &str,
        mut session: Id,
        authid: String,
        authrole: String,
        authmethod: &str,
        hello: &Dict,
        _now: Instant,
    ) {
        let Some(r) = self.realms.get_mut(realm) else {
            return;
        };
        for _ in 0..16 {
            if !r.sessions.contains_key(&session) {
                break;
            }
            session = Id::random();
        }
        let info = SessionInfo {
            conn,
            id: session,
            authid,
            authrole,
            authmethod: authmethod.to_owned(),
            callee_cancel: role_feature(hello, "callee", "call_canceling"),
            callee_progress: role_feature(hello, "callee", "progressive_call_results"),
            requests: IdSequence::new(),
            resources: 0,
        };
        let details = Dict::new()
            .with("realm", realm)
            .with("authid", info.authid.as_str())
            .with("authrole", info.authrole.as_str())
            .with("authmethod", authmethod)
            .with("authprovider", "static")
            .with("agent", ROUTER_AGENT)
            .with("roles", router_roles());
        self.out
            .send(conn, Message::Welcome(Welcome { session, details }));
        if let Some(c) = self.out.conns.get_mut(&conn) {
            if !matches!(c.state, ConnState::Closed) {
                c.state = ConnState::Established {
                    realm: realm.to_owned(),
                    session,
                };
            }
        }
        tracing::debug!(
            realm,
            session = session.get(),
            authid = info.authid,
            "session joined"
        );
        let join_details = info.details();
        r.sessions.insert(session, info);
        meta::on_join(r, &mut self.out, session, join_details);
    }

    pub(super) fn on_established(
        &mut self,
        conn: ConnId,
        realm: &str,
        session: Id,
        msg: Message,
        now: Instant,
    ) {
        match msg {
            Message::Goodbye(_) => {
                let reply = Goodbye {
                    details: Dict::new(),
                    reason: uris::GOODBYE_AND_OUT.into(),
                };
                // Back to waiting for HELLO: the handshake timeout applies again.
                let deadline = now + self.config.limits.handshake_timeout;
                self.timers
                    .insert((deadline, super::TimerKey::Handshake(conn)));
                self.out.send(conn, Message::Goodbye(reply));
                if let Some(c) = self.out.conns.get_mut(&conn) {
                    if !matches!(c.state, ConnState::Closed) {
                        c.state = ConnState::Idle;
                    }
                }
                self.leave(realm, session, now);
            }
            Message::Abort(_) => {
                self.set_state(conn, ConnState::Closed);
                if let Some(c) = self.out.conns.get_mut(&conn) {
                    c.sink.close();
                }
                self.leave(realm, session, now);
            }
            Message::Error(e) if e.request_type == code::INVOCATION => {
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                r.dealer
                    .on_callee_error(&r.sessions, &mut self.out, session, e);
            }
            Message::Yield(y) => {
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                r.dealer.on_yield(&r.sessions, &mut self.out, session, y);
            }
            Message::Publish(p) => {
                let rule = self.config.uri_rule;
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                broker::publish(r, &mut self.out, session, p, rule);
            }
            Message::Subscribe(s) => {
                let limit = self.config.limits.max_subscriptions_per_session;
                let rule = self.config.uri_rule;
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                broker::subscribe(
                    r,
                    &mut self.out,
                    &mut self.router_ids,
                    session,
                    s,
                    rule,
                    limit,
                );
            }
            Message::Unsubscribe(u) => {
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                broker::unsubscribe(r, &mut self.out, session, u);
            }
            Message::Register(reg) => {
                let limit = self.config.limits.max_subscriptions_per_session;
                let rule = self.config.uri_rule;
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                dealer::register(
                    r,
                    &mut self.out,
                    &mut self.router_ids,
                    session,
                    reg,
                    rule,
                    limit,
                );
            }
            Message::Unregister(u) => {
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                dealer::unregister(r, &mut self.out, session, u);
            }
            Message::Call(c) => {
                let rule = self.config.uri_rule;
                let max_pending = self.config.limits.max_pending_calls_per_session;
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                let call = dealer::CallCtx {
                    caller: session,
                    rule,
                    max_pending,
                    now,
                };
                match dealer::call(r, &mut self.out, call, c) {
                    Ok(Some((deadline, request))) => {
                        let key = super::TimerKey::Call(realm.to_owned(), session, request);
                        self.timers.insert((deadline, key));
                    }
                    Ok(None) => {}
                    Err(why) => self.protocol_violation(conn, why, now),
                }
            }
            Message::Cancel(c) => {
                let Some(r) = self.realms.get_mut(realm) else {
                    return;
                };
                r.dealer.on_cancel(&r.sessions, &mut self.out, session, c);
            }
            other => {
                let why = format!("unexpected {} in an established session", other.name());
                self.protocol_violation(conn, &why, now);
            }
        }
    }
}
