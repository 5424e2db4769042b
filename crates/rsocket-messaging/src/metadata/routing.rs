//! Routing metadata: `message/x.rsocket.routing.v0` (Extensions/Routing.md).
//!
//! Any number of tags, each a length byte and that many UTF-8 bytes:
//!
//! ```text
//! +---------------+---------------------------+---------------+------------
//! |  Tag Length   |  Tag (UTF-8)          ... |  Tag Length   |  Tag   ...
//! +---------------+---------------------------+---------------+------------
//! ```
//!
//! The first tag is, by convention (Spring, rsocket-java), *the* route.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{Location, MetadataError};

/// Routing metadata: an ordered list of tags, each 1..=255 bytes of UTF-8.
///
/// ```
/// use rsocket_messaging::metadata::RoutingMetadata;
///
/// let routing = RoutingMetadata::from_route("echo").unwrap();
/// assert_eq!(&routing.to_bytes()[..], b"\x04echo");
/// assert_eq!(RoutingMetadata::decode(b"\x04echo").unwrap().route(), Some("echo"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RoutingMetadata {
    tags: Vec<String>,
}

impl RoutingMetadata {
    /// Longest tag, in bytes: its length prefix is one byte.
    pub const MAX_TAG_LEN: usize = 255;

    /// Default bound on the number of tags [`decode`](Self::decode) accepts: 64.
    ///
    /// Routes carry one tag, sometimes a few. A tag can be as small as 2 bytes, so without a
    /// bound a large metadata would turn into a very long list of small strings.
    pub const DEFAULT_MAX_TAGS: usize = 64;

    /// Routing metadata with no tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routing metadata with a single tag: the route.
    pub fn from_route(route: impl Into<String>) -> Result<Self, MetadataError> {
        let mut routing = Self::new();
        routing.push(route)?;
        Ok(routing)
    }

    /// Routing metadata with these tags, in order.
    pub fn from_tags<I, S>(tags: I) -> Result<Self, MetadataError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut routing = Self::new();
        for tag in tags {
            routing.push(tag)?;
        }
        Ok(routing)
    }

    /// Appends a tag, checking its length (1..=255 bytes). Returns `self` so pushes chain
    /// with `?`. Encoding does not bound the number of tags; decoding does.
    pub fn push(&mut self, tag: impl Into<String>) -> Result<&mut Self, MetadataError> {
        let tag = tag.into();
        check_tag_len(tag.len(), Location::RoutingTag(self.tags.len()))?;
        self.tags.push(tag);
        Ok(self)
    }

    /// The first tag, which by convention is the route.
    pub fn route(&self) -> Option<&str> {
        self.tags.first().map(String::as_str)
    }

    /// The tags, in order.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Iterates over the tags, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().map(String::as_str)
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Decodes routing metadata with the [default tag limit](Self::DEFAULT_MAX_TAGS).
    pub fn decode(buf: &[u8]) -> Result<Self, MetadataError> {
        Self::decode_with_limit(buf, Self::DEFAULT_MAX_TAGS)
    }

    /// Decodes routing metadata holding at most `max_tags` tags.
    ///
    /// A zero-length tag is an error: the spec's tags are tokens, and rsocket-java never
    /// writes one (it drops empty tags when encoding).
    pub fn decode_with_limit(mut buf: &[u8], max_tags: usize) -> Result<Self, MetadataError> {
        let mut tags = Vec::new();
        while let Some((&len, rest)) = buf.split_first() {
            if tags.len() == max_tags {
                return Err(MetadataError::TooManyItems {
                    at: Location::Routing,
                    items: "tags",
                    limit: max_tags,
                });
            }
            let at = Location::RoutingTag(tags.len());
            let len = usize::from(len);
            check_tag_len(len, at)?;
            let Some((tag, rest)) = rest.split_at_checked(len) else {
                return Err(MetadataError::LengthExceedsRemaining {
                    at,
                    field: "tag",
                    len,
                    remaining: rest.len(),
                });
            };
            let tag = std::str::from_utf8(tag)
                .map_err(|_| MetadataError::InvalidUtf8 { at, field: "tag" })?;
            tags.push(tag.to_owned());
            buf = rest;
        }
        Ok(Self { tags })
    }

    /// Bytes the encoded tags take.
    pub fn encoded_len(&self) -> usize {
        self.tags.iter().map(|t| 1 + t.len()).sum()
    }

    /// Appends the encoded tags to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        for tag in &self.tags {
            // `push` keeps every tag within 1..=255 bytes.
            dst.put_u8(tag.len() as u8);
            dst.put_slice(tag.as_bytes());
        }
    }

    /// The encoded tags as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

fn check_tag_len(len: usize, at: Location) -> Result<(), MetadataError> {
    if (1..=RoutingMetadata::MAX_TAG_LEN).contains(&len) {
        Ok(())
    } else {
        Err(MetadataError::InvalidLength {
            at,
            field: "tag",
            len,
            min: 1,
            max: RoutingMetadata::MAX_TAG_LEN,
        })
    }
}

impl fmt::Display for RoutingMetadata {
    /// The tags separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, tag) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(tag)?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a RoutingMetadata {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.tags.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_tags_round_trip_in_order() {
        let routing =
            RoutingMetadata::from_tags(["person.1", "/address", "ios-client"]).expect("short tags");
        let wire = routing.to_bytes();
        assert_eq!(wire.len(), routing.encoded_len());
        assert_eq!(wire[0], 8);
        assert_eq!(&wire[1..9], b"person.1");
        let back = RoutingMetadata::decode(&wire).expect("valid");
        assert_eq!(back, routing);
        assert_eq!(back.route(), Some("person.1"));
        assert_eq!(back.to_string(), "person.1 /address ios-client");
    }

    #[test]
    fn tag_length_bounds() {
        assert!(RoutingMetadata::from_route("x".repeat(255)).is_ok());
        assert_eq!(
            RoutingMetadata::from_route("x".repeat(256)),
            Err(MetadataError::InvalidLength {
                at: Location::RoutingTag(0),
                field: "tag",
                len: 256,
                min: 1,
                max: 255
            })
        );
        let err = RoutingMetadata::from_tags(["a", ""]).expect_err("empty tag");
        assert_eq!(
            err.to_string(),
            "routing tag 1: tag length 0 is outside 1..=255"
        );
    }

    #[test]
    fn multibyte_utf8_tags() {
        let routing = RoutingMetadata::from_route("café.☕").expect("short");
        assert_eq!(routing.to_bytes()[0] as usize, "café.☕".len());
        assert_eq!(RoutingMetadata::decode(&routing.to_bytes()), Ok(routing));
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            RoutingMetadata::decode(b"\x04ech").map_err(|e| e.to_string()),
            Err("routing tag 0: tag length 4 exceeds remaining 3 bytes".to_owned())
        );
        assert_eq!(
            RoutingMetadata::decode(b"\x01a\x00"),
            Err(MetadataError::InvalidLength {
                at: Location::RoutingTag(1),
                field: "tag",
                len: 0,
                min: 1,
                max: 255
            })
        );
        assert_eq!(
            RoutingMetadata::decode(b"\x02\xC3\x28"),
            Err(MetadataError::InvalidUtf8 {
                at: Location::RoutingTag(0),
                field: "tag"
            })
        );
        assert_eq!(RoutingMetadata::decode(b""), Ok(RoutingMetadata::new()));
    }

    #[test]
    fn tag_limit() {
        let wire = b"\x01a\x01b\x01c";
        assert_eq!(
            RoutingMetadata::decode_with_limit(wire, 3).map(|r| r.len()),
            Ok(3)
        );
        assert_eq!(
            RoutingMetadata::decode_with_limit(wire, 2),
            Err(MetadataError::TooManyItems {
                at: Location::Routing,
                items: "tags",
                limit: 2
            })
        );
    }
}
