//! Fuzz target: `LengthCodec::split` over an arbitrary byte stream, then `Frame::decode` of every
//! frame it yields.
//!
//! The first input byte picks the codec's frame limit and the size of the chunks the rest of the
//! input is fed in (as a socket would deliver it). Checks, for any input:
//! * neither `split`, `missing` nor `decode` panics;
//! * no frame longer than the limit is returned, and an over-long prefix is refused;
//! * bytes are neither lost nor invented: taken frames (with prefixes) plus what is left equal
//!   what was fed;
//! * `missing` agrees with `split`: zero when a frame is ready, positive when one is pending;
//! * every frame that decodes re-encodes, to `encoded_len` bytes, never more than it came in.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run length_codec` from the repository root.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rsocket_proto::Frame;
use rsocket_proto::codec::{LENGTH_PREFIX_LEN, LengthCodec};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, stream)) = data.split_first() else {
        return;
    };
    let codec = match ctl & 0x03 {
        0 => LengthCodec::default(),
        1 => LengthCodec::new(0),
        2 => LengthCodec::new(6),
        _ => LengthCodec::new(64),
    };
    let chunk = 1 + (ctl >> 2) as usize;

    let mut rx = BytesMut::new();
    let mut fed = 0;
    let mut taken = 0;
    'feed: for piece in stream.chunks(chunk) {
        rx.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let missing = codec.missing(&rx);
            match codec.split(&mut rx) {
                Ok(Some(frame)) => {
                    assert_eq!(missing, 0, "a ready frame needs no more bytes");
                    assert!(frame.len() <= codec.max_frame_len());
                    taken += LENGTH_PREFIX_LEN + frame.len();
                    check_frame(frame);
                }
                Ok(None) => {
                    assert!(rx.len() < LENGTH_PREFIX_LEN || missing > 0);
                    break;
                }
                Err(_) => {
                    let len = u32::from_be_bytes([0, rx[0], rx[1], rx[2]]) as usize;
                    assert!(
                        len > codec.max_frame_len(),
                        "refused a frame within the limit"
                    );
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(taken + rx.len(), fed);
});

fn check_frame(frame: Bytes) {
    let len = frame.len();
    if let Ok(f) = Frame::decode(frame) {
        // Trailing bytes after a fixed-size body are ignored, so the frame may be shorter.
        assert!(f.encoded_len() <= len);
        let mut out = BytesMut::new();
        f.encode(&mut out).expect("a decoded frame must re-encode");
        assert_eq!(out.len(), f.encoded_len());
    }
}
