//! Every interaction model in both directions over in-memory, TCP and WebSocket transports.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::StreamExt;
use rsocket::{Client, ErrorKind, Payload, RSocket};

async fn exercise(rs: &RSocket, seen: &Seen) {
    // request-response with metadata
    let p = Payload::from("hello").with_metadata("meta");
    let r = rs.request_response(p.clone()).await.unwrap();
    assert_eq!(r, p);
    // errors: standard and custom codes
    let e = rs
        .request_response(Payload::from("error:201"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Application);
    assert_eq!(e.code().unwrap().0, 0x201);
    assert_eq!(e.message(), "requested error");
    let e = rs
        .request_response(Payload::from("error:0x301"))
        .await
        .unwrap_err();
    assert_eq!(e.code().unwrap().0, 0x301);
    // stream with more items than the prefetch
    let items: Vec<_> = rs.request_stream(Payload::from("200")).collect().await;
    assert_eq!(items.len(), 200);
    for (i, it) in items.iter().enumerate() {
        assert_eq!(it.as_ref().unwrap().data_utf8().unwrap(), i.to_string());
    }
    // channel echo
    let out = futures::stream::iter((0..100).map(|i| Payload::from(format!("c{i}"))));
    let back: Vec<_> = rs.request_channel(out).collect().await;
    let back: Vec<String> = back
        .into_iter()
        .map(|p| p.unwrap().data_utf8().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
    assert_eq!(back, expected);
    // fire-and-forget and metadata push
    let before = seen.fnf.load(Ordering::SeqCst);
    rs.fire_and_forget(Payload::from("f")).await.unwrap();
    rs.metadata_push(Bytes::from_static(b"m")).await.unwrap();
    // A request-response after them proves they were processed (same connection, in order).
    rs.request_response(Payload::from("sync")).await.unwrap();
    for _ in 0..100 {
        if seen.fnf.load(Ordering::SeqCst) > before && seen.push.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen.fnf.load(Ordering::SeqCst) > before);
    assert!(seen.push.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn memory_client_to_server_and_back() {
    deadline(async {
        let (srv_seen, cli_seen) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
        let seen2 = srv_seen.clone();
        let cli2 = cli_seen.clone();
        // A server whose acceptor keeps the requester for the client, to call it back.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let server = rsocket::Server::builder()
            .acceptor(move |_setup, requester: RSocket| {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(requester);
                }
                let h = handler(seen2.clone());
                async move { Ok::<_, rsocket::Error>(h) }
            })
            .build();
        let (c, s) = rsocket::transport::memory_pair(256 * 1024);
        tokio::spawn(server.serve_connection(s));
        let client = Client::builder().responder(handler(cli2)).connect_with(c);
        exercise(&client, &srv_seen).await;
        let to_client = rx.await.unwrap();
        exercise(&to_client, &cli_seen).await;
    })
    .await;
}

#[tokio::test]
async fn tcp_all_interactions() {
    deadline(async {
        let seen = Arc::new(Seen::default());
        let addr = tcp_server(server(seen.clone())).await;
        let rs = Client::builder().connect(&addr).await.unwrap();
        exercise(&rs, &seen).await;
    })
    .await;
}

#[tokio::test]
async fn websocket_all_interactions() {
    deadline(async {
        let seen = Arc::new(Seen::default());
        let url = ws_server(server(seen.clone())).await;
        let rs = Client::builder().connect(&url).await.unwrap();
        exercise(&rs, &seen).await;
    })
    .await;
}

#[tokio::test]
async fn websocket_wrong_path_is_refused() {
    deadline(async {
        let url = ws_server(server(Arc::new(Seen::default()))).await;
        let bad = url.replace("/rsocket", "/nope");
        let e = Client::builder().connect(&bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.message().contains("404"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_responder() {
    deadline(async {
        let seen = Arc::new(Seen::default());
        let (rs, _srv) = memory(seen.clone(), Arc::new(Seen::default()));
        let mut s = rs.request_stream(Payload::from("inf"));
        for _ in 0..10 {
            s.next().await.unwrap().unwrap();
        }
        drop(s);
        for _ in 0..200 {
            if seen.canceled.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(seen.canceled.load(Ordering::SeqCst), 1);
        // The connection keeps working.
        rs.request_response(Payload::from("after")).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn dropping_a_response_future_cancels() {
    deadline(async {
        let (rs, _srv) = memory(Arc::new(Seen::default()), Arc::new(Seen::default()));
        let slow = rs.request_response(Payload::from("slow:5000"));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), slow)
                .await
                .is_err()
        );
        rs.request_response(Payload::from("after")).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn fragmented_5mib_payload_round_trips() {
    deadline(async {
        let seen = Arc::new(Seen::default());
        let server = rsocket::Server::builder()
            .responder(handler(seen))
            .mtu(64 * 1024)
            .build();
        let addr = tcp_server(server).await;
        let rs = Client::builder()
            .mtu(64 * 1024)
            .connect(&addr)
            .await
            .unwrap();
        let data: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let meta = vec![7u8; 100_000];
        let p = Payload::new(data).with_metadata(meta);
        let r = rs.request_response(p.clone()).await.unwrap();
        assert_eq!(r, p);
    })
    .await;
}

#[tokio::test]
async fn ten_thousand_concurrent_streams_on_one_connection() {
    deadline(async {
        let seen = Arc::new(Seen::default());
        let addr = tcp_server(server(seen)).await;
        let rs = Client::builder().connect(&addr).await.unwrap();
        let futs = (0..10_000).map(|_| {
            let rs = rs.clone();
            async move {
                rs.request_stream(Payload::from("3"))
                    .collect::<Vec<_>>()
                    .await
                    .len()
            }
        });
        let counts = futures::future::join_all(futs).await;
        assert!(counts.iter().all(|&n| n == 3));
    })
    .await;
}

#[tokio::test]
async fn hundred_connections() {
    deadline(async {
        let addr = tcp_server(server(Arc::new(Seen::default()))).await;
        let futs = (0..100).map(|i| {
            let addr = addr.clone();
            async move {
                let rs = Client::builder().connect(&addr).await.unwrap();
                let r = rs
                    .request_response(Payload::from(format!("{i}")))
                    .await
                    .unwrap();
                assert_eq!(r.data_utf8().unwrap(), i.to_string());
            }
        });
        futures::future::join_all(futs).await;
    })
    .await;
}

#[tokio::test]
async fn rejected_setup_is_reported_to_the_client() {
    deadline(async {
        let server = rsocket::Server::builder()
            .acceptor(|_s, _r| async {
                Err::<rsocket::NoResponder, _>(rsocket::Error::rejected_setup("bad credentials"))
            })
            .build();
        let addr = tcp_server(server).await;
        let rs = Client::builder().connect(&addr).await.unwrap();
        let e = rs.request_response(Payload::from("x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Setup, "{e}");
        assert_eq!(e.message(), "bad credentials");
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_open_streams() {
    deadline(async {
        let server = server(Arc::new(Seen::default()));
        let addr = tcp_server(server.clone()).await;
        let rs = Client::builder().connect(&addr).await.unwrap();
        let slow = tokio::spawn({
            let rs = rs.clone();
            async move { rs.request_response(Payload::from("slow:300")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.shutdown().await;
        assert_eq!(slow.await.unwrap().unwrap().data_utf8(), Some("slow:300"));
        let e = rs.closed().await;
        assert_eq!(e.kind(), ErrorKind::ConnectionClosed);
    })
    .await;
}

#[tokio::test]
async fn websocket_close_code_and_reason_reach_the_client() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    deadline(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let _ = ws.next().await; // the SETUP
            let close = CloseFrame {
                code: CloseCode::Policy,
                reason: "go away".into(),
            };
            let _ = ws.send(Message::Close(Some(close))).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        let rs = Client::builder()
            .ws_ping_interval(Duration::from_millis(20))
            .connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        let e = rs.closed().await;
        assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
        assert!(
            e.message().contains("1008") && e.message().contains("go away"),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn bulk_channel_both_ways_does_not_deadlock() {
    // Both peers have more than the 512 KiB send high-water mark queued at once, through a
    // 64 KiB pipe: each must keep reading, or each waits for the other forever.
    deadline(async {
        let server = server(Arc::new(Seen::default()));
        let (c, s) = rsocket::transport::memory_pair(64 * 1024);
        tokio::spawn(server.serve_connection(s));
        let rs = Client::builder().connect_with(c);
        let item = Payload::new(vec![0xAB; 1 << 20]);
        let out = futures::stream::iter(std::iter::repeat_n(item, 24));
        let back: Vec<_> = rs.request_channel(out).collect().await;
        assert_eq!(back.len(), 24);
        assert!(
            back.iter()
                .all(|p| p.as_ref().unwrap().data.len() == 1 << 20)
        );
    })
    .await;
}

/// A server answering with the test handler that hands the requester of its first
/// connection (to call the client) to the test.
fn server_handing_over_its_requester() -> (rsocket::Server, tokio::sync::oneshot::Receiver<RSocket>)
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let server = rsocket::Server::builder()
        .acceptor(move |_setup, requester: RSocket| {
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(requester);
            }
            async { Ok::<_, rsocket::Error>(handler(Arc::new(Seen::default()))) }
        })
        .build();
    (server, rx)
}

#[tokio::test]
async fn client_responder_can_call_the_server_back() {
    deadline(async {
        // The server asks its client; the client's handler asks the server in turn.
        let (server, rx) = server_handing_over_its_requester();
        let addr = tcp_server(server).await;
        let _client = Client::builder()
            .responder_fn(|to_server: RSocket| {
                rsocket::RequestHandler::new().request_response(move |p: Payload| {
                    let to_server = to_server.clone();
                    async move {
                        let echoed = to_server.request_response(p).await?;
                        Ok(Payload::from(format!(
                            "via server: {}",
                            echoed.data_utf8().unwrap_or("")
                        )))
                    }
                })
            })
            .connect(&addr)
            .await
            .unwrap();
        let to_client = rx.await.unwrap();
        let r = to_client
            .request_response(Payload::from("ping"))
            .await
            .unwrap();
        assert_eq!(r.data_utf8(), Some("via server: ping"));
    })
    .await;
}

/// A lone request-response is written by the requester itself (TCP); one larger than the
/// socket takes at once leaves the rest to the connection's task. Frames queued meanwhile
/// must follow it, and lone round trips afterwards go direct again.
#[tokio::test]
async fn direct_writes_keep_frame_order() {
    deadline(async {
        let seen = Arc::new(Seen::default());
        let addr = tcp_server(server(seen.clone())).await;
        let rs = Client::builder().connect(&addr).await.unwrap();
        rs.request_response(Payload::from("warm")).await.unwrap();
        let big: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
        let small = (0..50).map(|i| {
            let rs = rs.clone();
            async move {
                let r = rs.request_response(Payload::from(format!("{i}"))).await;
                assert_eq!(r.unwrap().data_utf8().unwrap(), i.to_string());
            }
        });
        let fnfs = (0..100).map(|_| {
            let rs = rs.clone();
            async move { rs.fire_and_forget(Payload::from("f")).await.unwrap() }
        });
        let (r, _, _) = futures::join!(
            rs.request_response(Payload::new(big.clone())),
            futures::future::join_all(small),
            futures::future::join_all(fnfs),
        );
        assert_eq!(r.unwrap().data.as_ref(), &big[..]);
        for i in 0..200 {
            let r = rs.request_response(Payload::from(format!("{i}"))).await;
            assert_eq!(r.unwrap().data_utf8().unwrap(), i.to_string());
        }
        for _ in 0..200 {
            if seen.fnf.load(Ordering::SeqCst) == 100 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(seen.fnf.load(Ordering::SeqCst), 100);
    })
    .await;
}

/// Direct writes while the connection's task streams to the peer from a handler: the client
/// answers a request-stream of large items from the server while it sends lone 1 MiB
/// requests of its own, on a multi-threaded runtime where both run at once. Every frame
/// must arrive whole and in order. (A stress test: the interleavings it guards against, a
/// direct write's remainder behind the producer's frames, are timing-dependent.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_writes_beside_a_producer_keep_the_stream_intact() {
    deadline(async {
        let (server, rx) = server_handing_over_its_requester();
        let addr = tcp_server(server).await;
        let item = Bytes::from(vec![b'i'; 64 * 1024]);
        let client = Client::builder()
            .responder(rsocket::RequestHandler::new().request_stream(move |_p| {
                let item = item.clone();
                futures::stream::iter(0..2_000u32).map(move |i| {
                    let mut data = item.to_vec();
                    data[..4].copy_from_slice(&i.to_be_bytes());
                    Ok(Payload::from(data))
                })
            }))
            .connect(&addr)
            .await
            .unwrap();
        let to_client = rx.await.unwrap();
        let taker = tokio::spawn(async move {
            let mut s = to_client.request_stream(Payload::from("go"));
            let mut i = 0u32;
            while let Some(item) = s.next().await {
                let item = item.unwrap();
                assert_eq!(&item.data[..4], &i.to_be_bytes());
                i += 1;
            }
            i
        });
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 241) as u8).collect();
        for _ in 0..20 {
            let r = client.request_response(Payload::new(big.clone())).await;
            assert_eq!(r.unwrap().data.as_ref(), &big[..]);
        }
        assert_eq!(taker.await.unwrap(), 2_000);
    })
    .await;
}
