//! MIME types as they travel in metadata: well-known ids (Extensions/WellKnownMimeTypes.md) and
//! custom US-ASCII strings.
//!
//! On the wire a MIME type takes one header byte `M|ID/Len`:
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-------------+
//! |M| MIME ID/Len |  M=1: 7-bit well-known id, nothing follows
//! +-+-------------+  M=0: (string length - 1), then that many US-ASCII bytes
//! ```
//!
//! The length is stored minus one (as rsocket-java and rsocket-js do), so custom strings are
//! 1..=128 bytes long.

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, BytesMut};

use super::error::{Location, MetadataError};
use super::reader::Reader;

/// Header bit that marks a well-known id (as opposed to a string length).
pub(crate) const WELL_KNOWN_FLAG: u8 = 0x80;
/// Mask of the 7-bit id or length in a header byte.
pub(crate) const ID_MASK: u8 = 0x7F;
/// Shortest custom MIME or auth type string, in bytes.
pub(crate) const MIN_NAME_LEN: usize = 1;
/// Longest custom MIME or auth type string, in bytes: the 7-bit field holds `length - 1`.
pub(crate) const MAX_NAME_LEN: usize = 128;

/// A well-known MIME type: the 7-bit id of Extensions/WellKnownMimeTypes.md.
///
/// This is an *open* newtype: any id in `0..=0x7F` is representable, including ids the spec
/// reserves but does not (yet) name, so such ids survive a decode/encode round trip. Named ids
/// have associated constants; [`as_str`](Self::as_str) returns `None` for the others.
///
/// ```
/// use rsocket_messaging::metadata::WellKnownMimeType;
///
/// let json = WellKnownMimeType::from_str("application/json").unwrap();
/// assert_eq!(json, WellKnownMimeType::APPLICATION_JSON);
/// assert_eq!(json.id(), 0x05);
/// assert_eq!(json.as_str(), Some("application/json"));
///
/// let reserved = WellKnownMimeType::from_id(0x78).unwrap();
/// assert_eq!(reserved.as_str(), None);
/// assert_eq!(reserved.id(), 0x78);
/// assert!(WellKnownMimeType::from_id(0x80).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WellKnownMimeType(u8);

macro_rules! well_known_mime_types {
    ($($name:ident = $id:literal => $mime:literal;)*) => {
        impl WellKnownMimeType {
            $(
                #[doc = concat!("`", $mime, "` (id `", stringify!($id), "`).")]
                pub const $name: Self = Self($id);
            )*

            /// Every MIME type the spec names, in id order.
            pub const ALL: &'static [Self] = &[$(Self::$name),*];

            /// The MIME type string of a named id; `None` for a reserved id.
            pub const fn as_str(self) -> Option<&'static str> {
                match self.0 {
                    $($id => Some($mime),)*
                    _ => None,
                }
            }

            /// Looks up the id of a MIME type string. The match is exact (as in rsocket-java),
            /// so `"Application/JSON"` is not compressed and travels as a custom string.
            #[allow(clippy::should_implement_trait)] // a lookup that may find nothing: `Option`
            pub fn from_str(mime: &str) -> Option<Self> {
                match mime {
                    $($mime => Some(Self::$name),)*
                    _ => None,
                }
            }
        }
    };
}

well_known_mime_types! {
    APPLICATION_AVRO = 0x00 => "application/avro";
    APPLICATION_CBOR = 0x01 => "application/cbor";
    APPLICATION_GRAPHQL = 0x02 => "application/graphql";
    APPLICATION_GZIP = 0x03 => "application/gzip";
    APPLICATION_JAVASCRIPT = 0x04 => "application/javascript";
    APPLICATION_JSON = 0x05 => "application/json";
    APPLICATION_OCTET_STREAM = 0x06 => "application/octet-stream";
    APPLICATION_PDF = 0x07 => "application/pdf";
    APPLICATION_THRIFT = 0x08 => "application/vnd.apache.thrift.binary";
    APPLICATION_PROTOBUF = 0x09 => "application/vnd.google.protobuf";
    APPLICATION_XML = 0x0A => "application/xml";
    APPLICATION_ZIP = 0x0B => "application/zip";
    AUDIO_AAC = 0x0C => "audio/aac";
    AUDIO_MP3 = 0x0D => "audio/mp3";
    AUDIO_MP4 = 0x0E => "audio/mp4";
    AUDIO_MPEG3 = 0x0F => "audio/mpeg3";
    AUDIO_MPEG = 0x10 => "audio/mpeg";
    AUDIO_OGG = 0x11 => "audio/ogg";
    AUDIO_OPUS = 0x12 => "audio/opus";
    AUDIO_VORBIS = 0x13 => "audio/vorbis";
    IMAGE_BMP = 0x14 => "image/bmp";
    IMAGE_GIF = 0x15 => "image/gif";
    IMAGE_HEIC_SEQUENCE = 0x16 => "image/heic-sequence";
    IMAGE_HEIC = 0x17 => "image/heic";
    IMAGE_HEIF_SEQUENCE = 0x18 => "image/heif-sequence";
    IMAGE_HEIF = 0x19 => "image/heif";
    IMAGE_JPEG = 0x1A => "image/jpeg";
    IMAGE_PNG = 0x1B => "image/png";
    IMAGE_TIFF = 0x1C => "image/tiff";
    MULTIPART_MIXED = 0x1D => "multipart/mixed";
    TEXT_CSS = 0x1E => "text/css";
    TEXT_CSV = 0x1F => "text/csv";
    TEXT_HTML = 0x20 => "text/html";
    TEXT_PLAIN = 0x21 => "text/plain";
    TEXT_XML = 0x22 => "text/xml";
    VIDEO_H264 = 0x23 => "video/H264";
    VIDEO_H265 = 0x24 => "video/H265";
    VIDEO_VP8 = 0x25 => "video/VP8";
    APPLICATION_HESSIAN = 0x26 => "application/x-hessian";
    APPLICATION_JAVA_OBJECT = 0x27 => "application/x-java-object";
    APPLICATION_CLOUDEVENTS_JSON = 0x28 => "application/cloudevents+json";
    APPLICATION_CAPNP = 0x29 => "application/x-capnp";
    APPLICATION_FLATBUFFERS = 0x2A => "application/x-flatbuffers";
    MESSAGE_RSOCKET_MIMETYPE = 0x7A => "message/x.rsocket.mime-type.v0";
    MESSAGE_RSOCKET_ACCEPT_MIMETYPES = 0x7B => "message/x.rsocket.accept-mime-types.v0";
    MESSAGE_RSOCKET_AUTHENTICATION = 0x7C => "message/x.rsocket.authentication.v0";
    MESSAGE_RSOCKET_TRACING_ZIPKIN = 0x7D => "message/x.rsocket.tracing-zipkin.v0";
    MESSAGE_RSOCKET_ROUTING = 0x7E => "message/x.rsocket.routing.v0";
    MESSAGE_RSOCKET_COMPOSITE_METADATA = 0x7F => "message/x.rsocket.composite-metadata.v0";
}

impl WellKnownMimeType {
    /// The largest id: ids are 7 bits.
    pub const MAX_ID: u8 = ID_MASK;

    /// The well-known type with this id, named or reserved; `None` if `id > 0x7F`.
    pub const fn from_id(id: u8) -> Option<Self> {
        if id <= Self::MAX_ID {
            Some(Self(id))
        } else {
            None
        }
    }

    /// The 7-bit id.
    pub const fn id(self) -> u8 {
        self.0
    }

    /// Whether the spec names this id (as opposed to reserving it).
    pub const fn is_named(self) -> bool {
        self.as_str().is_some()
    }
}

impl TryFrom<u8> for WellKnownMimeType {
    type Error = MetadataError;

    fn try_from(id: u8) -> Result<Self, MetadataError> {
        Self::from_id(id).ok_or(MetadataError::IdOutOfRange {
            at: Location::Value,
            field: "well-known MIME type",
            id,
        })
    }
}

impl From<WellKnownMimeType> for u8 {
    fn from(mime: WellKnownMimeType) -> u8 {
        mime.0
    }
}

impl fmt::Debug for WellKnownMimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => write!(f, "WellKnownMimeType({:#04x} {s})", self.0),
            None => write!(f, "WellKnownMimeType({:#04x} reserved)", self.0),
        }
    }
}

impl fmt::Display for WellKnownMimeType {
    /// The MIME string, or `reserved(0xNN)` for an unnamed id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => write!(f, "reserved({:#04x})", self.0),
        }
    }
}

/// Checks a custom MIME or auth type name: US-ASCII, 1..=128 bytes.
pub(crate) fn check_ascii_name(
    name: &[u8],
    at: Location,
    field: &'static str,
) -> Result<(), MetadataError> {
    if !(MIN_NAME_LEN..=MAX_NAME_LEN).contains(&name.len()) {
        return Err(MetadataError::InvalidLength {
            at,
            field,
            len: name.len(),
            min: MIN_NAME_LEN,
            max: MAX_NAME_LEN,
        });
    }
    if !name.is_ascii() {
        return Err(MetadataError::NotAscii { at, field });
    }
    Ok(())
}

/// A MIME type sent as a string: US-ASCII, 1..=128 bytes (checked when built).
///
/// ```
/// use rsocket_messaging::metadata::CustomMimeType;
///
/// let legacy = CustomMimeType::new("message/x.rsocket.authentication.bearer.v0").unwrap();
/// assert_eq!(legacy.as_str(), "message/x.rsocket.authentication.bearer.v0");
/// assert!(CustomMimeType::new("").is_err());
/// assert!(CustomMimeType::new("text/plé").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomMimeType(String);

impl CustomMimeType {
    /// Longest custom MIME type, in bytes.
    pub const MAX_LEN: usize = MAX_NAME_LEN;

    /// Checks and copies a MIME type string.
    pub fn new(mime: &str) -> Result<Self, MetadataError> {
        check_ascii_name(mime.as_bytes(), Location::Value, "custom MIME type")?;
        Ok(Self(mime.to_owned()))
    }

    /// The MIME type string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a string of `len` bytes from the wire.
    fn decode(
        r: &mut Reader<'_>,
        len: usize,
        at: Location,
        field: &'static str,
    ) -> Result<Self, MetadataError> {
        let raw = r.take(len, at, field)?;
        check_ascii_name(raw, at, field)?;
        // ASCII is UTF-8, so this conversion cannot fail; map the impossible case anyway
        // rather than unwrap.
        let s = std::str::from_utf8(raw).map_err(|_| MetadataError::NotAscii { at, field })?;
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for CustomMimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CustomMimeType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A MIME type as metadata carries it: a well-known id or a custom string.
///
/// The two are kept apart so a decoded value re-encodes to exactly the bytes received (a peer
/// may send `"text/plain"` as a string). Use [`MimeType::parse`] to build one from a string with
/// well-known types compressed to their id, and [`MimeType::matches`] to compare across the two
/// forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MimeType {
    /// A well-known id, one byte on the wire.
    WellKnown(WellKnownMimeType),
    /// A custom US-ASCII string.
    Custom(CustomMimeType),
}

impl MimeType {
    /// Builds a MIME type from a string, compressing well-known types to their id.
    ///
    /// ```
    /// use rsocket_messaging::metadata::{MimeType, WellKnownMimeType};
    ///
    /// assert_eq!(
    ///     MimeType::parse("message/x.rsocket.routing.v0").unwrap(),
    ///     MimeType::WellKnown(WellKnownMimeType::MESSAGE_RSOCKET_ROUTING),
    /// );
    /// assert!(matches!(MimeType::parse("application/x.custom").unwrap(), MimeType::Custom(_)));
    /// ```
    pub fn parse(mime: &str) -> Result<Self, MetadataError> {
        match WellKnownMimeType::from_str(mime) {
            Some(known) => Ok(Self::WellKnown(known)),
            None => CustomMimeType::new(mime).map(Self::Custom),
        }
    }

    /// The MIME type string; `None` for a reserved well-known id.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::WellKnown(known) => known.as_str(),
            Self::Custom(custom) => Some(custom.as_str()),
        }
    }

    /// The well-known type, if this is one.
    pub fn well_known(&self) -> Option<WellKnownMimeType> {
        match self {
            Self::WellKnown(known) => Some(*known),
            Self::Custom(_) => None,
        }
    }

    /// Whether two MIME types name the same type, whatever their wire form: two well-known
    /// ids match when equal; otherwise the strings are compared ASCII-case-insensitively
    /// (MIME types are case-insensitive, RFC 2045 §5.1). A reserved id matches only itself.
    pub fn matches(&self, other: &MimeType) -> bool {
        match (self, other) {
            (Self::WellKnown(a), Self::WellKnown(b)) => a == b,
            _ => match (self.as_str(), other.as_str()) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            },
        }
    }

    /// Bytes this MIME type takes on the wire (header byte plus string).
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::WellKnown(_) => 1,
            Self::Custom(custom) => 1 + custom.as_str().len(),
        }
    }

    /// Writes the `M|ID/Len` header byte and, for a custom type, the string.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Self::WellKnown(known) => dst.put_u8(WELL_KNOWN_FLAG | known.id()),
            Self::Custom(custom) => {
                let s = custom.as_str().as_bytes();
                // `CustomMimeType` guarantees 1..=128 bytes, so `len - 1` fits in 7 bits.
                dst.put_u8((s.len() - 1) as u8);
                dst.put_slice(s);
            }
        }
    }

    /// Reads one `M|ID/Len` header and, for a custom type, its string.
    pub(crate) fn decode(r: &mut Reader<'_>, at: Location) -> Result<Self, MetadataError> {
        let header = r.u8(at, "MIME type header")?;
        if header & WELL_KNOWN_FLAG != 0 {
            Ok(Self::WellKnown(WellKnownMimeType(header & ID_MASK)))
        } else {
            let len = usize::from(header) + 1;
            CustomMimeType::decode(r, len, at, "MIME type").map(Self::Custom)
        }
    }
}

impl From<WellKnownMimeType> for MimeType {
    fn from(known: WellKnownMimeType) -> Self {
        Self::WellKnown(known)
    }
}

impl From<CustomMimeType> for MimeType {
    fn from(custom: CustomMimeType) -> Self {
        Self::Custom(custom)
    }
}

impl FromStr for MimeType {
    type Err = MetadataError;

    /// Same as [`MimeType::parse`].
    fn from_str(mime: &str) -> Result<Self, MetadataError> {
        Self::parse(mime)
    }
}

impl fmt::Display for MimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WellKnown(known) => known.fmt(f),
            Self::Custom(custom) => custom.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of Extensions/WellKnownMimeTypes.md, re-typed from the spec table.
    const SPEC_TABLE: &[(&str, u8)] = &[
        ("application/avro", 0x00),
        ("application/cbor", 0x01),
        ("application/graphql", 0x02),
        ("application/gzip", 0x03),
        ("application/javascript", 0x04),
        ("application/json", 0x05),
        ("application/octet-stream", 0x06),
        ("application/pdf", 0x07),
        ("application/vnd.apache.thrift.binary", 0x08),
        ("application/vnd.google.protobuf", 0x09),
        ("application/xml", 0x0A),
        ("application/zip", 0x0B),
        ("audio/aac", 0x0C),
        ("audio/mp3", 0x0D),
        ("audio/mp4", 0x0E),
        ("audio/mpeg3", 0x0F),
        ("audio/mpeg", 0x10),
        ("audio/ogg", 0x11),
        ("audio/opus", 0x12),
        ("audio/vorbis", 0x13),
        ("image/bmp", 0x14),
        ("image/gif", 0x15),
        ("image/heic-sequence", 0x16),
        ("image/heic", 0x17),
        ("image/heif-sequence", 0x18),
        ("image/heif", 0x19),
        ("image/jpeg", 0x1A),
        ("image/png", 0x1B),
        ("image/tiff", 0x1C),
        ("multipart/mixed", 0x1D),
        ("text/css", 0x1E),
        ("text/csv", 0x1F),
        ("text/html", 0x20),
        ("text/plain", 0x21),
        ("text/xml", 0x22),
        ("video/H264", 0x23),
        ("video/H265", 0x24),
        ("video/VP8", 0x25),
        ("application/x-hessian", 0x26),
        ("application/x-java-object", 0x27),
        ("application/cloudevents+json", 0x28),
        ("application/x-capnp", 0x29),
        ("application/x-flatbuffers", 0x2A),
        ("message/x.rsocket.mime-type.v0", 0x7A),
        ("message/x.rsocket.accept-mime-types.v0", 0x7B),
        ("message/x.rsocket.authentication.v0", 0x7C),
        ("message/x.rsocket.tracing-zipkin.v0", 0x7D),
        ("message/x.rsocket.routing.v0", 0x7E),
        ("message/x.rsocket.composite-metadata.v0", 0x7F),
    ];

    #[test]
    fn every_spec_row_maps_both_ways() {
        assert_eq!(WellKnownMimeType::ALL.len(), SPEC_TABLE.len());
        for &(mime, id) in SPEC_TABLE {
            let known = WellKnownMimeType::from_str(mime).expect(mime);
            assert_eq!(known.id(), id, "{mime}");
            assert_eq!(
                WellKnownMimeType::from_id(id).and_then(|k| k.as_str()),
                Some(mime)
            );
        }
    }

    #[test]
    fn unnamed_ids_are_reserved_but_representable() {
        let named: Vec<u8> = SPEC_TABLE.iter().map(|&(_, id)| id).collect();
        for id in 0..=0x7F_u8 {
            let known = WellKnownMimeType::from_id(id).expect("7-bit id");
            assert_eq!(known.id(), id);
            assert_eq!(known.is_named(), named.contains(&id), "id {id:#04x}");
        }
        for id in 0x80..=0xFF_u8 {
            assert!(WellKnownMimeType::from_id(id).is_none());
            assert!(matches!(
                WellKnownMimeType::try_from(id),
                Err(MetadataError::IdOutOfRange { id: got, .. }) if got == id
            ));
        }
    }

    #[test]
    fn lookup_is_exact() {
        assert_eq!(WellKnownMimeType::from_str("Application/JSON"), None);
        assert_eq!(WellKnownMimeType::from_str("application/json "), None);
        assert_eq!(WellKnownMimeType::from_str(""), None);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(WellKnownMimeType::TEXT_PLAIN.to_string(), "text/plain");
        let reserved = WellKnownMimeType::from_id(0x78).expect("7-bit id");
        assert_eq!(reserved.to_string(), "reserved(0x78)");
        assert_eq!(format!("{reserved:?}"), "WellKnownMimeType(0x78 reserved)");
    }

    #[test]
    fn custom_names_are_checked() {
        assert!(CustomMimeType::new("w").is_ok());
        assert!(CustomMimeType::new(&"a".repeat(128)).is_ok());
        assert_eq!(
            CustomMimeType::new(&"a".repeat(129)),
            Err(MetadataError::InvalidLength {
                at: Location::Value,
                field: "custom MIME type",
                len: 129,
                min: 1,
                max: 128
            })
        );
        assert!(matches!(
            CustomMimeType::new("mime/typé"),
            Err(MetadataError::NotAscii { .. })
        ));
    }

    #[test]
    fn matches_across_wire_forms() {
        let known = MimeType::from(WellKnownMimeType::TEXT_PLAIN);
        let custom = MimeType::Custom(CustomMimeType::new("Text/Plain").expect("ascii"));
        assert_ne!(known, custom);
        assert!(known.matches(&custom));
        assert!(custom.matches(&known));
        let reserved = MimeType::from(WellKnownMimeType::from_id(0x50).expect("7-bit id"));
        assert!(reserved.matches(&reserved.clone()));
        assert!(!reserved.matches(&known));
    }

    #[test]
    fn header_encoding_follows_java_length_minus_one() {
        for (mime, first) in [("w", 0x00), ("ww", 0x01), ("custom/type", 0x0A)] {
            let mut dst = BytesMut::new();
            let m = MimeType::parse(mime).expect("ascii");
            m.encode(&mut dst);
            assert_eq!(dst[0], first, "{mime}");
            assert_eq!(&dst[1..], mime.as_bytes());
            assert_eq!(dst.len(), m.encoded_len());
            let mut r = Reader::new(&dst);
            assert_eq!(MimeType::decode(&mut r, Location::Value), Ok(m));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn decode_reports_short_string() {
        // Header 0x78 = custom string of 121 bytes; only 1 follows.
        let mut r = Reader::new(&[0x78, b'a']);
        assert_eq!(
            MimeType::decode(&mut r, Location::DataMimeType),
            Err(MetadataError::LengthExceedsRemaining {
                at: Location::DataMimeType,
                field: "MIME type",
                len: 121,
                remaining: 1
            })
        );
    }
}
