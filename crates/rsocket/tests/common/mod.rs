//! Shared helpers for the integration tests: a test responder and connected pairs over each
//! transport.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use rsocket::{Client, Error, Payload, RSocket, RequestHandler, Server};

/// Counters the test responder updates.
#[derive(Default)]
pub struct Seen {
    /// Fire-and-forget requests seen.
    pub fnf: AtomicUsize,
    /// Metadata pushes seen.
    pub push: AtomicUsize,
    /// Streams dropped before their end.
    pub canceled: AtomicUsize,
}

/// Drop guard counting stream cancellations.
struct OnDrop(Arc<Seen>, bool);
impl OnDrop {
    fn finished(&mut self) {
        self.1 = true;
    }
}
impl Drop for OnDrop {
    fn drop(&mut self) {
        if !self.1 {
            self.0.canceled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A responder: echo request-response ("error:<code>" answers that error), streams of n
/// numbered items ("n" in data, or "inf"), echo channel, counting fnf and metadata push.
pub fn handler(seen: Arc<Seen>) -> RequestHandler {
    let s1 = seen.clone();
    let s2 = seen.clone();
    let s3 = seen.clone();
    RequestHandler::new()
        .request_response(|p: Payload| async move {
            if let Some(code) = p.data_utf8().and_then(|d| d.strip_prefix("error:")) {
                let code = u32::from_str_radix(code.trim_start_matches("0x"), 16).unwrap_or(0x201);
                return Err(Error::custom(code, "requested error"));
            }
            if let Some(ms) = p.data_utf8().and_then(|d| d.strip_prefix("slow:")) {
                tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(100))).await;
            }
            Ok(p)
        })
        .fire_and_forget(move |_p| {
            s1.fnf.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .metadata_push(move |_m| {
            s2.push.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .request_stream(move |p: Payload| {
            let guard = OnDrop(s3.clone(), false);
            let text = p.data_utf8().unwrap_or("0").to_string();
            let n: u64 = if text == "inf" {
                u64::MAX
            } else {
                text.parse().unwrap_or(0)
            };
            futures::stream::unfold((0u64, guard), move |(i, mut g)| async move {
                if i >= n {
                    g.finished();
                    return None;
                }
                Some((Ok(Payload::from(i.to_string())), (i + 1, g)))
            })
        })
        .request_channel(|first: Payload, inbound| {
            futures::stream::once(async move { Ok(first) }).chain(inbound)
        })
}

/// A server answering with the test handler.
pub fn server(seen: Arc<Seen>) -> Server {
    Server::builder().responder(handler(seen)).build()
}

/// A client and server connected over an in-memory pipe; the client also answers requests
/// with the test handler.
pub fn memory(seen: Arc<Seen>, client_seen: Arc<Seen>) -> (RSocket, Server) {
    let server = server(seen);
    let (c, s) = rsocket::transport::memory_pair(256 * 1024);
    tokio::spawn(server.serve_connection(s));
    let client = Client::builder()
        .responder(handler(client_seen))
        .connect_with(c);
    (client, server)
}

/// A server on 127.0.0.1 over TCP; returns its address.
pub async fn tcp_server(server: Server) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { server.serve_tcp(l).await });
    format!("tcp://{addr}")
}

/// A server on 127.0.0.1 over WebSocket at /rsocket; returns its URL.
pub async fn ws_server(server: Server) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { server.serve_ws(l, "/rsocket").await });
    format!("ws://{addr}/rsocket")
}

/// Runs a test body with a deadline so nothing can hang CI.
pub async fn deadline<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test exceeded its 30 s deadline")
}

/// A client that speaks raw frames over TCP, to check exactly what a server puts on the wire.
pub struct RawClient {
    s: tokio::net::TcpStream,
    buf: bytes::BytesMut,
}

impl RawClient {
    /// Serves `server` on 127.0.0.1 and sends SETUP (text/plain both ways).
    pub async fn connect(server: Server) -> RawClient {
        Self::start(server, false).await
    }

    /// As [`RawClient::connect`], asking for lease in SETUP.
    pub async fn connect_lease(server: Server) -> RawClient {
        Self::start(server, true).await
    }

    async fn start(server: Server, lease: bool) -> RawClient {
        use rsocket::proto::frame::{Setup, Version};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { server.serve_tcp(l).await });
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut raw = RawClient {
            s,
            buf: bytes::BytesMut::new(),
        };
        raw.send(rsocket::proto::Frame::Setup(Box::new(Setup {
            version: Version::V1_0,
            keepalive_interval_ms: 20_000,
            max_lifetime_ms: 90_000,
            resume_token: None,
            lease,
            metadata_mime_type: "text/plain".into(),
            data_mime_type: "text/plain".into(),
            payload: Payload::default(),
        })))
        .await;
        raw
    }

    /// Writes one frame.
    pub async fn send(&mut self, f: rsocket::proto::Frame) {
        use tokio::io::AsyncWriteExt;
        let mut b = bytes::BytesMut::new();
        f.encode_length_prefixed(&mut b).unwrap();
        self.s.write_all(&b).await.unwrap();
    }

    /// The next frame (KEEPALIVE skipped); fails the test after 5 s.
    pub async fn next(&mut self) -> rsocket::proto::Frame {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("a frame within 5 s")
    }

    /// The next frame (KEEPALIVE skipped) if one comes within `d`.
    pub async fn next_within(&mut self, d: Duration) -> Option<rsocket::proto::Frame> {
        use rsocket::proto::Frame;
        use tokio::io::AsyncReadExt;
        let codec = rsocket::proto::codec::LengthCodec::default();
        let until = tokio::time::Instant::now() + d;
        loop {
            if let Some(f) = codec.split(&mut self.buf).unwrap() {
                let f = Frame::decode(f).unwrap();
                if !matches!(f, Frame::Keepalive(_)) {
                    return Some(f);
                }
                continue;
            }
            let n = tokio::time::timeout_at(until, self.s.read_buf(&mut self.buf))
                .await
                .ok()?
                .unwrap();
            assert!(n > 0, "the server closed the connection");
        }
    }
}
