//! Per-stream data MIME types (Extensions/PerStreamDataMimeTypesDefinition.md).
//!
//! Two payloads, both made of `M|ID/Len` MIME headers (see [`MimeType`]):
//!
//! * `message/x.rsocket.mime-type.v0` ([`DataMimeType`]): exactly one MIME type, the data MIME
//!   type of this stream's payloads (overriding the one given in SETUP);
//! * `message/x.rsocket.accept-mime-types.v0` ([`AcceptMimeTypes`]): one or more MIME types the
//!   requester accepts in response data.

use bytes::{Bytes, BytesMut};

use super::error::{Location, MetadataError};
use super::mime::MimeType;
use super::reader::Reader;

/// `message/x.rsocket.mime-type.v0`: the data MIME type of one stream.
///
/// ```
/// use rsocket_messaging::metadata::{DataMimeType, WellKnownMimeType};
///
/// let json = DataMimeType(WellKnownMimeType::APPLICATION_JSON.into());
/// assert_eq!(&json.to_bytes()[..], &[0x85]);
/// assert_eq!(DataMimeType::decode(&[0x85]).unwrap(), json);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataMimeType(pub MimeType);

impl DataMimeType {
    /// Decodes the payload: exactly one MIME type, nothing after it.
    pub fn decode(buf: &[u8]) -> Result<Self, MetadataError> {
        let at = Location::DataMimeType;
        let mut r = Reader::new(buf);
        let mime = MimeType::decode(&mut r, at)?;
        if !r.is_empty() {
            return Err(MetadataError::TrailingBytes {
                at,
                count: r.remaining(),
            });
        }
        Ok(Self(mime))
    }

    /// Bytes the encoded payload takes.
    pub fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    /// Appends the encoded payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        self.0.encode(dst);
    }

    /// The encoded payload as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

impl From<MimeType> for DataMimeType {
    fn from(mime: MimeType) -> Self {
        Self(mime)
    }
}

/// `message/x.rsocket.accept-mime-types.v0`: the data MIME types a requester accepts, in order
/// of the requester's listing. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AcceptMimeTypes(Vec<MimeType>);

impl AcceptMimeTypes {
    /// Default bound on the number of MIME types [`decode`](Self::decode) accepts: 64.
    ///
    /// A well-known type takes a single byte, so the bound keeps a large metadata from
    /// becoming a long list.
    pub const DEFAULT_MAX_MIME_TYPES: usize = 64;

    /// The list, which must not be empty.
    pub fn new(mime_types: Vec<MimeType>) -> Result<Self, MetadataError> {
        if mime_types.is_empty() {
            return Err(MetadataError::Empty {
                at: Location::AcceptMimeTypes,
            });
        }
        Ok(Self(mime_types))
    }

    /// A list of one.
    pub fn one(mime: impl Into<MimeType>) -> Self {
        Self(vec![mime.into()])
    }

    /// Appends a MIME type.
    pub fn push(&mut self, mime: impl Into<MimeType>) -> &mut Self {
        self.0.push(mime.into());
        self
    }

    /// The MIME types, in order.
    pub fn mime_types(&self) -> &[MimeType] {
        &self.0
    }

    /// Iterates over the MIME types, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, MimeType> {
        self.0.iter()
    }

    /// Whether `mime` [matches](MimeType::matches) one of the accepted types.
    pub fn accepts(&self, mime: &MimeType) -> bool {
        self.0.iter().any(|m| m.matches(mime))
    }

    /// Decodes the payload with the [default limit](Self::DEFAULT_MAX_MIME_TYPES).
    pub fn decode(buf: &[u8]) -> Result<Self, MetadataError> {
        Self::decode_with_limit(buf, Self::DEFAULT_MAX_MIME_TYPES)
    }

    /// Decodes the payload: one to `max` MIME types.
    pub fn decode_with_limit(buf: &[u8], max: usize) -> Result<Self, MetadataError> {
        let mut r = Reader::new(buf);
        let mut list = Vec::new();
        while !r.is_empty() {
            if list.len() == max {
                return Err(MetadataError::TooManyItems {
                    at: Location::AcceptMimeTypes,
                    items: "MIME types",
                    limit: max,
                });
            }
            list.push(MimeType::decode(
                &mut r,
                Location::AcceptMimeType(list.len()),
            )?);
        }
        Self::new(list)
    }

    /// Bytes the encoded payload takes.
    pub fn encoded_len(&self) -> usize {
        self.0.iter().map(MimeType::encoded_len).sum()
    }

    /// Appends the encoded payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        for mime in &self.0 {
            mime.encode(dst);
        }
    }

    /// The encoded payload as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

impl<'a> IntoIterator for &'a AcceptMimeTypes {
    type Item = &'a MimeType;
    type IntoIter = std::slice::Iter<'a, MimeType>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::mime::WellKnownMimeType;

    #[test]
    fn data_mime_type_custom_round_trip() {
        let mime = DataMimeType(MimeType::parse("application/x.avro+v2").expect("ascii"));
        let wire = mime.to_bytes();
        assert_eq!(wire[0] as usize, "application/x.avro+v2".len() - 1);
        assert_eq!(DataMimeType::decode(&wire), Ok(mime));
    }

    #[test]
    fn data_mime_type_rejects_empty_and_trailing() {
        assert!(matches!(
            DataMimeType::decode(&[]),
            Err(MetadataError::Truncated {
                at: Location::DataMimeType,
                ..
            })
        ));
        assert_eq!(
            DataMimeType::decode(&[0x85, 0x81]),
            Err(MetadataError::TrailingBytes {
                at: Location::DataMimeType,
                count: 1
            })
        );
    }

    #[test]
    fn accept_list_round_trip_keeps_order_and_forms() {
        let mut accept = AcceptMimeTypes::one(WellKnownMimeType::APPLICATION_CBOR);
        accept
            .push(MimeType::parse("application/x.custom").expect("ascii"))
            .push(WellKnownMimeType::APPLICATION_JSON);
        let wire = accept.to_bytes();
        assert_eq!(wire[0], 0x81);
        assert_eq!(wire[wire.len() - 1], 0x85);
        let back = AcceptMimeTypes::decode(&wire).expect("valid");
        assert_eq!(back, accept);
        assert!(back.accepts(&WellKnownMimeType::APPLICATION_JSON.into()));
        assert!(!back.accepts(&WellKnownMimeType::TEXT_PLAIN.into()));
    }

    #[test]
    fn accept_list_errors() {
        assert_eq!(
            AcceptMimeTypes::decode(&[]),
            Err(MetadataError::Empty {
                at: Location::AcceptMimeTypes
            })
        );
        assert_eq!(
            AcceptMimeTypes::decode(&[0x85, 0x03, b'a']).map_err(|e| e.to_string()),
            Err("accepted MIME type 1: MIME type length 4 exceeds remaining 1 bytes".to_owned())
        );
        let many = [0x85u8; 3];
        assert!(AcceptMimeTypes::decode_with_limit(&many, 3).is_ok());
        assert!(matches!(
            AcceptMimeTypes::decode_with_limit(&many, 2),
            Err(MetadataError::TooManyItems { limit: 2, .. })
        ));
        assert!(AcceptMimeTypes::new(Vec::new()).is_err());
    }
}
