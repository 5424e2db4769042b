//! `interop-server --tcp ADDR --ws ADDR [--lease] [--resume]`: the server that rsocket-py and
//! rsocket-js clients run against. Its routes are those of the demo service of `rsocket serve`
//! that the suite uses (`echo`, `error.{code}`, `stream.infinite`) plus what the demo cannot
//! express: per-connection counters (`count`), `auth.whoami`, `setup.info`, a paced finite
//! stream (`stream.paced.{n}.{ms}`), and SETUP rejection (see the crate documentation). It does
//! not link `rsocket-cli`, so the suite does not depend on that crate's state. With `--lease`,
//! each connection that asks for lease is granted 2 requests for 60 s, never renewed. With
//! `--resume`, sessions whose SETUP asks for resumption are resumable for 30 s after their
//! transport is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use rsocket::{
    Error, Payload, PayloadStream, RSocket, Responder, ResponseStream, ResumeConfig, Server,
    SetupInfo,
};
use rsocket_interop::{ERROR_MESSAGE, MTU, REJECT_ME, arg, auth_of, flag, parse_code, route_of};
use rsocket_messaging::metadata::Authentication;

#[derive(Default)]
struct Stats {
    fnf: AtomicU64,
    push: AtomicU64,
    cancel: AtomicU64,
}

struct Conn {
    stats: Arc<Stats>,
    setup: Payload,
}

/// Counts a cancellation when an infinite stream is dropped (it never completes).
struct CancelGuard(Arc<Stats>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.0.cancel.fetch_add(1, Ordering::SeqCst);
    }
}

impl Responder for Conn {
    fn fire_and_forget(&self, request: Payload) -> BoxFuture<'static, ()> {
        let _ = request;
        self.stats.fnf.fetch_add(1, Ordering::SeqCst);
        futures::future::ready(()).boxed()
    }

    fn metadata_push(&self, metadata: Bytes) -> BoxFuture<'static, ()> {
        let _ = metadata;
        self.stats.push.fetch_add(1, Ordering::SeqCst);
        futures::future::ready(()).boxed()
    }

    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        let answer = match route_of(request.metadata.as_ref()).as_deref() {
            Some("count") => Ok(Payload::from(format!(
                "fnf={} push={} cancel={}",
                self.stats.fnf.load(Ordering::SeqCst),
                self.stats.push.load(Ordering::SeqCst),
                self.stats.cancel.load(Ordering::SeqCst)
            ))),
            Some("auth.whoami") => match auth_of(request.metadata.as_ref()) {
                Some(Authentication::Simple { username, password }) => {
                    Ok(Payload::from(format!("simple:{username}:{password}")))
                }
                Some(Authentication::Bearer(token)) => Ok(Payload::from(format!("bearer:{token}"))),
                other => Err(Error::custom(
                    0x301,
                    format!("no usable authentication: {other:?}"),
                )),
            },
            Some("setup.info") => Ok(self.setup.clone()),
            None | Some("echo") => Ok(request),
            Some(r) => Err(error_route(r)),
        };
        futures::future::ready(answer).boxed()
    }

    fn request_stream(&self, request: Payload) -> ResponseStream {
        match route_of(request.metadata.as_ref()).as_deref() {
            Some("stream.infinite") => {
                let guard = CancelGuard(self.stats.clone());
                futures::stream::iter(0u64..)
                    .map(move |i| {
                        let _ = &guard;
                        Ok(Payload::from(i.to_string()))
                    })
                    .boxed()
            }
            None | Some("echo") => futures::stream::once(async move { Ok(request) }).boxed(),
            Some(r) => match paced(r) {
                Some((n, ms)) => futures::stream::iter(0..n)
                    .then(move |i| async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(Payload::from(i.to_string()))
                    })
                    .boxed(),
                None => futures::stream::once(futures::future::ready(Err(error_route(r)))).boxed(),
            },
        }
    }

    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        match route_of(first.metadata.as_ref()).as_deref() {
            None | Some("echo") => futures::stream::once(async move { Ok(first) })
                .chain(inbound)
                .boxed(),
            Some(r) => futures::stream::once(futures::future::ready(Err(error_route(r)))).boxed(),
        }
    }
}

/// `stream.paced.{n}.{ms}`: `n` items, one every `ms` milliseconds (request-n still applies).
fn paced(route: &str) -> Option<(u64, u64)> {
    let (n, ms) = route.strip_prefix("stream.paced.")?.split_once('.')?;
    Some((n.parse().ok()?, ms.parse().ok()?))
}

/// `error.{code}` answers that code; any other route is unknown.
fn error_route(route: &str) -> Error {
    match route.strip_prefix("error.").and_then(parse_code) {
        Some(code) => Error::custom(code, ERROR_MESSAGE),
        None => Error::application(format!("no handler for route '{route}'")),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lease = flag(&args, "--lease");
    let mut builder = Server::builder();
    if flag(&args, "--resume") {
        builder = builder.resume(ResumeConfig {
            session_timeout: Duration::from_secs(30),
            ..ResumeConfig::default()
        });
    }
    let server = builder
        .lease(lease)
        .mtu(MTU)
        .acceptor(move |setup: SetupInfo, requester: RSocket| async move {
            if setup.payload.data_utf8() == Some(REJECT_ME) {
                return Err(Error::rejected_setup(format!(
                    "setup rejected: {REJECT_ME}"
                )));
            }
            if setup.lease {
                requester.send_lease(Duration::from_secs(60), 2, None)?;
            }
            Ok(Conn {
                stats: Arc::new(Stats::default()),
                setup: setup.payload.clone(),
            })
        })
        .build();
    let mut tasks = Vec::new();
    if let Some(addr) = arg(&args, "--tcp") {
        let l = tokio::net::TcpListener::bind(&addr)
            .await
            .unwrap_or_else(|e| panic!("cannot bind {addr}: {e}"));
        let s = server.clone();
        tasks.push(tokio::spawn(async move { s.serve_tcp(l).await }));
    }
    if let Some(addr) = arg(&args, "--ws") {
        let l = tokio::net::TcpListener::bind(&addr)
            .await
            .unwrap_or_else(|e| panic!("cannot bind {addr}: {e}"));
        let s = server.clone();
        tasks.push(tokio::spawn(async move { s.serve_ws(l, "/rsocket").await }));
    }
    assert!(
        !tasks.is_empty(),
        "usage: interop-server --tcp ADDR --ws ADDR [--lease] [--resume]"
    );
    println!("ready");
    let _ = tokio::signal::ctrl_c().await;
}
