//! The application's unit of exchange: data plus optional metadata.

use bytes::Bytes;

/// Data and optional metadata carried by requests and responses.
///
/// Both halves are reference-counted [`Bytes`]: payloads decoded from the wire are slices of the
/// received buffer, and cloning a payload never copies its contents.
///
/// `metadata: None` and `metadata: Some(empty)` are different on the wire (the M flag is set only
/// for the latter) and both survive a round trip.
///
/// ```
/// use rsocket_proto::Payload;
/// let p = Payload::from("hello").with_metadata("route");
/// assert_eq!(&p.data[..], b"hello");
/// assert_eq!(p.metadata.as_deref(), Some(&b"route"[..]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Payload {
    /// The data.
    pub data: Bytes,
    /// The metadata, if any.
    pub metadata: Option<Bytes>,
}

impl Payload {
    /// A payload with data and no metadata.
    pub fn new(data: impl Into<Bytes>) -> Self {
        Payload {
            data: data.into(),
            metadata: None,
        }
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: impl Into<Bytes>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// Bytes of data plus metadata.
    pub fn len(&self) -> usize {
        self.data.len() + self.metadata.as_ref().map_or(0, Bytes::len)
    }

    /// True when there is neither data nor metadata.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data as UTF-8, if it is.
    pub fn data_utf8(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// The metadata as UTF-8, if present and valid.
    pub fn metadata_utf8(&self) -> Option<&str> {
        self.metadata
            .as_deref()
            .and_then(|m| std::str::from_utf8(m).ok())
    }
}

impl From<Bytes> for Payload {
    fn from(data: Bytes) -> Self {
        Payload::new(data)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(data: Vec<u8>) -> Self {
        Payload::new(data)
    }
}

impl From<&'static [u8]> for Payload {
    fn from(data: &'static [u8]) -> Self {
        Payload::new(Bytes::from_static(data))
    }
}

impl From<&'static str> for Payload {
    fn from(data: &'static str) -> Self {
        Payload::new(Bytes::from_static(data.as_bytes()))
    }
}

impl From<String> for Payload {
    fn from(data: String) -> Self {
        Payload::new(data)
    }
}

impl From<(Bytes, Bytes)> for Payload {
    /// `(data, metadata)`.
    fn from((data, metadata): (Bytes, Bytes)) -> Self {
        Payload {
            data,
            metadata: Some(metadata),
        }
    }
}
