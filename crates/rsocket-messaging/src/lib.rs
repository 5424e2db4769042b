//! RSocket messaging: the layer between raw frames and application handlers, in the style of
//! Spring Messaging, with handlers that feel like axum and codecs like tonic.
//!
//! ```text
//!  your handlers: async fn(Path<..>, Json<..>, Authentication, Requester, State<..>) -> ..
//!        │                                   your calls: requester.route(..).data(..).retrieve_one()
//!  Router ── tower layers ── extractors ── codecs (JSON, CBOR, MessagePack, text, bytes, yours)
//!        │                                   Requester ── route + metadata envelope
//!  metadata: composite, routing, authentication, per-stream MIME, Zipkin
//!        │
//!  rsocket (connection driver, transports) / rsocket-proto (frames)
//! ```
//!
//! - [`Router`]: `async fn` handlers by route pattern (`find.radar.{code}`, `*`, `**`), one
//!   registration method per interaction model, extractors ([`router`] module), SETUP and
//!   metadata-push handlers, tower layers ([`router::layers`]). Serve it with
//!   [`Router::into_acceptor`] on a server, or as a client responder.
//! - [`Requester`]: `requester.route("find.radar.{}", ["EWR"]).metadata(token, BEARER)
//!   .data(&view).retrieve_one::<Location>()`; the interaction model follows from the data
//!   and the terminal method.
//! - [`codec`]: codecs keyed by MIME type; decode errors answer ERROR\[INVALID\] with a message
//!   saying what failed.
//! - [`metadata`]: the metadata extension codecs.
//!
//! # Quick start
//!
//! ```
//! use futures::StreamExt;
//! use rsocket::{Server, transport::memory_pair};
//! use rsocket_messaging::router::{Json, Path};
//! use rsocket_messaging::{Error, Requester, Router};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Location { code: String, lat: f64, lon: f64 }
//!
//! async fn find_radar(Path(code): Path<String>) -> Result<Json<Location>, Error> {
//!     match code.as_str() {
//!         "EWR" => Ok(Json(Location { code, lat: 40.69, lon: -74.17 })),
//!         _ => Err(rsocket::Error::application(format!("no radar {code}")).into()),
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let router = Router::new()
//!     .request_response("find.radar.{code}", find_radar)
//!     .request_stream("count.{n}", |Path(n): Path<u32>| async move {
//!         futures::stream::iter((0..n).map(Json))
//!     });
//! let server = Server::builder().acceptor(router.into_acceptor()).build();
//! let (client_io, server_io) = memory_pair(64 * 1024);
//! tokio::spawn(server.serve_connection(server_io));
//!
//! let requester = Requester::builder().connect_with(client_io)?;
//! let ewr: Location = requester.route("find.radar.{}", ["EWR"]).retrieve_one().await?;
//! assert_eq!(ewr.lat, 40.69);
//! let counts: Vec<u32> = requester
//!     .route("count.{}", [3])
//!     .retrieve_stream::<u32>()
//!     .map(Result::unwrap)
//!     .collect()
//!     .await;
//! assert_eq!(counts, [0, 1, 2]);
//! let err = requester.route("find.radar.{}", ["XXX"]).retrieve_one::<Location>().await;
//! let Err(Error::RSocket(err)) = err else { panic!("expected an ERROR frame") };
//! assert_eq!(err.code(), Some(rsocket::ErrorCode::APPLICATION_ERROR));
//! assert_eq!(err.message(), "no radar XXX");
//! # Ok(()) }
//! ```
//!
//! # Cancel safety
//!
//! Dropping a [`RequestSpec::retrieve_one`] future or a [`RequestSpec::retrieve_stream`]
//! stream before it ends sends CANCEL; the handler's future or stream is then dropped.
//!
//! # Metadata example: a route and a bearer token in composite metadata
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

pub mod codec;
mod de;
mod envelope;
mod error;
pub mod metadata;
mod requester;
pub mod router;

pub use erased_serde;
pub use error::{Error, Interaction};
pub use requester::{
    AUTHENTICATION, AuthenticationEntry, BEARER, Bearer, MetadataEncoder, RequestSpec, Requester,
    RequesterBuilder, RouteVars, SIMPLE_AUTH, SimpleAuth,
};
pub use router::{Router, RouterAcceptor};
