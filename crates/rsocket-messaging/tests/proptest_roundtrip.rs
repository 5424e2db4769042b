//! Property tests for every metadata codec:
//!
//! * round trip: `decode(encode(x)) == x`, and `encoded_len() == encode(x).len()`;
//! * robustness: arbitrary bytes never make a decoder panic;
//! * canonical form: whatever decodes re-encodes to exactly the input bytes (for the codecs
//!   whose wire form is canonical; Zipkin flags are not, so there the decoded value is checked
//!   to be a fixed point instead).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rsocket_messaging::metadata::{
    AcceptMimeTypes, AuthType, Authentication, CompositeMetadata, CompositeMetadataReader,
    CustomAuthType, CustomMimeType, DataMimeType, Entry, MimeType, RoutingMetadata, Sampling,
    TraceId, TraceIds, WellKnownAuthType, WellKnownMimeType, ZipkinTracing,
};

fn ascii_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..=0x7F, 1..=128)
        .prop_map(|b| b.into_iter().map(char::from).collect())
}

fn mime_type() -> impl Strategy<Value = MimeType> {
    prop_oneof![
        (0u8..=0x7F).prop_map(|id| {
            MimeType::WellKnown(WellKnownMimeType::from_id(id).expect("7-bit id"))
        }),
        ascii_name().prop_map(|s| MimeType::Custom(CustomMimeType::new(&s).expect("ascii"))),
    ]
}

fn content() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn composite() -> impl Strategy<Value = CompositeMetadata> {
    proptest::collection::vec((mime_type(), content()), 0..8).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(m, c)| Entry::new(m, c).expect("small content"))
            .collect()
    })
}

/// A UTF-8 tag of 1..=255 bytes.
fn tag() -> impl Strategy<Value = String> {
    "\\PC{1,80}".prop_filter("1..=255 bytes", |s| (1..=255).contains(&s.len()))
}

fn routing() -> impl Strategy<Value = RoutingMetadata> {
    proptest::collection::vec(tag(), 0..8)
        .prop_map(|tags| RoutingMetadata::from_tags(tags).expect("valid tags"))
}

fn authentication() -> impl Strategy<Value = Authentication> {
    prop_oneof![
        (".{0,40}", ".{0,40}").prop_map(|(u, p)| Authentication::simple(u, p)),
        ".{0,80}".prop_map(Authentication::bearer),
        (ascii_name(), content()).prop_map(|(t, p)| {
            Authentication::custom(CustomAuthType::new(&t).expect("ascii"), p)
        }),
        // Well-known ids without a codec (2..=0x7F) stay `Custom`.
        (2u8..=0x7F, content()).prop_map(|(id, p)| {
            Authentication::custom(WellKnownAuthType::from_id(id).expect("7-bit id"), p)
        }),
    ]
}

fn tracing() -> impl Strategy<Value = ZipkinTracing> {
    let sampling = prop_oneof![
        Just(Sampling::Undecided),
        Just(Sampling::NotSampled),
        Just(Sampling::Sampled),
        Just(Sampling::Debug),
    ];
    let trace_id = prop_oneof![
        any::<u64>().prop_map(TraceId::Bits64),
        any::<u128>().prop_map(TraceId::Bits128),
    ];
    let ids = proptest::option::of((trace_id, any::<u64>(), proptest::option::of(any::<u64>())))
        .prop_map(|o| {
            o.map(|(trace_id, span_id, parent_span_id)| TraceIds {
                trace_id,
                span_id,
                parent_span_id,
            })
        });
    (sampling, ids).prop_map(|(sampling, ids)| ZipkinTracing { sampling, ids })
}

/// Inputs that look like metadata more often than uniform bytes do: a mix of plausible
/// headers, small lengths and random filler.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        Just(0x00),
        Just(0x80),
        Just(0xFE),
        Just(0xFC),
        0u8..8,
    ];
    proptest::collection::vec(byte, 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn composite_round_trip(md in composite()) {
        let wire = md.to_bytes();
        prop_assert_eq!(wire.len(), md.encoded_len());
        let back = CompositeMetadata::decode(&wire).expect("own encoding decodes");
        // Decoded contents are slices of `wire`, not copies.
        for e in back.iter().filter(|e| !e.content().is_empty()) {
            let start = e.content().as_ptr() as usize - wire.as_ptr() as usize;
            prop_assert!(start + e.content().len() <= wire.len());
        }
        prop_assert_eq!(back, md);
    }

    #[test]
    fn composite_arbitrary_bytes(input in wire_bytes()) {
        let buf = Bytes::from(input);
        let decoded = CompositeMetadata::decode(&buf);
        let streamed: Vec<_> = CompositeMetadataReader::new(&buf).collect();
        match decoded {
            Ok(md) => {
                prop_assert_eq!(md.to_bytes(), buf.clone());
                let entries: Vec<Entry> = streamed.into_iter().map(|r| r.expect("ok")).collect();
                prop_assert_eq!(entries.as_slice(), md.entries());
            }
            Err(e) => {
                // The streaming reader fails the same way (or the limit was hit).
                let last = streamed.last().cloned();
                let limit_hit = streamed.len() > CompositeMetadata::DEFAULT_MAX_ENTRIES;
                prop_assert!(limit_hit || last == Some(Err(e)));
            }
        }
    }

    #[test]
    fn composite_limit_holds(input in wire_bytes(), limit in 0usize..6) {
        let buf = Bytes::from(input);
        if let Ok(md) = CompositeMetadata::decode_with_limit(&buf, limit) {
            prop_assert!(md.len() <= limit);
        }
    }

    #[test]
    fn routing_round_trip(r in routing()) {
        let wire = r.to_bytes();
        prop_assert_eq!(wire.len(), r.encoded_len());
        prop_assert_eq!(RoutingMetadata::decode(&wire).expect("own encoding"), r);
    }

    #[test]
    fn routing_arbitrary_bytes(input in wire_bytes()) {
        if let Ok(r) = RoutingMetadata::decode(&input) {
            prop_assert_eq!(&r.to_bytes()[..], &input[..]);
            prop_assert!(r.len() <= RoutingMetadata::DEFAULT_MAX_TAGS);
        }
    }

    #[test]
    fn auth_round_trip(a in authentication()) {
        let wire = a.to_bytes().expect("encodable");
        prop_assert_eq!(wire.len(), a.encoded_len());
        prop_assert_eq!(Authentication::decode(&wire).expect("own encoding"), a);
    }

    #[test]
    fn auth_arbitrary_bytes(input in wire_bytes()) {
        let buf = Bytes::from(input);
        if let Ok(a) = Authentication::decode(&buf) {
            prop_assert_eq!(a.to_bytes().expect("decoded values encode"), buf);
        }
    }

    #[test]
    fn data_mime_type_round_trip(m in mime_type()) {
        let d = DataMimeType(m);
        prop_assert_eq!(DataMimeType::decode(&d.to_bytes()).expect("own encoding"), d);
    }

    #[test]
    fn accept_mime_types_round_trip(list in proptest::collection::vec(mime_type(), 1..8)) {
        let a = AcceptMimeTypes::new(list).expect("non-empty");
        let wire = a.to_bytes();
        prop_assert_eq!(wire.len(), a.encoded_len());
        prop_assert_eq!(AcceptMimeTypes::decode(&wire).expect("own encoding"), a);
    }

    #[test]
    fn per_stream_mime_arbitrary_bytes(input in wire_bytes()) {
        if let Ok(d) = DataMimeType::decode(&input) {
            prop_assert_eq!(&d.to_bytes()[..], &input[..]);
        }
        if let Ok(a) = AcceptMimeTypes::decode(&input) {
            prop_assert_eq!(&a.to_bytes()[..], &input[..]);
        }
    }

    #[test]
    fn tracing_round_trip(t in tracing()) {
        let wire = t.to_bytes();
        prop_assert_eq!(wire.len(), t.encoded_len());
        prop_assert_eq!(ZipkinTracing::decode(&wire).expect("own encoding"), t);
    }

    #[test]
    fn tracing_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(t) = ZipkinTracing::decode(&input) {
            prop_assert_eq!(input.len(), t.encoded_len());
            prop_assert_eq!(ZipkinTracing::decode(&t.to_bytes()), Ok(t));
        }
    }

    #[test]
    fn mime_parse_is_consistent(s in "[ -~]{1,128}") {
        let m = MimeType::parse(&s).expect("printable ASCII of 1..=128 bytes");
        prop_assert_eq!(m.as_str(), Some(s.as_str()));
        let mut dst = BytesMut::new();
        m.encode(&mut dst);
        prop_assert_eq!(dst.len(), m.encoded_len());
        let compressed = WellKnownMimeType::from_str(&s).is_some();
        prop_assert_eq!(dst.len() == 1, compressed);
    }

    #[test]
    fn auth_type_parse_is_consistent(s in ascii_name()) {
        let t = AuthType::parse(&s).expect("ascii name");
        prop_assert_eq!(t.as_str(), Some(s.as_str()));
    }
}
