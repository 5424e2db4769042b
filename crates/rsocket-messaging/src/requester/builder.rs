//! Connecting a [`Requester`]: MIME types, SETUP contents, codecs, a client responder.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use rsocket::transport::FrameIo;
use rsocket::{Client, ClientBuilder, Payload, RSocket};
use serde::Serialize;

use super::{MetadataEncoder, Requester, RouteVars, expand};
use crate::codec::{Codec, Codecs};
use crate::envelope;
use crate::error::Error;
use crate::metadata::{Entry, WellKnownMimeType};
use crate::router::Router;

type Deferred<T> = Box<dyn FnOnce(&Codecs, &str) -> Result<T, Error> + Send>;

/// Builds a client connection and its [`Requester`].
///
/// Defaults: data `application/json`, metadata `message/x.rsocket.composite-metadata.v0`,
/// the default [`Codecs`], an empty SETUP payload, no responder (the server's requests are
/// refused), and the [`rsocket::Client`] defaults for everything else (change those with
/// [`client`](Self::client)).
///
/// ```no_run
/// # async fn run() -> Result<(), rsocket_messaging::Error> {
/// use rsocket_messaging::{BEARER, Requester};
///
/// let requester = Requester::builder()
///     .data_mime_type("application/cbor")
///     .setup_route("connect.{}", ["radar-client"])
///     .setup_metadata("token", BEARER)
///     .setup_data(serde_json::json!({ "version": 1 }))
///     .connect("tcp://127.0.0.1:7878")
///     .await?;
/// # let _ = requester; Ok(()) }
/// ```
pub struct RequesterBuilder {
    client: ClientBuilder,
    data_mime_type: String,
    metadata_mime_type: String,
    setup_route: Option<Result<String, Error>>,
    setup_data: Option<Deferred<Bytes>>,
    setup_metadata: Vec<Deferred<Entry>>,
    codecs: Codecs,
    responder: Option<Router>,
}

impl fmt::Debug for RequesterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequesterBuilder")
            .field("data_mime_type", &self.data_mime_type)
            .field("metadata_mime_type", &self.metadata_mime_type)
            .field("codecs", &self.codecs)
            .finish_non_exhaustive()
    }
}

impl Default for RequesterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RequesterBuilder {
    /// A builder with the defaults above.
    pub fn new() -> Self {
        RequesterBuilder {
            client: Client::builder(),
            data_mime_type: "application/json".into(),
            metadata_mime_type: WellKnownMimeType::MESSAGE_RSOCKET_COMPOSITE_METADATA.to_string(),
            setup_route: None,
            setup_data: None,
            setup_metadata: Vec::new(),
            codecs: Codecs::default(),
            responder: None,
        }
    }

    /// The data MIME type announced in SETUP; requests' data is encoded with its codec.
    pub fn data_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.data_mime_type = mime.into();
        self
    }

    /// The metadata MIME type announced in SETUP. It decides what requests can carry:
    ///
    /// | metadata MIME type | route | other entries |
    /// |---|---|---|
    /// | `message/x.rsocket.composite-metadata.v0` (default) | yes | yes |
    /// | `message/x.rsocket.routing.v0` | yes | no |
    /// | anything else | no | one entry of that type |
    pub fn metadata_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.metadata_mime_type = mime.into();
        self
    }

    /// The route of the SETUP, for the server's [`Router::setup`] handlers.
    pub fn setup_route(mut self, template: &str, vars: impl RouteVars) -> Self {
        self.setup_route = Some(expand(template, vars.into_vars()));
        self
    }

    /// The data of the SETUP, encoded with the data MIME type's codec at connect time.
    pub fn setup_data<T: Serialize + Send + 'static>(mut self, value: T) -> Self {
        self.setup_data = Some(Box::new(move |codecs, mime| codecs.encode(mime, &value)));
        self
    }

    /// The data of the SETUP as raw bytes.
    pub fn setup_data_bytes(mut self, data: impl Into<Bytes>) -> Self {
        let data = data.into();
        self.setup_data = Some(Box::new(move |_, _| Ok(data)));
        self
    }

    /// Adds a metadata entry to the SETUP, as
    /// [`RequestSpec::metadata`](super::RequestSpec::metadata) does for requests.
    pub fn setup_metadata<V, M>(mut self, value: V, mime: M) -> Self
    where
        V: Send + 'static,
        M: MetadataEncoder<V> + Send + 'static,
    {
        self.setup_metadata
            .push(Box::new(move |codecs, _| mime.encode_entry(value, codecs)));
        self
    }

    /// Adds (or replaces) a codec for its MIME type.
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codecs.insert(codec);
        self
    }

    /// Adds (or replaces) a codec for another MIME type.
    pub fn codec_as(mut self, mime: &str, codec: impl Codec) -> Self {
        self.codecs.insert_as(mime, codec);
        self
    }

    /// Answers the server's requests with `router` (Spring's client responder). Its handlers
    /// can take the [`Requester`] extractor once connected.
    pub fn responder(mut self, router: Router) -> Self {
        self.responder = Some(router);
        self
    }

    /// Adjusts the underlying [`ClientBuilder`] (keepalive, MTU, lease, prefetch…). MIME
    /// types, SETUP payload and responder set here are overwritten by this builder's.
    pub fn client(mut self, configure: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Self {
        self.client = configure(self.client);
        self
    }

    /// Builds the SETUP payload and the client builder.
    fn prepare(self) -> Result<Prepared, Error> {
        let codecs = Arc::new(self.codecs);
        let route = self.setup_route.transpose()?;
        let data = match self.setup_data {
            Some(f) => f(&codecs, &self.data_mime_type)?,
            None => Bytes::new(),
        };
        let entries = self
            .setup_metadata
            .into_iter()
            .map(|f| f(&codecs, &self.metadata_mime_type))
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = envelope::encode(&self.metadata_mime_type, route.as_deref(), entries)?;
        let mut client = self
            .client
            .data_mime_type(self.data_mime_type.clone())
            .metadata_mime_type(self.metadata_mime_type.clone())
            .setup_payload(Payload { data, metadata });
        if let Some(router) = self.responder {
            client = client.responder_fn(router.into_client_responder_fn(
                &self.data_mime_type,
                &self.metadata_mime_type,
                codecs.clone(),
            ));
        }
        Ok(Prepared {
            client,
            codecs,
            data_mime_type: self.data_mime_type,
            metadata_mime_type: self.metadata_mime_type,
        })
    }

    /// Connects to `uri` (`tcp://host:port`, `ws://host:port/path`, `unix:/path`).
    ///
    /// A server that rejects the SETUP is seen on the first request (an error of kind
    /// [`rsocket::ErrorKind::Setup`]).
    pub async fn connect(self, uri: &str) -> Result<Requester, Error> {
        let p = self.prepare()?;
        let rsocket = p.client.clone().connect(uri).await?;
        Ok(p.finish(rsocket))
    }

    /// Starts the connection over an established transport (for example one end of
    /// [`rsocket::transport::memory_pair`]); the driver is spawned on the current tokio
    /// runtime.
    pub fn connect_with<T: FrameIo>(self, io: T) -> Result<Requester, Error> {
        let p = self.prepare()?;
        let rsocket = p.client.clone().connect_with(io);
        Ok(p.finish(rsocket))
    }
}

struct Prepared {
    client: ClientBuilder,
    codecs: Arc<Codecs>,
    data_mime_type: String,
    metadata_mime_type: String,
}

impl Prepared {
    fn finish(self, rsocket: RSocket) -> Requester {
        Requester::from_parts(
            rsocket,
            &self.data_mime_type,
            &self.metadata_mime_type,
            self.codecs,
        )
    }
}
