//! Connecting to a server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsocket_proto::{Config, Connection, SetupParams};
use tokio::sync::Notify;

use crate::driver::Driver;
use crate::lease::LeasePolicy;
use crate::responder::{NoResponder, Responder};
use crate::resume::{Detachable, DriverIo, ResumeOptions, Resumption};
use crate::shared::{Inner, Prefetch, Shared};
use crate::transport::{FrameIo, TransportUri};
use crate::{Error, Payload, RSocket};

/// Builds a client connection.
///
/// ```no_run
/// # async fn run() -> Result<(), rsocket::Error> {
/// use std::time::Duration;
/// use rsocket::{Client, Payload};
///
/// let rsocket = Client::builder()
///     .keepalive(Duration::from_secs(20), Duration::from_secs(90))
///     .data_mime_type("application/json")
///     .connect("tcp://127.0.0.1:7878")
///     .await?;
/// let answer = rsocket.request_response(Payload::from("ping")).await?;
/// # let _ = answer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    config: Config,
    setup: SetupParams,
    responder: Arc<dyn Responder>,
    responder_fn: Option<ResponderFn>,
    prefetch: Prefetch,
    ws_headers: Vec<(String, String)>,
    ws_ping_interval: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: crate::transport::tls::TlsOptions,
    layers: Vec<crate::intercept::BoxLayer>,
    interceptor: Option<Arc<dyn crate::intercept::RequestInterceptor>>,
    resume: Option<ResumeOptions>,
    lease_policy: Option<Arc<dyn LeasePolicy>>,
    lease_wait: Option<Duration>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("setup", &self.setup)
            .field("prefetch", &self.prefetch)
            .field("resume", &self.resume)
            .field("lease_wait", &self.lease_wait)
            .finish()
    }
}

/// Builds a client's responder from the connection's requester.
type ResponderFn = Arc<dyn Fn(RSocket) -> Arc<dyn Responder> + Send + Sync>;

/// Entry point for clients: `Client::builder()`.
#[derive(Debug)]
pub struct Client;

impl Client {
    /// A builder with defaults: keepalive 20 s, max lifetime 90 s, data
    /// `application/octet-stream`, metadata `message/x.rsocket.composite-metadata.v0`, no
    /// fragmentation, prefetch 64, no responder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            config: Config::default(),
            setup: SetupParams::default(),
            responder: Arc::new(NoResponder),
            responder_fn: None,
            prefetch: Prefetch::default(),
            ws_headers: Vec::new(),
            ws_ping_interval: None,
            #[cfg(feature = "tls")]
            tls: Default::default(),
            layers: Vec::new(),
            interceptor: None,
            resume: None,
            lease_policy: None,
            lease_wait: None,
        }
    }
}

impl ClientBuilder {
    /// KEEPALIVE interval and max lifetime announced in SETUP.
    pub fn keepalive(mut self, interval: Duration, max_lifetime: Duration) -> Self {
        self.config.keepalive_interval = interval;
        self.config.max_lifetime = max_lifetime;
        self
    }

    /// Data MIME type announced in SETUP.
    pub fn data_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.setup.data_mime_type = mime.into();
        self
    }

    /// Metadata MIME type announced in SETUP.
    pub fn metadata_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.setup.metadata_mime_type = mime.into();
        self
    }

    /// The SETUP payload.
    pub fn setup_payload(mut self, payload: Payload) -> Self {
        self.setup.payload = payload;
        self
    }

    /// Answers requests the server sends to this client with a responder built from the
    /// connection's own requester, so a handler can call the server back. Replaces
    /// [`ClientBuilder::responder`].
    ///
    /// ```
    /// use rsocket::{Client, Payload, RSocket, RequestHandler};
    /// let builder = Client::builder().responder_fn(|server: RSocket| {
    ///     RequestHandler::new().fire_and_forget(move |p: Payload| {
    ///         let server = server.clone();
    ///         async move {
    ///             let _ = server.fire_and_forget(p).await; // echo it back
    ///         }
    ///     })
    /// });
    /// # let _ = builder;
    /// ```
    pub fn responder_fn<R, F>(mut self, f: F) -> Self
    where
        R: Responder,
        F: Fn(RSocket) -> R + Send + Sync + 'static,
    {
        self.responder_fn = Some(Arc::new(move |rs| Arc::new(f(rs)) as Arc<dyn Responder>));
        self
    }

    /// Answers requests the server sends to this client.
    pub fn responder(mut self, responder: impl Responder) -> Self {
        self.responder = Arc::new(responder);
        self
    }

    /// Wraps the client's responder in a tower layer (logging, metrics, auth).
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: crate::intercept::Layer<Arc<dyn Responder>> + Send + Sync + 'static,
        L::Service: Responder,
    {
        self.layers.push(crate::intercept::erase(layer));
        self
    }

    /// Sees (and may change or refuse) every request this client sends.
    pub fn interceptor(mut self, i: impl crate::intercept::RequestInterceptor) -> Self {
        self.interceptor = Some(Arc::new(i));
        self
    }

    /// Fragments outbound frames larger than `mtu` bytes (at least 64).
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.config.mtu = Some(mtu);
        self
    }

    /// Largest inbound payload after reassembly.
    pub fn max_inbound_payload(mut self, bytes: usize) -> Self {
        self.config.limits.max_payload_size = bytes;
        self
    }

    /// Request-n policy of streams this client consumes.
    pub fn prefetch(mut self, prefetch: Prefetch) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// Asks the server for lease (SETUP L flag). Requests then need a valid LEASE from the
    /// server: without one (before the first LEASE arrives, or once it expired or is used
    /// up) they fail at once with [`ErrorKind::NoLease`](crate::ErrorKind::NoLease), unless
    /// [`ClientBuilder::wait_for_lease`] lets them wait. See [`crate::lease`].
    pub fn lease(mut self, on: bool) -> Self {
        self.config.lease = on;
        self
    }

    /// With lease: a request without a valid lease waits up to `timeout` for the next LEASE
    /// instead of failing at once (then fails with
    /// [`ErrorKind::NoLease`](crate::ErrorKind::NoLease)). This is also how to wait for the
    /// first LEASE after connecting. Default: no waiting.
    pub fn wait_for_lease(mut self, timeout: Duration) -> Self {
        self.lease_wait = Some(timeout);
        self
    }

    /// With lease: grants the server leases for the requests it sends to this client
    /// (implies [`ClientBuilder::lease`]). Without a policy the server may send no request.
    pub fn lease_policy(mut self, policy: impl LeasePolicy) -> Self {
        self.config.lease = true;
        self.lease_policy = Some(Arc::new(policy));
        self
    }

    /// Makes the session survive transport loss (Protocol.md "Resuming Operation"): SETUP
    /// carries a resume token; when the transport drops, the client reconnects to the same URI
    /// with backoff, sends RESUME, and both sides retransmit what the other missed, so
    /// streams continue with no payload lost, duplicated or reordered. Requests made while
    /// disconnected are sent after the resumption. The server must have resumption enabled
    /// ([`ServerBuilder::resume`](crate::ServerBuilder::resume)). Only for
    /// [`ClientBuilder::connect`] (it needs a URI to reconnect to). See [`crate::resume`].
    pub fn resume(mut self, options: ResumeOptions) -> Self {
        self.resume = Some(options);
        self
    }

    /// A header sent with the WebSocket upgrade request.
    pub fn ws_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.ws_headers.push((name.into(), value.into()));
        self
    }

    /// Sends a WebSocket ping this often on `ws://` and `wss://` connections.
    pub fn ws_ping_interval(mut self, interval: Duration) -> Self {
        self.ws_ping_interval = Some(interval);
        self
    }

    /// Replaces the whole protocol configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The resume token to send in SETUP without reconnecting: the server keeps the
    /// session, but this client ends it when its transport drops. To resume, use
    /// [`ClientBuilder::resume`] (with [`ResumeOptions::token`] to choose the token).
    pub fn resume_token(mut self, token: Bytes) -> Self {
        self.setup.resume_token = Some(token);
        self
    }

    /// Trusts these CA certificates (PEM) for `tcp+tls://` and `wss://`, besides the Mozilla
    /// root store.
    #[cfg(feature = "tls")]
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca_pem = Some(pem.into());
        self
    }

    /// Accepts any server certificate (for tests against self-signed servers only).
    #[cfg(feature = "tls")]
    pub fn tls_insecure(mut self, on: bool) -> Self {
        self.tls.insecure = on;
        self
    }

    /// Connects to `uri` (`tcp://host:port`, `tcp+tls://host:port`, `ws://host:port/path`,
    /// `wss://host:port/path`, `unix:/path`).
    pub async fn connect(mut self, uri: &str) -> Result<RSocket, Error> {
        let uri: TransportUri = uri.parse()?;
        let opts = crate::transport::ConnectOptions {
            max_frame_size: self.config.limits.max_frame_size,
            ws_headers: self.ws_headers.clone(),
            ws_ping_interval: self.ws_ping_interval,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
        };
        let Some(resume) = self.resume.take() else {
            let io = crate::transport::connect(&uri, &opts).await?;
            return Ok(self.connect_with(io));
        };
        let token = resume
            .token
            .clone()
            .unwrap_or_else(crate::resume::random_token);
        if token.is_empty() {
            return Err(Error::new(
                crate::ErrorKind::Usage,
                "the resume token must not be empty",
            ));
        }
        self.setup.resume_token = Some(token);
        self.config.resume = Some(rsocket_proto::connection::ResumeConfig {
            session_timeout: resume.session_timeout,
            max_store_bytes: resume.max_store_bytes,
        });
        let io = crate::transport::connect(&uri, &opts).await?;
        let resumption = Resumption::client(uri, opts, resume.reconnect_backoff);
        Ok(self.start(Detachable::new(io), Some(resumption)))
    }

    /// Starts the connection over an established transport and returns its requester. The
    /// connection's driver is spawned on the current tokio runtime. Such a connection does not
    /// reconnect ([`ClientBuilder::resume`] needs [`ClientBuilder::connect`]).
    pub fn connect_with<T: FrameIo>(self, io: T) -> RSocket {
        self.start(io, None)
    }

    fn start<T: DriverIo>(self, io: T, resumption: Option<Resumption>) -> RSocket {
        let store_bound = self.setup.resume_token.as_ref().map(|_| {
            self.config
                .resume
                .clone()
                .unwrap_or_default()
                .max_store_bytes
        });
        let conn = Connection::client(Instant::now(), self.config, self.setup);
        let inner = Arc::new(Inner {
            state: Mutex::new(Shared::new(conn).with_store_bound(store_bound)),
            driver: crate::shared::DriverWaker::default(),
            io_backlog: Default::default(),
            io_busy: Default::default(),
            capacity: Notify::new(),
            prefetch: self.prefetch,
            interceptor: self.interceptor,
            session: Notify::new(),
            lease_wait: self.lease_wait,
        });
        let responder = match &self.responder_fn {
            Some(f) => f(RSocket::new(inner.clone())),
            None => self.responder,
        };
        let responder = crate::intercept::apply(&self.layers, responder);
        let mut driver = Driver::new(io, inner.clone(), responder, None);
        if let Some(r) = resumption {
            driver = driver.with_resumption(r);
        }
        tokio::spawn(driver);
        let rsocket = RSocket::new(inner);
        if let Some(policy) = self.lease_policy {
            tokio::spawn(crate::lease::run(policy, rsocket.clone()));
        }
        rsocket
    }
}
