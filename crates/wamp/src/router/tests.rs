//! Conversation tests: scripted clients send messages (written as WAMP JSON) and assert the
//! router's replies, with a virtual clock and no sockets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::auth;
use crate::message::{Message as M, code};
use crate::serializer::Serializer;
use crate::value::Value;

#[derive(Default)]
struct Queue {
    msgs: VecDeque<Message>,
    closed: bool,
    cap: usize,
}

struct TestSink(Arc<Mutex<Queue>>);

impl PeerSink for TestSink {
    fn send(&mut self, msg: Message) -> Result<(), SinkFull> {
        let mut q = self.0.lock().unwrap();
        if q.msgs.len() >= q.cap {
            return Err(SinkFull);
        }
        q.msgs.push_back(msg);
        Ok(())
    }
    fn close(&mut self) {
        self.0.lock().unwrap().closed = true;
    }
}

struct Peer {
    conn: ConnId,
    q: Arc<Mutex<Queue>>,
}

struct Harness {
    core: RouterCore,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with(RouterConfig::default())
    }
    fn with(config: RouterConfig) -> Self {
        Harness {
            core: RouterCore::new(config),
            now: Instant::now(),
        }
    }
    fn connect_cap(&mut self, cap: usize) -> Peer {
        let q = Arc::new(Mutex::new(Queue {
            cap,
            ..Default::default()
        }));
        let conn = self
            .core
            .connect(Box::new(TestSink(q.clone())), self.now)
            .expect("connect");
        Peer { conn, q }
    }
    fn connect(&mut self) -> Peer {
        self.connect_cap(10_000)
    }
    /// Sends WAMP JSON; undecodable input goes through `handle_decode_error`, as a driver does.
    fn send(&mut self, p: &Peer, json: &str) {
        match Serializer::Json.decode(json.as_bytes()) {
            Ok(m) => self.core.handle_message(p.conn, m, self.now),
            Err(e) => self.core.handle_decode_error(p.conn, &e, self.now),
        }
    }
    /// Connects and joins realm1 with every client role and the features we exercise.
    fn join(&mut self) -> (Peer, Id) {
        let p = self.connect();
        self.send(&p, HELLO);
        match p.recv() {
            M::Welcome(w) => (p, w.session),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.core.handle_timeout(self.now);
    }
}

const HELLO: &str = r#"[1,"realm1",{"roles":{"caller":{"features":{"progressive_call_results":true,"call_canceling":true}},"callee":{"features":{"progressive_call_results":true,"call_canceling":true}},"publisher":{},"subscriber":{}}}]"#;

impl Peer {
    fn recv(&self) -> Message {
        self.q
            .lock()
            .unwrap()
            .msgs
            .pop_front()
            .expect("expected a message from the router")
    }
    fn none(&self) {
        let q = self.q.lock().unwrap();
        assert!(q.msgs.is_empty(), "unexpected messages: {:?}", q.msgs);
    }
    fn closed(&self) -> bool {
        self.q.lock().unwrap().closed
    }
    /// Expects ABORT with `reason` and a closed connection.
    fn aborted(&self, reason: &str) {
        match self.recv() {
            M::Abort(a) => assert_eq!(a.reason, reason, "{a:?}"),
            other => panic!("expected ABORT {reason}, got {other:?}"),
        }
        assert!(self.closed(), "connection should be closed after ABORT");
    }
    /// Expects ERROR for `request_type`/`request` with `uri`.
    fn error(&self, request_type: u64, request: u64, uri: &str) -> crate::message::Error {
        match self.recv() {
            M::Error(e) => {
                assert_eq!(
                    (e.request_type, e.request.get(), e.error.as_str()),
                    (request_type, request, uri)
                );
                e
            }
            other => panic!("expected ERROR {uri}, got {other:?}"),
        }
    }
}

fn subscribed(p: &Peer, request: u64) -> Id {
    match p.recv() {
        M::Subscribed(s) if s.request.get() == request => s.subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
}

fn registered(p: &Peer, request: u64) -> Id {
    match p.recv() {
        M::Registered(r) if r.request.get() == request => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    }
}

fn invocation(p: &Peer) -> crate::message::Invocation {
    match p.recv() {
        M::Invocation(i) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn result(p: &Peer, request: u64) -> crate::message::CallResult {
    match p.recv() {
        M::Result(r) if r.request.get() == request => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn event(p: &Peer) -> crate::message::Event {
    match p.recv() {
        M::Event(e) => e,
        other => panic!("expected EVENT, got {other:?}"),
    }
}

// ---- session lifecycle -------------------------------------------------------------------

#[test]
fn hello_welcome_announces_exactly_the_implemented_features() {
    let mut h = Harness::new();
    let p = h.connect();
    h.send(&p, HELLO);
    let M::Welcome(w) = p.recv() else { panic!() };
    assert_eq!(w.details.get_str("realm"), Some("realm1"));
    assert_eq!(w.details.get_str("authmethod"), Some("anonymous"));
    assert_eq!(w.details.get_str("authrole"), Some("anonymous"));
    let roles = w.details.get("roles").and_then(Value::as_dict).unwrap();
    let feats = |r: &str| -> Vec<String> {
        let f = roles
            .get(r)
            .and_then(Value::as_dict)
            .unwrap()
            .get("features");
        let mut v: Vec<String> = f
            .and_then(Value::as_dict)
            .unwrap()
            .iter()
            .map(|(k, _)| k.to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        feats("broker"),
        [
            "pattern_based_subscription",
            "publisher_exclusion",
            "publisher_identification",
            "session_meta_api",
            "subscriber_blackwhite_listing"
        ]
    );
    assert_eq!(
        feats("dealer"),
        [
            "call_canceling",
            "call_timeout",
            "caller_identification",
            "pattern_based_registration",
            "progressive_call_results",
            "session_meta_api",
            "shared_registration"
        ]
    );
    assert_eq!(h.core.session_count(), 1);
    assert_eq!(h.core.session_of(p.conn), Some(w.session));
}

#[test]
fn first_message_must_be_hello() {
    for msg in [
        r#"[32,1,{},"a.b"]"#,
        r#"[6,{},"wamp.close.close_realm"]"#,
        r#"[5,"sig",{}]"#,
        r#"[48,1,{},"a.b"]"#,
    ] {
        let mut h = Harness::new();
        let p = h.connect();
        h.send(&p, msg);
        p.aborted(uris::PROTOCOL_VIOLATION);
    }
}

#[test]
fn hello_rejections() {
    let mut h = Harness::new();
    let p = h.connect();
    h.send(&p, r#"[1,"nope",{"roles":{"caller":{}}}]"#);
    p.aborted(uris::NO_SUCH_REALM);
    let p = h.connect();
    h.send(&p, r#"[1,"bad realm",{"roles":{"caller":{}}}]"#);
    p.aborted(uris::INVALID_URI);
    let p = h.connect();
    h.send(&p, r#"[1,"realm1",{}]"#); // roles missing
    p.aborted(uris::PROTOCOL_VIOLATION);
    let p = h.connect();
    h.send(
        &p,
        r#"[1,"realm1",{"roles":{"caller":{}},"authmethods":["ticket"],"authid":"x"}]"#,
    );
    p.aborted(uris::NO_AUTH_METHOD);
}

#[test]
fn realms_on_demand() {
    let mut config = RouterConfig {
        create_realms_on_demand: true,
        ..Default::default()
    };
    config.limits.max_realms = 2;
    let mut h = Harness::with(config);
    let p = h.connect();
    h.send(&p, r#"[1,"other",{"roles":{"caller":{}}}]"#);
    assert!(matches!(p.recv(), M::Welcome(_)));
    let p = h.connect();
    h.send(&p, r#"[1,"third",{"roles":{"caller":{}}}]"#);
    p.aborted(uris::NO_SUCH_REALM);
}

#[test]
fn hello_in_session_is_a_violation() {
    let mut h = Harness::new();
    let (p, _) = h.join();
    h.send(&p, HELLO);
    p.aborted(uris::PROTOCOL_VIOLATION);
    assert_eq!(h.core.session_count(), 0);
}

#[test]
fn router_only_messages_from_a_client_abort() {
    let msgs = [
        r#"[2,1,{"roles":{"broker":{}}}]"#,
        r#"[4,"ticket",{}]"#,
        r#"[5,"sig",{}]"#,
        r#"[17,1,2]"#,
        r#"[33,1,2]"#,
        r#"[35,1]"#,
        r#"[36,1,2,{}]"#,
        r#"[50,1,{}]"#,
        r#"[65,1,2]"#,
        r#"[67,1]"#,
        r#"[68,1,2,{}]"#,
        r#"[69,1,{}]"#,
        r#"[8,48,1,{},"a.b"]"#,
        r#"[8,32,1,{},"a.b"]"#,
    ];
    for m in msgs {
        let mut h = Harness::new();
        let (p, _) = h.join();
        h.send(&p, m);
        p.aborted(uris::PROTOCOL_VIOLATION);
        assert_eq!(h.core.session_count(), 0, "{m}");
    }
}

#[test]
fn invalid_messages_abort() {
    let msgs = [
        "not json",
        "[]",
        "[999]",
        r#"[16,0,{},"a.b"]"#,
        r#"[16,9007199254740993,{},"a.b"]"#,
        r#"[32,1,{"match":"regex"},"a.b"]"#,
        r#"[48,1,{},"a.b",{}]"#,
        r#"[16,1,{"acknowledge":1},"a.b"]"#,
        r#"[6,{},"not a uri"]"#,
    ];
    for m in msgs {
        let mut h = Harness::new();
        let (p, _) = h.join();
        h.send(&p, m);
        p.aborted(uris::PROTOCOL_VIOLATION);
    }
}

#[test]
fn goodbye_then_rejoin_on_the_same_transport() {
    let mut h = Harness::new();
    let (p, _) = h.join();
    h.send(&p, r#"[6,{},"wamp.close.close_realm"]"#);
    match p.recv() {
        M::Goodbye(g) => assert_eq!(g.reason, uris::GOODBYE_AND_OUT),
        other => panic!("{other:?}"),
    }
    assert!(!p.closed());
    assert_eq!(h.core.session_count(), 0);
    h.send(&p, HELLO);
    assert!(matches!(p.recv(), M::Welcome(_)));
    // Idle after GOODBYE for too long: closed.
    h.send(&p, r#"[6,{},"wamp.close.close_realm"]"#);
    p.recv();
    h.advance(Duration::from_secs(11));
    p.aborted(uris::PROTOCOL_VIOLATION);
}

#[test]
fn abort_is_never_answered() {
    // Before joining (and with the optional Arguments/ArgumentsKw), and after GOODBYE.
    for msg in [
        r#"[3,{},"wamp.close.system_shutdown"]"#,
        r#"[3,{"message":"bye"},"wamp.error.no_such_realm",["why"],{"k":1}]"#,
    ] {
        let mut h = Harness::new();
        let p = h.connect();
        h.send(&p, msg);
        p.none();
        assert!(p.closed(), "{msg}");
    }
    let mut h = Harness::new();
    let (p, _) = h.join();
    h.send(&p, r#"[6,{},"wamp.close.close_realm"]"#);
    assert!(matches!(p.recv(), M::Goodbye(_)));
    h.send(&p, r#"[3,{},"wamp.close.system_shutdown"]"#);
    p.none();
    assert!(p.closed());
}

#[test]
fn client_abort_ends_session_silently() {
    let mut h = Harness::new();
    let (p, _) = h.join();
    h.send(&p, r#"[3,{},"wamp.close.system_shutdown"]"#);
    p.none();
    assert!(p.closed());
    assert_eq!(h.core.session_count(), 0);
}

#[test]
fn handshake_timeout_closes() {
    let mut h = Harness::new();
    let p = h.connect();
    let (q, _) = h.join();
    h.advance(Duration::from_secs(11));
    p.aborted(uris::PROTOCOL_VIOLATION);
    q.none();
    assert!(!q.closed());
}

#[test]
fn max_sessions_refuses_connections() {
    let mut config = RouterConfig::default();
    config.limits.max_sessions = 2;
    let mut h = Harness::with(config);
    let a = h.connect();
    let _b = h.connect();
    assert!(
        h.core
            .connect(Box::new(TestSink(Default::default())), h.now)
            .is_err()
    );
    h.core.disconnect(a.conn, h.now);
    let _c = h.connect();
}

// ---- pub/sub -----------------------------------------------------------------------------

#[test]
fn subscribe_publish_event_unsubscribe() {
    let mut h = Harness::new();
    let (sub, _) = h.join();
    let (publ, _) = h.join();
    h.send(&sub, r#"[32,1,{},"com.x.t"]"#);
    let sid = subscribed(&sub, 1);
    h.send(
        &publ,
        r#"[16,1,{"acknowledge":true},"com.x.t",[1,"two"],{"k":true}]"#,
    );
    let M::Published(pd) = publ.recv() else {
        panic!()
    };
    let e = event(&sub);
    assert_eq!((e.subscription, e.publication), (sid, pd.publication));
    assert_eq!(
        e.payload.args,
        Some(vec![Value::UInt(1), Value::from("two")])
    );
    assert_eq!(e.payload.kwargs.unwrap().get_bool("k"), Some(true));
    assert!(e.details.get("publisher").is_none());
    // Same subscription twice: same ID.
    h.send(&sub, r#"[32,2,{},"com.x.t"]"#);
    assert_eq!(subscribed(&sub, 2), sid);
    // Unacknowledged publish: no PUBLISHED.
    h.send(&publ, r#"[16,2,{},"com.x.t"]"#);
    publ.none();
    event(&sub);
    h.send(&sub, &format!("[34,3,{sid}]"));
    assert!(matches!(sub.recv(), M::Unsubscribed(u) if u.request.get() == 3));
    h.send(&publ, r#"[16,3,{},"com.x.t"]"#);
    sub.none();
    h.send(&sub, &format!("[34,4,{sid}]"));
    sub.error(code::UNSUBSCRIBE, 4, uris::NO_SUCH_SUBSCRIPTION);
}

#[test]
fn pubsub_errors() {
    let mut h = Harness::new();
    let (p, _) = h.join();
    h.send(&p, r#"[32,1,{},"com..t"]"#);
    p.error(code::SUBSCRIBE, 1, uris::INVALID_URI);
    h.send(&p, r#"[16,2,{"acknowledge":true},"com. x"]"#);
    p.error(code::PUBLISH, 2, uris::INVALID_URI);
    h.send(&p, r#"[16,3,{},"com. x"]"#);
    p.none();
    h.send(&p, r#"[16,4,{"acknowledge":true},"wamp.session.on_join"]"#);
    p.error(code::PUBLISH, 4, uris::NOT_AUTHORIZED);
    h.send(&p, "[34,5,12345]");
    p.error(code::UNSUBSCRIBE, 5, uris::NO_SUCH_SUBSCRIPTION);
}

#[test]
fn publisher_exclusion_and_identification() {
    let mut h = Harness::new();
    let (a, aid) = h.join();
    let (b, _) = h.join();
    for p in [&a, &b] {
        h.send(p, r#"[32,1,{},"t.x"]"#);
        subscribed(p, 1);
    }
    h.send(&a, r#"[16,2,{},"t.x"]"#);
    event(&b);
    a.none();
    h.send(
        &a,
        r#"[16,3,{"exclude_me":false,"disclose_me":true},"t.x"]"#,
    );
    let e = event(&a);
    assert_eq!(e.details.get_u64("publisher"), Some(aid.get()));
    assert_eq!(e.details.get_str("publisher_authrole"), Some("anonymous"));
    event(&b);
}

#[test]
fn black_and_white_listing() {
    let mut h = Harness::new();
    let (a, _) = h.join();
    let (b, bid) = h.join();
    let (c, cid) = h.join();
    for p in [&b, &c] {
        h.send(p, r#"[32,1,{},"t.x"]"#);
        subscribed(p, 1);
    }
    h.send(&a, &format!(r#"[16,2,{{"exclude":[{bid}]}},"t.x"]"#));
    event(&c);
    b.none();
    h.send(&a, &format!(r#"[16,3,{{"eligible":[{bid}]}},"t.x"]"#));
    event(&b);
    c.none();
    h.send(&a, r#"[16,4,{"exclude_authrole":["anonymous"]}, "t.x"]"#);
    b.none();
    c.none();
    h.send(
        &a,
        &format!(r#"[16,5,{{"eligible":[{bid},{cid}],"exclude":[{cid}]}},"t.x"]"#),
    );
    event(&b);
    c.none();
}

#[test]
fn pattern_subscriptions() {
    let mut h = Harness::new();
    let (s, _) = h.join();
    let (p, _) = h.join();
    h.send(&s, r#"[32,1,{"match":"prefix"},"com.app"]"#);
    let prefix = subscribed(&s, 1);
    h.send(&s, r#"[32,2,{"match":"wildcard"},"com..update"]"#);
    let wild = subscribed(&s, 2);
    h.send(&s, r#"[32,3,{},"com.app.update"]"#);
    let exact = subscribed(&s, 3);
    h.send(&p, r#"[16,1,{},"com.app.update"]"#);
    let mut got: Vec<(Id, Option<String>)> = (0..3)
        .map(|_| {
            let e = event(&s);
            (
                e.subscription,
                e.details.get_str("topic").map(str::to_owned),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (prefix, Some("com.app.update".to_owned())),
        (wild, Some("com.app.update".to_owned())),
        (exact, None),
    ];
    want.sort();
    assert_eq!(got, want);
    h.send(&p, r#"[16,2,{},"com.other.update"]"#);
    assert_eq!(event(&s).subscription, wild);
    s.none();
}

#[test]
fn slow_subscriber_is_disconnected() {
    let mut h = Harness::new();
    let slow = h.connect_cap(3);
    h.send(&slow, HELLO);
    assert!(matches!(slow.recv(), M::Welcome(_)));
    h.send(&slow, r#"[32,1,{},"t.x"]"#);
    let (p, _) = h.join();
    for i in 1..=10 {
        h.send(&p, &format!(r#"[16,{i},{{}},"t.x",[{i}]]"#));
    }
    assert!(slow.closed());
    assert_eq!(h.core.session_count(), 1);
    assert!(slow.q.lock().unwrap().msgs.len() <= 3);
    h.core.disconnect(slow.conn, h.now);
    assert_eq!(h.core.connection_count(), 1);
}

// ---- RPC ---------------------------------------------------------------------------------

/// A callee registered for `com.x.p` and a caller.
fn rpc_pair(h: &mut Harness) -> (Peer, Peer, Id) {
    let (callee, _) = h.join();
    let (caller, _) = h.join();
    h.send(&callee, r#"[64,1,{},"com.x.p"]"#);
    let reg = registered(&callee, 1);
    (callee, caller, reg)
}

#[test]
fn call_invocation_yield_result() {
    let mut h = Harness::new();
    let (callee, caller, reg) = rpc_pair(&mut h);
    h.send(&caller, r#"[48,7,{},"com.x.p",[2,3],{"op":"add"}]"#);
    let inv = invocation(&callee);
    assert_eq!(inv.registration, reg);
    assert_eq!(inv.payload.args, Some(vec![Value::UInt(2), Value::UInt(3)]));
    assert!(inv.details.get("caller").is_none());
    h.send(&callee, &format!(r#"[70,{},{{}},[5]]"#, inv.request));
    let r = result(&caller, 7);
    assert_eq!(r.payload.args, Some(vec![Value::UInt(5)]));
    // A late/duplicate YIELD is ignored.
    h.send(&callee, &format!(r#"[70,{},{{}},[5]]"#, inv.request));
    caller.none();
    callee.none();
}

#[test]
fn rpc_errors() {
    let mut h = Harness::new();
    let (callee, caller, reg) = rpc_pair(&mut h);
    h.send(&caller, r#"[48,1,{},"com.x.none"]"#);
    caller.error(code::CALL, 1, uris::NO_SUCH_PROCEDURE);
    h.send(&caller, r#"[48,2,{},"com..x"]"#);
    caller.error(code::CALL, 2, uris::INVALID_URI);
    h.send(&caller, r#"[64,3,{},"com.x.p"]"#);
    caller.error(code::REGISTER, 3, uris::PROCEDURE_ALREADY_EXISTS);
    h.send(&caller, r#"[64,4,{},"com x"]"#);
    caller.error(code::REGISTER, 4, uris::INVALID_URI);
    h.send(&caller, r#"[64,5,{},"wamp.session.count"]"#);
    caller.error(code::REGISTER, 5, uris::NOT_AUTHORIZED);
    h.send(&caller, &format!("[66,6,{reg}]"));
    caller.error(code::UNREGISTER, 6, uris::NO_SUCH_REGISTRATION);
    // Callee answers with an application error, routed back with its payload.
    h.send(&caller, r#"[48,7,{},"com.x.p"]"#);
    let inv = invocation(&callee);
    h.send(
        &callee,
        &format!(
            r#"[8,68,{},{{}},"com.x.oops",["bad"],{{"n":1}}]"#,
            inv.request
        ),
    );
    let e = caller.error(code::CALL, 7, "com.x.oops");
    assert_eq!(e.payload.args, Some(vec![Value::from("bad")]));
    // Unregister, then the procedure is gone.
    h.send(&callee, &format!("[66,8,{reg}]"));
    assert!(matches!(callee.recv(), M::Unregistered(u) if u.request.get() == 8));
    h.send(&caller, r#"[48,9,{},"com.x.p"]"#);
    caller.error(code::CALL, 9, uris::NO_SUCH_PROCEDURE);
}

#[test]
fn duplicate_pending_call_id_is_a_violation() {
    let mut h = Harness::new();
    let (callee, caller, _) = rpc_pair(&mut h);
    h.send(&caller, r#"[48,1,{},"com.x.p"]"#);
    invocation(&callee);
    h.send(&caller, r#"[48,1,{},"com.x.p"]"#);
    caller.aborted(uris::PROTOCOL_VIOLATION);
    // The callee is told the caller is gone.
    assert!(matches!(callee.recv(), M::Interrupt(_)));
}

#[test]
fn callee_leaving_mid_call_answers_the_caller() {
    let mut h = Harness::new();
    let (callee, caller, _) = rpc_pair(&mut h);
    h.send(&caller, r#"[48,1,{},"com.x.p"]"#);
    invocation(&callee);
    h.core.disconnect(callee.conn, h.now);
    caller.error(code::CALL, 1, uris::CANCELED);
    h.send(&caller, r#"[48,2,{},"com.x.p"]"#);
    caller.error(code::CALL, 2, uris::NO_SUCH_PROCEDURE);
}

#[test]
fn progressive_results() {
    let mut h = Harness::new();
    let (callee, caller, _) = rpc_pair(&mut h);
    h.send(&caller, r#"[48,1,{"receive_progress":true},"com.x.p"]"#);
    let inv = invocation(&callee);
    assert_eq!(inv.details.get_bool("receive_progress"), Some(true));
    for i in 0..3 {
        h.send(
            &callee,
            &format!(r#"[70,{},{{"progress":true}},[{i}]]"#, inv.request),
        );
        let r = result(&caller, 1);
        assert_eq!(r.details.get_bool("progress"), Some(true));
        assert_eq!(r.payload.args, Some(vec![Value::UInt(i)]));
    }
    h.send(&callee, &format!(r#"[70,{},{{}},["done"]]"#, inv.request));
    let r = result(&caller, 1);
    assert_eq!(r.details.get("progress"), None);
    // Progress not requested: progressive yields are dropped, the final one delivered.
    h.send(&caller, r#"[48,2,{},"com.x.p"]"#);
    let inv = invocation(&callee);
    h.send(
        &callee,
        &format!(r#"[70,{},{{"progress":true}},[0]]"#, inv.request),
    );
    caller.none();
    h.send(&callee, &format!(r#"[70,{},{{}},[1]]"#, inv.request));
    result(&caller, 2);
}

#[test]
fn cancel_modes() {
    let mut h = Harness::new();
    let (callee, caller, _) = rpc_pair(&mut h);
    // skip: error now, no INTERRUPT, late YIELD discarded.
    h.send(&caller, r#"[48,1,{},"com.x.p"]"#);
    let inv = invocation(&callee);
    h.send(&caller, r#"[49,1,{"mode":"skip"}]"#);
    caller.error(code::CALL, 1, uris::CANCELED);
    callee.none();
    h.send(&callee, &format!("[70,{},{{}}]", inv.request));
    caller.none();
    // kill: INTERRUPT, caller waits for the callee's ERROR.
    h.send(&caller, r#"[48,2,{},"com.x.p"]"#);
    let inv = invocation(&callee);
    h.send(&caller, r#"[49,2,{"mode":"kill"}]"#);
    match callee.recv() {
        M::Interrupt(i) => {
            assert_eq!(i.request, inv.request);
            assert_eq!(i.options.get_str("mode"), Some("kill"));
        }
        other => panic!("{other:?}"),
    }
    caller.none();
    h.send(
        &callee,
        &format!(r#"[8,68,{},{{}},"wamp.error.canceled"]"#, inv.request),
    );
    caller.error(code::CALL, 2, uris::CANCELED);
    // killnowait: INTERRUPT and error now.
    h.send(&caller, r#"[48,3,{},"com.x.p"]"#);
    let inv = invocation(&callee);
    h.send(&caller, r#"[49,3,{"mode":"killnowait"}]"#);
    assert!(matches!(callee.recv(), M::Interrupt(i) if i.request == inv.request));
    caller.error(code::CALL, 3, uris::CANCELED);
    h.send(
        &callee,
        &format!(r#"[8,68,{},{{}},"wamp.error.canceled"]"#, inv.request),
    );
    caller.none();
    // Cancel of an unknown call is ignored.
    h.send(&caller, r#"[49,99,{}]"#);
    caller.none();
}

#[test]
fn callee_without_cancel_support_gets_skip() {
    let mut h = Harness::new();
    let callee = h.connect();
    h.send(&callee, r#"[1,"realm1",{"roles":{"callee":{}}}]"#);
    assert!(matches!(callee.recv(), M::Welcome(_)));
    h.send(&callee, r#"[64,1,{},"com.x.p"]"#);
    registered(&callee, 1);
    let (caller, _) = h.join();
    h.send(&caller, r#"[48,1,{"receive_progress":true},"com.x.p"]"#);
    let inv = invocation(&callee);
    assert_eq!(inv.details.get("receive_progress"), None);
    h.send(&caller, r#"[49,1,{"mode":"kill"}]"#);
    caller.error(code::CALL, 1, uris::CANCELED);
    callee.none();
}

#[test]
fn call_timeout() {
    let mut h = Harness::new();
    let (callee, caller, _) = rpc_pair(&mut h);
    h.send(&caller, r#"[48,1,{"timeout":500},"com.x.p"]"#);
    let inv = invocation(&callee);
    assert!(h.core.poll_timeout().is_some());
    h.advance(Duration::from_millis(400));
    caller.none();
    h.advance(Duration::from_millis(200));
    caller.error(code::CALL, 1, uris::TIMEOUT);
    assert!(matches!(callee.recv(), M::Interrupt(i) if i.request == inv.request));
    // A call answered in time is not affected by its timer.
    h.send(&caller, r#"[48,2,{"timeout":500},"com.x.p"]"#);
    let inv = invocation(&callee);
    h.send(&callee, &format!("[70,{},{{}}]", inv.request));
    result(&caller, 2);
    h.advance(Duration::from_secs(1));
    caller.none();
    // Timers of calls that finish early are removed at once; absurd timeouts do not overflow.
    let armed = h.core.timer_count();
    h.send(&caller, r#"[48,3,{"timeout":86400000},"com.x.p"]"#);
    assert_eq!(h.core.timer_count(), armed + 1);
    let inv = invocation(&callee);
    h.send(&callee, &format!("[70,{},{{}}]", inv.request));
    result(&caller, 3);
    assert_eq!(h.core.timer_count(), armed);
    h.send(
        &caller,
        r#"[48,4,{"timeout":18446744073709551615},"com.x.p"]"#,
    );
    invocation(&callee);
    assert!(h.core.timer_count() <= armed + 1);
}

#[test]
fn caller_identification() {
    let mut h = Harness::new();
    let (callee, caller, _) = rpc_pair(&mut h);
    let cid = h.core.session_of(caller.conn).unwrap();
    h.send(&caller, r#"[48,1,{"disclose_me":true},"com.x.p"]"#);
    let inv = invocation(&callee);
    assert_eq!(inv.details.get_u64("caller"), Some(cid.get()));
    assert_eq!(inv.details.get_str("caller_authrole"), Some("anonymous"));
    h.send(&callee, r#"[64,2,{"disclose_caller":true},"com.x.q"]"#);
    registered(&callee, 2);
    h.send(&caller, r#"[48,2,{},"com.x.q"]"#);
    assert_eq!(
        invocation(&callee).details.get_u64("caller"),
        Some(cid.get())
    );
}

#[test]
fn pattern_registrations() {
    let mut h = Harness::new();
    let (callee, _) = h.join();
    let (caller, _) = h.join();
    h.send(&callee, r#"[64,1,{"match":"prefix"},"com.app"]"#);
    let short = registered(&callee, 1);
    h.send(&callee, r#"[64,2,{"match":"prefix"},"com.app.admin"]"#);
    let long = registered(&callee, 2);
    h.send(&callee, r#"[64,3,{"match":"wildcard"},"com..get"]"#);
    let wild = registered(&callee, 3);
    h.send(&callee, r#"[64,4,{},"com.app.admin.get"]"#);
    let exact = registered(&callee, 4);
    let route = |h: &mut Harness, proc_: &str, req: u64| {
        h.send(&caller, &format!(r#"[48,{req},{{}},"{proc_}"]"#));
        let inv = invocation(&callee);
        (
            inv.registration,
            inv.details.get_str("procedure").map(str::to_owned),
        )
    };
    assert_eq!(route(&mut h, "com.app.admin.get", 1), (exact, None));
    assert_eq!(
        route(&mut h, "com.app.admin.set", 2),
        (long, Some("com.app.admin.set".into()))
    );
    assert_eq!(
        route(&mut h, "com.app.x", 3),
        (short, Some("com.app.x".into()))
    );
    assert_eq!(
        route(&mut h, "com.other.get", 4),
        (wild, Some("com.other.get".into()))
    );
}

#[test]
fn shared_registrations() {
    let mut h = Harness::new();
    let callees: Vec<(Peer, Id)> = (0..3).map(|_| h.join()).collect();
    let (caller, _) = h.join();
    for (p, _) in &callees {
        h.send(p, r#"[64,1,{"invoke":"roundrobin"},"com.rr"]"#);
        registered(p, 1);
        h.send(p, r#"[64,2,{"invoke":"first"},"com.first"]"#);
        registered(p, 2);
        h.send(p, r#"[64,3,{"invoke":"last"},"com.last"]"#);
        registered(p, 3);
        h.send(p, r#"[64,4,{"invoke":"random"},"com.rand"]"#);
        registered(p, 4);
    }
    let who = |h: &mut Harness, proc_: &str, req: u64| -> usize {
        h.send(&caller, &format!(r#"[48,{req},{{}},"{proc_}"]"#));
        let hits: Vec<usize> = callees
            .iter()
            .enumerate()
            .filter_map(|(i, (p, _))| (!p.q.lock().unwrap().msgs.is_empty()).then_some(i))
            .collect();
        assert_eq!(hits.len(), 1);
        let inv = invocation(&callees[hits[0]].0);
        h.send(&callees[hits[0]].0, &format!("[70,{},{{}}]", inv.request));
        result(&caller, req);
        hits[0]
    };
    let rr: Vec<usize> = (0..6).map(|i| who(&mut h, "com.rr", 10 + i)).collect();
    assert_eq!(rr, [0, 1, 2, 0, 1, 2]);
    assert_eq!(who(&mut h, "com.first", 20), 0);
    assert_eq!(who(&mut h, "com.last", 21), 2);
    assert!(who(&mut h, "com.rand", 22) < 3);
    // Mismatched policy or a single registration: procedure_already_exists.
    h.send(&caller, r#"[64,30,{"invoke":"random"},"com.rr"]"#);
    caller.error(code::REGISTER, 30, uris::PROCEDURE_ALREADY_EXISTS);
    // When the first callee leaves, `first` moves to the next one.
    h.core.disconnect(callees[0].0.conn, h.now);
    assert_eq!(who(&mut h, "com.first", 31), 1);
}

// ---- meta API ----------------------------------------------------------------------------

#[test]
fn session_meta_events_and_procedures() {
    let mut h = Harness::new();
    let (watcher, wid) = h.join();
    h.send(&watcher, r#"[32,1,{},"wamp.session.on_join"]"#);
    subscribed(&watcher, 1);
    h.send(&watcher, r#"[32,2,{},"wamp.session.on_leave"]"#);
    subscribed(&watcher, 2);
    let (other, oid) = h.join();
    let e = event(&watcher);
    let d = e.payload.args.unwrap()[0].as_dict().cloned().unwrap();
    assert_eq!(d.get_u64("session"), Some(oid.get()));
    h.send(&watcher, r#"[48,3,{},"wamp.session.count"]"#);
    assert_eq!(result(&watcher, 3).payload.args, Some(vec![Value::UInt(2)]));
    h.send(&watcher, r#"[48,4,{},"wamp.session.count",[["nobody"]]]"#);
    assert_eq!(result(&watcher, 4).payload.args, Some(vec![Value::UInt(0)]));
    h.send(&watcher, r#"[48,5,{},"wamp.session.list"]"#);
    let mut ids = vec![wid.get(), oid.get()];
    ids.sort();
    let want = Value::List(ids.into_iter().map(Value::UInt).collect());
    assert_eq!(result(&watcher, 5).payload.args, Some(vec![want]));
    h.send(
        &watcher,
        &format!(r#"[48,6,{{}},"wamp.session.get",[{oid}]]"#),
    );
    let r = result(&watcher, 6);
    assert_eq!(
        r.payload.args.unwrap()[0]
            .as_dict()
            .unwrap()
            .get_u64("session"),
        Some(oid.get())
    );
    h.send(&watcher, r#"[48,7,{},"wamp.session.get",[1]]"#);
    watcher.error(code::CALL, 7, uris::NO_SUCH_SESSION);
    h.send(&watcher, r#"[48,8,{},"wamp.nothing"]"#);
    watcher.error(code::CALL, 8, uris::NO_SUCH_PROCEDURE);
    h.core.disconnect(other.conn, h.now);
    let e = event(&watcher);
    assert_eq!(e.payload.args.unwrap()[0], Value::UInt(oid.get()));
}

// ---- authentication ----------------------------------------------------------------------

fn auth_config() -> RouterConfig {
    let mut c = RouterConfig::default();
    c.auth.allow_anonymous = false;
    c.auth
        .tickets
        .insert("joe".into(), Credential::new("secret!", "user"));
    c.auth
        .wampcra
        .insert("peter".into(), Credential::new("s3cr3t", "admin"));
    c.auth.wampcra.insert(
        "salty".into(),
        Credential {
            secret: "pw".into(),
            role: "user".into(),
            salt: Some(Salt {
                salt: "salt123".into(),
                iterations: 100,
                keylen: 32,
            }),
        },
    );
    c
}

#[test]
fn ticket_auth() {
    let mut h = Harness::with(auth_config());
    let hello = r#"[1,"realm1",{"roles":{"caller":{}},"authmethods":["ticket"],"authid":"joe"}]"#;
    let p = h.connect();
    h.send(&p, hello);
    assert!(matches!(p.recv(), M::Challenge(c) if c.auth_method == "ticket"));
    h.send(&p, r#"[5,"secret!",{}]"#);
    let M::Welcome(w) = p.recv() else { panic!() };
    assert_eq!(w.details.get_str("authid"), Some("joe"));
    assert_eq!(w.details.get_str("authrole"), Some("user"));
    assert_eq!(w.details.get_str("authmethod"), Some("ticket"));
    let p = h.connect();
    h.send(&p, hello);
    p.recv();
    h.send(&p, r#"[5,"wrong",{}]"#);
    p.aborted(uris::AUTHENTICATION_FAILED);
    let p = h.connect();
    h.send(&p, r#"[1,"realm1",{"roles":{"caller":{}}}]"#);
    p.aborted(uris::NO_AUTH_METHOD);
    // Anything but AUTHENTICATE while challenged is a violation.
    let p = h.connect();
    h.send(&p, hello);
    p.recv();
    h.send(&p, r#"[48,1,{},"a.b"]"#);
    p.aborted(uris::PROTOCOL_VIOLATION);
}

#[test]
fn wampcra_auth() {
    let mut h = Harness::with(auth_config());
    let p = h.connect();
    h.send(
        &p,
        r#"[1,"realm1",{"roles":{"caller":{}},"authmethods":["wampcra"],"authid":"peter"}]"#,
    );
    let M::Challenge(c) = p.recv() else { panic!() };
    assert_eq!(c.auth_method, "wampcra");
    let challenge = c.extra.get_str("challenge").unwrap();
    let parsed: serde_json::Value = serde_json::from_str(challenge).unwrap();
    assert_eq!(parsed["authid"], "peter");
    assert_eq!(parsed["authmethod"], "wampcra");
    let sig = auth::wampcra_sign(b"s3cr3t", challenge);
    h.send(&p, &format!(r#"[5,"{sig}",{{}}]"#));
    let M::Welcome(w) = p.recv() else { panic!() };
    assert_eq!(w.session.get(), parsed["session"].as_u64().unwrap());
    assert_eq!(w.details.get_str("authrole"), Some("admin"));
    // Wrong key.
    let p = h.connect();
    h.send(
        &p,
        r#"[1,"realm1",{"roles":{"caller":{}},"authmethods":["wampcra"],"authid":"peter"}]"#,
    );
    let M::Challenge(c) = p.recv() else { panic!() };
    let sig = auth::wampcra_sign(b"guess", c.extra.get_str("challenge").unwrap());
    h.send(&p, &format!(r#"[5,"{sig}",{{}}]"#));
    p.aborted(uris::AUTHENTICATION_FAILED);
    // Salted.
    let p = h.connect();
    h.send(
        &p,
        r#"[1,"realm1",{"roles":{"caller":{}},"authmethods":["wampcra"],"authid":"salty"}]"#,
    );
    let M::Challenge(c) = p.recv() else { panic!() };
    assert_eq!(c.extra.get_str("salt"), Some("salt123"));
    let key = auth::derive_key("pw", "salt123", 100, 32);
    let sig = auth::wampcra_sign(key.as_bytes(), c.extra.get_str("challenge").unwrap());
    h.send(&p, &format!(r#"[5,"{sig}",{{}}]"#));
    assert!(matches!(p.recv(), M::Welcome(_)));
}

#[test]
fn authid_black_and_white_listing() {
    let mut h = Harness::new();
    let join_as = |h: &mut Harness, authid: &str| -> Peer {
        let p = h.connect();
        h.send(
            &p,
            &format!(r#"[1,"realm1",{{"roles":{{"subscriber":{{}}}},"authid":"{authid}"}}]"#),
        );
        match p.recv() {
            M::Welcome(w) => assert_eq!(w.details.get_str("authid"), Some(authid)),
            other => panic!("{other:?}"),
        }
        h.send(&p, r#"[32,1,{},"t.x"]"#);
        subscribed(&p, 1);
        p
    };
    let alice = join_as(&mut h, "alice");
    let bob = join_as(&mut h, "bob");
    let (publ, _) = h.join();
    h.send(&publ, r#"[16,1,{"exclude_authid":["alice"]},"t.x"]"#);
    event(&bob);
    alice.none();
    h.send(&publ, r#"[16,2,{"eligible_authid":["alice"]},"t.x"]"#);
    event(&alice);
    bob.none();
    h.send(&publ, r#"[16,3,{"eligible_authrole":["nobody"]},"t.x"]"#);
    alice.none();
    bob.none();
}
