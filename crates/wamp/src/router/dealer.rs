//! The dealer: registrations (exact, prefix, wildcard; shared with an invocation policy), calls
//! routed to callees, results and errors routed back, progressive results, cancelling and
//! timeouts.
//!
//! Cancel modes (spec "Call Canceling"; the default when `mode` is absent is `killnowait`):
//! * `skip`: ERROR `wamp.error.canceled` to the caller now; the callee's answer is discarded.
//! * `kill`: INTERRUPT to the callee; its ERROR (or RESULT) is routed to the caller.
//! * `killnowait`: INTERRUPT to the callee and ERROR to the caller now.
//!
//! A callee that did not announce `call_canceling` gets no INTERRUPT (`skip` behaviour).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::Rng as _;

use super::broker::MatchPolicy;
use super::{Outbox, Realm, SessionInfo, error_msg, meta, send_to, uris};
use crate::id::{Id, IdSequence};
use crate::message::{
    Call, CallResult, Cancel, Error, Interrupt, Invocation, Message, Register, Registered,
    Unregister, Unregistered, Yield, code,
};
use crate::uri::{self, UriRule};
use crate::value::{Dict, Value};

/// Shared registration invocation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invoke {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl Invoke {
    fn from_options(o: &Dict) -> Invoke {
        match o.get_str("invoke") {
            Some("roundrobin") => Invoke::RoundRobin,
            Some("random") => Invoke::Random,
            Some("first") => Invoke::First,
            Some("last") => Invoke::Last,
            _ => Invoke::Single,
        }
    }
}

struct Registration {
    uri: String,
    policy: MatchPolicy,
    invoke: Invoke,
    callees: Vec<Id>,
    next: usize,
    disclose_caller: bool,
}

impl Registration {
    fn pick(&mut self) -> Option<Id> {
        if self.callees.is_empty() {
            return None;
        }
        let i = match self.invoke {
            Invoke::Single | Invoke::First => 0,
            Invoke::Last => self.callees.len() - 1,
            Invoke::RoundRobin => {
                let i = self.next % self.callees.len();
                self.next = self.next.wrapping_add(1);
                i
            }
            Invoke::Random => rand::rng().random_range(0..self.callees.len()),
        };
        self.callees.get(i).copied()
    }
}

/// An invocation in flight.
struct Pending {
    caller: Id,
    call_request: Id,
    receive_progress: bool,
}

/// Registrations and calls of one realm.
#[derive(Default)]
pub(crate) struct Dealer {
    regs: HashMap<Id, Registration>,
    index: HashMap<(MatchPolicy, String), Id>,
    patterns: BTreeSet<Id>,
    /// Callee → its registrations.
    by_session: HashMap<Id, HashSet<Id>>,
    /// (callee, invocation request) → pending call.
    invocations: HashMap<(Id, Id), Pending>,
    /// (caller, call request) → (callee, invocation request).
    calls: HashMap<(Id, Id), (Id, Id)>,
    /// (caller, call request) → timeout deadline, for calls with a timeout.
    deadlines: HashMap<(Id, Id), Instant>,
    /// Deadlines of calls that ended before their timeout: the router removes these timers.
    pub(crate) finished_timers: Vec<(Instant, Id, Id)>,
    /// Caller → calls in flight.
    in_flight: HashMap<Id, usize>,
}

/// Per-call context from the router.
pub(crate) struct CallCtx {
    pub(crate) caller: Id,
    pub(crate) rule: UriRule,
    pub(crate) max_pending: usize,
    pub(crate) now: Instant,
}

impl Dealer {
    fn lookup(&self, procedure: &str) -> Option<Id> {
        if let Some(id) = self.index.get(&(MatchPolicy::Exact, procedure.to_owned())) {
            return Some(*id);
        }
        // Longest matching prefix wins, then the wildcard with the longest pattern.
        let best = |policy: MatchPolicy| {
            self.patterns
                .iter()
                .filter_map(|id| self.regs.get(id).map(|r| (id, r)))
                .filter(|(_, r)| r.policy == policy && r.policy.matches(&r.uri, procedure))
                .max_by_key(|(_, r)| r.uri.len())
                .map(|(id, _)| *id)
        };
        best(MatchPolicy::Prefix).or_else(|| best(MatchPolicy::Wildcard))
    }

    fn finish(&mut self, caller: Id, call_request: Id) {
        if let Some(deadline) = self.deadlines.remove(&(caller, call_request)) {
            self.finished_timers.push((deadline, caller, call_request));
        }
        if self.calls.remove(&(caller, call_request)).is_some() {
            if let Some(n) = self.in_flight.get_mut(&caller) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.in_flight.remove(&caller);
                }
            }
        }
    }

    /// A YIELD from a callee.
    pub(crate) fn on_yield(
        &mut self,
        sessions: &HashMap<Id, SessionInfo>,
        out: &mut Outbox,
        callee: Id,
        y: Yield,
    ) {
        let key = (callee, y.request);
        let Some(p) = self.invocations.get(&key) else {
            return;
        };
        let progress = y.options.get_bool("progress").unwrap_or(false);
        let (caller, call_request) = (p.caller, p.call_request);
        if progress {
            if !p.receive_progress {
                return;
            }
            let details = Dict::new().with("progress", true);
            let m = CallResult {
                request: call_request,
                details,
                payload: y.payload,
            };
            send_to(sessions, out, caller, Message::Result(m));
            return;
        }
        self.invocations.remove(&key);
        self.finish(caller, call_request);
        let m = CallResult {
            request: call_request,
            details: Dict::new(),
            payload: y.payload,
        };
        send_to(sessions, out, caller, Message::Result(m));
    }

    /// An ERROR answering an INVOCATION.
    pub(crate) fn on_callee_error(
        &mut self,
        sessions: &HashMap<Id, SessionInfo>,
        out: &mut Outbox,
        callee: Id,
        e: Error,
    ) {
        let Some(p) = self.invocations.remove(&(callee, e.request)) else {
            return;
        };
        self.finish(p.caller, p.call_request);
        let m = Error {
            request_type: code::CALL,
            request: p.call_request,
            details: e.details,
            error: e.error,
            payload: e.payload,
        };
        send_to(sessions, out, p.caller, Message::Error(m));
    }

    /// Cancels a call: `reason` goes to the caller unless the mode waits for the callee.
    fn cancel(
        &mut self,
        sessions: &HashMap<Id, SessionInfo>,
        out: &mut Outbox,
        caller: Id,
        call_request: Id,
        mode: &str,
        reason: &str,
    ) {
        let Some(&(callee, inv)) = self.calls.get(&(caller, call_request)) else {
            return;
        };
        let callee_cancels = sessions.get(&callee).is_some_and(|s| s.callee_cancel);
        let mode = if callee_cancels { mode } else { "skip" };
        if mode != "skip" {
            let options = Dict::new().with("mode", mode).with("reason", reason);
            send_to(
                sessions,
                out,
                callee,
                Message::Interrupt(Interrupt {
                    request: inv,
                    options,
                }),
            );
        }
        if mode == "kill" {
            return; // the callee's answer is routed as usual
        }
        self.invocations.remove(&(callee, inv));
        self.finish(caller, call_request);
        send_to(
            sessions,
            out,
            caller,
            error_msg(code::CALL, call_request, reason, "call canceled"),
        );
    }

    /// A CANCEL from a caller.
    pub(crate) fn on_cancel(
        &mut self,
        sessions: &HashMap<Id, SessionInfo>,
        out: &mut Outbox,
        caller: Id,
        c: Cancel,
    ) {
        let mode = c.options.get_str("mode").unwrap_or("killnowait").to_owned();
        self.cancel(sessions, out, caller, c.request, &mode, uris::CANCELED);
    }

    /// A call's timeout fired.
    pub(crate) fn timeout(
        &mut self,
        sessions: &HashMap<Id, SessionInfo>,
        out: &mut Outbox,
        caller: Id,
        call_request: Id,
    ) {
        self.cancel(
            sessions,
            out,
            caller,
            call_request,
            "killnowait",
            uris::TIMEOUT,
        );
    }

    /// A session left: its registrations go, callers waiting on it get an error, and its own
    /// calls are interrupted.
    pub(crate) fn remove_session(
        &mut self,
        sessions: &HashMap<Id, SessionInfo>,
        out: &mut Outbox,
        session: Id,
    ) {
        for reg in self.by_session.remove(&session).unwrap_or_default() {
            self.drop_callee(reg, session);
        }
        let as_callee: Vec<(Id, Id)> = self
            .invocations
            .keys()
            .filter(|(c, _)| *c == session)
            .copied()
            .collect();
        for key in as_callee {
            if let Some(p) = self.invocations.remove(&key) {
                self.finish(p.caller, p.call_request);
                let m = error_msg(code::CALL, p.call_request, uris::CANCELED, "callee left");
                send_to(sessions, out, p.caller, m);
            }
        }
        let as_caller: Vec<(Id, Id)> = self
            .calls
            .keys()
            .filter(|(c, _)| *c == session)
            .copied()
            .collect();
        for (caller, request) in as_caller {
            if let Some(deadline) = self.deadlines.remove(&(caller, request)) {
                self.finished_timers.push((deadline, caller, request));
            }
            if let Some((callee, inv)) = self.calls.remove(&(caller, request)) {
                self.invocations.remove(&(callee, inv));
                if sessions.get(&callee).is_some_and(|s| s.callee_cancel) {
                    let options = Dict::new()
                        .with("mode", "killnowait")
                        .with("reason", uris::CANCELED);
                    send_to(
                        sessions,
                        out,
                        callee,
                        Message::Interrupt(Interrupt {
                            request: inv,
                            options,
                        }),
                    );
                }
            }
        }
        self.in_flight.remove(&session);
    }

    fn drop_callee(&mut self, reg: Id, session: Id) {
        let Some(r) = self.regs.get_mut(&reg) else {
            return;
        };
        r.callees.retain(|c| *c != session);
        if r.callees.is_empty() {
            if let Some(r) = self.regs.remove(&reg) {
                self.index.remove(&(r.policy, r.uri));
            }
            self.patterns.remove(&reg);
        }
    }
}

pub(crate) fn register(
    realm: &mut Realm,
    out: &mut Outbox,
    ids: &mut IdSequence,
    session: Id,
    msg: Register,
    rule: UriRule,
    limit: usize,
) {
    let policy = MatchPolicy::from_options(&msg.options);
    let invoke = Invoke::from_options(&msg.options);
    let fail = |out: &mut Outbox, sessions: &HashMap<Id, SessionInfo>, uri: &str, why: &str| {
        send_to(
            sessions,
            out,
            session,
            error_msg(code::REGISTER, msg.request, uri, why),
        );
    };
    if !policy.valid_pattern(&msg.procedure, rule) {
        fail(
            out,
            &realm.sessions,
            uris::INVALID_URI,
            "invalid procedure URI",
        );
        return;
    }
    if uri::is_reserved(&msg.procedure) {
        fail(
            out,
            &realm.sessions,
            uris::NOT_AUTHORIZED,
            "the wamp.* namespace is reserved",
        );
        return;
    }
    if realm.sessions.get(&session).map_or(0, |s| s.resources) >= limit {
        fail(
            out,
            &realm.sessions,
            uris::NOT_AUTHORIZED,
            "too many registrations",
        );
        return;
    }
    let dealer = &mut realm.dealer;
    let key = (policy, msg.procedure.clone());
    let reg = match dealer.index.get(&key) {
        Some(id) => {
            let id = *id;
            let Some(r) = dealer.regs.get_mut(&id) else {
                return;
            };
            if r.invoke == Invoke::Single || r.invoke != invoke || r.callees.contains(&session) {
                fail(
                    out,
                    &realm.sessions,
                    uris::PROCEDURE_ALREADY_EXISTS,
                    "procedure already registered",
                );
                return;
            }
            r.callees.push(session);
            id
        }
        None => {
            let id = ids.next_id();
            dealer.regs.insert(
                id,
                Registration {
                    uri: msg.procedure.clone(),
                    policy,
                    invoke,
                    callees: vec![session],
                    next: 0,
                    disclose_caller: msg.options.get_bool("disclose_caller").unwrap_or(false),
                },
            );
            dealer.index.insert(key, id);
            if policy != MatchPolicy::Exact {
                dealer.patterns.insert(id);
            }
            id
        }
    };
    dealer.by_session.entry(session).or_default().insert(reg);
    if let Some(info) = realm.sessions.get_mut(&session) {
        info.resources += 1;
    }
    let m = Message::Registered(Registered {
        request: msg.request,
        registration: reg,
    });
    send_to(&realm.sessions, out, session, m);
}

pub(crate) fn unregister(realm: &mut Realm, out: &mut Outbox, session: Id, msg: Unregister) {
    let dealer = &mut realm.dealer;
    let held = dealer
        .by_session
        .get_mut(&session)
        .is_some_and(|s| s.remove(&msg.registration));
    if !held {
        let m = error_msg(
            code::UNREGISTER,
            msg.request,
            uris::NO_SUCH_REGISTRATION,
            "no such registration",
        );
        send_to(&realm.sessions, out, session, m);
        return;
    }
    dealer.drop_callee(msg.registration, session);
    if let Some(info) = realm.sessions.get_mut(&session) {
        info.resources = info.resources.saturating_sub(1);
    }
    let m = Message::Unregistered(Unregistered {
        request: msg.request,
        details: None,
    });
    send_to(&realm.sessions, out, session, m);
}

/// Routes a CALL. Returns the timeout deadline to arm (with the call request ID), or an error
/// string for a protocol violation.
pub(crate) fn call(
    realm: &mut Realm,
    out: &mut Outbox,
    ctx: CallCtx,
    msg: Call,
) -> Result<Option<(Instant, Id)>, &'static str> {
    let caller = ctx.caller;
    if realm.dealer.calls.contains_key(&(caller, msg.request)) {
        return Err("CALL request ID already in use by a pending call");
    }
    let reply = |out: &mut Outbox, sessions: &HashMap<Id, SessionInfo>, uri: &str, why: &str| {
        send_to(
            sessions,
            out,
            caller,
            error_msg(code::CALL, msg.request, uri, why),
        );
    };
    if !uri::is_valid(&msg.procedure, ctx.rule, false) {
        reply(
            out,
            &realm.sessions,
            uris::INVALID_URI,
            "invalid procedure URI",
        );
        return Ok(None);
    }
    if meta::is_meta_procedure(&msg.procedure) {
        meta::call(realm, out, caller, msg);
        return Ok(None);
    }
    let dealer = &mut realm.dealer;
    let Some(reg_id) = dealer.lookup(&msg.procedure) else {
        reply(
            out,
            &realm.sessions,
            uris::NO_SUCH_PROCEDURE,
            "no such procedure",
        );
        return Ok(None);
    };
    if dealer.in_flight.get(&caller).copied().unwrap_or(0) >= ctx.max_pending {
        reply(
            out,
            &realm.sessions,
            uris::CANCELED,
            "too many calls in flight",
        );
        return Ok(None);
    }
    let Some(reg) = dealer.regs.get_mut(&reg_id) else {
        return Ok(None);
    };
    let Some(callee) = reg.pick() else {
        reply(
            out,
            &realm.sessions,
            uris::NO_SUCH_PROCEDURE,
            "no such procedure",
        );
        return Ok(None);
    };
    let mut details = Dict::new();
    if reg.policy != MatchPolicy::Exact {
        details.insert("procedure", msg.procedure.as_str());
    }
    let disclose = reg.disclose_caller || msg.options.get_bool("disclose_me").unwrap_or(false);
    if disclose {
        if let Some(c) = realm.sessions.get(&caller) {
            details.insert("caller", c.id.get());
            details.insert("caller_authid", c.authid.as_str());
            details.insert("caller_authrole", c.authrole.as_str());
        }
    }
    let Some(callee_info) = realm.sessions.get_mut(&callee) else {
        reply(
            out,
            &realm.sessions,
            uris::NO_SUCH_PROCEDURE,
            "no such procedure",
        );
        return Ok(None);
    };
    let receive_progress = msg.options.get_bool("receive_progress").unwrap_or(false);
    if receive_progress && callee_info.callee_progress {
        details.insert("receive_progress", true);
    }
    let inv = callee_info.requests.next_id();
    let callee_conn = callee_info.conn;
    dealer.invocations.insert(
        (callee, inv),
        Pending {
            caller,
            call_request: msg.request,
            receive_progress,
        },
    );
    dealer.calls.insert((caller, msg.request), (callee, inv));
    *dealer.in_flight.entry(caller).or_default() += 1;
    let invocation = Invocation {
        request: inv,
        registration: reg_id,
        details,
        payload: msg.payload,
    };
    out.send(callee_conn, Message::Invocation(invocation));
    let timeout = msg
        .options
        .get("timeout")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    // An absurd timeout that overflows the clock means "no timeout".
    let deadline = (timeout > 0)
        .then(|| ctx.now.checked_add(Duration::from_millis(timeout)))
        .flatten();
    if let Some(d) = deadline {
        dealer.deadlines.insert((caller, msg.request), d);
    }
    Ok(deadline.map(|d| (d, msg.request)))
}
