//! RSocket messaging: the layer between raw frames and application handlers.
//!
//! ```text
//!  application handlers, Requester / Router (to come)
//!        │
//!  rsocket-messaging  ── metadata: composite, routing, authentication, per-stream MIME types,
//!        │                          Zipkin tracing; well-known MIME ids
//!  rsocket / rsocket-proto (frames carry metadata as opaque bytes)
//! ```
//!
//! Today the crate holds the [`metadata`] extension codecs; they depend on nothing but
//! [`bytes`], so frames from any transport (or from a test) can be read with them.
//!
//! # Example: a route and a bearer token in composite metadata
//!
//! This is what Spring's `RSocketRequester` sends with `.route("echo")` and bearer
//! authentication, with the connection's metadata MIME type set to
//! `message/x.rsocket.composite-metadata.v0`.
//!
//! ```
//! use rsocket_messaging::metadata::{
//!     Authentication, CompositeMetadata, MetadataError, RoutingMetadata, WellKnownMimeType,
//! };
//!
//! # fn main() -> Result<(), MetadataError> {
//! // Requester side: build and encode.
//! let mut metadata = CompositeMetadata::new();
//! metadata
//!     .push_routing(&RoutingMetadata::from_route("echo")?)?
//!     .push_authentication(&Authentication::bearer("my-token"))?;
//! let wire = metadata.to_bytes();
//! assert_eq!(
//!     &wire[..9],
//!     // 0xFE: well-known flag | routing id 0x7E; 24-bit length 5; tag length 4; "echo"
//!     &[0xFE, 0x00, 0x00, 0x05, 0x04, b'e', b'c', b'h', b'o'],
//! );
//!
//! // Responder side: decode (entries are zero-copy slices of `wire`) and read typed values.
//! let received = CompositeMetadata::decode(&wire)?;
//! assert_eq!(received.len(), 2);
//! let routing = received.routing()?.expect("a routing entry");
//! assert_eq!(routing.route(), Some("echo"));
//! match received.authentication()? {
//!     Some(Authentication::Bearer(token)) => assert_eq!(token, "my-token"),
//!     other => panic!("expected a bearer token, got {other:?}"),
//! }
//!
//! // Entries whose type this code does not know are still there, in order.
//! for entry in &received {
//!     println!("{} ({} bytes)", entry.mime(), entry.content().len());
//! }
//! assert!(received.find(WellKnownMimeType::MESSAGE_RSOCKET_TRACING_ZIPKIN).is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # Robustness
//!
//! Decoders never panic, whatever the input: every length is checked against the bytes left,
//! every list has a documented bound, and errors say which field of which entry was wrong
//! (`composite metadata entry 1: content length 700 exceeds remaining 12 bytes`). The
//! composite-metadata parser has a cargo-fuzz target (`fuzz/fuzz_targets/composite_metadata.rs`).

pub mod metadata;
