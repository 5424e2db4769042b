//! The demo service that `rsocket serve` runs: a public test service for users and for
//! interop, routed by routing metadata (in composite metadata or as plain
//! `message/x.rsocket.routing.v0`, following the connection's metadata MIME type).
//!
//! | route | interaction | behaviour |
//! |---|---|---|
//! | `echo` (also: no route) | request-response | returns the request's data and metadata |
//! | `echo` (also: no route) | request-channel | echoes every inbound payload; completes when the requester completes |
//! | `echo` | request-stream | emits the request payload once, then completes |
//! | `stream.{n}` | request-stream | emits `n` payloads `0`, `1`, … `n-1`, then completes; honours request-n |
//! | `stream.infinite` | request-stream | emits `0`, `1`, … until cancelled |
//! | `blob.{bytes}` | request-response | returns `bytes` bytes of data (byte i = i mod 256) |
//! | `error.{code}` | any request | answers ERROR with that code (decimal or `0x` hex) and message `demo error` |
//! | `slow.{ms}` | request-response | answers the request's data after `ms` milliseconds |
//! | `fnf.count` | request-response | returns `fnf=X push=Y`: fire-and-forget and metadata-push frames received so far |

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use rsocket::{Error, Payload, PayloadStream, Responder, ResponseStream};
use rsocket_messaging::metadata::{CompositeMetadata, RoutingMetadata};

/// MIME type of composite metadata.
pub const COMPOSITE: &str = "message/x.rsocket.composite-metadata.v0";
/// MIME type of plain routing metadata.
pub const ROUTING: &str = "message/x.rsocket.routing.v0";
/// Largest `blob.{bytes}` answer: 64 MiB.
pub const MAX_BLOB: usize = 64 << 20;
/// Longest `slow.{ms}` delay: 10 minutes.
pub const MAX_SLOW_MS: u64 = 600_000;

/// Counters shared by every connection of one server.
#[derive(Debug, Default)]
pub struct Counters {
    /// Fire-and-forget requests received.
    pub fnf: AtomicU64,
    /// Metadata pushes received.
    pub push: AtomicU64,
}

/// The demo service for one connection.
#[derive(Clone, Debug)]
pub struct Demo {
    metadata_mime: String,
    counters: Arc<Counters>,
}

/// A parsed route.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Echo,
    Stream(u64),
    Infinite,
    Blob(usize),
    Error(u32),
    Slow(u64),
    FnfCount,
    Unknown(String),
    Invalid(String),
}

fn parse_code(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_route(route: Option<&str>) -> Route {
    let Some(r) = route else {
        return Route::Echo;
    };
    let invalid = |what: &str| Route::Invalid(format!("invalid route {r:?}: {what}"));
    match r.split_once('.') {
        None if r == "echo" => Route::Echo,
        Some(("stream", "infinite")) => Route::Infinite,
        Some(("stream", n)) => n
            .parse()
            .map_or_else(|_| invalid("expected stream.{n}"), Route::Stream),
        Some(("blob", n)) => match n.parse::<usize>() {
            Ok(n) if n <= MAX_BLOB => Route::Blob(n),
            Ok(_) => Route::Invalid(format!(
                "blob size in {r:?} exceeds the limit of {MAX_BLOB} bytes"
            )),
            Err(_) => invalid("expected blob.{bytes}"),
        },
        Some(("error", c)) => {
            parse_code(c).map_or_else(|| invalid("expected error.{code}"), Route::Error)
        }
        Some(("slow", ms)) => match ms.parse::<u64>() {
            Ok(ms) if ms <= MAX_SLOW_MS => Route::Slow(ms),
            _ => invalid("expected slow.{ms} with ms at most 600000"),
        },
        Some(("fnf", "count")) => Route::FnfCount,
        _ => Route::Unknown(r.to_string()),
    }
}

fn demo_error(code: u32) -> Error {
    Error::custom(code, "demo error")
}

fn unknown(route: &str, interaction: &str) -> Error {
    Error::application(format!("no handler for route '{route}' ({interaction})"))
}

/// `bytes` bytes where byte i is i mod 256.
pub fn blob(bytes: usize) -> Bytes {
    (0..bytes).map(|i| i as u8).collect::<Vec<u8>>().into()
}

impl Demo {
    /// The service for a connection whose SETUP announced `metadata_mime`.
    pub fn new(metadata_mime: &str, counters: Arc<Counters>) -> Self {
        Demo {
            metadata_mime: metadata_mime.to_string(),
            counters,
        }
    }

    /// The route in a request's metadata, per the connection's metadata MIME type.
    fn route(&self, p: &Payload) -> Route {
        let Some(m) = p.metadata.as_ref().filter(|m| !m.is_empty()) else {
            return Route::Echo;
        };
        let parsed = if self.metadata_mime.eq_ignore_ascii_case(ROUTING) {
            RoutingMetadata::decode(m).map(|r| r.route().map(str::to_string))
        } else if self.metadata_mime.eq_ignore_ascii_case(COMPOSITE) {
            CompositeMetadata::decode(m)
                .and_then(|c| Ok(c.routing()?.and_then(|r| r.route().map(str::to_string))))
        } else {
            Ok(None)
        };
        match parsed {
            Ok(r) => parse_route(r.as_deref()),
            Err(e) => Route::Invalid(format!("invalid {} metadata: {e}", self.metadata_mime)),
        }
    }
}

fn fail_stream(e: Error) -> ResponseStream {
    futures::stream::once(async move { Err(e) }).boxed()
}

impl Responder for Demo {
    fn fire_and_forget(&self, _request: Payload) -> BoxFuture<'static, ()> {
        self.counters.fnf.fetch_add(1, Ordering::Relaxed);
        futures::future::ready(()).boxed()
    }

    fn metadata_push(&self, _metadata: Bytes) -> BoxFuture<'static, ()> {
        self.counters.push.fetch_add(1, Ordering::Relaxed);
        futures::future::ready(()).boxed()
    }

    fn request_response(&self, request: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        let result = match self.route(&request) {
            Route::Echo => Ok(request),
            Route::Blob(n) => Ok(Payload::new(blob(n))),
            Route::Error(c) => Err(demo_error(c)),
            Route::FnfCount => Ok(Payload::from(format!(
                "fnf={} push={}",
                self.counters.fnf.load(Ordering::Relaxed),
                self.counters.push.load(Ordering::Relaxed)
            ))),
            Route::Slow(ms) => {
                return async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(Payload::new(request.data))
                }
                .boxed();
            }
            Route::Invalid(msg) => Err(Error::invalid(msg)),
            Route::Stream(_) | Route::Infinite => {
                Err(unknown(&route_name(&request, self), "request-response"))
            }
            Route::Unknown(r) => Err(unknown(&r, "request-response")),
        };
        futures::future::ready(result).boxed()
    }

    fn request_stream(&self, request: Payload) -> ResponseStream {
        match self.route(&request) {
            Route::Echo => futures::stream::once(async move { Ok(request) }).boxed(),
            Route::Stream(n) => futures::stream::iter(0..n)
                .map(|i| Ok(Payload::from(i.to_string())))
                .boxed(),
            Route::Infinite => futures::stream::iter(0u64..)
                .map(|i| Ok(Payload::from(i.to_string())))
                .boxed(),
            Route::Error(c) => fail_stream(demo_error(c)),
            Route::Invalid(msg) => fail_stream(Error::invalid(msg)),
            Route::Unknown(r) => fail_stream(unknown(&r, "request-stream")),
            _ => fail_stream(unknown(&route_name(&request, self), "request-stream")),
        }
    }

    fn request_channel(&self, first: Payload, inbound: PayloadStream) -> ResponseStream {
        match self.route(&first) {
            Route::Echo => futures::stream::once(async move { Ok(first) })
                .chain(inbound)
                .boxed(),
            Route::Error(c) => fail_stream(demo_error(c)),
            Route::Invalid(msg) => fail_stream(Error::invalid(msg)),
            Route::Unknown(r) => fail_stream(unknown(&r, "request-channel")),
            _ => fail_stream(unknown(&route_name(&first, self), "request-channel")),
        }
    }
}

/// The route text for error messages.
fn route_name(p: &Payload, d: &Demo) -> String {
    match d.route(p) {
        Route::Stream(n) => format!("stream.{n}"),
        Route::Infinite => "stream.infinite".into(),
        Route::Blob(n) => format!("blob.{n}"),
        Route::Slow(ms) => format!("slow.{ms}"),
        Route::FnfCount => "fnf.count".into(),
        Route::Echo => "echo".into(),
        Route::Error(c) => format!("error.{c}"),
        Route::Unknown(r) | Route::Invalid(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(parse_route(None), Route::Echo);
        assert_eq!(parse_route(Some("echo")), Route::Echo);
        assert_eq!(parse_route(Some("stream.5")), Route::Stream(5));
        assert_eq!(parse_route(Some("stream.infinite")), Route::Infinite);
        assert_eq!(parse_route(Some("blob.10")), Route::Blob(10));
        assert_eq!(parse_route(Some("error.0x301")), Route::Error(0x301));
        assert_eq!(parse_route(Some("error.513")), Route::Error(513));
        assert_eq!(parse_route(Some("slow.20")), Route::Slow(20));
        assert_eq!(parse_route(Some("fnf.count")), Route::FnfCount);
        assert_eq!(parse_route(Some("nope")), Route::Unknown("nope".into()));
        assert!(matches!(parse_route(Some("stream.x")), Route::Invalid(_)));
        assert!(matches!(
            parse_route(Some("blob.99999999999")),
            Route::Invalid(_)
        ));
    }

    #[test]
    fn blob_bytes_follow_the_pattern() {
        let b = blob(300);
        assert_eq!(b.len(), 300);
        assert_eq!(b[255], 255);
        assert_eq!(b[256], 0);
        assert_eq!(b[299], 43);
    }
}
