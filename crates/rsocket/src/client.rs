//! Connecting to a server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::task::AtomicWaker;
use rsocket_proto::{Config, Connection, SetupParams};
use tokio::sync::Notify;

use crate::driver::Driver;
use crate::responder::{NoResponder, Responder};
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
    prefetch: Prefetch,
    ws_headers: Vec<(String, String)>,
    ws_ping_interval: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: crate::transport::tls::TlsOptions,
    layers: Vec<crate::intercept::BoxLayer>,
    interceptor: Option<Arc<dyn crate::intercept::RequestInterceptor>>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("setup", &self.setup)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

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
            prefetch: Prefetch::default(),
            ws_headers: Vec::new(),
            ws_ping_interval: None,
            #[cfg(feature = "tls")]
            tls: Default::default(),
            layers: Vec::new(),
            interceptor: None,
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

    /// Asks the server for lease (SETUP L flag); requests then wait for a LEASE.
    pub fn lease(mut self, on: bool) -> Self {
        self.config.lease = on;
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

    /// The resume token to send in SETUP (resumption itself is not implemented yet).
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
    pub async fn connect(self, uri: &str) -> Result<RSocket, Error> {
        let uri: TransportUri = uri.parse()?;
        let opts = crate::transport::ConnectOptions {
            max_frame_size: self.config.limits.max_frame_size,
            ws_headers: self.ws_headers.clone(),
            ws_ping_interval: self.ws_ping_interval,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
        };
        let io = crate::transport::connect(&uri, &opts).await?;
        Ok(self.connect_with(io))
    }

    /// Starts the connection over an established transport and returns its requester. The
    /// connection's driver is spawned on the current tokio runtime.
    pub fn connect_with<T: FrameIo>(self, io: T) -> RSocket {
        let conn = Connection::client(Instant::now(), self.config, self.setup);
        let inner = Arc::new(Inner {
            state: Mutex::new(Shared::new(conn)),
            driver: AtomicWaker::new(),
            capacity: Notify::new(),
            prefetch: self.prefetch,
            interceptor: self.interceptor,
        });
        let responder = crate::intercept::apply(&self.layers, self.responder);
        let driver = Driver::new(io, inner.clone(), responder, None);
        tokio::spawn(driver);
        RSocket::new(inner)
    }
}
