//! The tokio router: [`Router`] serves [`RouterCore`] over WebSocket and RawSocket.
//!
//! One task per connection owns the socket: its read half feeds decoded messages into the shared
//! core (a short critical section under a mutex), its write half drains the connection's bounded
//! outbound queue ([`Limits::outbound_queue`](crate::router::Limits)), encoding with the
//! connection's serializer and flushing once per batch. One timer task per router fires call
//! timeouts and handshake timeouts. Dropping a `serve_*` future stops accepting and ends its
//! connections.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::message::{DecodeError, Message};
use crate::router::{ConnId, PeerSink, RouterConfig, RouterCore, SinkFull};
use crate::serializer::Serializer;
use crate::transport::rawsocket::{
    self, ClientHello, ClientHelloParse, FrameKind, HandshakeError, HandshakeReply,
};
use crate::transport::websocket;

/// Most messages written before one flush.
const WRITE_BATCH: usize = 64;
/// PONGs waiting to be written; further PINGs are ignored until they drain.
const PONG_QUEUE: usize = 4;
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Longest the timer task sleeps before checking whether the router is gone.
const TIMER_IDLE: Duration = Duration::from_secs(1);

/// What to do with a message larger than the peer's RawSocket limit.
enum Oversize {
    /// Send this instead (a RESULT becomes `ERROR wamp.error.payload_size_exceeded`).
    Replace(Vec<u8>),
    /// Drop it (an EVENT: the subscriber misses it, the session goes on).
    Drop,
    /// Close the connection (anything else cannot be skipped without breaking the session).
    Close,
}

fn oversize(ser: Serializer, m: &Message, len: usize, max: usize) -> Oversize {
    tracing::warn!(
        len,
        max,
        msg = m.name(),
        "message exceeds the peer's RawSocket limit"
    );
    match m {
        Message::Result(r) => {
            let err = crate::router::error_msg(
                crate::message::code::CALL,
                r.request,
                crate::router::uris::PAYLOAD_SIZE_EXCEEDED,
                "result exceeds the transport's maximum message size",
            );
            match ser.encode(&err) {
                Ok(b) if b.len() <= max => Oversize::Replace(b),
                _ => Oversize::Close,
            }
        }
        Message::Event(_) => Oversize::Drop,
        _ => Oversize::Close,
    }
}

struct Inner {
    core: Mutex<RouterCore>,
    timer: Arc<Notify>,
    timer_started: std::sync::Once,
    max_message_size: usize,
    max_sessions: usize,
    handshake_timeout: Duration,
}

/// A WAMP router serving WebSocket and RawSocket. Cheap to clone; clones share realms and
/// sessions.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let router = wamp::Router::new(wamp::RouterConfig::default());
/// let ws = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let raw = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
/// tokio::try_join!(router.serve_websocket(ws, "/ws"), router.serve_rawsocket(raw))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("sessions", &self.session_count())
            .finish()
    }
}

/// The router side of one connection's outbound queue.
struct ChannelSink {
    tx: Option<mpsc::Sender<Message>>,
}

impl PeerSink for ChannelSink {
    fn send(&mut self, msg: Message) -> Result<(), SinkFull> {
        match &self.tx {
            Some(tx) => match tx.try_send(msg) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => Err(SinkFull),
                // The connection task is gone; `disconnect` follows.
                Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            },
            None => Ok(()),
        }
    }
    fn close(&mut self) {
        // Dropping the sender lets the writer drain what is queued, then close the transport.
        self.tx = None;
    }
}

/// A connection registered with the core; disconnects on drop (also when the task is aborted).
struct Link {
    router: Router,
    conn: ConnId,
}

impl Link {
    fn connect(router: &Router, tx: mpsc::Sender<Message>) -> Option<Link> {
        let sink = Box::new(ChannelSink { tx: Some(tx) });
        let conn = router.lock().connect(sink, Instant::now()).ok()?;
        Some(Link {
            router: router.clone(),
            conn,
        })
    }

    fn handle_bytes(&self, ser: Serializer, bytes: &[u8]) {
        let decoded = ser.decode(bytes);
        self.handle(decoded);
    }

    fn handle(&self, decoded: Result<Message, DecodeError>) {
        let now = Instant::now();
        let mut core = self.router.lock();
        let before = core.poll_timeout();
        match decoded {
            Ok(msg) => core.handle_message(self.conn, msg, now),
            Err(e) => core.handle_decode_error(self.conn, &e, now),
        }
        let after = core.poll_timeout();
        drop(core);
        if after.is_some() && (before.is_none() || after < before) {
            self.router.inner.timer.notify_one();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.router.lock().disconnect(self.conn, Instant::now());
    }
}

impl Router {
    /// A router with `config`.
    pub fn new(config: RouterConfig) -> Router {
        let limits = config.limits.clone();
        Router {
            inner: Arc::new(Inner {
                core: Mutex::new(RouterCore::new(config)),
                timer: Arc::new(Notify::new()),
                timer_started: std::sync::Once::new(),
                max_message_size: limits.max_message_size,
                max_sessions: limits.max_sessions,
                handshake_timeout: limits.handshake_timeout,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RouterCore> {
        // The core never panics on peer input; recover the guard if a panic happened anyway.
        self.inner.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Established sessions across all realms.
    pub fn session_count(&self) -> usize {
        self.lock().session_count()
    }

    /// Runs `f` with the sans-IO core (for inspection and tests).
    pub fn with_core<T>(&self, f: impl FnOnce(&mut RouterCore) -> T) -> T {
        f(&mut self.lock())
    }

    fn ensure_timer(&self) {
        self.inner.timer_started.call_once(|| {
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            let notify = self.inner.timer.clone();
            tokio::spawn(async move {
                loop {
                    let deadline = {
                        let Some(inner) = weak.upgrade() else { break };
                        let mut core = inner.core.lock().unwrap_or_else(|e| e.into_inner());
                        core.handle_timeout(Instant::now());
                        core.poll_timeout()
                    };
                    let idle = Instant::now() + TIMER_IDLE;
                    let until = deadline.map_or(idle, |d| d.min(idle));
                    tokio::select! {
                        _ = tokio::time::sleep_until(until.into()) => {}
                        _ = notify.notified() => {}
                    }
                }
            });
        });
    }

    async fn accept_loop<F, Fut>(&self, listener: TcpListener, serve: F) -> std::io::Result<()>
    where
        F: Fn(Router, TcpStream) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.ensure_timer();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            match listener.accept().await {
                Ok((stream, peer)) => {
                    if tasks.len() >= self.inner.max_sessions.saturating_add(16) {
                        tracing::warn!(%peer, "connection limit reached; dropping");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    tracing::debug!(%peer, "accepted");
                    tasks.spawn(serve(self.clone(), stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    /// Serve WAMP over WebSocket on `path` (e.g. "/ws") until the future is dropped.
    pub async fn serve_websocket(&self, listener: TcpListener, path: &str) -> std::io::Result<()> {
        let path: Arc<str> = Arc::from(path);
        self.accept_loop(listener, move |router, stream| {
            let path = path.clone();
            async move { router.serve_websocket_connection(stream, &path).await }
        })
        .await
    }

    /// Serve WAMP RawSocket until the future is dropped.
    pub async fn serve_rawsocket(&self, listener: TcpListener) -> std::io::Result<()> {
        self.accept_loop(listener, |router, stream| async move {
            router.serve_rawsocket_connection(stream).await
        })
        .await
    }

    /// Serves one accepted TCP connection as a WebSocket on `path`.
    pub async fn serve_websocket_connection(&self, stream: TcpStream, path: &str) {
        self.ensure_timer();
        let accept = websocket::accept(stream, path, self.inner.max_message_size);
        let (ws, ser) = match tokio::time::timeout(self.inner.handshake_timeout, accept).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "websocket handshake failed");
                return;
            }
            Err(_) => return,
        };
        let (tx, mut rx) = mpsc::channel(self.lock().config().limits.outbound_queue.max(1));
        let Some(link) = Link::connect(self, tx) else {
            tracing::warn!("too many connections; closing websocket");
            return;
        };
        let (mut sink, mut stream) = ws.split();
        let read = async {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(WsMessage::Text(t)) if !ser.is_binary() => {
                        link.handle_bytes(ser, t.as_bytes())
                    }
                    Ok(WsMessage::Binary(b)) if ser.is_binary() => link.handle_bytes(ser, &b),
                    Ok(WsMessage::Text(_) | WsMessage::Binary(_)) => {
                        link.handle(Err(DecodeError::Malformed {
                            serializer: ser.name(),
                            reason: "wrong WebSocket message type for the subprotocol".into(),
                        }));
                    }
                    // Keep reading: tungstenite answers the close handshake, then the stream ends.
                    Ok(WsMessage::Close(_)) => {}
                    Ok(_) => {} // ping/pong handled by tungstenite
                    Err(e) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        break;
                    }
                }
            }
        };
        let write = async {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
                for m in batch {
                    match ser.encode(&m) {
                        Ok(bytes) => {
                            if sink
                                .feed(websocket::to_ws_message(ser, bytes))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "encode failed; message dropped"),
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        };
        tokio::select! {
            _ = read => {}
            _ = write => {}
        }
        drop(link);
    }

    /// Serves one accepted TCP connection as RawSocket.
    pub async fn serve_rawsocket_connection(&self, mut stream: TcpStream) {
        self.ensure_timer();
        let mut hello = [0u8; 4];
        let read =
            tokio::time::timeout(self.inner.handshake_timeout, stream.read_exact(&mut hello));
        if !matches!(read.await, Ok(Ok(_))) {
            return;
        }
        let client = match ClientHello::parse(hello) {
            ClientHelloParse::Ok(c) => c,
            ClientHelloParse::Reject(e) => {
                let _ = stream.write_all(&HandshakeReply::Error(e).encode()).await;
                return;
            }
            ClientHelloParse::NotRawSocket => return,
        };
        let (tx, mut rx) = mpsc::channel(self.lock().config().limits.outbound_queue.max(1));
        let Some(link) = Link::connect(self, tx) else {
            let reply = HandshakeReply::Error(HandshakeError::ConnectionLimit);
            let _ = stream.write_all(&reply.encode()).await;
            return;
        };
        let ser = client.serializer;
        let our_max = rawsocket::length_from_exponent(rawsocket::length_exponent(
            self.inner.max_message_size,
        ));
        let reply = HandshakeReply::Accept {
            serializer: ser,
            max_len: our_max,
        };
        if stream.write_all(&reply.encode()).await.is_err() {
            return;
        }
        let (mut rd, wr) = stream.into_split();
        let (pong_tx, mut pong_rx) = mpsc::channel::<Vec<u8>>(PONG_QUEUE);
        let read = async {
            loop {
                match rawsocket::read_frame(&mut rd, our_max).await {
                    Ok(Some((FrameKind::Message, body))) => link.handle_bytes(ser, &body),
                    Ok(Some((FrameKind::Ping, body))) => {
                        let _ = pong_tx.try_send(body);
                    }
                    Ok(Some((FrameKind::Pong, _))) => {}
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "rawsocket read failed");
                        break;
                    }
                }
            }
        };
        let write = async {
            let mut w = BufWriter::new(wr);
            loop {
                tokio::select! {
                    biased;
                    Some(p) = pong_rx.recv() => {
                        if rawsocket::write_frame(&mut w, FrameKind::Pong, &p).await.is_err() {
                            return;
                        }
                        if w.flush().await.is_err() { return; }
                    }
                    first = rx.recv() => {
                        let Some(first) = first else { break };
                        let mut batch = vec![first];
                        while batch.len() < WRITE_BATCH {
                            match rx.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                        for m in batch {
                            let bytes = match ser.encode(&m) {
                                Ok(b) => b,
                                Err(e) => {
                                    tracing::error!(error = %e, "encode failed; message dropped");
                                    continue;
                                }
                            };
                            let bytes = if bytes.len() > client.max_len {
                                match oversize(ser, &m, bytes.len(), client.max_len) {
                                    Oversize::Replace(b) => b,
                                    Oversize::Drop => continue,
                                    Oversize::Close => return,
                                }
                            } else {
                                bytes
                            };
                            if rawsocket::write_frame(&mut w, FrameKind::Message, &bytes).await.is_err() {
                                return;
                            }
                        }
                        if w.flush().await.is_err() { return; }
                    }
                }
            }
            let _ = w.flush().await;
            let _ = w.shutdown().await;
        };
        tokio::select! {
            _ = read => {}
            _ = write => {}
        }
        drop(link);
    }
}
