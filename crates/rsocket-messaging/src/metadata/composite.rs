//! Composite metadata: `message/x.rsocket.composite-metadata.v0` (Extensions/CompositeMetadata.md).
//!
//! A sequence of entries, each a MIME type and a length-prefixed content:
//!
//! ```text
//! +-+-------------+---------------------------+------------------------+-----------------+
//! |M| MIME ID/Len | MIME string (if M=0)  ... | content length (u24 BE)| content      ... |
//! +-+-------------+---------------------------+------------------------+-----------------+
//! ```
//!
//! Decoding is zero-copy: each [`Entry::content`] is a [`Bytes`] slice of the input buffer.

use bytes::{BufMut, Bytes, BytesMut};

use super::auth::Authentication;
use super::error::{Location, MetadataError};
use super::mime::{MimeType, WellKnownMimeType};
use super::reader::Reader;
use super::routing::RoutingMetadata;

/// Largest content of one entry: its length field is 24 bits.
pub const MAX_ENTRY_CONTENT_LEN: usize = 0xFF_FFFF;

/// One metadata entry: a MIME type and the content it describes.
///
/// The content is at most [`MAX_ENTRY_CONTENT_LEN`] bytes (checked by [`Entry::new`]), so an
/// entry always encodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    mime: MimeType,
    content: Bytes,
}

impl Entry {
    /// Builds an entry, checking that `content` fits the 24-bit length field.
    pub fn new(
        mime: impl Into<MimeType>,
        content: impl Into<Bytes>,
    ) -> Result<Self, MetadataError> {
        let content = content.into();
        if content.len() > MAX_ENTRY_CONTENT_LEN {
            return Err(MetadataError::InvalidLength {
                at: Location::Value,
                field: "composite metadata entry content",
                len: content.len(),
                min: 0,
                max: MAX_ENTRY_CONTENT_LEN,
            });
        }
        Ok(Self {
            mime: mime.into(),
            content,
        })
    }

    /// How the content is encoded.
    pub fn mime(&self) -> &MimeType {
        &self.mime
    }

    /// The entry's bytes; after decoding, a slice of the received buffer.
    pub fn content(&self) -> &Bytes {
        &self.content
    }

    /// The MIME type and the content.
    pub fn into_parts(self) -> (MimeType, Bytes) {
        (self.mime, self.content)
    }

    /// Bytes this entry takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.mime.encoded_len() + 3 + self.content.len()
    }

    /// Appends the encoded entry to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        self.mime.encode(dst);
        // `new` and the decoder keep the length within 24 bits.
        let [_, a, b, c] = (self.content.len() as u32).to_be_bytes();
        dst.put_slice(&[a, b, c]);
        dst.put_slice(&self.content);
    }
}

/// Composite metadata: an ordered list of [`Entry`]s. Order is preserved, and several entries
/// may share a MIME type (the spec allows both).
///
/// # Limits
///
/// [`decode`](Self::decode) accepts at most [`DEFAULT_MAX_ENTRIES`](Self::DEFAULT_MAX_ENTRIES)
/// entries; [`decode_with_limit`](Self::decode_with_limit) sets another bound. Use
/// [`CompositeMetadataReader`] to walk entries without collecting them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CompositeMetadata {
    entries: Vec<Entry>,
}

impl CompositeMetadata {
    /// Default bound on the number of entries [`decode`](Self::decode) accepts: 128.
    ///
    /// Real requests carry a handful (route, auth, tracing, MIME types). An entry can be as
    /// small as 4 bytes, so without a bound a 16 MiB metadata could make the decoder allocate
    /// millions of entries: 128 keeps the decoded form within a few KiB of bookkeeping.
    pub const DEFAULT_MAX_ENTRIES: usize = 128;

    /// An empty composite.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes composite metadata with the [default entry
    /// limit](Self::DEFAULT_MAX_ENTRIES). Entry contents are slices of `buf`.
    pub fn decode(buf: &Bytes) -> Result<Self, MetadataError> {
        Self::decode_with_limit(buf, Self::DEFAULT_MAX_ENTRIES)
    }

    /// Decodes composite metadata holding at most `max_entries` entries.
    pub fn decode_with_limit(buf: &Bytes, max_entries: usize) -> Result<Self, MetadataError> {
        let mut entries = Vec::new();
        for entry in CompositeMetadataReader::new(buf) {
            if entries.len() == max_entries {
                return Err(MetadataError::TooManyItems {
                    at: Location::Composite,
                    items: "entries",
                    limit: max_entries,
                });
            }
            entries.push(entry?);
        }
        Ok(Self { entries })
    }

    /// Appends an entry, checking that `content` fits the 24-bit length field. Returns `self`
    /// so pushes chain with `?`.
    pub fn push(
        &mut self,
        mime: impl Into<MimeType>,
        content: impl Into<Bytes>,
    ) -> Result<&mut Self, MetadataError> {
        self.entries.push(Entry::new(mime, content)?);
        Ok(self)
    }

    /// Appends a `message/x.rsocket.routing.v0` entry.
    pub fn push_routing(&mut self, routing: &RoutingMetadata) -> Result<&mut Self, MetadataError> {
        let content = routing.to_bytes();
        self.push(WellKnownMimeType::MESSAGE_RSOCKET_ROUTING, content)
    }

    /// Appends a `message/x.rsocket.authentication.v0` entry.
    pub fn push_authentication(
        &mut self,
        auth: &Authentication,
    ) -> Result<&mut Self, MetadataError> {
        let content = auth.to_bytes()?;
        self.push(WellKnownMimeType::MESSAGE_RSOCKET_AUTHENTICATION, content)
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Iterates over the entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry whose MIME type [matches](MimeType::matches) `mime` (so a well-known id
    /// also finds the same type sent as a string).
    pub fn find(&self, mime: impl Into<MimeType>) -> Option<&Entry> {
        let mime = mime.into();
        self.entries.iter().find(|e| e.mime.matches(&mime))
    }

    /// Every entry whose MIME type [matches](MimeType::matches) `mime`, in order.
    pub fn find_all(&self, mime: impl Into<MimeType>) -> impl Iterator<Item = &Entry> {
        let mime = mime.into();
        self.entries.iter().filter(move |e| e.mime.matches(&mime))
    }

    /// Decodes the first routing entry, if any.
    pub fn routing(&self) -> Result<Option<RoutingMetadata>, MetadataError> {
        self.find(WellKnownMimeType::MESSAGE_RSOCKET_ROUTING)
            .map(|e| RoutingMetadata::decode(&e.content))
            .transpose()
    }

    /// Decodes the first authentication entry, if any.
    pub fn authentication(&self) -> Result<Option<Authentication>, MetadataError> {
        self.find(WellKnownMimeType::MESSAGE_RSOCKET_AUTHENTICATION)
            .map(|e| Authentication::decode(&e.content))
            .transpose()
    }

    /// Bytes the encoded composite takes.
    pub fn encoded_len(&self) -> usize {
        self.entries.iter().map(Entry::encoded_len).sum()
    }

    /// Appends the encoded composite to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        for e in &self.entries {
            e.encode(dst);
        }
    }

    /// The encoded composite as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

impl From<Vec<Entry>> for CompositeMetadata {
    fn from(entries: Vec<Entry>) -> Self {
        Self { entries }
    }
}

impl FromIterator<Entry> for CompositeMetadata {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        Self {
            entries: iter.into_iter().collect(),
        }
    }
}

impl Extend<Entry> for CompositeMetadata {
    fn extend<I: IntoIterator<Item = Entry>>(&mut self, iter: I) {
        self.entries.extend(iter);
    }
}

impl IntoIterator for CompositeMetadata {
    type Item = Entry;
    type IntoIter = std::vec::IntoIter<Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a CompositeMetadata {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// A lazy decoder over composite metadata: yields one `Result<Entry, _>` per entry, and stops
/// after the first error. It allocates nothing but custom MIME strings, so a router can look
/// for its route without collecting the other entries.
///
/// It has no entry limit of its own: it does constant work per yielded item, and the caller
/// decides how many to pull.
///
/// ```
/// use bytes::Bytes;
/// use rsocket_messaging::metadata::{CompositeMetadataReader, WellKnownMimeType};
///
/// let buf = Bytes::from_static(&[0xFE, 0x00, 0x00, 0x05, 0x04, b'e', b'c', b'h', b'o']);
/// let route = CompositeMetadataReader::new(&buf)
///     .filter_map(Result::ok)
///     .find(|e| e.mime().well_known() == Some(WellKnownMimeType::MESSAGE_RSOCKET_ROUTING));
/// assert_eq!(route.unwrap().content(), &b"\x04echo"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct CompositeMetadataReader<'a> {
    buf: &'a Bytes,
    reader: Reader<'a>,
    index: usize,
    failed: bool,
}

impl<'a> CompositeMetadataReader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a Bytes) -> Self {
        Self {
            buf,
            reader: Reader::new(buf),
            index: 0,
            failed: false,
        }
    }

    fn next_entry(&mut self) -> Result<Entry, MetadataError> {
        let at = Location::CompositeEntry(self.index);
        let mime = MimeType::decode(&mut self.reader, at)?;
        let len = self.reader.u24(at, "content length field")?;
        let content = self.reader.take(len as usize, at, "content")?;
        Ok(Entry {
            mime,
            // `content` was read out of `buf`, so it lies within it.
            content: self.buf.slice_ref(content),
        })
    }
}

impl Iterator for CompositeMetadataReader<'_> {
    type Item = Result<Entry, MetadataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let result = self.next_entry();
        self.index += 1;
        self.failed = result.is_err();
        Some(result)
    }
}

impl std::iter::FusedIterator for CompositeMetadataReader<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::mime::CustomMimeType;

    fn bytes(b: &[u8]) -> Bytes {
        Bytes::copy_from_slice(b)
    }

    #[test]
    fn empty_input_is_empty_composite() {
        let md = CompositeMetadata::decode(&Bytes::new()).expect("empty is valid");
        assert!(md.is_empty());
        assert_eq!(md.to_bytes(), Bytes::new());
    }

    #[test]
    fn decoded_content_is_a_slice_of_the_input() {
        let input = bytes(&[0x85, 0, 0, 2, b'{', b'}', 0x81, 0, 0, 0]);
        let md = CompositeMetadata::decode(&input).expect("valid");
        assert_eq!(md.len(), 2);
        assert_eq!(md.entries()[0].content().as_ptr(), input[4..].as_ptr());
        assert_eq!(md.entries()[1].content(), &Bytes::new());
        assert_eq!(
            md.entries()[1].mime(),
            &MimeType::from(WellKnownMimeType::APPLICATION_CBOR)
        );
    }

    #[test]
    fn content_longer_than_rest_names_entry_and_sizes() {
        // Entry 0 is fine (4 bytes); entry 1 announces 700 content bytes with 12 left.
        let mut input = vec![0x85, 0, 0, 0, 0x85, 0x00, 0x02, 0xBC];
        input.extend_from_slice(&[0u8; 12]);
        let err = CompositeMetadata::decode(&bytes(&input)).expect_err("truncated");
        assert_eq!(
            err.to_string(),
            "composite metadata entry 1: content length 700 exceeds remaining 12 bytes"
        );
    }

    #[test]
    fn every_truncation_point_is_an_error_not_a_panic() {
        let mut md = CompositeMetadata::new();
        md.push(WellKnownMimeType::TEXT_PLAIN, &b"hello"[..])
            .and_then(|m| {
                m.push(
                    CustomMimeType::new("application/x.custom").expect("ascii"),
                    &b"world"[..],
                )
            })
            .expect("small entries");
        let full = md.to_bytes();
        for cut in 0..full.len() {
            let partial = full.slice(..cut);
            let result = CompositeMetadata::decode(&partial);
            // Cuts on an entry boundary decode to a prefix; all others fail.
            let boundary = cut == 0 || cut == md.entries()[0].encoded_len();
            assert_eq!(result.is_ok(), boundary, "cut at {cut}");
        }
        assert_eq!(CompositeMetadata::decode(&full), Ok(md));
    }

    #[test]
    fn header_errors_name_the_field() {
        let short_len = CompositeMetadata::decode(&bytes(&[0x85, 0, 0])).expect_err("short");
        assert_eq!(
            short_len.to_string(),
            "composite metadata entry 0: content length field needs 3 bytes but only 2 remain"
        );
        let short_mime = CompositeMetadata::decode(&bytes(&[120])).expect_err("short");
        assert_eq!(
            short_mime.to_string(),
            "composite metadata entry 0: MIME type length 121 exceeds remaining 0 bytes"
        );
        let non_ascii = CompositeMetadata::decode(&bytes(&[0x00, 0xE9, 0, 0, 0])).expect_err("é");
        assert_eq!(
            non_ascii,
            MetadataError::NotAscii {
                at: Location::CompositeEntry(0),
                field: "MIME type"
            }
        );
    }

    #[test]
    fn entry_limit_is_enforced() {
        let one = [0x86_u8, 0, 0, 0];
        let three: Vec<u8> = one.iter().copied().cycle().take(12).collect();
        let buf = bytes(&three);
        assert_eq!(
            CompositeMetadata::decode_with_limit(&buf, 3).map(|m| m.len()),
            Ok(3)
        );
        assert_eq!(
            CompositeMetadata::decode_with_limit(&buf, 2),
            Err(MetadataError::TooManyItems {
                at: Location::Composite,
                items: "entries",
                limit: 2
            })
        );
        let many: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(4 * (CompositeMetadata::DEFAULT_MAX_ENTRIES + 1))
            .collect();
        assert!(matches!(
            CompositeMetadata::decode(&bytes(&many)),
            Err(MetadataError::TooManyItems {
                limit: CompositeMetadata::DEFAULT_MAX_ENTRIES,
                ..
            })
        ));
    }

    #[test]
    fn push_rejects_content_over_24_bits() {
        let big = Bytes::from(vec![0u8; MAX_ENTRY_CONTENT_LEN + 1]);
        let mut md = CompositeMetadata::new();
        assert!(matches!(
            md.push(WellKnownMimeType::APPLICATION_OCTET_STREAM, big.clone()),
            Err(MetadataError::InvalidLength { len, .. }) if len == MAX_ENTRY_CONTENT_LEN + 1
        ));
        assert!(md.is_empty());
    }

    #[test]
    fn max_content_length_round_trips() {
        let content = Bytes::from(vec![7u8; MAX_ENTRY_CONTENT_LEN]);
        let mut md = CompositeMetadata::new();
        md.push(WellKnownMimeType::APPLICATION_OCTET_STREAM, content)
            .expect("exactly 2^24-1");
        let wire = md.to_bytes();
        assert_eq!(&wire[..4], &[0x86, 0xFF, 0xFF, 0xFF]);
        assert_eq!(CompositeMetadata::decode(&wire), Ok(md));
    }

    #[test]
    fn find_matches_both_wire_forms_and_keeps_order() {
        let mut md = CompositeMetadata::new();
        md.push(WellKnownMimeType::TEXT_PLAIN, &b"a"[..])
            .and_then(|m| m.push(WellKnownMimeType::APPLICATION_JSON, &b"b"[..]))
            .and_then(|m| m.push(CustomMimeType::new("text/plain").expect("ascii"), &b"c"[..]))
            .expect("small entries");
        let found = md.find(WellKnownMimeType::TEXT_PLAIN).expect("present");
        assert_eq!(found.content(), &b"a"[..]);
        let all: Vec<&[u8]> = md
            .find_all(WellKnownMimeType::TEXT_PLAIN)
            .map(|e| &e.content()[..])
            .collect();
        assert_eq!(all, vec![&b"a"[..], &b"c"[..]]);
        assert!(md.find(WellKnownMimeType::APPLICATION_CBOR).is_none());
    }

    #[test]
    fn reader_stops_after_first_error() {
        let buf = bytes(&[0x85, 0, 0, 0, 0x85, 0, 0, 9, 0x85, 0, 0, 0]);
        let items: Vec<_> = CompositeMetadataReader::new(&buf).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
    }
}
