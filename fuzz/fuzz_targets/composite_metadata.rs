//! Fuzz target: the composite-metadata parser (`rsocket_messaging::metadata`).
//!
//! Checks, for any input:
//! * `CompositeMetadata::decode` and the lazy `CompositeMetadataReader` never panic and agree;
//! * whatever decodes re-encodes to exactly the input (the wire form is canonical);
//! * the entry limit holds;
//! * the per-entry codecs (routing, authentication, per-stream MIME, Zipkin) never panic on
//!   entry contents, and whatever they decode re-encodes to the same bytes (Zipkin excepted:
//!   its flags have several spellings, so there the decoded value must be a fixed point).
//!
//! Run: `cargo fuzz run composite_metadata` from the repository root.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rsocket_messaging::metadata::{
    AcceptMimeTypes, Authentication, CompositeMetadata, CompositeMetadataReader, DataMimeType,
    Entry, RoutingMetadata, ZipkinTracing,
};

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);

    let streamed: Vec<_> = CompositeMetadataReader::new(&buf)
        .take(CompositeMetadata::DEFAULT_MAX_ENTRIES + 1)
        .collect();

    match CompositeMetadata::decode(&buf) {
        Ok(md) => {
            assert!(md.len() <= CompositeMetadata::DEFAULT_MAX_ENTRIES);
            assert_eq!(md.encoded_len(), buf.len());
            assert_eq!(
                md.to_bytes(),
                buf,
                "decoded composite must re-encode to its input"
            );
            let entries: Vec<Entry> = streamed
                .into_iter()
                .map(|r| r.expect("reader agrees with decode"))
                .collect();
            assert_eq!(entries.as_slice(), md.entries());
            for entry in md.iter() {
                check_entry_content(entry.content());
            }
        }
        Err(err) => {
            let limit_hit = streamed.len() > CompositeMetadata::DEFAULT_MAX_ENTRIES;
            assert!(limit_hit || streamed.last() == Some(&Err(err)));
        }
    }

    // The whole input as each entry codec's payload, too.
    check_entry_content(&buf);
});

fn check_entry_content(content: &Bytes) {
    if let Ok(r) = RoutingMetadata::decode(content) {
        assert_eq!(&r.to_bytes(), content);
    }
    if let Ok(a) = Authentication::decode(content) {
        assert_eq!(&a.to_bytes().expect("decoded auth encodes"), content);
    }
    if let Ok(d) = DataMimeType::decode(content) {
        assert_eq!(&d.to_bytes(), content);
    }
    if let Ok(a) = AcceptMimeTypes::decode(content) {
        assert_eq!(&a.to_bytes(), content);
    }
    if let Ok(t) = ZipkinTracing::decode(content) {
        assert_eq!(t.encoded_len(), content.len());
        assert_eq!(ZipkinTracing::decode(&t.to_bytes()), Ok(t));
    }
}
