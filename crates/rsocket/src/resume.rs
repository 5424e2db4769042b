//! Session resumption in the runtime (Protocol.md "Resuming Operation").
//!
//! The protocol core keeps the frames sent since the peer's last acknowledged position and
//! knows the positions; this module finds new transports for a session whose transport died:
//!
//! ```text
//!  client driver                                   server
//!  ─────────────                                   ──────
//!  transport lost ─► reconnect (backoff + jitter)   fresh connection reads RESUME(token)
//!                    until the session expires        │ look the token up (constant time)
//!  new transport ──► RESUME ───────────────────────►  ▼
//!                                                   Registry ──► session's driver:
//!  RESUME_OK ◄──────────────────────────────────── handle_resume, retransmit, new LEASE
//! ```
//!
//! * Client: [`ClientBuilder::resume`](crate::ClientBuilder::resume) with [`ResumeOptions`].
//! * Server: [`ServerBuilder::resume`](crate::ServerBuilder::resume) with a
//!   [`ResumeConfig`](rsocket_proto::connection::ResumeConfig), and
//!   [`ServerBuilder::max_resumable_sessions`](crate::ServerBuilder::max_resumable_sessions).
//!
//! Acknowledgements ride on KEEPALIVE: the periodic ones, and an unsolicited KEEPALIVE (R
//! clear) that a receiver sends whenever a quarter of the store limit has arrived since its
//! last acknowledgement, so a fast stream never waits for the keepalive interval. Each side
//! keeps what it sent until the peer acknowledges it (plus what is sent while the transport is
//! down). Producers pause while a session's store is over half of
//! [`ResumeOptions::max_store_bytes`] (or the server's `max_store_bytes`), and a session whose
//! store would still overflow closes with CONNECTION_ERROR. Both sides should use the same
//! store limit (the default is 16 MiB): the early acknowledgements are paced by the receiver's
//! own limit.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use rsocket_proto::codec::EncodedFrames;
use rsocket_proto::frame::{ErrorFrame, Resume};
use rsocket_proto::{ErrorCode, Frame, StreamId};
use tokio::sync::mpsc;

use crate::transport::{ConnectOptions, FrameIo, Inbound, TransportUri};

/// Client resumption settings, for [`ClientBuilder::resume`](crate::ClientBuilder::resume).
#[derive(Clone, Debug)]
pub struct ResumeOptions {
    /// How long the session outlives a lost transport; reconnection stops and every stream
    /// fails after it. Default 60 s. (The server keeps its side for its own
    /// `session_timeout`.)
    pub session_timeout: Duration,
    /// Delay between reconnection attempts. Default 100 ms doubling to 5 s, with jitter.
    pub reconnect_backoff: Backoff,
    /// The resume token sent in SETUP. Default `None`: 16 random bytes (128 bits) from a
    /// cryptographic generator. A token must be hard to guess: whoever knows it can take the
    /// session over.
    pub token: Option<Bytes>,
    /// Bytes of sent, unacknowledged frames kept. Default 16 MiB (see the
    /// [module documentation](self)).
    pub max_store_bytes: usize,
}

impl Default for ResumeOptions {
    fn default() -> Self {
        let core = rsocket_proto::connection::ResumeConfig::default();
        ResumeOptions {
            session_timeout: core.session_timeout,
            reconnect_backoff: Backoff::default(),
            token: None,
            max_store_bytes: core.max_store_bytes,
        }
    }
}

/// Exponential backoff between reconnection attempts: the first attempt is immediate, then
/// each waits a random 50–100 % of a delay that starts at `initial` and doubles up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay. Default 100 ms.
    pub initial: Duration,
    /// Largest delay. Default 5 s.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Resumable sessions a server keeps by default
/// ([`ServerBuilder::max_resumable_sessions`](crate::ServerBuilder::max_resumable_sessions)).
pub const DEFAULT_MAX_RESUMABLE_SESSIONS: usize = 1024;

/// Bytes all resumable sessions of a server may keep for retransmission together, by default
/// ([`ServerBuilder::max_resume_store_total`](crate::ServerBuilder::max_resume_store_total)):
/// 256 MiB. Each session is also bounded by its own `max_store_bytes` (16 MiB by default).
pub const DEFAULT_RESUME_STORE_TOTAL: usize = 256 << 20;

/// How long one reconnection attempt (TCP, TLS and WebSocket handshakes) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long rejecting a RESUME on a new transport may take.
const REJECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A random 128-bit resume token.
pub(crate) fn random_token() -> Bytes {
    Bytes::copy_from_slice(&rand::random::<[u8; 16]>())
}

/// Equality that takes the same time wherever the inputs differ (token checks).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

// ---- the driver's transport ----------------------------------------------------------------

/// What the connection driver needs from its transport. Every [`FrameIo`] is one (attached
/// for good, at no cost); a [`Detachable`] can lose its transport and get a new one.
pub(crate) trait DriverIo: Send + Unpin + 'static {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>>;
    fn queue(&mut self, frame: &Frame) -> io::Result<()>;
    fn backlog(&self) -> usize;
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn has_partial_frame(&self) -> bool;
    /// Takes the transport away (the session lives on without one).
    fn detach(&mut self) -> Option<Box<dyn FrameIo>>;
    /// See [`FrameIo::direct_writer`]; none for a resumable session (its frames must keep
    /// their places in the resume store's order, which only its task keeps).
    fn direct_writer(&self) -> Option<crate::transport::DirectWriter> {
        None
    }
    /// See [`FrameIo::queue_encoded`].
    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// See [`FrameIo::encoded_frames`]; none for a resumable session (its transport may be
    /// replaced by one of another kind).
    fn encoded_frames(&self) -> Option<usize> {
        None
    }
    /// See [`FrameIo::append_encoded`].
    fn append_encoded(&mut self, frames: &mut EncodedFrames) -> io::Result<()> {
        let _ = frames;
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Puts a new transport in place.
    fn attach(&mut self, io: Box<dyn FrameIo>);
}

impl<T: FrameIo> DriverIo for T {
    #[inline]
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        FrameIo::poll_recv(self, cx)
    }
    #[inline]
    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        FrameIo::queue(self, frame)
    }
    #[inline]
    fn backlog(&self) -> usize {
        FrameIo::backlog(self)
    }
    #[inline]
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        FrameIo::poll_flush(self, cx)
    }
    #[inline]
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        FrameIo::poll_close(self, cx)
    }
    #[inline]
    fn has_partial_frame(&self) -> bool {
        FrameIo::has_partial_frame(self)
    }
    fn detach(&mut self) -> Option<Box<dyn FrameIo>> {
        None
    }
    fn attach(&mut self, _io: Box<dyn FrameIo>) {}
    fn direct_writer(&self) -> Option<crate::transport::DirectWriter> {
        FrameIo::direct_writer(self)
    }
    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        FrameIo::queue_encoded(self, bytes)
    }
    #[inline]
    fn encoded_frames(&self) -> Option<usize> {
        FrameIo::encoded_frames(self)
    }
    #[inline]
    fn append_encoded(&mut self, frames: &mut EncodedFrames) -> io::Result<()> {
        FrameIo::append_encoded(self, frames)
    }
}

/// The transport of a resumable connection: present, or absent while the session waits for
/// a new one (then nothing is read and whatever is written is dropped: the protocol core
/// keeps the resumable frames for retransmission).
pub(crate) struct Detachable(Option<Box<dyn FrameIo>>);

impl Detachable {
    pub(crate) fn new(io: Box<dyn FrameIo>) -> Self {
        Detachable(Some(io))
    }
}

impl DriverIo for Detachable {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        match &mut self.0 {
            Some(io) => FrameIo::poll_recv(io.as_mut(), cx),
            None => Poll::Pending,
        }
    }
    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        match &mut self.0 {
            Some(io) => FrameIo::queue(io.as_mut(), frame),
            None => Ok(()),
        }
    }
    fn backlog(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |io| FrameIo::backlog(io.as_ref()))
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Some(io) => FrameIo::poll_flush(io.as_mut(), cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Some(io) => FrameIo::poll_close(io.as_mut(), cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn has_partial_frame(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|io| FrameIo::has_partial_frame(io.as_ref()))
    }
    fn detach(&mut self) -> Option<Box<dyn FrameIo>> {
        self.0.take()
    }
    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Some(io) => FrameIo::queue_encoded(io.as_mut(), bytes),
            None => Ok(()),
        }
    }
    fn attach(&mut self, io: Box<dyn FrameIo>) {
        self.0 = Some(io);
    }
}

// ---- how a driver finds its next transport -------------------------------------------------

/// A resumable driver's way to a new transport.
pub(crate) enum Resumption {
    /// Client: reconnect to the same URI.
    Client {
        uri: TransportUri,
        opts: ConnectOptions,
        backoff: Backoff,
        reconnecting: Option<BoxFuture<'static, Box<dyn FrameIo>>>,
    },
    /// Server: wait for the registry to hand over a transport whose first frame was RESUME
    /// with this session's token.
    Server {
        registry: std::sync::Arc<Registry>,
        session: Option<Registration>,
    },
}

impl Resumption {
    pub(crate) fn client(uri: TransportUri, opts: ConnectOptions, backoff: Backoff) -> Self {
        Resumption::Client {
            uri,
            opts,
            backoff,
            reconnecting: None,
        }
    }

    /// The transport was lost: a client starts reconnecting.
    pub(crate) fn transport_lost(&mut self) {
        if let Resumption::Client {
            uri,
            opts,
            backoff,
            reconnecting,
        } = self
        {
            *reconnecting = Some(Box::pin(reconnect(uri.clone(), opts.clone(), *backoff)));
        }
    }
}

/// Connects until it succeeds (the driver drops this future when the session expires).
async fn reconnect(uri: TransportUri, opts: ConnectOptions, backoff: Backoff) -> Box<dyn FrameIo> {
    let mut delay = backoff.initial.max(Duration::from_millis(1));
    loop {
        match tokio::time::timeout(CONNECT_TIMEOUT, crate::transport::connect(&uri, &opts)).await {
            Ok(Ok(io)) => {
                tracing::debug!(%uri, "reconnected; resuming the session");
                return io;
            }
            Ok(Err(e)) => tracing::debug!(%uri, error = %e, "reconnection failed"),
            Err(_) => tracing::debug!(%uri, "reconnection timed out"),
        }
        let jitter: f64 = rand::random_range(0.5..=1.0);
        tokio::time::sleep(delay.mul_f64(jitter)).await;
        delay = (delay * 2).min(backoff.max.max(backoff.initial));
    }
}

/// A transport whose first frame was RESUME, on its way to the session it names.
pub(crate) struct Handoff {
    pub(crate) io: Box<dyn FrameIo>,
    pub(crate) resume: Resume,
}

/// Handoffs a session may have waiting (a client that reconnects again before the first one
/// was taken over).
const HANDOFF_QUEUE: usize = 4;

/// The resumable sessions of one server, by token.
///
/// Tokens are looked up by a keyed hash (SipHash with random keys: an attacker learns nothing
/// from the map's timing) and then compared in constant time.
pub(crate) struct Registry {
    hasher: std::collections::hash_map::RandomState,
    max_sessions: usize,
    next_id: AtomicU64,
    sessions: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    by_key: HashMap<u64, Vec<Entry>>,
    len: usize,
}

struct Entry {
    id: u64,
    token: Bytes,
    tx: mpsc::Sender<Handoff>,
}

/// A session's place in the registry; dropping it removes the session.
pub(crate) struct Registration {
    registry: std::sync::Arc<Registry>,
    key: u64,
    id: u64,
    pub(crate) rx: mpsc::Receiver<Handoff>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut s = self.registry.lock();
        if let Some(v) = s.by_key.get_mut(&self.key) {
            let before = v.len();
            v.retain(|e| e.id != self.id);
            let removed = before - v.len();
            if v.is_empty() {
                s.by_key.remove(&self.key);
            }
            s.len -= removed;
        }
    }
}

impl Registry {
    pub(crate) fn new(max_sessions: usize) -> Self {
        Registry {
            hasher: Default::default(),
            max_sessions,
            next_id: AtomicU64::new(1),
            sessions: Mutex::new(Sessions::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sessions kept.
    pub(crate) fn len(&self) -> usize {
        self.lock().len
    }

    /// Registers the session of an accepted SETUP; refuses a token already in use and more
    /// sessions than the limit.
    pub(crate) fn register(
        self: &std::sync::Arc<Self>,
        token: &Bytes,
    ) -> Result<Registration, &'static str> {
        let key = self.hasher.hash_one(&token[..]);
        let mut s = self.lock();
        let in_use = s
            .by_key
            .get(&key)
            .is_some_and(|v| v.iter().any(|e| ct_eq(&e.token, token)));
        if in_use {
            return Err("the resume token is already in use");
        }
        if s.len >= self.max_sessions {
            return Err("the server keeps no more resumable sessions");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(HANDOFF_QUEUE);
        s.by_key.entry(key).or_default().push(Entry {
            id,
            token: token.clone(),
            tx,
        });
        s.len += 1;
        Ok(Registration {
            registry: self.clone(),
            key,
            id,
            rx,
        })
    }

    /// Hands a transport to the session its RESUME names. Gives it back (with the reason)
    /// when there is no such session or it cannot take more.
    pub(crate) fn hand_off(&self, h: Handoff) -> Result<(), (Handoff, &'static str)> {
        let key = self.hasher.hash_one(&h.resume.token[..]);
        let tx = {
            let s = self.lock();
            s.by_key.get(&key).and_then(|v| {
                v.iter()
                    .find(|e| ct_eq(&e.token, &h.resume.token))
                    .map(|e| e.tx.clone())
            })
        };
        let Some(tx) = tx else {
            return Err((h, "no resumable session with this token"));
        };
        tx.try_send(h).map_err(|e| {
            let h = match e {
                mpsc::error::TrySendError::Full(h) | mpsc::error::TrySendError::Closed(h) => h,
            };
            (h, "the session cannot be resumed now")
        })
    }
}

/// Answers a transport with ERROR\[REJECTED_RESUME\] on stream 0 and closes it (in the
/// background, bounded in time).
pub(crate) fn reject(mut io: Box<dyn FrameIo>, message: String) {
    tracing::debug!(%message, "RESUME rejected");
    let frame = Frame::Error(ErrorFrame::new(
        StreamId::CONNECTION,
        ErrorCode::REJECTED_RESUME,
        message,
    ));
    tokio::spawn(async move {
        if FrameIo::queue(io.as_mut(), &frame).is_err() {
            return;
        }
        let _ = tokio::time::timeout(REJECT_TIMEOUT, async {
            futures::future::poll_fn(|cx| FrameIo::poll_flush(io.as_mut(), cx)).await?;
            futures::future::poll_fn(|cx| FrameIo::poll_close(io.as_mut(), cx)).await
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn tokens_are_128_bit_and_distinct() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn registry_refuses_duplicates_and_caps_sessions() {
        let r = std::sync::Arc::new(Registry::new(2));
        let t1 = Bytes::from_static(b"token-1");
        let a = r.register(&t1).unwrap();
        assert!(r.register(&t1).is_err(), "a token in use is refused");
        let _b = r.register(&Bytes::from_static(b"token-2")).unwrap();
        assert!(r.register(&Bytes::from_static(b"token-3")).is_err());
        drop(a);
        assert_eq!(r.len(), 1);
        assert!(r.register(&t1).is_ok(), "a dropped session frees its token");
    }
}
