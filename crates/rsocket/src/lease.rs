//! Lease (Protocol.md "Lease Semantics"): how a responder grants its peer the right to send
//! requests.
//!
//! When both sides agreed on lease in SETUP (the client asks with
//! [`ClientBuilder::lease`](crate::ClientBuilder::lease), the server accepts with
//! [`ServerBuilder::lease`](crate::ServerBuilder::lease)), a requester may only send a request
//! while it holds a valid LEASE: unexpired, with requests left. The responder side grants
//! leases through a [`LeasePolicy`]:
//!
//! * [`FixedLease`]: a fixed budget of requests per interval, out of the box;
//! * [`lease_fn`]: the application decides from its own load (queue depth, CPU, ...).
//!
//! The policy is asked once the connection is accepted, again after every resumption (lease
//! restarts after RESUME: a new LEASE follows RESUME_OK), and then every
//! [`LeasePolicy::interval`].
//!
//! On the requesting side, a request without a valid lease fails at once with
//! [`ErrorKind::NoLease`](crate::ErrorKind::NoLease) (this includes requests sent before the
//! first LEASE arrives). [`ClientBuilder::wait_for_lease`](crate::ClientBuilder::wait_for_lease)
//! makes requests wait (bounded) for the next lease instead. A responder that receives a
//! request beyond the lease it granted answers ERROR\[REJECTED\] without calling its handler.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::RSocket;

/// One LEASE to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// How long the lease is valid from its receipt.
    pub ttl: Duration,
    /// Requests the peer may send within `ttl` (at most 2^31-1).
    pub requests: u32,
    /// Optional LEASE metadata.
    pub metadata: Option<Bytes>,
}

/// What a [`LeasePolicy`] may consider.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LeaseContext {
    /// Streams open on the connection now (both directions).
    pub active_streams: usize,
    /// True when the policy is asked because the session has just resumed.
    pub resumed: bool,
}

/// Decides the leases a responder grants to one connection.
pub trait LeasePolicy: Send + Sync + 'static {
    /// The lease to grant now; `None` grants nothing (the peer's current lease runs out).
    fn grant(&self, ctx: &LeaseContext) -> Option<LeaseGrant>;

    /// How long until the policy is asked again.
    fn interval(&self) -> Duration;
}

/// A fixed budget: `requests` per `interval`. Each interval a LEASE of `requests` requests is
/// sent, valid for two intervals so that a late renewal leaves no gap; a new LEASE replaces
/// the previous one, so the peer never holds more than `requests` at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedLease {
    /// Requests per interval.
    pub requests: u32,
    /// The interval.
    pub interval: Duration,
}

impl FixedLease {
    /// `requests` requests per `interval` (at least 1 ms).
    pub fn new(requests: u32, interval: Duration) -> Self {
        FixedLease {
            requests,
            interval: interval.max(Duration::from_millis(1)),
        }
    }
}

impl LeasePolicy for FixedLease {
    fn grant(&self, _ctx: &LeaseContext) -> Option<LeaseGrant> {
        Some(LeaseGrant {
            ttl: self.interval * 2,
            requests: self.requests,
            metadata: None,
        })
    }

    fn interval(&self) -> Duration {
        self.interval
    }
}

/// A policy from a closure, asked every `interval`; see [`lease_fn`].
pub struct LeaseFn<F> {
    interval: Duration,
    f: F,
}

impl<F> std::fmt::Debug for LeaseFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseFn")
            .field("interval", &self.interval)
            .finish()
    }
}

/// A lease policy that asks `f` every `interval` (the application's hook: grant from its own
/// load).
///
/// ```
/// use std::time::Duration;
/// use rsocket::lease::{LeaseGrant, lease_fn};
///
/// let policy = lease_fn(Duration::from_millis(500), |ctx| {
///     // Fewer requests while busy.
///     let requests = if ctx.active_streams > 100 { 10 } else { 100 };
///     Some(LeaseGrant { ttl: Duration::from_secs(1), requests, metadata: None })
/// });
/// let server = rsocket::Server::builder().lease_policy(policy).build();
/// # let _ = server;
/// ```
pub fn lease_fn<F>(interval: Duration, f: F) -> LeaseFn<F>
where
    F: Fn(&LeaseContext) -> Option<LeaseGrant> + Send + Sync + 'static,
{
    LeaseFn {
        interval: interval.max(Duration::from_millis(1)),
        f,
    }
}

impl<F> LeasePolicy for LeaseFn<F>
where
    F: Fn(&LeaseContext) -> Option<LeaseGrant> + Send + Sync + 'static,
{
    fn grant(&self, ctx: &LeaseContext) -> Option<LeaseGrant> {
        (self.f)(ctx)
    }

    fn interval(&self) -> Duration {
        self.interval
    }
}

/// Grants leases on one connection until it closes: at once, after each resumption, and every
/// interval.
pub(crate) async fn run(policy: Arc<dyn LeasePolicy>, rsocket: RSocket) {
    let inner = rsocket.inner.clone();
    let mut resumed = false;
    loop {
        let ctx = {
            let s = inner.lock();
            if s.closed.is_some() {
                return;
            }
            LeaseContext {
                active_streams: s.conn.stream_count(),
                resumed,
            }
        };
        if let Some(g) = policy.grant(&ctx) {
            // Fails while the session has no transport: the next grant follows the resumption.
            if let Err(e) = rsocket.send_lease(g.ttl, g.requests, g.metadata) {
                tracing::trace!(error = %e, "lease not sent");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(policy.interval()) => resumed = false,
            () = inner.session.notified() => resumed = true,
        }
    }
}
