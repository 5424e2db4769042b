//! Fuzz target: WAMP message decoding (`wamp::Serializer::decode`) with each serializer.
//!
//! The first input byte picks the serializer (`% 3`: JSON, MessagePack, CBOR); the rest is the
//! message as it would arrive in one WebSocket message or RawSocket frame. Checks, for any input:
//! * decoding never panics (nor overflows the stack: nesting is bounded by `MAX_DEPTH`);
//! * whatever decodes re-encodes with the same serializer, and `decode(encode(m)) == m`
//!   (for messages holding a NaN, where `==` cannot hold, the re-encoding must be a fixed point);
//! * a decoded message also encodes with the other two serializers without panicking, and what
//!   they produce decodes again (it may legitimately be refused, e.g. a string starting with NUL
//!   is binary under the JSON convention, so only the absence of panics is checked there).
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run wamp_message` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wamp::{Serializer, Value};

const SERIALIZERS: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let ser = SERIALIZERS[usize::from(pick % 3)];
    let Ok(msg) = ser.decode(bytes) else {
        return;
    };
    let encoded = ser.encode(&msg).expect("a decoded message encodes");
    let again = ser
        .decode(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded {} does not decode: {e}", msg.name()));
    if !has_nan(&msg.to_value()) {
        assert_eq!(again, msg, "decode(encode(m)) != m with {ser:?}");
    } else {
        // NaN somewhere: compare the wire form instead.
        assert_eq!(ser.encode(&again).expect("encodes"), encoded);
    }
    assert_eq!(again.code(), msg.code());

    for other in SERIALIZERS {
        if other != ser {
            if let Ok(b) = other.encode(&msg) {
                let _ = other.decode(&b);
            }
        }
    }
});

/// Whether a float NaN occurs anywhere in `v` (NaN != NaN, so `==` cannot hold there).
fn has_nan(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_nan(),
        Value::List(l) => l.iter().any(has_nan),
        Value::Dict(d) => d.iter().any(|(_, v)| has_nan(v)),
        _ => false,
    }
}
