//! Answering requests: the [`Responder`] trait and the closure-based [`RequestHandler`].

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::{Error, Payload, PayloadStream};

/// A stream of response payloads produced by a handler.
pub type ResponseStream = BoxStream<'static, Result<Payload, Error>>;

/// Answers the requests a peer sends. One implementation serves a whole connection.
///
/// Every method has a default that refuses the interaction with APPLICATION_ERROR, so an
/// implementation overrides only what it serves. Handlers run on the connection's task and are
/// polled only as far as the peer's credit allows: a stream handler is never asked for more
/// items than the requester has requested. Long CPU-bound work belongs in
/// `tokio::task::spawn_blocking` or a spawned task.
pub trait Responder: Send + Sync + 'static {
    /// REQUEST_FNF. Nothing is sent back.
    fn fire_and_forget(&self, request: Payload) -> BoxFuture<'static, ()> {
        let _ = request;
        futures::future::ready(()).boxed()
    }

    /// REQUEST_RESPONSE: one answer or an error.
    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        let _ = request;
        futures::future::ready(Err(Error::application(
            "request-response is not implemented",
        )))
        .boxed()
    }

    /// REQUEST_STREAM: a stream of answers.
    fn request_stream(&self, request: Payload) -> ResponseStream {
        let _ = request;
        futures::stream::once(async {
            Err(Error::application("request-stream is not implemented"))
        })
        .boxed()
    }

    /// REQUEST_CHANNEL: the first payload, the rest of the requester's payloads, and a stream
    /// of answers. Dropping `inbound` cancels the requester's side.
    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        let _ = (first, inbound);
        futures::stream::once(async {
            Err(Error::application("request-channel is not implemented"))
        })
        .boxed()
    }

    /// METADATA_PUSH.
    fn metadata_push(&self, metadata: Bytes) -> BoxFuture<'static, ()> {
        let _ = metadata;
        futures::future::ready(()).boxed()
    }
}

impl<R: Responder + ?Sized> Responder for Arc<R> {
    fn fire_and_forget(&self, request: Payload) -> BoxFuture<'static, ()> {
        (**self).fire_and_forget(request)
    }
    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        (**self).request_response(request)
    }
    fn request_stream(&self, request: Payload) -> ResponseStream {
        (**self).request_stream(request)
    }
    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        (**self).request_channel(first, inbound)
    }
    fn metadata_push(&self, metadata: Bytes) -> BoxFuture<'static, ()> {
        (**self).metadata_push(metadata)
    }
}

/// A responder that refuses everything (the default when none is given).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoResponder;

impl Responder for NoResponder {}

type FnfFn = Arc<dyn Fn(Payload) -> BoxFuture<'static, ()> + Send + Sync>;
type RrFn = Arc<dyn Fn(Payload) -> BoxFuture<'static, Result<Payload, Error>> + Send + Sync>;
type StreamFn = Arc<dyn Fn(Payload) -> ResponseStream + Send + Sync>;
type ChannelFn = Arc<dyn Fn(Payload, PayloadStream) -> ResponseStream + Send + Sync>;
type PushFn = Arc<dyn Fn(Bytes) -> BoxFuture<'static, ()> + Send + Sync>;

/// A [`Responder`] built from closures, one per interaction model; unset ones refuse with
/// APPLICATION_ERROR.
///
/// ```
/// use futures::stream::{self, StreamExt};
/// use rsocket::{Payload, RequestHandler};
///
/// let handler = RequestHandler::new()
///     .request_response(|p: Payload| async move { Ok(p) })
///     .request_stream(|_p| stream::iter(0..3).map(|i| Ok(Payload::from(i.to_string()))));
/// # let _ = handler;
/// ```
#[derive(Clone, Default)]
pub struct RequestHandler {
    fnf: Option<FnfFn>,
    rr: Option<RrFn>,
    stream: Option<StreamFn>,
    channel: Option<ChannelFn>,
    push: Option<PushFn>,
}

impl std::fmt::Debug for RequestHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHandler")
            .field("fire_and_forget", &self.fnf.is_some())
            .field("request_response", &self.rr.is_some())
            .field("request_stream", &self.stream.is_some())
            .field("request_channel", &self.channel.is_some())
            .field("metadata_push", &self.push.is_some())
            .finish()
    }
}

impl RequestHandler {
    /// A handler that refuses everything until closures are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles fire-and-forget.
    pub fn fire_and_forget<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fnf = Some(Arc::new(move |p| f(p).boxed()));
        self
    }

    /// Handles request-response.
    pub fn request_response<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, Error>> + Send + 'static,
    {
        self.rr = Some(Arc::new(move |p| f(p).boxed()));
        self
    }

    /// Handles request-stream.
    pub fn request_stream<F, S>(mut self, f: F) -> Self
    where
        F: Fn(Payload) -> S + Send + Sync + 'static,
        S: Stream<Item = Result<Payload, Error>> + Send + 'static,
    {
        self.stream = Some(Arc::new(move |p| f(p).boxed()));
        self
    }

    /// Handles request-channel.
    pub fn request_channel<F, S>(mut self, f: F) -> Self
    where
        F: Fn(Payload, PayloadStream) -> S + Send + Sync + 'static,
        S: Stream<Item = Result<Payload, Error>> + Send + 'static,
    {
        self.channel = Some(Arc::new(move |p, i| f(p, i).boxed()));
        self
    }

    /// Handles metadata-push.
    pub fn metadata_push<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.push = Some(Arc::new(move |m| f(m).boxed()));
        self
    }
}

impl Responder for RequestHandler {
    fn fire_and_forget(&self, request: Payload) -> BoxFuture<'static, ()> {
        match &self.fnf {
            Some(f) => f(request),
            None => NoResponder.fire_and_forget(request),
        }
    }
    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        match &self.rr {
            Some(f) => f(request),
            None => NoResponder.request_response(request),
        }
    }
    fn request_stream(&self, request: Payload) -> ResponseStream {
        match &self.stream {
            Some(f) => f(request),
            None => NoResponder.request_stream(request),
        }
    }
    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        match &self.channel {
            Some(f) => f(first, inbound),
            None => NoResponder.request_channel(first, inbound),
        }
    }
    fn metadata_push(&self, metadata: Bytes) -> BoxFuture<'static, ()> {
        match &self.push {
            Some(f) => f(metadata),
            None => NoResponder.metadata_push(metadata),
        }
    }
}
