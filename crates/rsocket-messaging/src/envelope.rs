//! How a route and metadata entries travel in a payload's metadata, per the connection's
//! metadata MIME type:
//!
//! | connection metadata MIME type | route | other entries |
//! |---|---|---|
//! | `message/x.rsocket.composite-metadata.v0` (default) | a routing entry | entries |
//! | `message/x.rsocket.routing.v0` | the whole metadata | not possible |
//! | anything else | not possible | one entry of that MIME type, as the whole metadata |
//!
//! The route is the first tag of the routing metadata, as in Spring.

use bytes::Bytes;

use crate::error::Error;
use crate::metadata::{CompositeMetadata, Entry, MimeType, RoutingMetadata, WellKnownMimeType};

const COMPOSITE: WellKnownMimeType = WellKnownMimeType::MESSAGE_RSOCKET_COMPOSITE_METADATA;
const ROUTING: WellKnownMimeType = WellKnownMimeType::MESSAGE_RSOCKET_ROUTING;

fn is(mime: &str, known: WellKnownMimeType) -> bool {
    known
        .as_str()
        .is_some_and(|k| k.eq_ignore_ascii_case(mime.trim()))
}

/// Reads the route and the entries of a request's metadata. Entries are zero-copy slices
/// of `raw`. Metadata of an unknown MIME type becomes one entry of that type.
pub(crate) fn decode(
    metadata_mime: &str,
    raw: Option<&Bytes>,
) -> Result<(Option<String>, CompositeMetadata), Error> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok((None, CompositeMetadata::new()));
    };
    if is(metadata_mime, COMPOSITE) {
        let composite = CompositeMetadata::decode(raw)?;
        let route = composite
            .routing()?
            .and_then(|r| r.route().map(str::to_string));
        Ok((route, composite))
    } else if is(metadata_mime, ROUTING) {
        let routing = RoutingMetadata::decode(raw)?;
        let route = routing.route().map(str::to_string);
        let composite = CompositeMetadata::from(vec![Entry::new(ROUTING, raw.clone())?]);
        Ok((route, composite))
    } else {
        let entries = match MimeType::parse(metadata_mime) {
            Ok(mime) => vec![Entry::new(mime, raw.clone())?],
            Err(_) => Vec::new(),
        };
        Ok((None, CompositeMetadata::from(entries)))
    }
}

/// Writes a route and entries as metadata of type `metadata_mime`; `None` when there is
/// nothing to send.
pub(crate) fn encode(
    metadata_mime: &str,
    route: Option<&str>,
    entries: Vec<Entry>,
) -> Result<Option<Bytes>, Error> {
    if is(metadata_mime, COMPOSITE) {
        let mut composite = CompositeMetadata::new();
        if let Some(route) = route {
            composite.push_routing(&RoutingMetadata::from_route(route)?)?;
        }
        composite.extend(entries);
        return Ok((!composite.is_empty()).then(|| composite.to_bytes()));
    }
    if is(metadata_mime, ROUTING) {
        if !entries.is_empty() {
            return Err(Error::Usage(format!(
                "metadata MIME type {metadata_mime} carries only a route; use \
                 {COMPOSITE} to send other metadata"
            )));
        }
        return route
            .map(|r| Ok(RoutingMetadata::from_route(r)?.to_bytes()))
            .transpose();
    }
    if let Some(route) = route {
        return Err(Error::Usage(format!(
            "cannot send route '{route}' with metadata MIME type {metadata_mime}; use \
             {COMPOSITE} or {ROUTING}"
        )));
    }
    let mut entries = entries.into_iter();
    match (entries.next(), entries.next()) {
        (None, _) => Ok(None),
        (Some(e), None) if e.mime().as_str().is_some_and(|m| is_same(m, metadata_mime)) => {
            Ok(Some(e.into_parts().1))
        }
        (Some(e), _) => Err(Error::Usage(format!(
            "cannot send metadata {} on a connection whose metadata MIME type is \
             {metadata_mime}; use {COMPOSITE}",
            e.mime()
        ))),
    }
}

fn is_same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "message/x.rsocket.composite-metadata.v0";
    const R: &str = "message/x.rsocket.routing.v0";

    #[test]
    fn composite_round_trip() {
        let auth = Entry::new(WellKnownMimeType::TEXT_PLAIN, "x").unwrap();
        let raw = encode(C, Some("a.b"), vec![auth.clone()]).unwrap().unwrap();
        let (route, entries) = decode(C, Some(&raw)).unwrap();
        assert_eq!(route.as_deref(), Some("a.b"));
        assert_eq!(entries.len(), 2);
        assert_eq!(entries.entries()[1], auth);
        assert_eq!(encode(C, None, vec![]).unwrap(), None);
    }

    #[test]
    fn plain_routing_and_other_types() {
        let raw = encode(R, Some("echo"), vec![]).unwrap().unwrap();
        assert_eq!(decode(R, Some(&raw)).unwrap().0.as_deref(), Some("echo"));
        assert!(encode(R, Some("echo"), vec![Entry::new(ROUTING, "").unwrap()]).is_err());
        assert!(encode("application/json", Some("echo"), vec![]).is_err());
        let j = Entry::new(WellKnownMimeType::APPLICATION_JSON, "{}").unwrap();
        let raw = encode("application/json", None, vec![j]).unwrap().unwrap();
        let (route, entries) = decode("application/json", Some(&raw)).unwrap();
        assert_eq!((route, entries.len()), (None, 1));
    }

    #[test]
    fn garbage_is_an_error() {
        let bad = Bytes::from_static(&[0xFE, 0x00, 0x00, 0x09, 0x01]);
        let e = decode(C, Some(&bad)).unwrap_err();
        assert_eq!(e.code(), rsocket::ErrorCode::INVALID);
    }
}
