//! The [`Router`]: async handlers by route pattern, one registration method per interaction
//! model, tower layers around them, served per connection on a server or a client.
//!
//! ```text
//!  Responder call ─► Request (route + metadata read per the connection's MIME types)
//!        │
//!        ▼
//!  layers (tower: auth, logging, metrics…) ─► dispatch: pattern table of the interaction
//!        │                                          │
//!        ▼                                          ▼
//!  ERROR frame ◄── Error                      handler(extractors…) ─► IntoResponse / Stream
//! ```

mod extract;
mod handler;
pub mod layers;
mod pattern;
mod request;

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use rsocket::{Acceptor, Payload, PayloadStream, RSocket, Responder, ResponseStream, SetupInfo};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

pub use extract::{
    Cbor, Data, Extension, Inbound, InboundPayloads, Json, Metadata, MsgPack, Path, Route, State,
};
pub use handler::{
    FromRequest, Handler, IntoCompletion, IntoResponse, IntoResponseStream, ViaResult, ViaStream,
};
pub use pattern::PatternError;
pub use request::{ConnectionInfo, Extensions, Request, Response};

use crate::codec::{Codec, Codecs};
use crate::error::{Error, Interaction};
use crate::requester::Requester;
use pattern::PatternTable;

type BoxHandler = Arc<dyn Fn(Request) -> BoxFuture<'static, Result<Response, Error>> + Send + Sync>;
type LayerFn = Arc<dyn Fn(RouteService) -> RouteService + Send + Sync>;

#[derive(Clone, Default)]
struct Routes {
    setup: PatternTable<BoxHandler>,
    fnf: PatternTable<BoxHandler>,
    rr: PatternTable<BoxHandler>,
    stream: PatternTable<BoxHandler>,
    channel: PatternTable<BoxHandler>,
    push: Option<BoxHandler>,
}

/// Routes requests to async handlers by route pattern.
///
/// Handlers are `async fn`s (or closures) over [extractors](FromRequest); see the
/// [`handler`](Handler) table for what each interaction's handler may return. Patterns
/// split at `.`: literals, `{variables}`, `*` (one segment), `**` (the rest, last only); the
/// most specific pattern wins (literal > variable > `*` > `**`, left to right). The empty
/// pattern matches requests without a route.
///
/// A request whose route no handler of its interaction model serves is answered with
/// APPLICATION_ERROR naming the route. Extraction and handler errors answer with the code of
/// the [`Error`].
///
/// The same router serves a server ([`Router::into_acceptor`]) or answers the server's
/// requests on a client ([`RequesterBuilder::responder`](crate::RequesterBuilder::responder)).
///
/// ```
/// use futures::Stream;
/// use rsocket_messaging::{Error, Router};
/// use rsocket_messaging::router::{Json, Path, State};
///
/// #[derive(Clone)]
/// struct Db;
///
/// async fn find(Path(code): Path<String>, State(_db): State<Db>) -> Result<Json<String>, Error> {
///     Ok(Json(format!("radar {code}")))
/// }
///
/// fn count(Path(n): Path<u32>) -> impl Stream<Item = Json<u32>> {
///     futures::stream::iter((0..n).map(Json))
/// }
///
/// let router = Router::new()
///     .request_response("find.radar.{code}", find)
///     .request_stream("count.{n}", |n: Path<u32>| async move { count(n) })
///     .fire_and_forget("log", |line: String| async move { println!("{line}") })
///     .state(Db);
/// # let _ = router;
/// ```
///
/// # Panics
///
/// Registration methods panic on an invalid pattern or a pattern already registered for the
/// same interaction model: those are programming errors, found at start-up.
#[derive(Clone)]
pub struct Router {
    routes: Routes,
    codecs: Codecs,
    state: Extensions,
    layers: Vec<LayerFn>,
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("codecs", &self.codecs)
            .field("layers", &self.layers.len())
            .finish()
    }
}

fn register(table: &mut PatternTable<BoxHandler>, pattern: &str, h: BoxHandler) {
    if let Err(e) = table.insert(pattern, h) {
        panic!("{e}");
    }
}

fn completion_handler<H, T>(h: H) -> BoxHandler
where
    H: Handler<T>,
    H::Output: IntoCompletion,
{
    Arc::new(move |req| {
        let fut = h.call(req);
        async move {
            fut.await?.into_completion()?;
            Ok(Response::Empty)
        }
        .boxed()
    })
}

fn stream_handler<H, T, M>(h: H) -> BoxHandler
where
    H: Handler<T>,
    H::Output: IntoResponseStream<M>,
{
    Arc::new(move |req: Request| {
        let conn = req.conn.clone();
        let fut = h.call(req);
        async move { Ok(Response::Stream(fut.await?.into_response_stream(conn))) }.boxed()
    })
}

impl Router {
    /// A router without handlers, with the default [`Codecs`].
    pub fn new() -> Self {
        Router {
            routes: Routes::default(),
            codecs: Codecs::default(),
            state: Extensions::default(),
            layers: Vec::new(),
        }
    }

    /// Serves request-response on `pattern`.
    pub fn request_response<H, T>(mut self, pattern: &str, handler: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoResponse,
    {
        let h: BoxHandler = Arc::new(move |req: Request| {
            let conn = req.conn.clone();
            let fut = handler.call(req);
            async move { Ok(Response::Payload(fut.await?.into_response(&conn)?)) }.boxed()
        });
        register(&mut self.routes.rr, pattern, h);
        self
    }

    /// Serves request-stream on `pattern`: the handler returns a `Stream` (or a `Result` of
    /// one) whose items are answers. The stream is polled only as far as the requester's
    /// credit goes.
    pub fn request_stream<H, T, M>(mut self, pattern: &str, handler: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoResponseStream<M>,
    {
        register(&mut self.routes.stream, pattern, stream_handler(handler));
        self
    }

    /// Serves request-channel on `pattern`: take the inbound values with [`Inbound<T>`] or
    /// [`InboundPayloads`] (the first payload included) and return a `Stream` of answers.
    pub fn request_channel<H, T, M>(mut self, pattern: &str, handler: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoResponseStream<M>,
    {
        register(&mut self.routes.channel, pattern, stream_handler(handler));
        self
    }

    /// Serves fire-and-forget on `pattern`. Errors are logged (nothing is sent back).
    pub fn fire_and_forget<H, T>(mut self, pattern: &str, handler: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoCompletion,
    {
        register(&mut self.routes.fnf, pattern, completion_handler(handler));
        self
    }

    /// Handles the SETUP of connections whose setup route matches `pattern` (`"**"`: every
    /// setup, with or without a route), like Spring's `@ConnectMapping`. Extractors see the
    /// setup payload's data and metadata. An error rejects the connection with
    /// REJECTED_SETUP (or the setup error code it carries) and the error's message. A
    /// SETUP no pattern matches is accepted. Server side only.
    pub fn setup<H, T>(mut self, pattern: &str, handler: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoCompletion,
    {
        register(&mut self.routes.setup, pattern, completion_handler(handler));
        self
    }

    /// Handles METADATA_PUSH (one handler; pushes are not routed, but the metadata's
    /// entries are available to extractors). Errors are logged.
    ///
    /// # Panics
    ///
    /// When a metadata-push handler is already set.
    pub fn metadata_push<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoCompletion,
    {
        assert!(
            self.routes.push.is_none(),
            "a metadata-push handler is already set"
        );
        self.routes.push = Some(completion_handler(handler));
        self
    }

    /// Adds shared state for the [`State<T>`] extractor (one value per type; cloned for
    /// each request, so wrap big state in an `Arc`).
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
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

    /// Wraps every handler (setup and metadata-push included) in a tower [`Layer`]. Layers
    /// added later wrap the ones added earlier, so the last one sees a request first.
    /// Route matching happens inside the layers: they see the raw route, not the variables.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<RouteService> + Send + Sync + 'static,
        L::Service:
            Service<Request, Response = Response, Error = Error> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.layers
            .push(Arc::new(move |inner| RouteService::new(layer.layer(inner))));
        self
    }

    /// The router as one tower service: dispatch wrapped in the layers.
    fn service(&self) -> RouteService {
        let mut svc = RouteService::new(Dispatch {
            routes: Arc::new(self.routes.clone()),
        });
        for layer in &self.layers {
            svc = layer(svc);
        }
        svc
    }

    /// An acceptor for [`rsocket::ServerBuilder::acceptor`]: each connection gets its own
    /// responder holding its MIME types and requester, and its SETUP goes to the
    /// [`setup`](Self::setup) handlers.
    pub fn into_acceptor(self) -> RouterAcceptor {
        RouterAcceptor {
            service: self.service(),
            codecs: Arc::new(self.codecs),
            state: Arc::new(self.state),
        }
    }

    /// Makes the responder of a client connection with these MIME types, from the
    /// connection's requester (for [`rsocket::ClientBuilder::responder_fn`]): handlers can call
    /// the server back from the first request on.
    pub(crate) fn into_client_responder_fn(
        self,
        data_mime_type: &str,
        metadata_mime_type: &str,
        requester_codecs: Arc<crate::codec::Codecs>,
    ) -> impl Fn(rsocket::RSocket) -> RouterResponder + Send + Sync + 'static {
        let service = self.service();
        let codecs = Arc::new(self.codecs);
        let state = Arc::new(self.state);
        let (data, meta) = (data_mime_type.to_string(), metadata_mime_type.to_string());
        move |rsocket| {
            let requester = Requester::from_parts(rsocket, &data, &meta, requester_codecs.clone());
            RouterResponder {
                service: service.clone(),
                conn: Arc::new(ConnectionInfo {
                    data_mime_type: data.clone(),
                    metadata_mime_type: meta.clone(),
                    codecs: codecs.clone(),
                    state: state.clone(),
                    setup: None,
                    requester: requester.into(),
                }),
            }
        }
    }
}

/// The router as a tower service, type-erased: what layers wrap.
#[derive(Clone)]
pub struct RouteService(BoxCloneSyncService<Request, Response, Error>);

impl std::fmt::Debug for RouteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteService")
    }
}

impl RouteService {
    /// Erases a service.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Request, Response = Response, Error = Error> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
    {
        RouteService(BoxCloneSyncService::new(service))
    }
}

impl Service<Request> for RouteService {
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        self.0.call(req)
    }
}

/// The innermost service: finds the handler for the request's route and interaction.
#[derive(Clone)]
struct Dispatch {
    routes: Arc<Routes>,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let table = match req.interaction {
            Interaction::Setup => &self.routes.setup,
            Interaction::FireAndForget => &self.routes.fnf,
            Interaction::RequestResponse => &self.routes.rr,
            Interaction::RequestStream => &self.routes.stream,
            Interaction::RequestChannel => &self.routes.channel,
            Interaction::MetadataPush => {
                return match &self.routes.push {
                    Some(h) => h(req),
                    None => futures::future::ready(Ok(Response::Empty)).boxed(),
                };
            }
        };
        let route = req.route.clone().unwrap_or_default();
        match table.find(&route) {
            Some((h, params)) => {
                req.params = params;
                h(req)
            }
            None if req.interaction == Interaction::Setup => {
                futures::future::ready(Ok(Response::Empty)).boxed()
            }
            None => futures::future::ready(Err(Error::UnknownRoute {
                route,
                interaction: req.interaction,
            }))
            .boxed(),
        }
    }
}

/// Serves a connection with a router: the [`Responder`] behind [`RouterAcceptor`] and
/// client responders.
#[derive(Clone)]
pub(crate) struct RouterResponder {
    service: RouteService,
    pub(crate) conn: Arc<ConnectionInfo>,
}

impl RouterResponder {
    fn call(
        &self,
        interaction: Interaction,
        payload: Payload,
        inbound: Option<PayloadStream>,
    ) -> BoxFuture<'static, Result<Response, Error>> {
        let svc = self.service.clone();
        let req = Request::new(interaction, payload, inbound, self.conn.clone());
        async move {
            let req = req?;
            let route = req.route.clone().unwrap_or_default();
            let result = svc.oneshot(req).await;
            if let Err(e) = &result {
                tracing::debug!(%interaction, %route, error = %e, "request failed");
            }
            result
        }
        .boxed()
    }

    fn stream(
        &self,
        interaction: Interaction,
        payload: Payload,
        inbound: Option<PayloadStream>,
    ) -> ResponseStream {
        let fut = self.call(interaction, payload, inbound);
        futures::stream::once(fut)
            .flat_map(|r| match r {
                Ok(Response::Stream(s)) => s,
                Ok(Response::Payload(p)) => {
                    futures::stream::once(futures::future::ready(Ok(p))).boxed()
                }
                Ok(Response::Empty) => futures::stream::empty().boxed(),
                Err(e) => futures::stream::once(futures::future::ready(Err(e.into()))).boxed(),
            })
            .boxed()
    }
}

fn log_completion(interaction: Interaction) -> impl FnOnce(Result<Response, Error>) {
    move |r| {
        if let Err(e) = r {
            tracing::warn!(%interaction, error = %e, "handler failed");
        }
    }
}

impl Responder for RouterResponder {
    fn fire_and_forget(&self, request: Payload) -> BoxFuture<'static, ()> {
        self.call(Interaction::FireAndForget, request, None)
            .map(log_completion(Interaction::FireAndForget))
            .boxed()
    }

    fn request_response(
        &self,
        request: Payload,
    ) -> BoxFuture<'static, Result<Payload, rsocket::Error>> {
        self.call(Interaction::RequestResponse, request, None)
            .map(|r| match r? {
                Response::Payload(p) => Ok(p),
                Response::Empty => Ok(Payload::default()),
                Response::Stream(_) => Err(rsocket::Error::application(
                    "a layer answered request-response with a stream",
                )),
            })
            .boxed()
    }

    fn request_stream(&self, request: Payload) -> ResponseStream {
        self.stream(Interaction::RequestStream, request, None)
    }

    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        self.stream(Interaction::RequestChannel, first, Some(inbound))
    }

    fn metadata_push(&self, metadata: bytes::Bytes) -> BoxFuture<'static, ()> {
        let payload = Payload {
            data: bytes::Bytes::new(),
            metadata: Some(metadata),
        };
        self.call(Interaction::MetadataPush, payload, None)
            .map(log_completion(Interaction::MetadataPush))
            .boxed()
    }
}

/// Accepts connections for a [`Router`] (from [`Router::into_acceptor`]): runs the setup
/// handlers and gives each connection a responder bound to its MIME types and requester.
#[derive(Clone)]
pub struct RouterAcceptor {
    service: RouteService,
    codecs: Arc<Codecs>,
    state: Arc<Extensions>,
}

impl std::fmt::Debug for RouterAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterAcceptor").finish_non_exhaustive()
    }
}

impl Acceptor for RouterAcceptor {
    fn accept(
        &self,
        setup: SetupInfo,
        rsocket: RSocket,
    ) -> BoxFuture<'static, Result<Arc<dyn Responder>, rsocket::Error>> {
        let requester = Requester::from_parts(
            rsocket,
            &setup.data_mime_type,
            &setup.metadata_mime_type,
            self.codecs.clone(),
        );
        let conn = Arc::new(ConnectionInfo {
            data_mime_type: setup.data_mime_type.clone(),
            metadata_mime_type: setup.metadata_mime_type.clone(),
            codecs: self.codecs.clone(),
            state: self.state.clone(),
            setup: Some(setup.clone()),
            requester: requester.into(),
        });
        let responder = RouterResponder {
            service: self.service.clone(),
            conn,
        };
        async move {
            let result = responder
                .call(Interaction::Setup, setup.payload, None)
                .await;
            match result {
                Ok(_) => Ok(Arc::new(responder) as Arc<dyn Responder>),
                Err(e) => {
                    tracing::debug!(error = %e, "setup rejected");
                    Err(setup_rejection(e))
                }
            }
        }
        .boxed()
    }
}

/// The error a refused SETUP is answered with: the setup code it carries, or
/// REJECTED_SETUP, with the error's message.
fn setup_rejection(e: Error) -> rsocket::Error {
    match e {
        Error::RSocket(e) if e.code().is_some_and(|c| c.is_setup_rejection()) => e,
        Error::RSocket(e) => rsocket::Error::rejected_setup(e.message()),
        other => rsocket::Error::rejected_setup(other.to_string()),
    }
}
