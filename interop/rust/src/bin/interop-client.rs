//! `interop-client --uri URI --scenario NAME`: runs one interop scenario as our client against
//! a peer's server, prints `PASS ...` or `FAIL reason`, and exits 0 or 1.
//!
//! `request_n` drives frames by hand (our `PayloadStream` tops up credit by itself, so an exact
//! "3, then 2 more" sequence is written frame by frame); every other scenario uses the
//! `rsocket` client. `resume` runs through a TCP proxy on 127.0.0.1 inside this process, killed
//! twice mid-stream and restarted.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rsocket::transport::{FrameIo, Inbound, LengthPrefixed, TransportUri};
use rsocket::{
    Backoff, Client, ClientBuilder, ErrorKind, Payload, Prefetch, RSocket, ResumeOptions,
};
use rsocket_interop::{
    COMPOSITE, ERROR_MESSAGE, MTU, OCTET_STREAM, REJECT_ME, arg, blob, route, route_with_text,
};
use rsocket_messaging::metadata::{Authentication, CompositeMetadata, WellKnownMimeType};
use rsocket_proto::StreamId;
use rsocket_proto::frame::{Cancel, Frame, RequestN, RequestStream, Setup, Version};

type Res = Result<String, String>;

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

fn builder() -> ClientBuilder {
    Client::builder()
        .data_mime_type(OCTET_STREAM)
        .metadata_mime_type(COMPOSITE)
        .mtu(MTU)
        .max_inbound_payload(16 << 20)
}

fn req(route_name: &str, data: impl Into<Bytes>) -> Result<Payload, String> {
    Ok(
        Payload::new(data.into())
            .with_metadata(route(route_name, None).map_err(|e| e.to_string())?),
    )
}

async fn rr(rs: &RSocket, p: Payload) -> Result<Payload, String> {
    rs.request_response(p).await.map_err(|e| e.to_string())
}

async fn count(rs: &RSocket) -> Result<String, String> {
    let p = rr(rs, req("count", "")?).await?;
    Ok(p.data_utf8().unwrap_or("").to_string())
}

/// Polls `count` until it contains `want` (2 s).
async fn wait_count(rs: &RSocket, want: &str) -> Res {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let c = count(rs).await?;
        if c.split(' ').any(|kv| kv == want) {
            return Ok(c);
        }
        if Instant::now() > deadline {
            return fail(format!("count is {c:?}, expected {want}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scenario(uri: &str, name: &str) -> Res {
    match name {
        "rr" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            let meta = route_with_text("echo", "meta-1").map_err(|e| e.to_string())?;
            let sent = Payload::from("hello").with_metadata(meta.clone());
            let got = rr(&rs, sent).await?;
            if got.data_utf8() != Some("hello") {
                return fail(format!("data {:?}", got.data));
            }
            if got.metadata.as_ref() != Some(&meta) {
                return fail(format!("metadata {:?}, expected {meta:?}", got.metadata));
            }
            Ok("data and composite metadata echoed".into())
        }
        "fnf" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            rs.fire_and_forget(req("fnf", "x")?)
                .await
                .map_err(|e| e.to_string())?;
            wait_count(&rs, "fnf=1").await
        }
        "metadata_push" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            // Wait until the connection is up so the push is not the first frame after SETUP
            // racing the acceptor.
            count(&rs).await?;
            let m = route("push", None).map_err(|e| e.to_string())?;
            rs.metadata_push(m).await.map_err(|e| e.to_string())?;
            wait_count(&rs, "push=1").await
        }
        "request_n" => request_n(uri).await,
        "cancel" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            let mut s = rs.request_stream_with(
                req("stream.infinite", "")?,
                Prefetch {
                    initial: 5,
                    refill: 5,
                },
            );
            for i in 0..2 {
                match s.next().await {
                    Some(Ok(p)) if p.data_utf8() == Some(&i.to_string()) => {}
                    other => return fail(format!("item {i}: {other:?}")),
                }
            }
            drop(s); // CANCEL
            wait_count(&rs, "cancel=1").await
        }
        "channel" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            let first = req("echo", "c0")?;
            let out = futures::stream::iter(vec![first, Payload::from("c1"), Payload::from("c2")])
                .then(|p| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    p
                });
            let back: Vec<_> =
                tokio::time::timeout(Duration::from_secs(10), rs.request_channel(out).collect())
                    .await
                    .map_err(|_| "channel did not complete within 10 s".to_string())?;
            let data: Result<Vec<String>, String> = back
                .into_iter()
                .map(|r| {
                    r.map(|p| p.data_utf8().unwrap_or("?").to_string())
                        .map_err(|e| e.to_string())
                })
                .collect();
            let data = data?;
            if data != ["c0", "c1", "c2"] {
                return fail(format!("got {data:?}"));
            }
            Ok("3 payloads echoed, both sides completed".into())
        }
        "errors" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            for code in [0x201u32, 0x202, 0x204, 0x301, 0x1234] {
                let e = match rs
                    .request_response(req(&format!("error.0x{code:x}"), "")?)
                    .await
                {
                    Ok(p) => return fail(format!("error.0x{code:x}: answered {p:?}")),
                    Err(e) => e,
                };
                if e.code().map(|c| c.0) != Some(code) || e.message() != ERROR_MESSAGE {
                    return fail(format!("error.0x{code:x}: got {e}"));
                }
            }
            let mut s = rs.request_stream(req("error.0x301", "")?);
            match s.next().await {
                Some(Err(e))
                    if e.code().map(|c| c.0) == Some(0x301) && e.message() == ERROR_MESSAGE => {}
                other => return fail(format!("stream error.0x301: {other:?}")),
            }
            Ok("0x201 0x202 0x204 0x301 0x1234 on request-response, 0x301 on stream".into())
        }
        "payload_100k" | "payload_5m" => {
            let n = if name == "payload_100k" {
                100 * 1024
            } else {
                5 * 1024 * 1024
            };
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            // A first small request: rsocket-js's TCP server mishandles a first read that ends
            // in a partial frame (see interop/README.md).
            rr(&rs, req("echo", "warm-up")?).await?;
            let data = blob(n);
            let got = rr(&rs, req("echo", data.clone())?).await?;
            if got.data != data {
                return fail(format!(
                    "echoed {} bytes, differing from the {n} sent",
                    got.data.len()
                ));
            }
            Ok(format!("{n} bytes echoed (MTU {MTU})"))
        }
        "composite_simple" | "composite_bearer" => {
            let rs = builder().connect(uri).await.map_err(|e| e.to_string())?;
            let (auth, want) = if name == "composite_simple" {
                (Authentication::simple("user", "pass"), "simple:user:pass")
            } else {
                (Authentication::bearer("tok-123"), "bearer:tok-123")
            };
            let m = route("auth.whoami", Some(auth)).map_err(|e| e.to_string())?;
            let got = rr(&rs, Payload::new("").with_metadata(m)).await?;
            if got.data_utf8() != Some(want) {
                return fail(format!("got {:?}, expected {want}", got.data));
            }
            Ok(format!("server saw {want}"))
        }
        "setup" => {
            let mut m = CompositeMetadata::new();
            m.push(
                WellKnownMimeType::TEXT_PLAIN,
                Bytes::from_static(b"setup-meta"),
            )
            .map_err(|e| e.to_string())?;
            let meta = m.to_bytes();
            let rs = builder()
                .setup_payload(Payload::from("setup-data").with_metadata(meta.clone()))
                .connect(uri)
                .await
                .map_err(|e| e.to_string())?;
            let got = rr(&rs, req("setup.info", "")?).await?;
            if got.data_utf8() != Some("setup-data") || got.metadata.as_ref() != Some(&meta) {
                return fail(format!("server saw setup {got:?}"));
            }
            Ok("setup data and metadata seen by the server".into())
        }
        "setup_reject" => {
            let rs = builder()
                .setup_payload(Payload::from(REJECT_ME))
                .connect(uri)
                .await
                .map_err(|e| e.to_string())?;
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                rs.request_response(req("echo", "x")?),
            )
            .await;
            match r {
                Err(_) => fail("no answer within 5 s"),
                Ok(Ok(p)) => fail(format!("request answered: {p:?}")),
                Ok(Err(e))
                    if e.kind() == ErrorKind::Setup
                        && e.code().map(|c| c.0) == Some(0x003)
                        && e.message().contains(REJECT_ME) =>
                {
                    Ok(format!("refused: {e}"))
                }
                Ok(Err(e)) => fail(format!(
                    "expected REJECTED_SETUP mentioning {REJECT_ME}, got {e}"
                )),
            }
        }
        "keepalive" => {
            let rs = builder()
                .keepalive(Duration::from_millis(500), Duration::from_secs(2))
                .connect(uri)
                .await
                .map_err(|e| e.to_string())?;
            rr(&rs, req("echo", "before")?).await?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            if rs.is_closed() {
                return fail(format!(
                    "connection closed while idle: {}",
                    rs.closed().await
                ));
            }
            let got = rr(&rs, req("echo", "after")?).await?;
            if got.data_utf8() != Some("after") {
                return fail(format!("got {got:?}"));
            }
            Ok("alive after 5 s idle (keepalive 500 ms, lifetime 2 s)".into())
        }
        "lease" => {
            // rsocket-py sends its LEASE after accepting the SETUP: wait for it (bounded).
            let rs = builder()
                .lease(true)
                .wait_for_lease(Duration::from_secs(5))
                .connect(uri)
                .await
                .map_err(|e| e.to_string())?;
            // The server grants 2 requests.
            for i in 0..2 {
                let r = tokio::time::timeout(
                    Duration::from_secs(5),
                    rr(&rs, req("echo", format!("l{i}"))?),
                )
                .await;
                match r {
                    Ok(Ok(p)) if p.data_utf8() == Some(&format!("l{i}")) => {}
                    other => return fail(format!("request {i} within the lease: {other:?}")),
                }
            }
            let third = tokio::time::timeout(
                Duration::from_secs(1),
                rs.request_response(req("echo", "l2")?),
            )
            .await;
            match third {
                Err(_) => Ok("2 requests within the lease; the 3rd waits for a new lease".into()),
                Ok(Err(e)) if e.kind() == ErrorKind::NoLease => Ok(format!(
                    "2 requests within the lease; the 3rd refused locally: {e}"
                )),
                Ok(other) => fail(format!("3rd request beyond a lease of 2: {other:?}")),
            }
        }
        "resume" => resume(uri).await,
        other => fail(format!("unknown scenario {other}")),
    }
}

// ---- resume: a killable TCP proxy -------------------------------------------------------------

/// Items of the resumed stream, one every `RESUME_PACE_MS`.
const RESUME_ITEMS: u64 = 200;
const RESUME_PACE_MS: u64 = 20;
/// The proxy is killed after these items arrived, and restarted `RESUME_DOWN` later.
const RESUME_KILL_AT: [u64; 2] = [50, 120];
const RESUME_DOWN: Duration = Duration::from_millis(300);

/// A TCP proxy on 127.0.0.1 that can be killed (every connection through it dropped, the
/// listener closed; bytes in flight are lost) and restarted on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Result<Proxy, String> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let mut p = Proxy {
            addr: l.local_addr().map_err(|e| e.to_string())?,
            upstream,
            task: None,
            accepted: Arc::new(AtomicUsize::new(0)),
        };
        p.serve(l);
        Ok(p)
    }

    fn serve(&mut self, l: tokio::net::TcpListener) {
        let (upstream, accepted) = (self.upstream, self.accepted.clone());
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    r = l.accept() => {
                        let Ok((mut down, _)) = r else { continue };
                        accepted.fetch_add(1, Ordering::SeqCst);
                        conns.spawn(async move {
                            let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                                return;
                            };
                            let _ = down.set_nodelay(true);
                            let _ = up.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                        });
                    }
                    Some(_) = conns.join_next() => {}
                }
            }
            // Aborting this task drops `conns`, which aborts every copy and closes both
            // sides of every connection.
        }));
    }

    async fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    async fn restart(&mut self) -> Result<(), String> {
        for _ in 0..200 {
            if let Ok(l) = tokio::net::TcpListener::bind(self.addr).await {
                self.serve(l);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        fail(format!("cannot listen on {} again", self.addr))
    }
}

/// A resumable client through a proxy in front of the peer's resumable server: a paced
/// request-stream of `RESUME_ITEMS` items; the proxy is killed after items 50 and 120 and
/// restarted 300 ms later. Every item must arrive exactly once, in order, then COMPLETE.
async fn resume(uri: &str) -> Res {
    let (upstream, ws_path) = match uri.parse::<TransportUri>().map_err(|e| e.to_string())? {
        TransportUri::Tcp(addr) => (addr, None),
        TransportUri::WebSocket(url) => {
            let rest = url
                .strip_prefix("ws://")
                .ok_or_else(|| format!("resume runs over tcp:// or ws://, not {url}"))?;
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (authority.to_string(), Some(path.to_string()))
        }
        other => return fail(format!("unsupported URI {other}")),
    };
    let upstream: SocketAddr = tokio::net::lookup_host(&upstream)
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("cannot resolve {upstream}"))?;
    let mut proxy = Proxy::start(upstream).await?;
    let via = match &ws_path {
        None => format!("tcp://{}", proxy.addr),
        Some(path) => format!("ws://{}{path}", proxy.addr),
    };
    let rs = builder()
        .keepalive(Duration::from_millis(500), Duration::from_secs(30))
        .resume(ResumeOptions {
            session_timeout: Duration::from_secs(30),
            reconnect_backoff: Backoff {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(200),
            },
            ..ResumeOptions::default()
        })
        .connect(&via)
        .await
        .map_err(|e| e.to_string())?;
    let route_name = format!("stream.paced.{RESUME_ITEMS}.{RESUME_PACE_MS}");
    let mut s = rs.request_stream_with(
        req(&route_name, "")?,
        Prefetch {
            initial: 16,
            refill: 8,
        },
    );
    let mut next = 0u64;
    let mut kills = 0;
    loop {
        let item = tokio::time::timeout(Duration::from_secs(15), s.next())
            .await
            .map_err(|_| format!("no item {next} within 15 s ({kills} proxy kills so far)"))?;
        match item {
            None => break,
            Some(Ok(p)) => {
                let got = p.data_utf8().unwrap_or("?").to_string();
                if got != next.to_string() {
                    return fail(format!(
                        "item {next}: got {got:?} ({kills} proxy kills so far)"
                    ));
                }
                next += 1;
            }
            Some(Err(e)) => {
                return fail(format!(
                    "stream failed after {next} items ({kills} proxy kills): {e}"
                ));
            }
        }
        if RESUME_KILL_AT.contains(&next) {
            proxy.kill().await;
            kills += 1;
            tokio::time::sleep(RESUME_DOWN).await;
            proxy.restart().await?;
        }
    }
    if next != RESUME_ITEMS {
        return fail(format!(
            "stream completed after {next} of {RESUME_ITEMS} items"
        ));
    }
    let connections = proxy.accepted.load(Ordering::SeqCst);
    if connections < 3 {
        return fail(format!(
            "only {connections} connections through the proxy: the session was not resumed twice"
        ));
    }
    if rs.is_closed() {
        return fail(format!("session closed at the end: {}", rs.closed().await));
    }
    Ok(format!(
        "{RESUME_ITEMS} items once and in order; {kills} proxy kills, {connections} connections"
    ))
}

/// A transport opened by hand, for frame-level scenarios.
async fn raw_connect(uri: &str) -> Result<Box<dyn FrameIo>, String> {
    match uri.parse::<TransportUri>().map_err(|e| e.to_string())? {
        TransportUri::Tcp(addr) => {
            let tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            Ok(Box::new(LengthPrefixed::new(tcp, 16 << 20)))
        }
        TransportUri::WebSocket(url) => {
            let ws = rsocket::transport::ws::connect(url.as_str(), &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok(Box::new(ws))
        }
        other => fail(format!("unsupported URI {other}")),
    }
}

async fn send(io: &mut Box<dyn FrameIo>, f: Frame) -> Result<(), String> {
    io.queue(&f).map_err(|e| e.to_string())?;
    futures::future::poll_fn(|cx| io.poll_flush(cx))
        .await
        .map_err(|e| e.to_string())
}

/// Frames on stream 1 received within `wait` (KEEPALIVE and LEASE are skipped).
async fn recv_for(
    io: &mut Box<dyn FrameIo>,
    wait: Duration,
    max: usize,
) -> Result<Vec<Frame>, String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < max {
        let next =
            tokio::time::timeout_at(deadline, futures::future::poll_fn(|cx| io.poll_recv(cx)))
                .await;
        let Ok(r) = next else { break };
        match r.map_err(|e| e.to_string())? {
            None => return fail("connection closed"),
            Some(Inbound::Encoded(b)) => {
                let f = Frame::decode(b).map_err(|e| e.to_string())?;
                match f {
                    Frame::Keepalive(_) | Frame::Lease(_) => {}
                    f => out.push(f),
                }
            }
        }
    }
    Ok(out)
}

fn payload_data(frames: &[Frame]) -> Result<Vec<String>, String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Payload(p) if p.next && !p.complete && p.stream_id == StreamId::new(1) => {
                Ok(String::from_utf8_lossy(&p.payload.data).into_owned())
            }
            other => Err(format!("unexpected frame {other:?}")),
        })
        .collect()
}

/// REQUEST_STREAM(n=3), exactly 3 PAYLOADs and then silence, REQUEST_N(2), exactly 2 more and
/// silence, CANCEL.
async fn request_n(uri: &str) -> Res {
    let mut io = raw_connect(uri).await?;
    let id = StreamId::new(1);
    send(
        &mut io,
        Frame::Setup(Box::new(Setup {
            version: Version::V1_0,
            keepalive_interval_ms: 20_000,
            max_lifetime_ms: 90_000,
            resume_token: None,
            lease: false,
            metadata_mime_type: COMPOSITE.into(),
            data_mime_type: OCTET_STREAM.into(),
            payload: Payload::default(),
        })),
    )
    .await?;
    let p = req("stream.infinite", "")?;
    send(
        &mut io,
        Frame::RequestStream(RequestStream {
            stream_id: id,
            follows: false,
            initial_n: 3,
            payload: p,
        }),
    )
    .await?;
    let first = payload_data(&recv_for(&mut io, Duration::from_secs(5), 3).await?)?;
    if first != ["0", "1", "2"] {
        return fail(format!("after REQUEST_STREAM(n=3): {first:?}"));
    }
    let extra = recv_for(&mut io, Duration::from_millis(500), 1).await?;
    if !extra.is_empty() {
        return fail(format!("frame beyond the credit of 3: {extra:?}"));
    }
    send(
        &mut io,
        Frame::RequestN(RequestN {
            stream_id: id,
            n: 2,
        }),
    )
    .await?;
    let second = payload_data(&recv_for(&mut io, Duration::from_secs(5), 2).await?)?;
    if second != ["3", "4"] {
        return fail(format!("after REQUEST_N(2): {second:?}"));
    }
    let extra = recv_for(&mut io, Duration::from_millis(500), 1).await?;
    if !extra.is_empty() {
        return fail(format!("frame beyond the credit of 5: {extra:?}"));
    }
    send(&mut io, Frame::Cancel(Cancel { stream_id: id })).await?;
    let after = recv_for(&mut io, Duration::from_millis(300), 1).await?;
    if !after.is_empty() {
        return fail(format!("frame after CANCEL: {after:?}"));
    }
    Ok("3 values, silence, REQUEST_N(2), 2 values, silence, CANCEL".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(uri), Some(name)) = (arg(&args, "--uri"), arg(&args, "--scenario")) else {
        eprintln!("usage: interop-client --uri URI --scenario NAME");
        return ExitCode::from(2);
    };
    let r = tokio::time::timeout(Duration::from_secs(50), scenario(&uri, &name)).await;
    match r {
        Ok(Ok(msg)) => {
            println!("PASS {msg}");
            ExitCode::SUCCESS
        }
        Ok(Err(msg)) => {
            println!("FAIL {msg}");
            ExitCode::FAILURE
        }
        Err(_) => {
            println!("FAIL timed out after 50 s");
            ExitCode::FAILURE
        }
    }
}
