//! Conversation tests for the client: a scripted router (RawSocket + JSON on 127.0.0.1) sends
//! hand-written messages and asserts what the client answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as J, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wamp::client::{Args, CallOptions, ClientAuth, ClientError, CloseReason};
use wamp::{ClientConfig, Dict, Serializer, Session, Value};

const T: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

struct Script {
    s: TcpStream,
}

impl Script {
    async fn send(&mut self, msg: J) {
        let b = msg.to_string().into_bytes();
        let len = b.len() as u32;
        self.s
            .write_all(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8])
            .await
            .unwrap();
        self.s.write_all(&b).await.unwrap();
    }
    async fn send_raw(&mut self, text: &str) {
        let len = text.len() as u32;
        self.s
            .write_all(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8])
            .await
            .unwrap();
        self.s.write_all(text.as_bytes()).await.unwrap();
    }
    async fn recv(&mut self) -> J {
        within(async {
            let mut h = [0u8; 4];
            self.s.read_exact(&mut h).await.unwrap();
            assert_eq!(h[0], 0, "message frame expected");
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            let mut b = vec![0; len];
            self.s.read_exact(&mut b).await.unwrap();
            serde_json::from_slice(&b).unwrap()
        })
        .await
    }
    /// Expects the client's ABORT with `wamp.error.protocol_violation`.
    async fn expect_violation(&mut self) {
        let m = self.recv().await;
        assert_eq!(m[0], 3, "{m}");
        assert_eq!(m[2], "wamp.error.protocol_violation");
    }
}

/// Starts a scripted router; returns the connecting client's future and the script.
async fn scripted(
    config: ClientConfig,
) -> (
    tokio::task::JoinHandle<Result<Session, ClientError>>,
    Script,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let client =
        tokio::spawn(
            async move { Session::connect_rawsocket(&addr, Serializer::Json, config).await },
        );
    let (mut s, _) = within(l.accept()).await.unwrap();
    let mut hs = [0u8; 4];
    within(s.read_exact(&mut hs)).await.unwrap();
    assert_eq!(hs[0], 0x7F);
    assert_eq!(hs[1] & 0x0F, 1, "JSON requested");
    s.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    (client, Script { s })
}

const WELCOME: &str = r#"[2,4242,{"roles":{"broker":{},"dealer":{}},"realm":"realm1"}]"#;

async fn joined() -> (Session, Script) {
    let (client, mut r) = scripted(ClientConfig::new("realm1")).await;
    let hello = r.recv().await;
    assert_eq!(hello[0], 1);
    assert_eq!(hello[1], "realm1");
    for role in ["caller", "callee", "publisher", "subscriber"] {
        assert!(hello[2]["roles"][role].is_object(), "{hello}");
    }
    r.send_raw(WELCOME).await;
    let s = within(client).await.unwrap().expect("joined");
    assert_eq!(s.id().get(), 4242);
    (s, r)
}

#[tokio::test]
async fn abort_during_join_is_reported() {
    let (client, mut r) = scripted(ClientConfig::new("nope")).await;
    r.recv().await;
    r.send(json!([3, {"message": "no"}, "wamp.error.no_such_realm"]))
        .await;
    let e = within(client).await.unwrap();
    assert!(
        matches!(e, Err(ClientError::Aborted { ref reason, .. }) if reason == "wamp.error.no_such_realm"),
        "{e:?}"
    );
}

#[tokio::test]
async fn ticket_challenge_is_answered() {
    let mut c = ClientConfig::new("realm1");
    c.auth = Some(ClientAuth::Ticket {
        authid: "joe".into(),
        ticket: "tkt".into(),
    });
    let (client, mut r) = scripted(c).await;
    let hello = r.recv().await;
    assert_eq!(hello[2]["authmethods"], json!(["ticket"]));
    assert_eq!(hello[2]["authid"], "joe");
    r.send(json!([4, "ticket", {}])).await;
    assert_eq!(r.recv().await, json!([5, "tkt", {}]));
    r.send_raw(WELCOME).await;
    within(client).await.unwrap().unwrap();
}

#[tokio::test]
async fn wampcra_challenge_is_signed() {
    let mut c = ClientConfig::new("realm1");
    c.auth = Some(ClientAuth::WampCra {
        authid: "peter".into(),
        secret: "secret".into(),
    });
    let (client, mut r) = scripted(c).await;
    r.recv().await;
    let challenge = r#"{"nonce":"abc","authid":"peter"}"#;
    r.send(json!([4, "wampcra", {"challenge": challenge}]))
        .await;
    let auth = r.recv().await;
    assert_eq!(auth[0], 5);
    assert_eq!(
        auth[1].as_str().unwrap(),
        wamp::auth::wampcra_sign(b"secret", challenge)
    );
    r.send_raw(WELCOME).await;
    within(client).await.unwrap().unwrap();
}

#[tokio::test]
async fn welcome_without_roles_is_a_violation() {
    let (client, mut r) = scripted(ClientConfig::new("realm1")).await;
    r.recv().await;
    r.send(json!([2, 1, {}])).await;
    r.expect_violation().await;
    assert!(matches!(
        within(client).await.unwrap(),
        Err(ClientError::ProtocolViolation(_))
    ));
}

#[tokio::test]
async fn call_with_progress_and_result() {
    let (s, mut r) = joined().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let opts = CallOptions {
        on_progress: Some(Box::new(move |a: Args| seen2.lock().unwrap().push(a.args))),
        timeout: Some(Duration::from_millis(1500)),
        disclose_me: true,
    };
    let s2 = s.clone();
    let call = tokio::spawn(async move {
        s2.call_with("com.p", vec![1.into()], Dict::new().with("k", "v"), opts)
            .await
    });
    let m = r.recv().await;
    assert_eq!(m[0], 48);
    let req = m[1].as_u64().unwrap();
    assert_eq!(
        m[2],
        json!({"timeout": 1500, "disclose_me": true, "receive_progress": true})
    );
    assert_eq!(m[3], "com.p");
    assert_eq!(m[4], json!([1]));
    assert_eq!(m[5], json!({"k": "v"}));
    r.send(json!([50, req, {"progress": true}, ["p1"]])).await;
    r.send(json!([50, req, {}, ["done"], {"x": 1}])).await;
    let out = within(call).await.unwrap().unwrap();
    assert_eq!(out.args, vec![Value::from("done")]);
    assert_eq!(out.kwargs.get_u64("x"), Some(1));
    assert_eq!(*seen.lock().unwrap(), vec![vec![Value::from("p1")]]);
    // Errors resolve the call future.
    let s2 = s.clone();
    let call = tokio::spawn(async move { s2.call("com.p", vec![], Dict::new()).await });
    let m = r.recv().await;
    r.send(json!([8, 48, m[1], {}, "com.err", ["why"]])).await;
    let e = within(call).await.unwrap();
    assert!(
        matches!(&e, Err(ClientError::Wamp(w)) if w.uri == "com.err" && w.args == vec![Value::from("why")]),
        "{e:?}"
    );
    // A RESULT for an unknown call is ignored (it may race with a cancel).
    r.send(json!([50, 999, {}])).await;
    // Dropping the call future sends CANCEL.
    let fut = s.call("com.p", vec![], Dict::new());
    assert!(
        tokio::time::timeout(Duration::from_millis(100), fut)
            .await
            .is_err()
    );
    let m = r.recv().await;
    assert_eq!(m[0], 48);
    assert_eq!(r.recv().await, json!([49, m[1], {"mode": "killnowait"}]));
}

#[tokio::test]
async fn invocation_yield_error_and_interrupt() {
    let (s, mut r) = joined().await;
    let s2 = s.clone();
    let reg = tokio::spawn(async move {
        s2.register("com.echo", Dict::new(), |a: Args| async move {
            if a.args.first() == Some(&Value::from("fail")) {
                return Err(wamp::client::WampError::new("com.failed").with_args(vec![1.into()]));
            }
            if a.args.first() == Some(&Value::from("hang")) {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok((a.args, a.kwargs))
        })
        .await
    });
    let m = r.recv().await;
    assert_eq!((m[0].as_u64(), m[3].as_str()), (Some(64), Some("com.echo")));
    r.send(json!([65, m[1], 77])).await;
    let reg = within(reg).await.unwrap().unwrap();
    assert_eq!(reg.id().get(), 77);
    r.send(json!([68, 1, 77, {}, ["hi"], {"a": true}])).await;
    assert_eq!(r.recv().await, json!([70, 1, {}, ["hi"], {"a": true}]));
    r.send(json!([68, 2, 77, {}, ["fail"]])).await;
    assert_eq!(r.recv().await, json!([8, 68, 2, {}, "com.failed", [1]]));
    r.send(json!([68, 3, 78, {}])).await;
    assert_eq!(
        r.recv().await,
        json!([8, 68, 3, {}, "wamp.error.no_such_registration"])
    );
    r.send(json!([68, 4, 77, {}, ["hang"]])).await;
    r.send(json!([69, 4, {"mode": "kill"}])).await;
    assert_eq!(r.recv().await, json!([8, 68, 4, {}, "wamp.error.canceled"]));
    // Unregister.
    let un = tokio::spawn(async move { reg.unregister().await });
    let m = r.recv().await;
    assert_eq!(m[0], 66);
    assert_eq!(m[2], 77);
    r.send(json!([67, m[1]])).await;
    within(un).await.unwrap().unwrap();
}

#[tokio::test]
async fn subscribe_events_publish_unsubscribe() {
    let (s, mut r) = joined().await;
    let s2 = s.clone();
    let sub = tokio::spawn(async move {
        s2.subscribe("com.t", Dict::new().with("match", "prefix"))
            .await
    });
    let m = r.recv().await;
    assert_eq!(
        (m[0].as_u64(), m[2].clone(), m[3].as_str()),
        (Some(32), json!({"match":"prefix"}), Some("com.t"))
    );
    r.send(json!([33, m[1], 5])).await;
    let mut sub = within(sub).await.unwrap().unwrap();
    r.send(json!([36, 5, 100, {"topic": "com.t.x"}, [1], {"k": 2}]))
        .await;
    r.send(json!([36, 6, 101, {}, [2]])).await; // unknown subscription: ignored
    let ev = within(sub.next()).await.unwrap();
    assert_eq!(ev.args, vec![Value::UInt(1)]);
    assert_eq!(ev.details.get_str("topic"), Some("com.t.x"));
    // Publish without and with acknowledge.
    s.publish("com.t.y", vec![], Dict::new(), false)
        .await
        .unwrap();
    let m = r.recv().await;
    assert_eq!(m[0], 16);
    assert_eq!(m[2], json!({"acknowledge": false}));
    let s2 = s.clone();
    let p = tokio::spawn(async move {
        s2.publish("com.t.y", vec![1.into()], Dict::new(), true)
            .await
    });
    let m = r.recv().await;
    r.send(json!([17, m[1], 555])).await;
    assert_eq!(
        within(p).await.unwrap().unwrap().map(|i| i.get()),
        Some(555)
    );
    let s2 = s.clone();
    let p = tokio::spawn(async move { s2.publish("com.t.y", vec![], Dict::new(), true).await });
    let m = r.recv().await;
    r.send(json!([8, 16, m[1], {}, "wamp.error.not_authorized"]))
        .await;
    assert!(matches!(
        within(p).await.unwrap(),
        Err(ClientError::Wamp(_))
    ));
    let un = tokio::spawn(async move { sub.unsubscribe().await });
    let m = r.recv().await;
    assert_eq!((m[0].as_u64(), m[2].as_u64()), (Some(34), Some(5)));
    r.send(json!([35, m[1]])).await;
    within(un).await.unwrap().unwrap();
}

#[tokio::test]
async fn router_goodbye_is_answered() {
    let (s, mut r) = joined().await;
    r.send(json!([6, {}, "wamp.close.system_shutdown"])).await;
    assert_eq!(r.recv().await, json!([6, {}, "wamp.close.goodbye_and_out"]));
    assert_eq!(
        within(s.closed()).await,
        CloseReason::Goodbye("wamp.close.system_shutdown".into())
    );
}

#[tokio::test]
async fn client_leave_sends_goodbye() {
    let (s, mut r) = joined().await;
    let s2 = s.clone();
    let leave = tokio::spawn(async move { s2.leave().await });
    assert_eq!(r.recv().await, json!([6, {}, "wamp.close.close_realm"]));
    r.send(json!([6, {}, "wamp.close.goodbye_and_out"])).await;
    within(leave).await.unwrap().unwrap();
}

#[tokio::test]
async fn connection_loss_is_reported_to_pending_calls() {
    let (s, mut r) = joined().await;
    let s2 = s.clone();
    let call = tokio::spawn(async move { s2.call("com.p", vec![], Dict::new()).await });
    r.recv().await;
    drop(r);
    assert!(matches!(
        within(call).await.unwrap(),
        Err(ClientError::ConnectionLost)
    ));
    assert_eq!(within(s.closed()).await, CloseReason::ConnectionLost);
}

#[tokio::test]
async fn router_protocol_violations_abort() {
    let cases: Vec<&str> = vec![
        "garbage",
        r#"[2,1,{"roles":{"broker":{}}}]"#, // second WELCOME
        r#"[48,1,{},"com.p"]"#,             // CALL sent to a client
        r#"[16,1,{},"com.t"]"#,             // PUBLISH sent to a client
        r#"[17,99,1]"#,                     // PUBLISHED for an unknown request
        r#"[33,99,1]"#,                     // SUBSCRIBED for an unknown request
        r#"[65,99,1]"#,                     // REGISTERED for an unknown request
        r#"[8,68,1,{},"wamp.error.x"]"#,    // ERROR for INVOCATION sent to a client
        r#"[36,0,1,{}]"#,                   // invalid ID
    ];
    for case in cases {
        let (s, mut r) = joined().await;
        r.send_raw(case).await;
        r.expect_violation().await;
        let reason = within(s.closed()).await;
        assert_eq!(
            reason,
            CloseReason::Aborted("wamp.error.protocol_violation".into()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn router_abort_closes_the_session() {
    let (s, mut r) = joined().await;
    r.send(json!([3, {}, "wamp.close.system_shutdown"])).await;
    assert_eq!(
        within(s.closed()).await,
        CloseReason::Aborted("wamp.close.system_shutdown".into())
    );
}
