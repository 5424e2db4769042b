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

/// What a responder's synchronous path ([`Responder::fire_and_forget_sync`],
/// [`Responder::request_response_sync`]) did with a request.
#[derive(Debug)]
pub enum Handled<T> {
    /// Handled at once, with this outcome.
    Now(T),
    /// Not handled here: the request goes to the asynchronous method.
    Later(Payload),
}

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

    /// REQUEST_FNF without a future: asked first, for every fire-and-forget; return
    /// [`Handled::Later`] (the default) to have [`Responder::fire_and_forget`] take it. A
    /// handler that finishes at once saves the allocation and polling of a future (see
    /// [`RequestHandler::fire_and_forget_sync`]). It runs on the connection's task: it must
    /// not block. A wrapper that overrides [`Responder::fire_and_forget`] must override this
    /// too, or keep the default, so that its override is not bypassed.
    fn fire_and_forget_sync(&self, request: Payload) -> Handled<()> {
        Handled::Later(request)
    }

    /// REQUEST_RESPONSE without a future: like [`Responder::fire_and_forget_sync`], for
    /// [`Responder::request_response`]; the answer (or error) is sent at once.
    fn request_response_sync(&self, request: Payload) -> Handled<Result<Payload, Error>> {
        Handled::Later(request)
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
    fn fire_and_forget_sync(&self, request: Payload) -> Handled<()> {
        (**self).fire_and_forget_sync(request)
    }
    fn request_response_sync(&self, request: Payload) -> Handled<Result<Payload, Error>> {
        (**self).request_response_sync(request)
    }
}

/// A responder that refuses everything (the default when none is given).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoResponder;

impl Responder for NoResponder {}

/// A handler registered asynchronous or synchronous.
#[derive(Clone)]
enum Either<A, S> {
    Async(A),
    Sync(S),
}

type FnfFn = Either<
    Arc<dyn Fn(Payload) -> BoxFuture<'static, ()> + Send + Sync>,
    Arc<dyn Fn(Payload) + Send + Sync>,
>;
type RrFn = Either<
    Arc<dyn Fn(Payload) -> BoxFuture<'static, Result<Payload, Error>> + Send + Sync>,
    Arc<dyn Fn(Payload) -> Result<Payload, Error> + Send + Sync>,
>;
type StreamFn = Arc<dyn Fn(Payload) -> ResponseStream + Send + Sync>;
type ChannelFn = Arc<dyn Fn(Payload, PayloadStream) -> ResponseStream + Send + Sync>;
type PushFn = Arc<dyn Fn(Bytes) -> BoxFuture<'static, ()> + Send + Sync>;

/// A [`Responder`] built from closures, one per interaction model; unset ones refuse with
/// APPLICATION_ERROR. Fire-and-forget and request-response handlers that finish at once can
/// be registered without a future (`*_sync`), which saves an allocation per request.
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

    /// Handles fire-and-forget (replacing any fire-and-forget handler set before).
    pub fn fire_and_forget<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fnf = Some(Either::Async(Arc::new(move |p| f(p).boxed())));
        self
    }

    /// Handles fire-and-forget with a function that finishes at once (no future to allocate
    /// and poll). It runs on the connection's task: it must not block.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use rsocket::RequestHandler;
    ///
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let counter = seen.clone();
    /// let handler = RequestHandler::new().fire_and_forget_sync(move |_p| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// # let _ = handler;
    /// ```
    pub fn fire_and_forget_sync<F>(mut self, f: F) -> Self
    where
        F: Fn(Payload) + Send + Sync + 'static,
    {
        self.fnf = Some(Either::Sync(Arc::new(f)));
        self
    }

    /// Handles request-response (replacing any request-response handler set before).
    pub fn request_response<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, Error>> + Send + 'static,
    {
        self.rr = Some(Either::Async(Arc::new(move |p| f(p).boxed())));
        self
    }

    /// Handles request-response with a function that answers at once (no future to allocate
    /// and poll). It runs on the connection's task: it must not block.
    ///
    /// ```
    /// use rsocket::{Payload, RequestHandler};
    ///
    /// let echo = RequestHandler::new().request_response_sync(|p: Payload| Ok(p));
    /// # let _ = echo;
    /// ```
    pub fn request_response_sync<F>(mut self, f: F) -> Self
    where
        F: Fn(Payload) -> Result<Payload, Error> + Send + Sync + 'static,
    {
        self.rr = Some(Either::Sync(Arc::new(f)));
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
            Some(Either::Async(f)) => f(request),
            // Run when first polled, not now: a wrapper that gates polling (a semaphore, a
            // deadline) gates a synchronous handler as it gates an asynchronous one.
            Some(Either::Sync(f)) => {
                let f = Arc::clone(f);
                async move { f(request) }.boxed()
            }
            None => NoResponder.fire_and_forget(request),
        }
    }
    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        match &self.rr {
            Some(Either::Async(f)) => f(request),
            Some(Either::Sync(f)) => {
                let f = Arc::clone(f);
                async move { f(request) }.boxed()
            }
            None => NoResponder.request_response(request),
        }
    }
    fn fire_and_forget_sync(&self, request: Payload) -> Handled<()> {
        match &self.fnf {
            Some(Either::Sync(f)) => {
                f(request);
                Handled::Now(())
            }
            _ => Handled::Later(request),
        }
    }
    fn request_response_sync(&self, request: Payload) -> Handled<Result<Payload, Error>> {
        match &self.rr {
            Some(Either::Sync(f)) => Handled::Now(f(request)),
            _ => Handled::Later(request),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sync_handlers_answer_on_the_sync_path() {
        let sync = RequestHandler::new()
            .request_response_sync(|p: Payload| Ok(p))
            .fire_and_forget_sync(|_| {});
        assert!(matches!(
            Responder::request_response_sync(&sync, Payload::from("a")),
            Handled::Now(Ok(p)) if p.data.as_ref() == b"a"
        ));
        assert!(matches!(
            Responder::fire_and_forget_sync(&sync, Payload::from("b")),
            Handled::Now(())
        ));
        // The asynchronous path reaches a synchronous handler too (for wrappers).
        let answer =
            futures::executor::block_on(Responder::request_response(&sync, Payload::from("c")));
        assert_eq!(answer.unwrap().data.as_ref(), b"c");

        let asynchronous = RequestHandler::new()
            .request_response(|p: Payload| async move { Ok(p) })
            .fire_and_forget(|_| async {});
        assert!(matches!(
            Responder::request_response_sync(&asynchronous, Payload::from("d")),
            Handled::Later(p) if p.data.as_ref() == b"d"
        ));
        assert!(matches!(
            Responder::fire_and_forget_sync(&asynchronous, Payload::from("e")),
            Handled::Later(_)
        ));
        // A later registration replaces the earlier one.
        let replaced = sync.request_response(|p: Payload| async move { Ok(p) });
        assert!(matches!(
            Responder::request_response_sync(&replaced, Payload::from("f")),
            Handled::Later(_)
        ));
    }

    #[test]
    fn the_async_path_runs_a_sync_handler_when_polled_not_when_created() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let (rr_calls, fnf_calls) = (Arc::clone(&calls), Arc::clone(&calls));
        let handler = RequestHandler::new()
            .request_response_sync(move |p: Payload| {
                rr_calls.fetch_add(1, Ordering::SeqCst);
                Ok(p)
            })
            .fire_and_forget_sync(move |_| {
                fnf_calls.fetch_add(10, Ordering::SeqCst);
            });
        // A wrapper that creates the inner future and then refuses to poll it (a full
        // semaphore, an expired deadline) must keep the handler from running.
        let rr = Responder::request_response(&handler, Payload::from("a"));
        let fnf = Responder::fire_and_forget(&handler, Payload::from("b"));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        drop((rr, fnf));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let rr = Responder::request_response(&handler, Payload::from("c"));
        assert_eq!(futures::executor::block_on(rr).unwrap().data.as_ref(), b"c");
        futures::executor::block_on(Responder::fire_and_forget(&handler, Payload::from("d")));
        assert_eq!(calls.load(Ordering::SeqCst), 11);
    }
}
