//! Handlers: async functions over extractors, and what they may return.
//!
//! Any `Fn(T1, …, Tn) -> impl Future` with `n <= 8` whose arguments all implement
//! [`FromRequest`] is a [`Handler`]. What the future returns decides which interaction it
//! can serve:
//!
//! | registration | return type |
//! |---|---|
//! | `request_response` | [`IntoResponse`]: a value such as `Json<T>`, `String`, `Payload`, or `Result` of one |
//! | `request_stream`, `request_channel` | [`IntoResponseStream`]: a `Stream` of `IntoResponse` items, or `Result` of one |
//! | `fire_and_forget`, `metadata_push`, `setup` | [`IntoCompletion`]: `()` or `Result<(), E>` |

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use rsocket::{Payload, ResponseStream};

use super::request::{ConnectionInfo, Request};
use crate::error::Error;

/// Builds a handler argument from the request.
///
/// Extractors run in argument order; each may take what it needs from the request (the
/// channel's inbound stream can be taken once). A failed extraction answers the request
/// with the error's code (INVALID for undecodable data, for example) without calling the
/// handler.
pub trait FromRequest: Sized + Send + 'static {
    /// Extracts the value.
    fn from_request(req: &mut Request) -> Result<Self, Error>;
}

impl<T: FromRequest> FromRequest for Option<T> {
    /// `None` when the value is absent ([`Error::is_missing`]); other errors still fail.
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        match T::from_request(req) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_missing() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An async function over extractors. Implemented for closures and `async fn`s of up to
/// eight [`FromRequest`] arguments; `T` is the tuple of argument types.
pub trait Handler<T>: Send + Sync + 'static {
    /// What the handler's future returns.
    type Output: Send + 'static;

    /// Extracts the arguments and runs the handler.
    fn call(&self, req: Request) -> BoxFuture<'static, Result<Self::Output, Error>>;
}

macro_rules! impl_handler {
    ($($t:ident),*) => {
        impl<F, Fut, $($t,)*> Handler<($($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: Send + 'static,
            $($t: FromRequest,)*
        {
            type Output = Fut::Output;

            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, mut req: Request) -> BoxFuture<'static, Result<Self::Output, Error>> {
                $(
                    let $t = match $t::from_request(&mut req) {
                        Ok(v) => v,
                        Err(e) => return futures::future::ready(Err(e)).boxed(),
                    };
                )*
                self($($t),*).map(Ok).boxed()
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);
impl_handler!(T1, T2, T3, T4, T5);
impl_handler!(T1, T2, T3, T4, T5, T6);
impl_handler!(T1, T2, T3, T4, T5, T6, T7);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8);

/// A value a request-response handler (or a stream item) can answer with.
pub trait IntoResponse: Send + 'static {
    /// Encodes the value into a payload.
    fn into_response(self, conn: &ConnectionInfo) -> Result<Payload, Error>;
}

impl IntoResponse for Payload {
    fn into_response(self, _: &ConnectionInfo) -> Result<Payload, Error> {
        Ok(self)
    }
}

impl IntoResponse for () {
    /// An empty payload.
    fn into_response(self, _: &ConnectionInfo) -> Result<Payload, Error> {
        Ok(Payload::default())
    }
}

impl IntoResponse for Bytes {
    fn into_response(self, _: &ConnectionInfo) -> Result<Payload, Error> {
        Ok(Payload::new(self))
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self, _: &ConnectionInfo) -> Result<Payload, Error> {
        Ok(Payload::new(self))
    }
}

impl IntoResponse for String {
    /// The UTF-8 bytes, whatever the data MIME type.
    fn into_response(self, _: &ConnectionInfo) -> Result<Payload, Error> {
        Ok(Payload::new(self))
    }
}

impl IntoResponse for &'static str {
    /// The UTF-8 bytes, whatever the data MIME type.
    fn into_response(self, _: &ConnectionInfo) -> Result<Payload, Error> {
        Ok(Payload::from(self))
    }
}

impl<T: IntoResponse, E: Into<Error> + Send + 'static> IntoResponse for Result<T, E> {
    fn into_response(self, conn: &ConnectionInfo) -> Result<Payload, Error> {
        self.map_err(Into::into)?.into_response(conn)
    }
}

/// What a request-stream or request-channel handler returns. `M` only tells the
/// implementations apart (a `Stream`, or a `Result` of one); it is inferred.
pub trait IntoResponseStream<M>: Send + 'static {
    /// Encodes the values into a stream of payloads.
    fn into_response_stream(self, conn: Arc<ConnectionInfo>) -> ResponseStream;
}

/// Marks [`IntoResponseStream`] for a `Stream`.
#[derive(Debug)]
pub enum ViaStream {}

/// Marks [`IntoResponseStream`] for a `Result` of a stream.
#[derive(Debug)]
pub struct ViaResult<M>(PhantomData<M>);

impl<S, R> IntoResponseStream<ViaStream> for S
where
    S: Stream<Item = R> + Send + 'static,
    R: IntoResponse,
{
    fn into_response_stream(self, conn: Arc<ConnectionInfo>) -> ResponseStream {
        self.map(move |item| item.into_response(&conn).map_err(rsocket::Error::from))
            .boxed()
    }
}

impl<S, E, M> IntoResponseStream<ViaResult<M>> for Result<S, E>
where
    S: IntoResponseStream<M>,
    E: Into<Error> + Send + 'static,
    M: 'static,
{
    fn into_response_stream(self, conn: Arc<ConnectionInfo>) -> ResponseStream {
        match self {
            Ok(s) => s.into_response_stream(conn),
            Err(e) => futures::stream::once(futures::future::ready(Err(e.into().into()))).boxed(),
        }
    }
}

/// What a fire-and-forget, metadata-push or setup handler returns: `()` or `Result<(), E>`.
/// An error rejects a SETUP; for fire-and-forget and metadata-push it is logged.
pub trait IntoCompletion: Send + 'static {
    /// The outcome.
    fn into_completion(self) -> Result<(), Error>;
}

impl IntoCompletion for () {
    fn into_completion(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<E: Into<Error> + Send + 'static> IntoCompletion for Result<(), E> {
    fn into_completion(self) -> Result<(), Error> {
        self.map_err(Into::into)
    }
}
