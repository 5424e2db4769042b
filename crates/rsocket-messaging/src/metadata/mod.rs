//! The metadata extensions of the RSocket spec (`Extensions/` in the spec repository): codecs
//! that turn the bytes of a frame's metadata into typed values and back.
//!
//! | MIME type | spec | type |
//! |---|---|---|
//! | well-known MIME ids | WellKnownMimeTypes.md | [`WellKnownMimeType`], [`MimeType`] |
//! | `message/x.rsocket.composite-metadata.v0` | CompositeMetadata.md | [`CompositeMetadata`] |
//! | `message/x.rsocket.routing.v0` | Routing.md | [`RoutingMetadata`] |
//! | `message/x.rsocket.authentication.v0` | Security/*.md | [`Authentication`] |
//! | `message/x.rsocket.mime-type.v0` | PerStreamDataMimeTypesDefinition.md | [`DataMimeType`] |
//! | `message/x.rsocket.accept-mime-types.v0` | PerStreamDataMimeTypesDefinition.md | [`AcceptMimeTypes`] |
//! | `message/x.rsocket.tracing-zipkin.v0` | Tracing-Zipkin.md | [`ZipkinTracing`] |
//!
//! Every codec has the same shape: `decode` (bounded, never panics, typed
//! [`MetadataError`]), `encode(&mut BytesMut)`, `encoded_len()` and `to_bytes()`. Decoders
//! whose result keeps slices of the input ([`CompositeMetadata`], [`Authentication`]) take
//! `&Bytes`; the others take `&[u8]`. Wherever a payload is a list, decoding is bounded by a
//! documented default limit and a `decode_with_limit` variant.
//!
//! A decoded value re-encodes to the bytes it came from: wire enums are open newtypes (unknown
//! ids survive), and a MIME type received as a string stays a string.

mod auth;
mod composite;
mod error;
mod mime;
mod per_stream_mime;
mod reader;
mod routing;
mod tracing_zipkin;

pub use auth::{AuthType, Authentication, CustomAuthType, WellKnownAuthType};
pub use composite::{CompositeMetadata, CompositeMetadataReader, Entry, MAX_ENTRY_CONTENT_LEN};
pub use error::{Location, MetadataError};
pub use mime::{CustomMimeType, MimeType, WellKnownMimeType};
pub use per_stream_mime::{AcceptMimeTypes, DataMimeType};
pub use routing::RoutingMetadata;
pub use tracing_zipkin::{Sampling, TraceId, TraceIds, ZipkinTracing};
