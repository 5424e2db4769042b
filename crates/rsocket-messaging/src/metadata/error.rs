//! The one error type of the metadata codecs.
//!
//! Every decode error names *where* it happened ([`Location`]) and *which field* was wrong, so a
//! message such as `composite metadata entry 3: content length 700 exceeds remaining 12 bytes`
//! is enough to find the bad byte in a hex dump.

use std::fmt;

/// Where in a metadata payload an error was found.
///
/// Entry and tag indices are zero-based: `composite metadata entry 0` is the first entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Location {
    /// The composite metadata payload as a whole (not one entry).
    Composite,
    /// The composite metadata entry with this zero-based index.
    CompositeEntry(usize),
    /// The routing metadata payload as a whole (not one tag).
    Routing,
    /// The routing tag with this zero-based index.
    RoutingTag(usize),
    /// An authentication metadata payload.
    Authentication,
    /// A `message/x.rsocket.mime-type.v0` payload (the data MIME type of one stream).
    DataMimeType,
    /// The MIME type with this zero-based index in a
    /// `message/x.rsocket.accept-mime-types.v0` payload.
    AcceptMimeType(usize),
    /// The `message/x.rsocket.accept-mime-types.v0` payload as a whole.
    AcceptMimeTypes,
    /// A `message/x.rsocket.tracing-zipkin.v0` payload.
    Tracing,
    /// A value built by the application, before any encoding (for example a MIME type string).
    Value,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Composite => f.write_str("composite metadata"),
            Location::CompositeEntry(i) => write!(f, "composite metadata entry {i}"),
            Location::Routing => f.write_str("routing metadata"),
            Location::RoutingTag(i) => write!(f, "routing tag {i}"),
            Location::Authentication => f.write_str("authentication metadata"),
            Location::DataMimeType => f.write_str("data MIME type metadata"),
            Location::AcceptMimeType(i) => write!(f, "accepted MIME type {i}"),
            Location::AcceptMimeTypes => f.write_str("accepted MIME types metadata"),
            Location::Tracing => f.write_str("zipkin tracing metadata"),
            Location::Value => f.write_str("value"),
        }
    }
}

/// An error from encoding or decoding one of the metadata extensions.
///
/// Decoders never panic; every malformed input ends in one of these variants. Encoders check
/// every limit of the wire format *before* writing anything, so a failed encode leaves the
/// destination buffer untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A fixed-size field (a length prefix, an id) is cut off by the end of the input.
    #[error("{at}: {field} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        /// Where the field is.
        at: Location,
        /// Which field.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },

    /// A length prefix announces more bytes than the input still holds.
    #[error("{at}: {field} length {len} exceeds remaining {remaining} bytes")]
    LengthExceedsRemaining {
        /// Where the field is.
        at: Location,
        /// Which field the length belongs to.
        field: &'static str,
        /// The announced length.
        len: usize,
        /// Bytes left in the input.
        remaining: usize,
    },

    /// A length is outside what the wire format (or the spec) allows.
    #[error("{at}: {field} length {len} is outside {min}..={max}")]
    InvalidLength {
        /// Where the field is.
        at: Location,
        /// Which field.
        field: &'static str,
        /// The offending length.
        len: usize,
        /// Smallest allowed length.
        min: usize,
        /// Largest allowed length.
        max: usize,
    },

    /// A string that must be US-ASCII (MIME type, authentication type) is not.
    #[error("{at}: {field} is not US-ASCII")]
    NotAscii {
        /// Where the field is.
        at: Location,
        /// Which field.
        field: &'static str,
    },

    /// A string that must be UTF-8 (routing tag, username, password, bearer token) is not.
    #[error("{at}: {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the field is.
        at: Location,
        /// Which field.
        field: &'static str,
    },

    /// The payload holds more items than the decoder's limit allows.
    #[error("{at}: more than {limit} {items}")]
    TooManyItems {
        /// Which payload.
        at: Location,
        /// What was counted ("entries", "tags", "MIME types").
        items: &'static str,
        /// The limit in force.
        limit: usize,
    },

    /// A payload that must hold at least one item holds none.
    #[error("{at} is empty")]
    Empty {
        /// Which payload.
        at: Location,
    },

    /// Bytes are left after a payload whose length is fully determined by its fields.
    #[error("{at}: {count} unexpected trailing bytes")]
    TrailingBytes {
        /// Which payload.
        at: Location,
        /// How many bytes were left over.
        count: usize,
    },

    /// A well-known id does not fit in the 7 bits the wire format gives it.
    #[error("{at}: {field} id {id:#04x} does not fit in 7 bits")]
    IdOutOfRange {
        /// Where the id was given.
        at: Location,
        /// Which id ("well-known MIME type", "well-known auth type").
        field: &'static str,
        /// The offending id.
        id: u8,
    },
}
