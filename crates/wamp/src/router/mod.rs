//! The sans-IO router core: realms, sessions, broker and dealer.
//!
//! [`RouterCore`] is a deterministic state machine with no sockets and no clock of its own.
//!
//! ```text
//!   connect(sink) ──► ConnId          handle_message(conn, msg, now)    disconnect(conn, now)
//!                                     handle_decode_error(conn, err)    handle_timeout(now)
//!        │                                          │
//!        ▼                                          ▼
//!   PeerSink::send(msg)  ◄── outbound messages for any connection, in order
//!   PeerSink::close()    ◄── the router is done with this connection
//! ```
//!
//! **Calling contract.** Call [`RouterCore::connect`] for every new transport, feed it each
//! decoded message with [`RouterCore::handle_message`] (or [`RouterCore::handle_decode_error`]
//! when a message could not be decoded), call [`RouterCore::disconnect`] when the transport is
//! gone, and call [`RouterCore::handle_timeout`] once [`RouterCore::poll_timeout`] is reached.
//! After `PeerSink::close` the driver should flush what was queued and close the transport; it
//! must still call `disconnect` afterwards (a no-op for closed connections).
//!
//! **Backpressure.** [`PeerSink::send`] must not block: a sink reports [`SinkFull`] when its
//! bounded queue ([`Limits::outbound_queue`]) is full, and the router then disconnects that peer
//! (see the policy on [`Limits::outbound_queue`]).

mod broker;
mod config;
mod dealer;
mod meta;
mod session;

pub use config::{AuthConfig, Credential, Limits, RouterConfig, Salt};

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::id::{Id, IdSequence};
use crate::message::{Abort, DecodeError, Message};
use crate::value::Dict;

pub(crate) use session::SessionInfo;

/// Standard WAMP error and close URIs.
pub mod uris {
    #![allow(missing_docs)]
    pub const INVALID_URI: &str = "wamp.error.invalid_uri";
    pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
    pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
    pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
    pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
    pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
    pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
    pub const CANCELED: &str = "wamp.error.canceled";
    pub const TIMEOUT: &str = "wamp.error.timeout";
    pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";
    pub const SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
    pub const CLOSE_REALM: &str = "wamp.close.close_realm";
    pub const GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";
    pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
    pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
    pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
    pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
    pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
    pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
    pub const OPTION_NOT_ALLOWED: &str = "wamp.error.option_not_allowed";
}

/// The peer's outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("outbound queue full")]
pub struct SinkFull;

/// Where the router puts messages for one connection. Implementations must not block.
pub trait PeerSink: Send {
    /// Queues a message; [`SinkFull`] when the bounded queue is full.
    fn send(&mut self, msg: Message) -> Result<(), SinkFull>;
    /// The router is done with this connection: flush what is queued, then close.
    fn close(&mut self);
}

/// Identifies a transport connection inside a [`RouterCore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

/// Connection refused because [`Limits::max_sessions`] connections are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many connections")]
pub struct TooManyConnections;

/// Where a connection is in the session lifecycle.
#[derive(Debug)]
enum ConnState {
    /// Waiting for HELLO (new transport, or after GOODBYE).
    Idle,
    /// CHALLENGE sent; waiting for AUTHENTICATE.
    Challenging(Box<session::PendingAuth>),
    /// Joined `realm` as `session`.
    Established { realm: String, session: Id },
    /// ABORT sent or sink overflowed; nothing more goes out.
    Closed,
}

struct Conn {
    sink: Box<dyn PeerSink>,
    state: ConnState,
}

/// The connections and their sinks; broker and dealer send through this.
pub(crate) struct Outbox {
    conns: HashMap<ConnId, Conn>,
    /// Connections whose sink overflowed; reaped after the current input.
    overflowed: Vec<ConnId>,
}

impl Outbox {
    /// Sends to a connection; an overflowing sink marks it for disconnection.
    pub(crate) fn send(&mut self, conn: ConnId, msg: Message) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.state, ConnState::Closed) {
            return;
        }
        if c.sink.send(msg).is_err() {
            tracing::warn!(
                conn = conn.0,
                "outbound queue full: disconnecting slow peer"
            );
            c.state = ConnState::Closed;
            c.sink.close();
            self.overflowed.push(conn);
        }
    }
}

/// Timers, ordered by deadline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Handshake(ConnId),
    /// A call timeout: realm, caller session, call request.
    Call(String, Id, Id),
}

/// A realm: its sessions, broker and dealer.
pub(crate) struct Realm {
    pub(crate) sessions: HashMap<Id, SessionInfo>,
    pub(crate) broker: broker::Broker,
    pub(crate) dealer: dealer::Dealer,
}

impl Realm {
    fn new() -> Self {
        Realm {
            sessions: HashMap::new(),
            broker: broker::Broker::default(),
            dealer: dealer::Dealer::default(),
        }
    }
}

/// Sends to an established session of a realm.
pub(crate) fn send_to(
    sessions: &HashMap<Id, SessionInfo>,
    out: &mut Outbox,
    session: Id,
    msg: Message,
) {
    if let Some(s) = sessions.get(&session) {
        out.send(s.conn, msg);
    }
}

/// An ERROR answering `request` with `uri` and a human-readable message in `args[0]`.
pub(crate) fn error_msg(request_type: u64, request: Id, uri: &str, why: &str) -> Message {
    Message::Error(crate::message::Error {
        request_type,
        request,
        details: Dict::new(),
        error: uri.to_owned(),
        payload: crate::message::Payload::args(vec![crate::value::Value::from(why)]),
    })
}

/// The sans-IO router. See the [module docs](self) for the calling contract.
pub struct RouterCore {
    config: RouterConfig,
    realms: HashMap<String, Realm>,
    out: Outbox,
    timers: BTreeSet<(Instant, TimerKey)>,
    next_conn: u64,
    /// Router-scope IDs (subscriptions, registrations).
    router_ids: IdSequence,
}

impl RouterCore {
    /// A router with the configured realms.
    pub fn new(config: RouterConfig) -> Self {
        let realms = config
            .realms
            .iter()
            .map(|r| (r.clone(), Realm::new()))
            .collect();
        RouterCore {
            config,
            realms,
            out: Outbox {
                conns: HashMap::new(),
                overflowed: Vec::new(),
            },
            timers: BTreeSet::new(),
            next_conn: 0,
            router_ids: IdSequence::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Registers a new transport connection.
    pub fn connect(
        &mut self,
        sink: Box<dyn PeerSink>,
        now: Instant,
    ) -> Result<ConnId, TooManyConnections> {
        if self.out.conns.len() >= self.config.limits.max_sessions {
            return Err(TooManyConnections);
        }
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.out.conns.insert(
            id,
            Conn {
                sink,
                state: ConnState::Idle,
            },
        );
        self.timers.insert((
            now + self.config.limits.handshake_timeout,
            TimerKey::Handshake(id),
        ));
        Ok(id)
    }

    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.out.conns.len()
    }

    /// Number of established sessions across realms.
    pub fn session_count(&self) -> usize {
        self.realms.values().map(|r| r.sessions.len()).sum()
    }

    /// The session ID of an established connection.
    pub fn session_of(&self, conn: ConnId) -> Option<Id> {
        match self.out.conns.get(&conn)?.state {
            ConnState::Established { session, .. } => Some(session),
            _ => None,
        }
    }

    /// A message from a connection.
    pub fn handle_message(&mut self, conn: ConnId, msg: Message, now: Instant) {
        let Some(c) = self.out.conns.get_mut(&conn) else {
            return;
        };
        let state = std::mem::replace(&mut c.state, ConnState::Idle);
        tracing::trace!(conn = conn.0, msg = msg.name(), "router <-");
        match state {
            ConnState::Closed => {
                c.state = ConnState::Closed;
            }
            ConnState::Idle => self.on_idle(conn, msg, now),
            ConnState::Challenging(pending) => self.on_challenging(conn, *pending, msg, now),
            ConnState::Established { realm, session } => {
                self.set_state(
                    conn,
                    ConnState::Established {
                        realm: realm.clone(),
                        session,
                    },
                );
                self.on_established(conn, &realm, session, msg, now);
            }
        }
        self.reap(now);
    }

    /// A message from a connection could not be decoded: `ABORT wamp.error.protocol_violation`.
    pub fn handle_decode_error(&mut self, conn: ConnId, err: &DecodeError, now: Instant) {
        self.protocol_violation(conn, &err.to_string(), now);
        self.reap(now);
    }

    /// The transport is gone: the session (if any) leaves its realm.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.out.conns.remove(&conn) {
            if let ConnState::Established { realm, session } = c.state {
                self.leave(&realm, session, now);
            }
        }
        self.reap(now);
    }

    /// Number of armed timers (handshakes and call timeouts), for tests and metrics.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// The earliest deadline at which [`RouterCore::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((when, _)) = self.timers.first() {
            if *when > now {
                break;
            }
            let Some((_, key)) = self.timers.pop_first() else {
                break;
            };
            match key {
                TimerKey::Handshake(conn) => {
                    let pending = self.out.conns.get(&conn).is_some_and(|c| {
                        matches!(c.state, ConnState::Idle | ConnState::Challenging(_))
                    });
                    if pending {
                        tracing::debug!(conn = conn.0, "handshake timeout");
                        self.abort(conn, uris::PROTOCOL_VIOLATION, "handshake timeout");
                    }
                }
                TimerKey::Call(realm, caller, request) => {
                    if let Some(r) = self.realms.get_mut(&realm) {
                        r.dealer
                            .timeout(&r.sessions, &mut self.out, caller, request);
                    }
                }
            }
        }
        self.reap(now);
    }

    fn set_state(&mut self, conn: ConnId, state: ConnState) {
        if let Some(c) = self.out.conns.get_mut(&conn) {
            c.state = state;
        }
    }

    /// Sends ABORT and closes the connection.
    fn abort(&mut self, conn: ConnId, reason: &str, message: &str) {
        let details = Dict::new().with("message", message);
        self.out.send(
            conn,
            Message::Abort(Abort {
                details,
                reason: reason.to_owned(),
            }),
        );
        if let Some(c) = self.out.conns.get_mut(&conn) {
            c.state = ConnState::Closed;
            c.sink.close();
        }
    }

    /// ABORT with `wamp.error.protocol_violation`; an established session leaves its realm.
    fn protocol_violation(&mut self, conn: ConnId, why: &str, now: Instant) {
        tracing::debug!(conn = conn.0, why, "protocol violation");
        let state = self
            .out
            .conns
            .get_mut(&conn)
            .map(|c| std::mem::replace(&mut c.state, ConnState::Idle));
        self.abort(conn, uris::PROTOCOL_VIOLATION, why);
        if let Some(ConnState::Established { realm, session }) = state {
            self.leave(&realm, session, now);
        }
    }

    /// Disconnects peers whose sinks overflowed (each at most once).
    fn reap(&mut self, now: Instant) {
        // Timers of calls that ended early.
        for (name, r) in &mut self.realms {
            for (deadline, caller, request) in r.dealer.finished_timers.drain(..) {
                self.timers
                    .remove(&(deadline, TimerKey::Call(name.clone(), caller, request)));
            }
        }
        let mut rounds = 0;
        while !self.out.overflowed.is_empty() && rounds < 1_000_000 {
            rounds += 1;
            let conn = self.out.overflowed.swap_remove(0);
            // The connection stays registered (Closed) until the driver calls disconnect; its
            // session leaves now so nothing more is routed to it.
            if let Some(session) = self.take_session(conn) {
                self.leave(&session.0, session.1, now);
            }
        }
    }

    /// Removes the realm/session link of a connection, returning it.
    fn take_session(&mut self, conn: ConnId) -> Option<(String, Id)> {
        let realm = self.realms.iter().find_map(|(name, r)| {
            r.sessions
                .iter()
                .find(|(_, s)| s.conn == conn)
                .map(|(id, _)| (name.clone(), *id))
        })?;
        Some(realm)
    }

    /// A session leaves its realm: subscriptions, registrations and calls are cleaned up and
    /// `wamp.session.on_leave` is published.
    fn leave(&mut self, realm: &str, session: Id, _now: Instant) {
        let Some(r) = self.realms.get_mut(realm) else {
            return;
        };
        let Some(info) = r.sessions.remove(&session) else {
            return;
        };
        r.broker.remove_session(session);
        r.dealer.remove_session(&r.sessions, &mut self.out, session);
        meta::on_leave(r, &mut self.out, &info);
        tracing::debug!(realm, session = session.get(), "session left");
    }
}

#[cfg(test)]
mod tests;
