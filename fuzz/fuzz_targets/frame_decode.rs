//! Fuzz target: `Frame::decode` on arbitrary bytes (one frame, no length prefix).
//!
//! Checks, for any input:
//! * decoding never panics;
//! * a frame that decodes re-encodes, `encoded_len` is exactly what `encode` writes and at most
//!   the input length (decoding drops undefined flag bits and ignores trailing bytes after a
//!   fixed-size body, but never invents bytes);
//! * the re-encoded bytes decode to the same frame (decode∘encode∘decode is stable), with and
//!   without the 24-bit length prefix.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run frame_decode` from the repository root.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rsocket_proto::Frame;
use rsocket_proto::codec::LengthCodec;
use rsocket_proto::frame::{Header, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    assert!(frame.encoded_len() <= MAX_FRAME_LEN);
    // Bytes after the last field of a fixed-size body (CANCEL, REQUEST_N, RESUME_OK, RESUME,
    // LEASE without M) are ignored by the decoder, so the frame may be shorter than the input,
    // never longer.
    assert!(frame.encoded_len() <= data.len(), "decode invented bytes");

    let mut out = BytesMut::new();
    frame
        .encode(&mut out)
        .expect("a decoded frame must re-encode");
    assert_eq!(out.len(), frame.encoded_len());
    assert_eq!(Header::peek(&out), Some(frame.header()));
    let again = Frame::decode(out.clone().freeze()).expect("a re-encoded frame must decode");
    assert_eq!(again, frame);

    let mut wire = BytesMut::new();
    frame
        .encode_length_prefixed(&mut wire)
        .expect("a decoded frame must re-encode with a prefix");
    let split = LengthCodec::default()
        .split(&mut wire)
        .expect("prefix within the limit")
        .expect("a whole frame");
    assert!(wire.is_empty());
    assert_eq!(split, out);
});
