//! Our side of the interop suite (`interop/run.sh`): the scenario client that runs against
//! rsocket-py and rsocket-js servers, and the server their clients run against.
//!
//! Every server in the suite (ours, `interop/py/server.py`, `interop/js/server.js`) serves the
//! same routes, carried as routing metadata inside composite metadata:
//!
//! | route | interaction | behaviour |
//! |---|---|---|
//! | `echo` | request-response, request-channel | returns data and metadata; the channel echoes every payload and completes after the requester does |
//! | `stream.infinite` | request-stream | emits `0`, `1`, … as request-n allows; counts a CANCEL |
//! | `error.{code}` | request-response, request-stream | ERROR with that code (decimal or `0x` hex), message `demo error` |
//! | `count` | request-response | `fnf=X push=Y cancel=Z` for this connection |
//! | `auth.whoami` | request-response | `simple:USER:PASS` or `bearer:TOKEN` from the authentication entry |
//! | `setup.info` | request-response | the SETUP payload: its data, and its metadata as metadata |
//!
//! A SETUP whose data is `reject-me` is refused with REJECTED_SETUP and a message that contains
//! `reject-me`.

use bytes::Bytes;
use rsocket_messaging::metadata::{
    Authentication, CompositeMetadata, MetadataError, RoutingMetadata, WellKnownMimeType,
};

/// Metadata MIME type announced by every client in the suite.
pub const COMPOSITE: &str = "message/x.rsocket.composite-metadata.v0";
/// Data MIME type announced by every client in the suite.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// Fragment size used by every side that fragments.
pub const MTU: usize = 16 * 1024;
/// Error message of `error.{code}`.
pub const ERROR_MESSAGE: &str = "demo error";
/// SETUP data that servers refuse.
pub const REJECT_ME: &str = "reject-me";

/// Composite metadata with a route and, optionally, an authentication entry.
pub fn route(route: &str, auth: Option<Authentication>) -> Result<Bytes, MetadataError> {
    let mut m = CompositeMetadata::new();
    m.push_routing(&RoutingMetadata::from_route(route)?)?;
    if let Some(a) = auth {
        m.push_authentication(&a)?;
    }
    Ok(m.to_bytes())
}

/// Composite metadata with a route and a `text/plain` entry.
pub fn route_with_text(route: &str, text: &str) -> Result<Bytes, MetadataError> {
    let mut m = CompositeMetadata::new();
    m.push_routing(&RoutingMetadata::from_route(route)?)?;
    m.push(WellKnownMimeType::TEXT_PLAIN, Bytes::from(text.to_string()))?;
    Ok(m.to_bytes())
}

/// `n` bytes where byte i is i mod 256 (the demo service's `blob` pattern).
pub fn blob(n: usize) -> Bytes {
    (0..n).map(|i| i as u8).collect::<Vec<u8>>().into()
}

/// Parses `0x…` hex or decimal.
pub fn parse_code(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The route of a request's composite metadata, if any.
pub fn route_of(metadata: Option<&Bytes>) -> Option<String> {
    let m = metadata.filter(|m| !m.is_empty())?;
    let c = CompositeMetadata::decode(m).ok()?;
    c.routing().ok()??.route().map(str::to_string)
}

/// The authentication entry of a request's composite metadata, if any.
pub fn auth_of(metadata: Option<&Bytes>) -> Option<Authentication> {
    let m = metadata.filter(|m| !m.is_empty())?;
    CompositeMetadata::decode(m).ok()?.authentication().ok()?
}

/// Minimal `--name value` argument parsing: the value after `name`, if any.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// True when the flag `name` is present.
pub fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}
