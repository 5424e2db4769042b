//! Fuzz target: the WAMP RawSocket handshake and framing parsers (`wamp::transport::rawsocket`).
//!
//! Input layout: 4 bytes of client hello, 4 bytes of router reply, then a byte stream of frames.
//! Checks, for any input:
//! * `ClientHello::parse`, `HandshakeReply::parse` and `FrameHeader::parse` never panic, and what
//!   they accept re-encodes to the same 4 bytes;
//! * `read_frame` (driven on an in-memory reader) never panics, never returns a frame over the
//!   announced maximum, reports a clean end (`Ok(None)`) only when the input ends exactly between
//!   frames, and the frames it returns, written again with `write_frame`, reproduce the bytes it
//!   consumed;
//! * each WAMP message frame is handed to the negotiated serializer, which must not panic.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run wamp_rawsocket` from the repository root.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use wamp::Serializer;
use wamp::transport::rawsocket::{
    ClientHello, ClientHelloParse, FrameHeader, FrameKind, HandshakeReply, length_exponent,
    length_from_exponent, read_frame, write_frame,
};

/// Most frames read from one input (the input is finite anyway; this bounds the loop).
const MAX_FRAMES: usize = 4096;

/// Runs a future that never waits (in-memory readers and writers are always ready).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory I/O returned Pending"),
    }
}

fn take4(data: &mut &[u8]) -> Option<[u8; 4]> {
    let (head, rest) = data.split_first_chunk::<4>()?;
    *data = rest;
    Some(*head)
}

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let Some(hello) = take4(&mut input) else {
        return;
    };
    // Our receive limit: from the hello when it is valid, else from its length nibble.
    let (serializer, max) = match ClientHello::parse(hello) {
        ClientHelloParse::Ok(h) => {
            assert_eq!(h.encode(), hello, "accepted hello re-encodes");
            assert!((512..=1 << 24).contains(&h.max_len));
            assert_eq!(length_from_exponent(length_exponent(h.max_len)), h.max_len);
            (Some(h.serializer), h.max_len)
        }
        ClientHelloParse::Reject(e) => {
            assert_eq!(hello[0], 0x7F);
            let reply = HandshakeReply::Error(e).encode();
            assert_eq!(HandshakeReply::parse(reply), Some(HandshakeReply::Error(e)));
            (None, length_from_exponent(hello[1] >> 4))
        }
        ClientHelloParse::NotRawSocket => {
            assert_ne!(hello[0], 0x7F);
            (None, length_from_exponent(hello[1] >> 4))
        }
    };
    let Some(reply) = take4(&mut input) else {
        return;
    };
    if let Some(r) = HandshakeReply::parse(reply) {
        assert_eq!(r.encode(), reply, "accepted reply re-encodes");
    }
    if let Ok(h) = FrameHeader::parse(reply, max) {
        assert!(h.len <= max);
        assert_eq!(h.encode(), reply, "frame header re-encodes");
    }

    // The frame stream.
    let mut rest = input;
    let mut consumed = 0usize;
    let mut rewritten = Vec::with_capacity(input.len());
    for _ in 0..MAX_FRAMES {
        let before = rest.len();
        match ready(read_frame(&mut rest, max)) {
            Ok(Some((kind, body))) => {
                assert!(body.len() <= max, "frame over the limit");
                consumed += before - rest.len();
                ready(write_frame(&mut rewritten, kind, &body)).expect("frame writes");
                if kind == FrameKind::Message {
                    let ser = serializer.unwrap_or(Serializer::Json);
                    let _ = ser.decode(&body);
                }
            }
            Ok(None) => {
                assert_eq!(before, 0, "clean end reported with {before} bytes left");
                break;
            }
            Err(_) => break,
        }
    }
    assert_eq!(
        &rewritten[..],
        &input[..consumed],
        "frames re-encode to their bytes"
    );
});
