//! Session resumption end to end: a TCP proxy on 127.0.0.1 between client and server is
//! killed and restarted at random intervals while a request-channel and a request-stream run;
//! every item must arrive exactly once and in order, and memory must stay bounded. Plus the
//! refusals (unknown token, impossible position, token in use, session cap) and expiry.
//!
//! The default tests move a scaled-down number of items (500,000 each way over TCP, 300,000
//! over WebSocket) so that they run in about 20 s in a debug build on two cores. The full
//! 1,000,000-item runs are `#[ignore]`d (about 60-70 s each in debug; they print the items,
//! proxy kills, connections, duration and peak resume-store sizes):
//!
//! ```text
//! cargo test -p rsocket --all-features --test resume -- --ignored --nocapture --test-threads=1
//! ```

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use rsocket::proto::codec::LengthCodec;
use rsocket::proto::frame::{Resume, Setup, Version};
use rsocket::proto::{ErrorCode, Frame};
use rsocket::{
    Backoff, Client, Error, ErrorKind, Payload, RSocket, RequestHandler, ResumeConfig,
    ResumeOptions, Server, SetupInfo,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bytes kept for retransmission per session in these tests.
const STORE: usize = 4 << 20;

// ---- a killable TCP proxy -------------------------------------------------------------------

/// A TCP proxy on 127.0.0.1 that can be killed (every connection through it dropped, the
/// listener closed) and restarted on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    task: Option<JoinHandle<()>>,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut p = Proxy {
            addr: l.local_addr().unwrap(),
            upstream,
            task: None,
            accepted: Arc::new(AtomicUsize::new(0)),
        };
        p.serve(l);
        p
    }

    fn serve(&mut self, l: TcpListener) {
        let (upstream, accepted) = (self.upstream, self.accepted.clone());
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    r = l.accept() => {
                        let Ok((mut down, _)) = r else { continue };
                        accepted.fetch_add(1, Ordering::SeqCst);
                        conns.spawn(async move {
                            let Ok(mut up) = TcpStream::connect(upstream).await else { return };
                            let _ = down.set_nodelay(true);
                            let _ = up.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                        });
                    }
                    Some(_) = conns.join_next() => {}
                }
            }
            // Aborting this task drops `conns`, which aborts every copy: both sides of every
            // connection are closed, and bytes in flight inside the proxy are lost.
        }));
    }

    /// Drops every connection and stops listening.
    async fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port.
    async fn restart(&mut self) {
        for _ in 0..200 {
            if let Ok(l) = TcpListener::bind(self.addr).await {
                self.serve(l);
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("cannot listen on {} again", self.addr);
    }
}

// ---- the server under test --------------------------------------------------------------------

fn handler() -> RequestHandler {
    RequestHandler::new()
        .request_response(|p: Payload| async move { Ok(p) })
        .request_channel(|first: Payload, inbound| {
            futures::stream::once(async move { Ok(first) }).chain(inbound)
        })
        .request_stream(|p: Payload| {
            let n: u64 = p.data_utf8().and_then(|d| d.parse().ok()).unwrap_or(0);
            futures::stream::iter(0..n).map(|i| Ok(Payload::from(i.to_string())))
        })
}

/// A resumable server; the requesters of its connections are collected (to watch their
/// resume stores).
fn resumable_server(peers: Arc<Mutex<Vec<RSocket>>>) -> Server {
    Server::builder()
        .resume(ResumeConfig {
            session_timeout: Duration::from_secs(30),
            max_store_bytes: STORE,
        })
        .acceptor(move |_s: SetupInfo, requester: RSocket| {
            peers.lock().unwrap().push(requester);
            async { Ok::<_, Error>(handler()) }
        })
        .build()
}

async fn resumable_client(uri: &str) -> RSocket {
    Client::builder()
        .keepalive(Duration::from_millis(100), Duration::from_secs(30))
        .resume(ResumeOptions {
            session_timeout: Duration::from_secs(30),
            reconnect_backoff: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(200),
            },
            token: None,
            max_store_bytes: STORE,
        })
        .connect(uri)
        .await
        .unwrap()
}

fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What a flaky run measured.
#[derive(Debug)]
struct Report {
    channel_items: u64,
    stream_items: u64,
    kills: usize,
    connections: usize,
    elapsed: Duration,
    max_store_client: usize,
    max_store_server: usize,
    rss_growth_kib: isize,
}

/// Runs a channel of `channel_items` and a stream of `stream_items` over a proxy that is
/// killed after 10–1500 ms up and restarted after 10–1500 ms down, repeatedly, until both end.
async fn flaky_run(ws: bool, channel_items: u64, stream_items: u64, limit: Duration) -> Report {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let server = resumable_server(peers.clone());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = l.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move {
        if ws {
            s.serve_ws(l, "/rsocket").await
        } else {
            s.serve_tcp(l).await
        }
    });
    let mut proxy = Proxy::start(server_addr).await;
    let uri = if ws {
        format!("ws://{}/rsocket", proxy.addr)
    } else {
        format!("tcp://{}", proxy.addr)
    };
    let client = resumable_client(&uri).await;
    // Warm up (and make sure the session exists) before measuring memory.
    let echo = client.request_response(Payload::from("hi")).await.unwrap();
    assert_eq!(echo.data_utf8(), Some("hi"));
    let rss_start = rss_kib() as isize;
    let started = Instant::now();

    let channel = {
        let client = client.clone();
        tokio::spawn(async move {
            let out = futures::stream::iter(0..channel_items).map(|i| Payload::from(i.to_string()));
            let mut echoes = client.request_channel(out);
            let mut next = 0u64;
            while let Some(item) = echoes.next().await {
                let p = item.unwrap_or_else(|e| panic!("channel item {next}: {e}"));
                assert_eq!(
                    p.data_utf8(),
                    Some(next.to_string().as_str()),
                    "channel order"
                );
                next += 1;
            }
            next
        })
    };
    let stream = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut items = client.request_stream(Payload::from(stream_items.to_string()));
            let mut next = 0u64;
            while let Some(item) = items.next().await {
                let p = item.unwrap_or_else(|e| panic!("stream item {next}: {e}"));
                assert_eq!(
                    p.data_utf8(),
                    Some(next.to_string().as_str()),
                    "stream order"
                );
                next += 1;
            }
            next
        })
    };

    let max_client = Arc::new(AtomicUsize::new(0));
    let max_server = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (client, peers) = (client.clone(), peers.clone());
        let (mc, ms) = (max_client.clone(), max_server.clone());
        tokio::spawn(async move {
            loop {
                mc.fetch_max(client.resume_store_bytes(), Ordering::Relaxed);
                let server_store = peers
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|p: &RSocket| p.resume_store_bytes())
                    .max()
                    .unwrap_or(0);
                ms.fetch_max(server_store, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let mut kills = 0;
    let flapping = async {
        loop {
            let up = rand::random_range(10..=1500);
            tokio::time::sleep(Duration::from_millis(up)).await;
            proxy.kill().await;
            kills += 1;
            let down = rand::random_range(10..=1500);
            tokio::time::sleep(Duration::from_millis(down)).await;
            proxy.restart().await;
        }
    };
    let done = async {
        let c = channel.await.unwrap();
        let s = stream.await.unwrap();
        (c, s)
    };
    let (c, s) = tokio::time::timeout(limit, async {
        tokio::select! {
            r = done => r,
            () = flapping => unreachable!(),
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not done within {limit:?}"));
    let elapsed = started.elapsed();
    watcher.abort();
    assert!(!client.is_closed(), "the session survived");
    let rss_end = rss_kib() as isize;
    let report = Report {
        channel_items: c,
        stream_items: s,
        kills,
        connections: proxy.accepted.load(Ordering::SeqCst),
        elapsed,
        max_store_client: max_client.load(Ordering::Relaxed),
        max_store_server: max_server.load(Ordering::Relaxed),
        rss_growth_kib: rss_end - rss_start,
    };
    eprintln!("{report:?}");
    assert_eq!(
        report.channel_items, channel_items,
        "every channel item, once"
    );
    assert_eq!(report.stream_items, stream_items, "every stream item, once");
    assert!(report.max_store_client <= STORE && report.max_store_server <= STORE);
    assert!(report.elapsed < limit && report.connections >= 1);
    assert_eq!(
        server.resumable_session_count(),
        1,
        "one session throughout"
    );
    client.close();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_and_stream_survive_a_flaky_tcp_proxy() {
    let r = flaky_run(false, 500_000, 500_000, Duration::from_secs(120)).await;
    assert!(r.kills >= 1, "the proxy was killed at least once: {r:?}");
    assert!(r.rss_growth_kib < 256 * 1024, "memory stays bounded: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_and_stream_survive_a_flaky_websocket_proxy() {
    let r = flaky_run(true, 300_000, 300_000, Duration::from_secs(120)).await;
    assert!(r.kills >= 1, "the proxy was killed at least once: {r:?}");
    assert!(r.rss_growth_kib < 256 * 1024, "memory stays bounded: {r:?}");
}

/// The full-size run: 1,000,000 items each way (see the file's docs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: 1,000,000 items; run with -- --ignored"]
async fn million_items_survive_a_flaky_tcp_proxy() {
    let r = flaky_run(false, 1_000_000, 1_000_000, Duration::from_secs(600)).await;
    assert!(r.rss_growth_kib < 512 * 1024, "memory stays bounded: {r:?}");
}

/// The full-size run over WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: 1,000,000 items; run with -- --ignored"]
async fn million_items_survive_a_flaky_websocket_proxy() {
    let r = flaky_run(true, 1_000_000, 1_000_000, Duration::from_secs(600)).await;
    assert!(r.rss_growth_kib < 512 * 1024, "memory stays bounded: {r:?}");
}

// ---- refusals, expiry, lease restart ----------------------------------------------------------

async fn tcp_server(server: Server) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { server.serve_tcp(l).await });
    addr
}

fn simple_resumable_server() -> Server {
    Server::builder()
        .resume(ResumeConfig::default())
        .responder(handler())
        .build()
}

async fn send(s: &mut TcpStream, frames: &[Frame]) {
    let mut buf = BytesMut::new();
    for f in frames {
        f.encode_length_prefixed(&mut buf).unwrap();
    }
    s.write_all(&buf).await.unwrap();
}

/// Reads frames until the peer closes (or 10 s pass).
async fn read_frames(s: &mut TcpStream) -> Vec<Frame> {
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    let mut buf = BytesMut::from(&raw[..]);
    let codec = LengthCodec::default();
    let mut out = Vec::new();
    while let Ok(Some(f)) = codec.split(&mut buf) {
        out.push(Frame::decode(f).unwrap());
    }
    out
}

fn setup_frame(token: &'static [u8]) -> Frame {
    Frame::Setup(Box::new(Setup {
        version: Version::V1_0,
        keepalive_interval_ms: 20_000,
        max_lifetime_ms: 90_000,
        resume_token: Some(Bytes::from_static(token)),
        lease: false,
        metadata_mime_type: "text/plain".into(),
        data_mime_type: "text/plain".into(),
        payload: Payload::default(),
    }))
}

fn resume_frame(token: &'static [u8], last_received: u64) -> Frame {
    Frame::Resume(Resume {
        version: Version::V1_0,
        token: Bytes::from_static(token),
        last_received_server_position: last_received,
        first_available_client_position: 0,
    })
}

fn connection_error(frames: &[Frame]) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f {
        Frame::Error(e) if e.stream_id.is_connection() => Some(e.code),
        _ => None,
    })
}

#[tokio::test]
async fn resume_with_an_unknown_token_is_rejected() {
    common::deadline(async {
        let addr = tcp_server(simple_resumable_server()).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        send(&mut s, &[resume_frame(b"nobody has this token", 0)]).await;
        let frames = read_frames(&mut s).await;
        assert_eq!(connection_error(&frames), Some(ErrorCode::REJECTED_RESUME));
    })
    .await;
}

#[tokio::test]
async fn resume_from_an_impossible_position_is_rejected_and_the_session_survives() {
    common::deadline(async {
        let server = simple_resumable_server();
        let addr = tcp_server(server.clone()).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        send(&mut first, &[setup_frame(b"0123456789abcdef")]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut bad = TcpStream::connect(addr).await.unwrap();
        send(&mut bad, &[resume_frame(b"0123456789abcdef", 999)]).await;
        let frames = read_frames(&mut bad).await;
        assert_eq!(connection_error(&frames), Some(ErrorCode::REJECTED_RESUME));
        // The genuine position still resumes.
        let mut good = TcpStream::connect(addr).await.unwrap();
        send(&mut good, &[resume_frame(b"0123456789abcdef", 0)]).await;
        let mut head = [0u8; 9];
        good.read_exact(&mut head).await.unwrap();
        assert_eq!(head[7] >> 2, 0x0E, "RESUME_OK");
        assert_eq!(server.resumable_session_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn setup_with_a_token_in_use_is_rejected() {
    common::deadline(async {
        let addr = tcp_server(simple_resumable_server()).await;
        let uri = format!("tcp://{addr}");
        let opts = ResumeOptions {
            token: Some(Bytes::from_static(b"shared-token-123")),
            ..ResumeOptions::default()
        };
        let a = Client::builder()
            .resume(opts.clone())
            .connect(&uri)
            .await
            .unwrap();
        a.request_response(Payload::from("x")).await.unwrap();
        let b = Client::builder().resume(opts).connect(&uri).await.unwrap();
        let e = b.request_response(Payload::from("x")).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::REJECTED_SETUP), "{e}");
        a.request_response(Payload::from("still fine"))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn resumable_sessions_are_capped() {
    common::deadline(async {
        let server = Server::builder()
            .resume(ResumeConfig::default())
            .max_resumable_sessions(2)
            .responder(handler())
            .build();
        let uri = format!("tcp://{}", tcp_server(server.clone()).await);
        let mut kept = Vec::new();
        for _ in 0..2 {
            let c = Client::builder()
                .resume(ResumeOptions::default())
                .connect(&uri)
                .await
                .unwrap();
            c.request_response(Payload::from("x")).await.unwrap();
            kept.push(c);
        }
        let third = Client::builder()
            .resume(ResumeOptions::default())
            .connect(&uri)
            .await
            .unwrap();
        let e = third
            .request_response(Payload::from("x"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::REJECTED_SETUP), "{e}");
        assert_eq!(server.resumable_session_count(), 2);
        // A client without resumption is still served.
        let plain = Client::builder().connect(&uri).await.unwrap();
        plain.request_response(Payload::from("x")).await.unwrap();
        // Closing a session frees its place.
        kept.pop().unwrap().close();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.resumable_session_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn server_without_resumption_refuses_resumable_clients() {
    common::deadline(async {
        let server = Server::builder().responder(handler()).build();
        let uri = format!("tcp://{}", tcp_server(server).await);
        let c = Client::builder()
            .resume(ResumeOptions::default())
            .connect(&uri)
            .await
            .unwrap();
        let e = c.request_response(Payload::from("x")).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::REJECTED_SETUP), "{e}");
    })
    .await;
}

#[tokio::test]
async fn session_expires_when_the_server_stays_away() {
    common::deadline(async {
        let server = Server::builder()
            .resume(ResumeConfig {
                session_timeout: Duration::from_millis(300),
                ..ResumeConfig::default()
            })
            .responder(handler())
            .build();
        let addr = tcp_server(server.clone()).await;
        let mut proxy = Proxy::start(addr).await;
        let client = Client::builder()
            .resume(ResumeOptions {
                session_timeout: Duration::from_millis(500),
                ..ResumeOptions::default()
            })
            .connect(&format!("tcp://{}", proxy.addr))
            .await
            .unwrap();
        let mut stream = client.request_stream(Payload::from("1000000000"));
        assert!(stream.next().await.unwrap().is_ok());
        proxy.kill().await;
        let t = Instant::now();
        let e = loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break e,
                None => panic!("the stream must fail"),
            }
        };
        assert_eq!(e.kind(), ErrorKind::ConnectionClosed, "{e}");
        assert!(e.message().contains("expired"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        // The server forgot the session too.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(server.resumable_session_count(), 0);
        assert!(client.is_closed());
    })
    .await;
}

#[tokio::test]
async fn requests_made_while_disconnected_are_sent_after_resuming() {
    common::deadline(async {
        let server = simple_resumable_server();
        let addr = tcp_server(server).await;
        let mut proxy = Proxy::start(addr).await;
        let client = resumable_client(&format!("tcp://{}", proxy.addr)).await;
        client.request_response(Payload::from("a")).await.unwrap();
        proxy.kill().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(client.is_disconnected());
        let pending = {
            let c = client.clone();
            tokio::spawn(async move { c.request_response(Payload::from("b")).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.restart().await;
        let answer = pending.await.unwrap().unwrap();
        assert_eq!(answer.data_utf8(), Some("b"));
        assert!(!client.is_disconnected());
    })
    .await;
}

#[tokio::test]
async fn an_idle_session_reconnects_by_itself() {
    common::deadline(async {
        let server = simple_resumable_server();
        let addr = tcp_server(server).await;
        let mut proxy = Proxy::start(addr).await;
        // A keepalive far longer than the test: no timer wakes the connection, and nothing
        // uses it while it is down. Its task alone has to notice, reconnect and resume.
        let client = Client::builder()
            .keepalive(Duration::from_secs(20), Duration::from_secs(60))
            .resume(ResumeOptions {
                session_timeout: Duration::from_secs(30),
                reconnect_backoff: Backoff {
                    initial: Duration::from_millis(10),
                    max: Duration::from_millis(50),
                },
                token: None,
                max_store_bytes: STORE,
            })
            .connect(&format!("tcp://{}", proxy.addr))
            .await
            .unwrap();
        client.request_response(Payload::from("a")).await.unwrap();
        proxy.kill().await;
        for _ in 0..200 {
            if client.is_disconnected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            client.is_disconnected(),
            "the client did not see the transport end"
        );
        proxy.restart().await;
        let mut resumed = false;
        for _ in 0..300 {
            if !client.is_disconnected() {
                resumed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(resumed, "the idle session did not reconnect within 3 s");
        let answer = client.request_response(Payload::from("b")).await.unwrap();
        assert_eq!(answer.data_utf8(), Some("b"));
    })
    .await;
}

#[tokio::test]
async fn lease_is_granted_again_after_resuming() {
    common::deadline(async {
        let grants = Arc::new(AtomicUsize::new(0));
        let g = grants.clone();
        let policy = rsocket::lease::lease_fn(Duration::from_secs(3600), move |_ctx| {
            g.fetch_add(1, Ordering::SeqCst);
            Some(rsocket::lease::LeaseGrant {
                ttl: Duration::from_secs(3600),
                requests: 1000,
                metadata: None,
            })
        });
        let server = Server::builder()
            .resume(ResumeConfig::default())
            .lease_policy(policy)
            .responder(handler())
            .build();
        let addr = tcp_server(server).await;
        let mut proxy = Proxy::start(addr).await;
        let client = Client::builder()
            .lease(true)
            .wait_for_lease(Duration::from_secs(5))
            .resume(ResumeOptions::default())
            .connect(&format!("tcp://{}", proxy.addr))
            .await
            .unwrap();
        client.request_response(Payload::from("a")).await.unwrap();
        assert_eq!(client.availability(), 1.0);
        assert_eq!(grants.load(Ordering::SeqCst), 1);
        proxy.kill().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.restart().await;
        // Lease restarts after RESUME: the old one is void, a new one follows RESUME_OK.
        client.request_response(Payload::from("b")).await.unwrap();
        assert_eq!(grants.load(Ordering::SeqCst), 2);
        assert_eq!(client.availability(), 1.0);
    })
    .await;
}

/// The server-wide budget bounds what all resumable sessions keep together: with slow
/// acknowledgements (keepalive every 700 ms, client stores large enough that they never
/// acknowledge early), two sessions streaming 1 KB items stay near a 200 KB total, and still
/// make progress as acknowledgements arrive.
#[tokio::test]
async fn resume_stores_are_bounded_in_total_across_sessions() {
    let server = Server::builder()
        .resume(ResumeConfig::default())
        .max_resume_store_total(200 * 1024)
        .responder(RequestHandler::new().request_stream(|_p| {
            futures::stream::iter(0..u64::MAX).map(|_| Ok(Payload::new(vec![b'x'; 1000])))
        }))
        .build();
    let addr = tcp_server(server.clone()).await;
    let mut streams = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let rs = Client::builder()
            .keepalive(Duration::from_millis(700), Duration::from_secs(30))
            .resume(ResumeOptions {
                max_store_bytes: 64 << 20,
                ..ResumeOptions::default()
            })
            .connect(&format!("tcp://{addr}"))
            .await
            .unwrap();
        streams.push(rs.request_stream_with(Payload::from("go"), rsocket::Prefetch::new(1 << 20)));
        clients.push(rs);
    }
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            let received = received.clone();
            tokio::spawn(async move {
                while let Some(Ok(_)) = s.next().await {
                    received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        peak = peak.max(server.resume_store_total());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.abort();
    }
    // Soft bound: the budget plus what one wake-up of each session may add (≤ 512 KiB each).
    assert!(
        peak <= 200 * 1024 + 2 * 512 * 1024,
        "peak total {peak} bytes"
    );
    // Without the budget each session would keep megabytes between acknowledgements; with it,
    // the sessions still make progress as keepalives acknowledge.
    assert!(
        got > 400,
        "only {got} items arrived: the budget must not stall sessions for good"
    );
    eprintln!("total store peak {peak} bytes, {got} items in 3 s");
}
