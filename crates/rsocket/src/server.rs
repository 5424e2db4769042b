//! Serving connections: the acceptor, the server builder and the accept loops.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Either};
use rsocket_proto::connection::ResumeConfig;
use rsocket_proto::frame::{Setup, Version};
use rsocket_proto::{Config, Connection};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::driver::Driver;
use crate::lease::LeasePolicy;
use crate::responder::Responder;
use crate::resume::{Detachable, Registry, Resumption};
use crate::shared::{Inner, Prefetch, Shared};
use crate::transport::{FrameIo, LengthPrefixed};
use crate::{Error, Payload, RSocket};

/// What the client asked for in its SETUP frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupInfo {
    /// Protocol version.
    pub version: Version,
    /// Data MIME type.
    pub data_mime_type: String,
    /// Metadata MIME type.
    pub metadata_mime_type: String,
    /// The setup payload.
    pub payload: Payload,
    /// Client KEEPALIVE interval.
    pub keepalive_interval: Duration,
    /// Client max lifetime.
    pub max_lifetime: Duration,
    /// The client asked for lease.
    pub lease: bool,
    /// The resume token, if the client asked for resumption.
    pub resume_token: Option<Bytes>,
}

impl SetupInfo {
    pub(crate) fn from_frame(s: Setup) -> Self {
        SetupInfo {
            version: s.version,
            data_mime_type: s.data_mime_type,
            metadata_mime_type: s.metadata_mime_type,
            payload: s.payload,
            keepalive_interval: Duration::from_millis(s.keepalive_interval_ms.into()),
            max_lifetime: Duration::from_millis(s.max_lifetime_ms.into()),
            lease: s.lease,
            resume_token: s.resume_token,
        }
    }
}

/// Decides whether to accept a connection, and with which responder.
///
/// Returning an error refuses the SETUP: the client gets ERROR\[REJECTED_SETUP\] (or the setup
/// code the error carries, such as UNSUPPORTED_SETUP) with the error's message. Any async
/// closure `Fn(SetupInfo, RSocket) -> Future<Output = Result<impl Responder, Error>>` is an
/// acceptor; the `RSocket` it gets is the requester for that client.
pub trait Acceptor: Send + Sync + 'static {
    /// Accepts or rejects one connection.
    fn accept(
        &self,
        setup: SetupInfo,
        requester: RSocket,
    ) -> BoxFuture<'static, Result<Arc<dyn Responder>, Error>>;
}

impl<F, Fut, R> Acceptor for F
where
    F: Fn(SetupInfo, RSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
    R: Responder,
{
    fn accept(
        &self,
        setup: SetupInfo,
        requester: RSocket,
    ) -> BoxFuture<'static, Result<Arc<dyn Responder>, Error>> {
        let fut = self(setup, requester);
        async move { fut.await.map(|r| Arc::new(r) as Arc<dyn Responder>) }.boxed()
    }
}

/// Builds a [`Server`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rsocket::{Payload, RequestHandler, Server};
///
/// let server = Server::builder()
///     .responder(RequestHandler::new().request_response(|p: Payload| async move { Ok(p) }))
///     .build();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
/// server.serve_tcp(listener).await
/// # }
/// ```
pub struct ServerBuilder {
    config: Config,
    acceptor: Option<Arc<dyn Acceptor>>,
    prefetch: Prefetch,
    max_connections: usize,
    max_connections_per_ip: usize,
    layers: Vec<crate::intercept::BoxLayer>,
    interceptor: Option<Arc<dyn crate::intercept::RequestInterceptor>>,
    lease_policy: Option<Arc<dyn LeasePolicy>>,
    max_resumable_sessions: usize,
    max_resume_store_total: usize,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("prefetch", &self.prefetch)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("max_resumable_sessions", &self.max_resumable_sessions)
            .finish()
    }
}

impl ServerBuilder {
    /// Sets the acceptor that sees each SETUP.
    pub fn acceptor(mut self, acceptor: impl Acceptor) -> Self {
        self.acceptor = Some(Arc::new(acceptor));
        self
    }

    /// Accepts every connection and answers with `responder` (shared by all connections).
    pub fn responder(self, responder: impl Responder) -> Self {
        let r: Arc<dyn Responder> = Arc::new(responder);
        self.acceptor(move |_setup: SetupInfo, _req: RSocket| {
            let r = r.clone();
            async move { Ok::<_, Error>(r) }
        })
    }

    /// Wraps every connection's responder in a tower layer (logging, metrics, auth). Layers
    /// apply in the order added, the first innermost.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: crate::intercept::Layer<Arc<dyn Responder>> + Send + Sync + 'static,
        L::Service: Responder,
    {
        self.layers.push(crate::intercept::erase(layer));
        self
    }

    /// Sees (and may change or refuse) every request the server sends to its clients.
    pub fn interceptor(mut self, i: impl crate::intercept::RequestInterceptor) -> Self {
        self.interceptor = Some(Arc::new(i));
        self
    }

    /// Fragments outbound frames larger than `mtu` bytes (at least 64).
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.config.mtu = Some(mtu);
        self
    }

    /// Accepts clients that ask for lease (otherwise they get UNSUPPORTED_SETUP). Leases are
    /// then granted by the [`ServerBuilder::lease_policy`], or by hand with
    /// [`RSocket::send_lease`] on the requester the acceptor gets; until one is granted the
    /// client may send no request (a request beyond the lease gets ERROR\[REJECTED\] and
    /// never reaches the responder).
    pub fn lease(mut self, on: bool) -> Self {
        self.config.lease = on;
        self
    }

    /// Grants leases to clients that asked for lease, following `policy` (implies
    /// [`ServerBuilder::lease`]): once the connection is accepted, again after each
    /// resumption, and every [`LeasePolicy::interval`]. See [`crate::lease`].
    pub fn lease_policy(mut self, policy: impl LeasePolicy) -> Self {
        self.config.lease = true;
        self.lease_policy = Some(Arc::new(policy));
        self
    }

    /// Accepts clients that ask for resumption (a resume token in SETUP) and keeps their
    /// sessions across transports: a client that reconnects with RESUME continues where it
    /// was. A SETUP with a token already in use is refused with REJECTED_SETUP; a RESUME with
    /// an unknown token, or a position the session cannot resume from, with REJECTED_RESUME.
    /// A session without a transport expires after `config.session_timeout`. Without this,
    /// resumable SETUPs get REJECTED_SETUP. See [`crate::resume`].
    pub fn resume(mut self, config: ResumeConfig) -> Self {
        self.config.resume = Some(config);
        self
    }

    /// Resumable sessions kept at once (connected or waiting for their client); further
    /// SETUPs asking for resumption get REJECTED_SETUP. Default
    /// [`DEFAULT_MAX_RESUMABLE_SESSIONS`](crate::resume::DEFAULT_MAX_RESUMABLE_SESSIONS)
    /// (1024). With the per-session store bound (`ResumeConfig::max_store_bytes`) this caps
    /// the memory kept for retransmission.
    pub fn max_resumable_sessions(mut self, n: usize) -> Self {
        self.max_resumable_sessions = n;
        self
    }

    /// Bytes all resumable sessions together may keep for retransmission. Default
    /// [`DEFAULT_RESUME_STORE_TOTAL`](crate::resume::DEFAULT_RESUME_STORE_TOTAL) (256 MiB).
    /// Once reached, the producers of the sessions that keep frames pause until their peers
    /// acknowledge; each session also stays under its own `max_store_bytes`.
    pub fn max_resume_store_total(mut self, bytes: usize) -> Self {
        self.max_resume_store_total = bytes.max(1);
        self
    }

    /// Request-n policy of inbound channel streams.
    pub fn prefetch(mut self, prefetch: Prefetch) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// Connections served at once; more are closed as soon as they are accepted. Default
    /// 10,000.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Connections served at once from one IP address (over TCP, TLS and WebSocket; an
    /// IPv4-mapped IPv6 address counts as its IPv4 address); more from that address are closed
    /// as soon as they are accepted, before any handshake, so one peer cannot take every slot
    /// of [`ServerBuilder::max_connections`]. Default 1,000. Behind a proxy every client has
    /// the proxy's address: raise this to `max_connections` there. Connections handed to
    /// [`Server::serve_connection`] (the axum mount, Unix sockets) are not counted.
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.max_connections_per_ip = n.max(1);
        self
    }

    /// Replaces the whole protocol configuration (limits, MTU, lease).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Builds the server.
    pub fn build(self) -> Server {
        let acceptor = self.acceptor.unwrap_or_else(|| {
            Arc::new(|_s: SetupInfo, _r: RSocket| async {
                Ok::<_, Error>(crate::responder::NoResponder)
            })
        });
        let acceptor: Arc<dyn Acceptor> = if self.layers.is_empty() {
            acceptor
        } else {
            let layers = Arc::new(self.layers);
            Arc::new(move |setup: SetupInfo, requester: RSocket| {
                let fut = acceptor.accept(setup, requester);
                let layers = layers.clone();
                async move { fut.await.map(|r| crate::intercept::apply(&layers, r)) }
            })
        };
        let acceptor: Arc<dyn Acceptor> = match self.lease_policy {
            None => acceptor,
            Some(policy) => Arc::new(move |setup: SetupInfo, requester: RSocket| {
                let lease = setup.lease;
                let fut = acceptor.accept(setup, requester.clone());
                let policy = policy.clone();
                async move {
                    let responder = fut.await?;
                    if lease {
                        tokio::spawn(crate::lease::run(policy, requester));
                    }
                    Ok::<_, Error>(responder)
                }
            }),
        };
        let registry = self
            .config
            .resume
            .as_ref()
            .map(|_| Arc::new(Registry::new(self.max_resumable_sessions)));
        let store_budget = self
            .config
            .resume
            .as_ref()
            .map(|_| crate::shared::StoreBudget::new(self.max_resume_store_total));
        Server {
            inner: Arc::new(ServerInner {
                config: self.config,
                acceptor,
                interceptor: self.interceptor,
                prefetch: self.prefetch,
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
                permits: Arc::new(Semaphore::new(self.max_connections)),
                per_ip: crate::per_ip::PerIp::new(self.max_connections_per_ip),
                registry,
                store_budget,
            }),
        }
    }
}

struct ServerInner {
    config: Config,
    interceptor: Option<Arc<dyn crate::intercept::RequestInterceptor>>,
    acceptor: Arc<dyn Acceptor>,
    prefetch: Prefetch,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    permits: Arc<Semaphore>,
    /// Connections per peer address (accept loops only).
    per_ip: Arc<crate::per_ip::PerIp>,
    /// Resumable sessions by token (with resumption enabled).
    registry: Option<Arc<Registry>>,
    store_budget: Option<Arc<crate::shared::StoreBudget>>,
}

/// An RSocket server: serves connections from any number of listeners until
/// [`Server::shutdown`]. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.inner.tracker.len())
            .finish()
    }
}

/// Default of [`ServerBuilder::max_connections_per_ip`].
const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;

/// How long a TLS or WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a graceful shutdown waits for open streams before dropping connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl Server {
    /// A builder with default limits and no responder (every request is refused).
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            acceptor: None,
            prefetch: Prefetch::default(),
            max_connections: 10_000,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            layers: Vec::new(),
            interceptor: None,
            lease_policy: None,
            max_resumable_sessions: crate::resume::DEFAULT_MAX_RESUMABLE_SESSIONS,
            max_resume_store_total: crate::resume::DEFAULT_RESUME_STORE_TOTAL,
        }
    }

    /// Serves one connection over an established transport until it closes (or the server
    /// shuts down and its streams finish). The connection counts against
    /// [`ServerBuilder::max_connections`] (over it, the transport is closed at once) and is
    /// waited for by [`Server::shutdown`].
    pub fn serve_connection<T: FrameIo>(&self, io: T) -> impl Future<Output = ()> + Send + use<T> {
        let conn = Connection::server(Instant::now(), self.inner.config.clone());
        let store_bound = self.inner.config.resume.as_ref().map(|r| r.max_store_bytes);
        let inner = Arc::new(Inner {
            state: Mutex::new(
                Shared::new(conn)
                    .with_store_bound(store_bound)
                    .with_budget(self.inner.store_budget.clone()),
            ),
            driver: crate::shared::DriverWaker::default(),
            io_backlog: Default::default(),
            io_busy: Default::default(),
            capacity: Notify::new(),
            prefetch: self.inner.prefetch,
            interceptor: self.inner.interceptor.clone(),
            session: Notify::new(),
            lease_wait: None,
        });
        let responder: Arc<dyn Responder> = Arc::new(crate::responder::NoResponder);
        let permit = self.inner.permits.clone().try_acquire_owned();
        let acceptor = Some(self.inner.acceptor.clone());
        let driver = match &self.inner.registry {
            // A resumable session may outlive this transport and take another one.
            Some(registry) => Either::Left(
                Driver::new(
                    Detachable::new(Box::new(io)),
                    inner.clone(),
                    responder,
                    acceptor,
                )
                .with_resumption(Resumption::Server {
                    registry: registry.clone(),
                    session: None,
                }),
            ),
            None => Either::Right(Driver::new(io, inner.clone(), responder, acceptor)),
        };
        let shutdown = self.inner.shutdown.clone();
        let fut = async move {
            let Ok(_permit) = permit else {
                tracing::warn!("connection limit reached; closing a new connection");
                return;
            };
            tokio::pin!(driver);
            let signal = ShutdownSignal::new(shutdown);
            tokio::pin!(signal);
            tokio::select! {
                biased;
                () = &mut driver => return,
                () = signal => {}
            }
            RSocket::new(inner).close();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, driver).await;
        };
        self.inner.tracker.track_future(fut)
    }

    /// Accepts TCP connections until shutdown (`TCP_NODELAY` on each).
    pub async fn serve_tcp(&self, listener: TcpListener) -> io::Result<()> {
        let max = self.inner.config.limits.max_frame_size;
        self.accept_loop(
            || accept_tcp(&listener),
            move |tcp| async move { Ok(LengthPrefixed::tcp(tcp, max)) },
        )
        .await
    }

    /// Accepts Unix-socket connections until shutdown.
    #[cfg(unix)]
    pub async fn serve_unix(&self, listener: tokio::net::UnixListener) -> io::Result<()> {
        let max = self.inner.config.limits.max_frame_size;
        let accept = || async {
            let (s, addr) = listener.accept().await?;
            Ok((s, format!("{addr:?}"), None))
        };
        self.accept_loop(
            accept,
            move |s| async move { Ok(LengthPrefixed::new(s, max)) },
        )
        .await
    }

    /// Accepts WebSocket connections on `path` (other paths get 404) until shutdown.
    #[cfg(feature = "ws")]
    pub async fn serve_ws(&self, listener: TcpListener, path: &str) -> io::Result<()> {
        let path = path.to_string();
        self.accept_loop(
            || accept_tcp(&listener),
            move |tcp| {
                let path = path.clone();
                async move {
                    crate::transport::ws::accept(tcp, &path)
                        .await
                        .map_err(|e| format!("WebSocket handshake: {e}"))
                }
            },
        )
        .await
    }

    /// Accepts TLS connections (`tcp+tls://`) until shutdown. Build the configuration with
    /// [`transport::tls::server_config`](crate::transport::tls::server_config).
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
    ) -> io::Result<()> {
        let max = self.inner.config.limits.max_frame_size;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        self.accept_loop(
            || accept_tcp(&listener),
            move |tcp| {
                let acceptor = acceptor.clone();
                async move {
                    let tls = acceptor
                        .accept(tcp)
                        .await
                        .map_err(|e| format!("TLS handshake: {e}"))?;
                    Ok(LengthPrefixed::new(tls, max))
                }
            },
        )
        .await
    }

    /// Accepts WebSocket-over-TLS connections (`wss://`) on `path` until shutdown.
    #[cfg(all(feature = "tls", feature = "ws"))]
    pub async fn serve_wss(
        &self,
        listener: TcpListener,
        path: &str,
        tls: Arc<rustls::ServerConfig>,
    ) -> io::Result<()> {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let path = path.to_string();
        self.accept_loop(
            || accept_tcp(&listener),
            move |tcp| {
                let (acceptor, path) = (acceptor.clone(), path.clone());
                async move {
                    let tls = acceptor
                        .accept(tcp)
                        .await
                        .map_err(|e| format!("TLS handshake: {e}"))?;
                    crate::transport::ws::accept(tls, &path)
                        .await
                        .map_err(|e| format!("WebSocket handshake: {e}"))
                }
            },
        )
        .await
    }

    /// The accept loop behind every `serve_*`: accepts until shutdown and serves each stream
    /// on a task of its own, after `handshake` (TLS, WebSocket upgrade) turned it into a
    /// transport within [`HANDSHAKE_TIMEOUT`]. A stream from an IP address that has
    /// [`ServerBuilder::max_connections_per_ip`] connections already is closed at once. Accept
    /// errors back off briefly.
    async fn accept_loop<S, A, AF, H, HF, T>(&self, mut accept: A, handshake: H) -> io::Result<()>
    where
        A: FnMut() -> AF,
        AF: Future<Output = io::Result<(S, String, Option<IpAddr>)>>,
        H: Fn(S) -> HF,
        HF: Future<Output = Result<T, String>> + Send + 'static,
        T: FrameIo,
    {
        loop {
            let accepted = tokio::select! {
                r = accept() => r,
                () = self.inner.shutdown.cancelled() => return Ok(()),
            };
            match accepted {
                Ok((stream, peer, ip)) => {
                    let permit = match ip.map(|ip| self.inner.per_ip.try_acquire(ip)) {
                        Some(None) => {
                            tracing::warn!(%peer, "connection limit of this address reached; closing a new connection");
                            continue;
                        }
                        Some(permit) => permit,
                        None => None,
                    };
                    tracing::debug!(%peer, "accepted a connection");
                    let server = self.clone();
                    let hs = handshake(stream);
                    self.inner.tracker.spawn(async move {
                        let _permit = permit;
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, hs).await {
                            Ok(Ok(io)) => server.serve_connection(io).await,
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "handshake failed"),
                            Err(_) => tracing::debug!(%peer, "handshake timed out"),
                        }
                    });
                }
                Err(e) => accept_error(e).await,
            }
        }
    }

    /// Stops accepting, closes every connection gracefully (ERROR\[CONNECTION_CLOSE\], open
    /// streams finish within a grace period) and returns when all connections are gone.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    /// Bytes all resumable sessions keep for retransmission right now.
    pub fn resume_store_total(&self) -> usize {
        self.inner.store_budget.as_ref().map_or(0, |b| b.used())
    }

    /// Resumable sessions kept (connected or waiting for their client to resume).
    pub fn resumable_session_count(&self) -> usize {
        self.inner.registry.as_ref().map_or(0, |r| r.len())
    }

    /// Connections currently served.
    pub fn connection_count(&self) -> usize {
        self.inner.tracker.len()
    }
}

/// Accepts one TCP connection with `TCP_NODELAY` on.
async fn accept_tcp(
    listener: &TcpListener,
) -> io::Result<(tokio::net::TcpStream, String, Option<IpAddr>)> {
    let (tcp, peer) = listener.accept().await?;
    let _ = tcp.set_nodelay(true);
    Ok((tcp, peer.to_string(), Some(peer.ip())))
}

/// Accept errors (such as running out of file descriptors) are transient: back off briefly.
async fn accept_error(e: io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Waits for the server's shutdown without touching the server-wide token on every wake-up of
/// a connection's task: the token's notification is polled at first and again only once it
/// has fired (`CancellationToken`'s own future locks two mutexes shared by every connection
/// each time the task wakes).
struct ShutdownSignal {
    wait: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    flag: Arc<FiredFlag>,
    started: bool,
    /// The task waker last handed to `flag`.
    known: Option<std::task::Waker>,
}

/// Set by the token's notification, which then wakes the connection's task.
#[derive(Default)]
struct FiredFlag {
    fired: std::sync::atomic::AtomicBool,
    task: std::sync::Mutex<Option<std::task::Waker>>,
}

impl std::task::Wake for FiredFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, std::sync::atomic::Ordering::Release);
        if let Some(w) = &*self.task.lock().unwrap_or_else(|p| p.into_inner()) {
            w.wake_by_ref();
        }
    }
}

impl ShutdownSignal {
    fn new(token: CancellationToken) -> Self {
        ShutdownSignal {
            wait: Box::pin(token.cancelled_owned()),
            flag: Arc::default(),
            started: false,
            known: None,
        }
    }
}

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = &mut *self;
        if !this.known.as_ref().is_some_and(|k| k.will_wake(cx.waker())) {
            *this.flag.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            this.known = Some(cx.waker().clone());
        }
        let fired = this
            .flag
            .fired
            .swap(false, std::sync::atomic::Ordering::AcqRel);
        if this.started && !fired {
            return std::task::Poll::Pending;
        }
        this.started = true;
        let waker = std::task::Waker::from(this.flag.clone());
        this.wait
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
    }
}
