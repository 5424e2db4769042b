//! Ready-made tower layers for a [`Router`](crate::Router): authentication, logging and
//! metrics. Any other `tower::Layer` over [`RouteService`](super::RouteService) works the same way.
//!
//! Layers see a request before its handler runs and the [`Response`] it returns; for a
//! stream, that is when the stream is created, not when it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use super::{Request, Response};
use crate::error::{Error, Interaction};
use crate::metadata::Authentication;

/// Checks the request's authentication metadata with a function before any handler runs.
///
/// The function gets the decoded `message/x.rsocket.authentication.v0` entry (if any) and
/// the request; it returns a principal, which handlers read with
/// [`Extension<P>`](super::Extension), or an error that answers the request (use
/// [`Error::Unauthenticated`] for REJECTED). A SETUP refused this way rejects the
/// connection.
///
/// ```
/// use rsocket_messaging::metadata::Authentication;
/// use rsocket_messaging::router::layers::AuthLayer;
/// use rsocket_messaging::router::{Extension, Request};
/// use rsocket_messaging::{Error, Router};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let router = Router::new()
///     .request_response("me", |Extension(user): Extension<User>| async move { user.0 })
///     .layer(AuthLayer::new(|auth: Option<Authentication>, _req: &Request| match auth {
///         Some(Authentication::Bearer(token)) if token == "s3cret" => Ok(User("alice".into())),
///         _ => Err(Error::Unauthenticated),
///     }));
/// # let _ = router;
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer<F> {
    check: F,
}

impl<F> AuthLayer<F> {
    /// A layer checking requests with `check`.
    pub fn new(check: F) -> Self {
        AuthLayer { check }
    }
}

impl<S, F: Clone> Layer<S> for AuthLayer<F> {
    type Service = AuthService<S, F>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone, Debug)]
pub struct AuthService<S, F> {
    inner: S,
    check: F,
}

impl<S, F, P> Service<Request> for AuthService<S, F>
where
    S: Service<Request, Response = Response, Error = Error>,
    S::Future: Send + 'static,
    F: Fn(Option<Authentication>, &Request) -> Result<P, Error>,
    P: Send + Sync + 'static,
{
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let checked = req
            .metadata()
            .authentication()
            .map_err(Error::from)
            .and_then(|auth| (self.check)(auth, &req));
        match checked {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                self.inner.call(req).boxed()
            }
            Err(e) => futures::future::ready(Err(e)).boxed(),
        }
    }
}

/// Logs every request with `tracing`: interaction, route, outcome and time to the response
/// (DEBUG for successes, WARN for failures).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogLayer;

impl<S> Layer<S> for LogLayer {
    type Service = LogService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        LogService { inner }
    }
}

/// The service of [`LogLayer`].
#[derive(Clone, Debug)]
pub struct LogService<S> {
    inner: S,
}

impl<S> Service<Request> for LogService<S>
where
    S: Service<Request, Response = Response, Error = Error>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let interaction = req.interaction();
        let route = req.route().unwrap_or_default().to_string();
        let start = Instant::now();
        let fut = self.inner.call(req);
        async move {
            let result = fut.await;
            let micros = start.elapsed().as_micros() as u64;
            match &result {
                Ok(_) => tracing::debug!(%interaction, %route, micros, "handled"),
                Err(e) => tracing::warn!(%interaction, %route, micros, error = %e, "failed"),
            }
            result
        }
        .boxed()
    }
}

/// Counts of one interaction model, from [`Metrics::snapshot`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that reached the layer.
    pub requests: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Total time from request to response (for streams: to the start of the stream).
    pub busy: Duration,
}

/// Request counters, shared by a [`MetricsLayer`] and whoever reads them. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    counts: Arc<Mutex<HashMap<Interaction, Counts>>>,
}

impl Metrics {
    /// New counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer that updates these counters.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            metrics: self.clone(),
        }
    }

    /// The counts of one interaction model.
    pub fn get(&self, interaction: Interaction) -> Counts {
        self.snapshot()
            .get(&interaction)
            .copied()
            .unwrap_or_default()
    }

    /// The counts of every interaction model seen so far.
    pub fn snapshot(&self) -> HashMap<Interaction, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, interaction: Interaction, ok: bool, busy: Duration) {
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = m.entry(interaction).or_default();
        c.requests += 1;
        c.errors += u64::from(!ok);
        c.busy += busy;
    }
}

/// Counts requests, errors and handling time per interaction model into a [`Metrics`].
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service of [`MetricsLayer`].
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> Service<Request> for MetricsService<S>
where
    S: Service<Request, Response = Response, Error = Error>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Response, Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let interaction = req.interaction();
        let metrics = self.metrics.clone();
        let start = Instant::now();
        let fut = self.inner.call(req);
        async move {
            let result = fut.await;
            metrics.record(interaction, result.is_ok(), start.elapsed());
            result
        }
        .boxed()
    }
}
