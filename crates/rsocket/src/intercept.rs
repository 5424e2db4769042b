//! Interceptors: wrapping the responder (tower [`Layer`]s) and the requester
//! ([`RequestInterceptor`]) for logging, metrics and auth.
//!
//! A responder layer is any `tower_layer::Layer<Arc<dyn Responder>>` whose service is a
//! [`Responder`]; it wraps the responder of every connection:
//!
//! ```
//! use std::sync::Arc;
//! use futures::future::BoxFuture;
//! use rsocket::{Error, Payload, Responder, Server};
//!
//! /// Logs every request-response.
//! struct Logged(Arc<dyn Responder>);
//! impl Responder for Logged {
//!     fn request_response(&self, p: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
//!         println!("request-response of {} bytes", p.len());
//!         self.0.request_response(p)
//!     }
//! }
//! let server = Server::builder()
//!     .layer(tower_layer::layer_fn(|inner| Logged(inner)))
//!     .build();
//! # let _ = server;
//! ```
//!
//! Methods the wrapper does not override fall back to the trait's defaults (which refuse), so
//! a wrapper forwards every interaction it should pass through; [`Forward`] does that for all
//! five and is a convenient base.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::responder::{Responder, ResponseStream};
use crate::{Error, Payload, PayloadStream};

pub use tower_layer::Layer;

/// The interaction a requester is about to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interaction {
    /// fire-and-forget
    FireAndForget,
    /// request-response
    RequestResponse,
    /// request-stream
    RequestStream,
    /// request-channel (the first payload)
    RequestChannel,
    /// metadata-push (the payload's metadata is the pushed metadata)
    MetadataPush,
}

/// Sees (and may change or refuse) every request a requester sends.
///
/// ```
/// use rsocket::{Error, Payload, intercept::{Interaction, RequestInterceptor}};
/// struct AddToken;
/// impl RequestInterceptor for AddToken {
///     fn intercept(&self, _i: Interaction, p: &mut Payload) -> Result<(), Error> {
///         if p.metadata.is_none() {
///             p.metadata = Some(bytes::Bytes::from_static(b"token"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait RequestInterceptor: Send + Sync + 'static {
    /// Called before the request is sent; an error fails the request without sending it.
    fn intercept(&self, interaction: Interaction, payload: &mut Payload) -> Result<(), Error>;
}

impl<F> RequestInterceptor for F
where
    F: Fn(Interaction, &mut Payload) -> Result<(), Error> + Send + Sync + 'static,
{
    fn intercept(&self, interaction: Interaction, payload: &mut Payload) -> Result<(), Error> {
        self(interaction, payload)
    }
}

/// A responder wrapper that forwards everything to the inner responder; embed it to override
/// only some interactions.
#[derive(Clone)]
pub struct Forward(pub Arc<dyn Responder>);

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forward")
    }
}

impl Responder for Forward {
    fn fire_and_forget(&self, request: Payload) -> BoxFuture<'static, ()> {
        self.0.fire_and_forget(request)
    }
    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        self.0.request_response(request)
    }
    fn request_stream(&self, request: Payload) -> ResponseStream {
        self.0.request_stream(request)
    }
    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        self.0.request_channel(first, inbound)
    }
    fn metadata_push(&self, metadata: Bytes) -> BoxFuture<'static, ()> {
        self.0.metadata_push(metadata)
    }
}

/// A type-erased responder layer.
pub(crate) type BoxLayer = Arc<dyn Fn(Arc<dyn Responder>) -> Arc<dyn Responder> + Send + Sync>;

/// Erases a tower layer into a function over responders.
pub(crate) fn erase<L>(layer: L) -> BoxLayer
where
    L: Layer<Arc<dyn Responder>> + Send + Sync + 'static,
    L::Service: Responder,
{
    Arc::new(move |inner| Arc::new(layer.layer(inner)) as Arc<dyn Responder>)
}

/// Applies layers in order (the first added is innermost).
pub(crate) fn apply(layers: &[BoxLayer], mut r: Arc<dyn Responder>) -> Arc<dyn Responder> {
    for l in layers {
        r = l(r);
    }
    r
}
