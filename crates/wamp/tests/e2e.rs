//! End to end: our client against our router over real sockets on 127.0.0.1, for WebSocket and
//! RawSocket with every serializer. Every wait is bounded by a timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wamp::client::{Args, CallOptions, ClientAuth, ClientError, CloseReason, WampError};
use wamp::router::Credential;
use wamp::{ClientConfig, Dict, Router, RouterConfig, Serializer, Session, Value};

const T: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

struct Server {
    ws: String,
    raw: String,
    router: Router,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn start(config: RouterConfig) -> Server {
    let router = Router::new(config);
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ws_addr, raw_addr) = (ws.local_addr().unwrap(), raw.local_addr().unwrap());
    let r1 = router.clone();
    let r2 = router.clone();
    let t1 = tokio::spawn(async move {
        let _ = r1.serve_websocket(ws, "/ws").await;
    });
    let t2 = tokio::spawn(async move {
        let _ = r2.serve_rawsocket(raw).await;
    });
    Server {
        ws: format!("ws://{ws_addr}/ws"),
        raw: raw_addr.to_string(),
        router,
        _tasks: vec![t1, t2],
    }
}

#[derive(Clone, Copy, Debug)]
enum Via {
    Ws(Serializer),
    Raw(Serializer),
}

const ALL: [Via; 6] = [
    Via::Ws(Serializer::Json),
    Via::Ws(Serializer::MsgPack),
    Via::Ws(Serializer::Cbor),
    Via::Raw(Serializer::Json),
    Via::Raw(Serializer::MsgPack),
    Via::Raw(Serializer::Cbor),
];

async fn connect(s: &Server, via: Via, config: ClientConfig) -> Result<Session, ClientError> {
    match via {
        Via::Ws(ser) => Session::connect_websocket(&s.ws, ser, config).await,
        Via::Raw(ser) => Session::connect_rawsocket(&s.raw, ser, config).await,
    }
}

async fn join(s: &Server, via: Via) -> Session {
    within(connect(s, via, ClientConfig::new("realm1")))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_and_pubsub_over_every_transport_and_serializer() {
    let s = start(RouterConfig::default()).await;
    for (i, via) in ALL.into_iter().enumerate() {
        let callee = join(&s, via).await;
        // Mix transports: the caller always uses the next combination.
        let caller = join(&s, ALL[(i + 1) % ALL.len()]).await;
        let proc_ = format!("com.test.add{i}");
        let reg = within(callee.register(&proc_, Dict::new(), |a: Args| async move {
            let x = a.args.first().and_then(Value::as_i64).unwrap_or(0);
            let y = a.args.get(1).and_then(Value::as_i64).unwrap_or(0);
            if y == 0 {
                return Err(WampError::new("com.test.zero").with_args(vec!["y is zero".into()]));
            }
            Ok((
                vec![Value::from(x + y)],
                Dict::new().with("bin", vec![0u8, 1, 255]),
            ))
        }))
        .await
        .expect("register");
        let r = within(caller.call(&proc_, vec![2.into(), 40.into()], Dict::new()))
            .await
            .unwrap();
        assert_eq!(r.args, vec![Value::UInt(42)], "{via:?}");
        assert_eq!(
            r.kwargs.get("bin"),
            Some(&Value::Bytes(vec![0, 1, 255])),
            "{via:?}"
        );
        let e = within(caller.call(&proc_, vec![2.into(), 0.into()], Dict::new())).await;
        match e {
            Err(ClientError::Wamp(w)) => {
                assert_eq!(w.uri, "com.test.zero");
                assert_eq!(w.args, vec![Value::from("y is zero")]);
            }
            other => panic!("{via:?}: {other:?}"),
        }
        let e = within(caller.call("com.test.nothing", vec![], Dict::new())).await;
        assert!(matches!(e, Err(ClientError::Wamp(w)) if w.uri == "wamp.error.no_such_procedure"));

        // Pub/sub with acknowledge; binary payload survives every serializer.
        let topic = format!("com.test.topic{i}");
        let mut sub = within(callee.subscribe(&topic, Dict::new())).await.unwrap();
        let pid =
            within(caller.publish(&topic, vec![Value::Bytes(vec![9, 8, 7])], Dict::new(), true))
                .await
                .unwrap();
        assert!(pid.is_some());
        let ev = within(sub.next()).await.unwrap();
        assert_eq!(ev.args, vec![Value::Bytes(vec![9, 8, 7])]);
        within(sub.unsubscribe()).await.unwrap();
        within(reg.unregister()).await.unwrap();
        let e = within(caller.call(&proc_, vec![1.into(), 1.into()], Dict::new())).await;
        assert!(matches!(e, Err(ClientError::Wamp(w)) if w.uri == "wamp.error.no_such_procedure"));
        within(callee.leave()).await.unwrap();
        within(caller.leave()).await.unwrap();
        assert!(matches!(callee.close_reason(), CloseReason::Goodbye(_)));
    }
    within(async {
        while s.router.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn progressive_results_cancel_and_timeout() {
    let s = start(RouterConfig::default()).await;
    let callee = join(&s, Via::Raw(Serializer::Cbor)).await;
    let caller = join(&s, Via::Ws(Serializer::Json)).await;
    let started = Arc::new(AtomicUsize::new(0));
    let st = started.clone();
    within(callee.register("com.slow", Dict::new(), move |_a: Args| {
        let st = st.clone();
        async move {
            st.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok((vec![], Dict::new()))
        }
    }))
    .await
    .unwrap();
    // Router-side timeout.
    let opts = CallOptions {
        timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let r = within(caller.call_with("com.slow", vec![], Dict::new(), opts)).await;
    assert!(
        matches!(&r, Err(ClientError::Wamp(w)) if w.uri == "wamp.error.timeout"),
        "{r:?}"
    );
    // Dropping the call future cancels it.
    let fut = caller.call("com.slow", vec![], Dict::new());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), fut)
            .await
            .is_err()
    );
    // The router still serves both sessions.
    let r = within(caller.call("wamp.session.count", vec![], Dict::new()))
        .await
        .unwrap();
    assert_eq!(r.args, vec![Value::UInt(2)]);
    assert_eq!(started.load(Ordering::SeqCst), 2);

    // Progressive results end to end.
    within(callee.register_progressive(
        "com.count",
        Dict::new(),
        |a: Args, p: wamp::client::Progress| async move {
            let n = a.args.first().and_then(Value::as_u64).unwrap_or(0);
            for i in 0..n {
                p.send(vec![Value::UInt(i)], Dict::new()).await;
            }
            Ok((vec![Value::UInt(n)], Dict::new()))
        },
    ))
    .await
    .unwrap();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let got2 = got.clone();
    let opts = CallOptions {
        on_progress: Some(Box::new(move |a: Args| {
            got2.lock().unwrap().push(a.args[0].clone())
        })),
        ..Default::default()
    };
    let r = within(caller.call_with("com.count", vec![3.into()], Dict::new(), opts))
        .await
        .unwrap();
    assert_eq!(r.args, vec![Value::UInt(3)]);
    assert_eq!(
        *got.lock().unwrap(),
        vec![Value::UInt(0), Value::UInt(1), Value::UInt(2)]
    );
    // Without receive_progress, only the final result arrives.
    let r = within(caller.call("com.count", vec![2.into()], Dict::new()))
        .await
        .unwrap();
    assert_eq!(r.args, vec![Value::UInt(2)]);

    // A normal result with on_progress set still resolves.
    within(callee.register("com.fast", Dict::new(), |_a: Args| async {
        Ok((vec![1.into()], Dict::new()))
    }))
    .await
    .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let opts = CallOptions {
        on_progress: Some(Box::new(move |_a| {
            seen2.fetch_add(1, Ordering::SeqCst);
        })),
        ..Default::default()
    };
    let r = within(caller.call_with("com.fast", vec![], Dict::new(), opts))
        .await
        .unwrap();
    assert_eq!(r.args, vec![Value::UInt(1)]);
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn callee_disconnect_mid_call_and_connection_loss_reported() {
    let s = start(RouterConfig::default()).await;
    let callee = join(&s, Via::Raw(Serializer::MsgPack)).await;
    let caller = join(&s, Via::Raw(Serializer::Json)).await;
    within(callee.register("com.hang", Dict::new(), |_a: Args| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok((vec![], Dict::new()))
    }))
    .await
    .unwrap();
    let c2 = caller.clone();
    let call = tokio::spawn(async move { c2.call("com.hang", vec![], Dict::new()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Kill the callee's session from the router side by dropping every handle: the client
    // leaves, the router answers the caller.
    drop(callee);
    let r = within(call).await.unwrap();
    assert!(
        matches!(&r, Err(ClientError::Wamp(w)) if w.uri == "wamp.error.canceled"),
        "{r:?}"
    );
    // Connection loss: the router's serve futures end when the tasks are aborted.
    for t in &s._tasks {
        t.abort();
    }
    let reason = within(caller.closed()).await;
    assert_eq!(reason, CloseReason::ConnectionLost);
    let r = caller.call("wamp.session.count", vec![], Dict::new()).await;
    assert!(matches!(r, Err(ClientError::ConnectionLost)), "{r:?}");
}

#[tokio::test]
async fn authentication_ticket_and_wampcra() {
    let mut config = RouterConfig::default();
    config.auth.allow_anonymous = false;
    config
        .auth
        .tickets
        .insert("joe".into(), Credential::new("t1ck3t", "user"));
    config
        .auth
        .wampcra
        .insert("peter".into(), Credential::new("s3cr3t", "admin"));
    let s = start(config).await;
    let mut c = ClientConfig::new("realm1");
    c.auth = Some(ClientAuth::Ticket {
        authid: "joe".into(),
        ticket: "t1ck3t".into(),
    });
    let sess = within(connect(&s, Via::Ws(Serializer::Json), c.clone()))
        .await
        .unwrap();
    assert_eq!(sess.welcome_details().get_str("authrole"), Some("user"));
    c.auth = Some(ClientAuth::Ticket {
        authid: "joe".into(),
        ticket: "nope".into(),
    });
    let r = within(connect(&s, Via::Raw(Serializer::Cbor), c.clone())).await;
    assert!(
        matches!(r, Err(ClientError::Aborted { ref reason, .. }) if reason == "wamp.error.authentication_failed"),
        "{r:?}"
    );
    c.auth = Some(ClientAuth::WampCra {
        authid: "peter".into(),
        secret: "s3cr3t".into(),
    });
    let sess = within(connect(&s, Via::Raw(Serializer::MsgPack), c.clone()))
        .await
        .unwrap();
    assert_eq!(sess.welcome_details().get_str("authid"), Some("peter"));
    let r = within(connect(
        &s,
        Via::Ws(Serializer::Cbor),
        ClientConfig::new("realm1"),
    ))
    .await;
    assert!(matches!(r, Err(ClientError::Aborted { .. })), "{r:?}");
    let r = within(connect(
        &s,
        Via::Ws(Serializer::Cbor),
        ClientConfig::new("nowhere"),
    ))
    .await;
    assert!(
        matches!(r, Err(ClientError::Aborted { ref reason, .. }) if reason == "wamp.error.no_such_realm")
    );
}

#[tokio::test]
async fn rawsocket_handshake_errors_and_ping() {
    let s = start(RouterConfig::default()).await;
    // Unsupported serializer: error 1.
    let mut t = TcpStream::connect(&s.raw).await.unwrap();
    t.write_all(&[0x7F, 0xF9, 0, 0]).await.unwrap();
    let mut b = [0u8; 4];
    within(t.read_exact(&mut b)).await.unwrap();
    assert_eq!(b, [0x7F, 0x10, 0, 0]);
    // Reserved bits: error 3.
    let mut t = TcpStream::connect(&s.raw).await.unwrap();
    t.write_all(&[0x7F, 0xF1, 0, 1]).await.unwrap();
    within(t.read_exact(&mut b)).await.unwrap();
    assert_eq!(b, [0x7F, 0x30, 0, 0]);
    // Not RawSocket: closed without reply.
    let mut t = TcpStream::connect(&s.raw).await.unwrap();
    t.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    // Closed without a reply (EOF, or a reset because our bytes were left unread).
    assert!(matches!(
        within(t.read_to_end(&mut buf)).await,
        Ok(0) | Err(_)
    ));
    // Accepted: JSON, 1 MiB router limit (exponent 11); PING answered with PONG.
    let mut t = TcpStream::connect(&s.raw).await.unwrap();
    t.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    within(t.read_exact(&mut b)).await.unwrap();
    assert_eq!(b, [0x7F, 0xB1, 0, 0]);
    t.write_all(&[1, 0, 0, 3, b'a', b'b', b'c']).await.unwrap();
    let mut pong = [0u8; 7];
    within(t.read_exact(&mut pong)).await.unwrap();
    assert_eq!(pong, [2, 0, 0, 3, b'a', b'b', b'c']);
    // A frame over the router's limit closes the connection.
    t.write_all(&[0, 0x20, 0, 0]).await.unwrap();
    let mut rest = Vec::new();
    let _ = within(t.read_to_end(&mut rest)).await;
    // Invalid WAMP: ABORT then close.
    let mut t = TcpStream::connect(&s.raw).await.unwrap();
    t.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    within(t.read_exact(&mut b)).await.unwrap();
    let junk = b"[1,\"realm1\"]";
    t.write_all(&[0, 0, 0, junk.len() as u8]).await.unwrap();
    t.write_all(junk).await.unwrap();
    let mut rest = Vec::new();
    within(t.read_to_end(&mut rest)).await.unwrap();
    let text = String::from_utf8_lossy(&rest[4..]);
    assert!(
        text.starts_with("[3,") && text.contains("wamp.error.protocol_violation"),
        "{text}"
    );
}

#[tokio::test]
async fn websocket_rejects_wrong_path_and_subprotocol() {
    let s = start(RouterConfig::default()).await;
    let wrong_path = s.ws.replace("/ws", "/other");
    let r = within(Session::connect_websocket(
        &wrong_path,
        Serializer::Json,
        ClientConfig::new("realm1"),
    ))
    .await;
    assert!(matches!(r, Err(ClientError::Transport(_))), "{r:?}");
    let mut t = TcpStream::connect(s.ws.trim_start_matches("ws://").trim_end_matches("/ws"))
        .await
        .unwrap();
    let req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
               Sec-WebSocket-Protocol: wamp.2.ubjson\r\n\r\n";
    t.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = within(t.read(&mut buf)).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test]
async fn slow_subscriber_is_disconnected_and_router_memory_stays_bounded() {
    let mut config = RouterConfig::default();
    config.limits.outbound_queue = 8;
    let s = start(config).await;
    // A subscriber that never reads: raw TCP, RawSocket JSON.
    let mut slow = TcpStream::connect(&s.raw).await.unwrap();
    slow.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
    let mut b = [0u8; 4];
    within(slow.read_exact(&mut b)).await.unwrap();
    for m in [
        r#"[1,"realm1",{"roles":{"subscriber":{}}}]"#,
        r#"[32,1,{},"com.flood"]"#,
    ] {
        slow.write_all(&[0, 0, 0, m.len() as u8]).await.unwrap();
        slow.write_all(m.as_bytes()).await.unwrap();
    }
    let publisher = join(&s, Via::Raw(Serializer::Cbor)).await;
    within(async {
        while s.router.session_count() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let blob = Value::Bytes(vec![7u8; 60_000]);
    within(async {
        for _ in 0..2_000 {
            publisher
                .publish("com.flood", vec![blob.clone()], Dict::new(), false)
                .await
                .unwrap();
            if s.router.session_count() == 1 {
                break;
            }
        }
        // Round trip so every publish was processed.
        publisher
            .publish("com.flood", vec![], Dict::new(), true)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(
        s.router.session_count(),
        1,
        "slow subscriber should have been disconnected"
    );
}

#[tokio::test]
async fn oversize_result_becomes_payload_size_exceeded_and_oversize_event_is_dropped() {
    let s = start(RouterConfig::default()).await;
    let callee = join(&s, Via::Ws(Serializer::MsgPack)).await;
    within(callee.register("com.big", Dict::new(), |_a: Args| async {
        Ok((vec![Value::Bytes(vec![1; 4096])], Dict::new()))
    }))
    .await
    .unwrap();
    // A RawSocket client that accepts at most 512 bytes per message.
    let mut small = ClientConfig::new("realm1");
    small.max_message_size = 512;
    let caller = within(connect(&s, Via::Raw(Serializer::Cbor), small))
        .await
        .unwrap();
    let r = within(caller.call("com.big", vec![], Dict::new())).await;
    assert!(
        matches!(&r, Err(ClientError::Wamp(w)) if w.uri == "wamp.error.payload_size_exceeded"),
        "{r:?}"
    );
    let mut sub = within(caller.subscribe("com.big.topic", Dict::new()))
        .await
        .unwrap();
    let big = vec![Value::Bytes(vec![2; 4096])];
    within(callee.publish("com.big.topic", big, Dict::new(), true))
        .await
        .unwrap();
    within(callee.publish("com.big.topic", vec![Value::UInt(1)], Dict::new(), true))
        .await
        .unwrap();
    // The big event was dropped; the small one arrives and the session is alive.
    let ev = within(sub.next()).await.unwrap();
    assert_eq!(ev.args, vec![Value::UInt(1)]);
    let r = within(caller.call("wamp.session.count", vec![], Dict::new()))
        .await
        .unwrap();
    assert_eq!(r.args, vec![Value::UInt(2)]);
}
