//! Inputs found by the `wamp_message` and `wamp_rawsocket` fuzz targets (`fuzz/`), kept as
//! regression tests with the (minimized) bytes inline.

use wamp::transport::rawsocket::{FrameKind, read_frame};
use wamp::{Message, Serializer};

/// `wamp_message`: a dict with a repeated key decodes (keys are kept as sent so the bytes
/// round-trip), but `Dict`'s equality looked each entry up by key, so such a message was not
/// equal to itself and `decode(encode(m)) == m` failed.
#[test]
fn repeated_dict_key_round_trips() {
    let json = br#"[6,{"a":1,"a":2},"wamp.close.normal"]"#;
    // The same message in MessagePack and CBOR.
    let msgpack = [
        0x93, 0x06, 0x82, 0xa1, b'a', 0x01, 0xa1, b'a', 0x02, 0xb1, b'w', b'a', b'm', b'p', b'.',
        b'c', b'l', b'o', b's', b'e', b'.', b'n', b'o', b'r', b'm', b'a', b'l',
    ];
    let cbor = [
        0x83, 0x06, 0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02, 0x71, b'w', b'a', b'm', b'p', b'.',
        b'c', b'l', b'o', b's', b'e', b'.', b'n', b'o', b'r', b'm', b'a', b'l',
    ];
    for (ser, bytes) in [
        (Serializer::Json, &json[..]),
        (Serializer::MsgPack, &msgpack[..]),
        (Serializer::Cbor, &cbor[..]),
    ] {
        let m = ser.decode(bytes).unwrap();
        assert!(matches!(m, Message::Goodbye(_)));
        assert_eq!(m, m.clone(), "{ser:?}: reflexive");
        let again = ser.decode(&ser.encode(&m).unwrap()).unwrap();
        assert_eq!(again, m, "{ser:?}: decode(encode(m)) == m");
        assert_eq!(ser.encode(&again).unwrap(), bytes, "{ser:?}: same bytes");
    }
    // Still unequal to a dict with different duplicates.
    let other = Serializer::Json
        .decode(br#"[6,{"a":1,"a":1},"wamp.close.normal"]"#)
        .unwrap();
    assert_ne!(Serializer::Json.decode(json).unwrap(), other);
}

/// `wamp_rawsocket` (minimized: `00 00 02 00  00 00 00 00  00`): a stream ending inside a frame
/// header was reported as a clean end between frames (`Ok(None)`); it is a truncated frame.
#[tokio::test]
async fn eof_inside_frame_header_is_an_error() {
    for len in 1..4 {
        let header = [0u8, 0, 0, 1];
        let mut r = &header[..len];
        assert!(
            read_frame(&mut r, 1024).await.is_err(),
            "{len} header bytes"
        );
    }
    let mut empty: &[u8] = &[];
    assert_eq!(read_frame(&mut empty, 1024).await.unwrap(), None);
    let mut whole: &[u8] = &[0, 0, 0, 1, b'x'];
    assert_eq!(
        read_frame(&mut whole, 1024).await.unwrap(),
        Some((FrameKind::Message, b"x".to_vec()))
    );
}
