//! Golden bytes: frames written out by hand from Protocol.md, checked in both directions
//! (decode the bytes into the expected value, encode the value into the bytes), plus the decode
//! errors for malformed input.
//!
//! Header reminder (Protocol.md "Frame Header Format"): 4 bytes of stream ID (top bit
//! reserved), then 16 bits = 6-bit frame type << 10 | I (0x200) | M (0x100) | 8 frame-specific
//! flag bits. So the second half of the header is `type << 10 | flags`, e.g. SETUP (0x01) with M
//! is 0x0400 | 0x0100 = 0x0500.

use bytes::{Bytes, BytesMut};
use rsocket_proto::frame::{
    DecodeError, ErrorCode, ErrorFrame, Keepalive, Lease, MetadataPush, PayloadFrame,
    RequestStream, Resume, ResumeOk, Setup, Version,
};
use rsocket_proto::{Frame, Payload, StreamId};

/// Decodes `wire` and expects `frame`; encodes `frame` and expects `wire`.
fn check_both_ways(wire: &[u8], frame: Frame) {
    let decoded = Frame::decode(Bytes::copy_from_slice(wire)).expect("golden bytes decode");
    assert_eq!(decoded, frame);
    let mut out = BytesMut::new();
    frame.encode(&mut out).unwrap();
    assert_eq!(&out[..], wire, "encoding differs from the golden bytes");
    assert_eq!(frame.encoded_len(), wire.len());
}

/// Concatenates byte pieces.
fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

const COMPOSITE: &[u8] = b"message/x.rsocket.composite-metadata.v0"; // 39 = 0x27 bytes
const JSON: &[u8] = b"application/json"; // 16 = 0x10 bytes

fn setup_wire() -> Vec<u8> {
    cat(&[
        &[0x00, 0x00, 0x00, 0x00], // stream ID 0 (SETUP is always on stream 0)
        &[0x05, 0x00],             // type 0x01 << 10 = 0x0400, | M (0x0100) = 0x0500; no R, no L
        &[0x00, 0x01, 0x00, 0x00], // major version 1, minor version 0
        &[0x00, 0x00, 0x4E, 0x20], // time between KEEPALIVE frames: 20000 ms = 0x4E20
        &[0x00, 0x01, 0x5F, 0x90], // max lifetime: 90000 ms = 0x015F90
        // (no resume token: R is clear, so no token length either)
        &[0x27],
        COMPOSITE, // metadata MIME length 39, then the MIME type
        &[0x10],
        JSON,                // data MIME length 16, then the MIME type
        &[0x00, 0x00, 0x02], // metadata length (24 bits): 2
        b"md",               // metadata
        b"{}",               // data: the rest of the frame
    ])
}

fn setup_frame() -> Setup {
    Setup {
        version: Version::V1_0,
        keepalive_interval_ms: 20_000,
        max_lifetime_ms: 90_000,
        resume_token: None,
        lease: false,
        metadata_mime_type: "message/x.rsocket.composite-metadata.v0".into(),
        data_mime_type: "application/json".into(),
        payload: Payload::from("{}").with_metadata("md"),
    }
}

#[test]
fn setup_with_metadata() {
    let wire = setup_wire();
    assert_eq!(wire.len(), 6 + 12 + 1 + 39 + 1 + 16 + 3 + 2 + 2);
    check_both_ways(&wire, Frame::Setup(Box::new(setup_frame())));
}

#[test]
fn setup_with_resume_token_and_lease() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00],
        &[0x04, 0xC0], // type 0x0400 | R (0x80) | L (0x40); no M: no metadata length follows
        &[0x00, 0x01, 0x00, 0x02], // version 1.2
        &[0x00, 0x00, 0x03, 0xE8], // keepalive 1000 ms
        &[0x00, 0x00, 0x0B, 0xB8], // lifetime 3000 ms
        &[0x00, 0x03], // resume token length 3
        b"tok",
        &[0x00], // empty metadata MIME type
        &[0x01],
        b"x", // data MIME type "x"
        b"data",
    ]);
    check_both_ways(
        &wire,
        Frame::Setup(Box::new(Setup {
            version: Version { major: 1, minor: 2 },
            keepalive_interval_ms: 1000,
            max_lifetime_ms: 3000,
            resume_token: Some(Bytes::from_static(b"tok")),
            lease: true,
            metadata_mime_type: String::new(),
            data_mime_type: "x".into(),
            payload: Payload::from("data"),
        })),
    );
}

#[test]
fn request_stream_with_metadata() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x01], // stream 1 (client-initiated: odd)
        &[0x19, 0x00],             // type 0x06 << 10 = 0x1800, | M = 0x1900
        &[0x00, 0x00, 0x00, 0x0A], // initial request-n: 10
        &[0x00, 0x00, 0x05],       // metadata length 5
        b"route",
        b"hello", // data
    ]);
    check_both_ways(
        &wire,
        Frame::RequestStream(RequestStream {
            stream_id: StreamId::new(1),
            follows: false,
            initial_n: 10,
            payload: Payload::from("hello").with_metadata("route"),
        }),
    );
}

#[test]
fn payload_with_complete_and_next() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x02], // stream 2
        &[0x28, 0x60],             // type 0x0A << 10 = 0x2800, | C (0x40) | N (0x20) = 0x2860
        b"done",                   // data; no M so no metadata length
    ]);
    check_both_ways(
        &wire,
        Frame::Payload(PayloadFrame {
            stream_id: StreamId::new(2),
            follows: false,
            complete: true,
            next: true,
            payload: Payload::from("done"),
        }),
    );
}

#[test]
fn error_application_error_oops() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x03], // stream 3
        &[0x2C, 0x00],             // type 0x0B << 10 = 0x2C00, no flags
        &[0x00, 0x00, 0x02, 0x01], // error code 0x201 APPLICATION_ERROR
        b"oops",                   // error data (UTF-8, not null-terminated)
    ]);
    let frame = Frame::Error(ErrorFrame::new(
        StreamId::new(3),
        ErrorCode::APPLICATION_ERROR,
        "oops",
    ));
    check_both_ways(&wire, frame.clone());
    let Frame::Error(e) = frame else { panic!() };
    assert_eq!(e.message(), "oops");
}

#[test]
fn keepalive_with_respond() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00],                         // stream 0
        &[0x0C, 0x80], // type 0x03 << 10 = 0x0C00, | R (0x80) = 0x0C80
        &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00], // last received position 256
        b"ping",       // data
    ]);
    check_both_ways(
        &wire,
        Frame::Keepalive(Keepalive {
            respond: true,
            last_received_position: 256,
            data: Bytes::from_static(b"ping"),
        }),
    );
}

#[test]
fn lease_with_metadata_has_no_length_prefix() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00], // stream 0
        &[0x09, 0x00],             // type 0x02 << 10 = 0x0800, | M = 0x0900
        &[0x00, 0x00, 0x75, 0x30], // time-to-live 30000 ms
        &[0x00, 0x00, 0x00, 0x64], // number of requests 100
        b"lease-md",               // metadata fills the rest: LEASE has no metadata length
    ]);
    check_both_ways(
        &wire,
        Frame::Lease(Lease {
            ttl_ms: 30_000,
            number_of_requests: 100,
            metadata: Some(Bytes::from_static(b"lease-md")),
        }),
    );
}

#[test]
fn metadata_push_has_no_length_prefix() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00], // stream 0
        &[0x31, 0x00],             // type 0x0C << 10 = 0x3000, | M (always set) = 0x3100
        b"\x01\x02\x03",           // metadata fills the rest, no length
    ]);
    check_both_ways(
        &wire,
        Frame::MetadataPush(MetadataPush {
            metadata: Bytes::from_static(b"\x01\x02\x03"),
        }),
    );
}

#[test]
fn resume() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00],                         // stream 0
        &[0x34, 0x00],                                     // type 0x0D << 10 = 0x3400
        &[0x00, 0x01, 0x00, 0x00],                         // version 1.0
        &[0x00, 0x04],                                     // resume token length 4
        &[0xDE, 0xAD, 0xBE, 0xEF],                         // token
        &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00], // last received server position 4096
        &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20], // first available client position 32
    ]);
    check_both_ways(
        &wire,
        Frame::Resume(Resume {
            version: Version::V1_0,
            token: Bytes::from_static(&[0xDE, 0xAD, 0xBE, 0xEF]),
            last_received_server_position: 4096,
            first_available_client_position: 32,
        }),
    );
}

#[test]
fn resume_ok() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00],                         // stream 0
        &[0x38, 0x00],                                     // type 0x0E << 10 = 0x3800
        &[0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // last received client position 2^63-1
    ]);
    check_both_ways(
        &wire,
        Frame::ResumeOk(ResumeOk {
            last_received_client_position: 0x7FFF_FFFF_FFFF_FFFF,
        }),
    );
}

#[test]
fn length_prefixed_cancel() {
    let frame = Frame::Cancel(rsocket_proto::frame::Cancel {
        stream_id: StreamId::new(5),
    });
    let mut out = BytesMut::new();
    frame.encode_length_prefixed(&mut out).unwrap();
    assert_eq!(
        &out[..],
        &[
            0x00, 0x00, 0x06, // 24-bit frame length: 6 (header only)
            0x00, 0x00, 0x00, 0x05, // stream 5
            0x24, 0x00, // type 0x09 << 10 = 0x2400
        ]
    );
}

// ---- decode errors -------------------------------------------------------------------------

/// Decodes `wire`, expects an error, checks that its message names `field`, returns it.
fn decode_err(wire: &[u8], field: &str) -> DecodeError {
    let e =
        Frame::decode(Bytes::copy_from_slice(wire)).expect_err("malformed bytes must not decode");
    let msg = e.to_string();
    assert!(msg.contains(field), "error {msg:?} does not name {field:?}");
    e
}

#[test]
fn header_shorter_than_six_bytes() {
    for len in 0..6 {
        let wire = &[0x00, 0x00, 0x00, 0x01, 0x24][..len];
        assert_eq!(
            decode_err(wire, "frame header"),
            DecodeError::Truncated {
                field: "frame header",
                needed: 6,
                remaining: wire.len(),
            }
        );
    }
}

#[test]
fn metadata_length_beyond_the_frame() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x01], // stream 1
        &[0x11, 0x00],             // REQUEST_RESPONSE: 0x04 << 10 = 0x1000, | M = 0x1100
        &[0xFF, 0xFF, 0xFF],       // metadata length 16,777,215
        b"x",                      // one byte is all there is
    ]);
    assert_eq!(
        decode_err(&wire, "metadata length"),
        DecodeError::MetadataLength {
            declared: 0xFF_FFFF,
            remaining: 1,
        }
    );
}

#[test]
fn metadata_length_itself_truncated() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x01],
        &[0x29, 0x20], // PAYLOAD (0x2800) | M (0x100) | N (0x20)
        &[0x00, 0x00], // two of the three length bytes
    ]);
    assert_eq!(
        decode_err(&wire, "metadata length"),
        DecodeError::Truncated {
            field: "metadata length",
            needed: 3,
            remaining: 2,
        }
    );
}

#[test]
fn truncated_setup_names_each_field() {
    let wire = setup_wire();
    // (bytes kept, field reported): each cut lands inside or right before the named field.
    let cases: &[(usize, &str)] = &[
        (6, "major version"),                  // header only
        (7, "major version"),                  // one byte of the major version
        (8, "minor version"),                  // major complete
        (10, "keepalive interval"),            // version complete
        (13, "keepalive interval"),            // 3 of its 4 bytes
        (14, "max lifetime"),                  // keepalive complete
        (18, "metadata MIME type"),            // no MIME length byte
        (19 + 20, "metadata MIME type"),       // length 39, 20 bytes present
        (19 + 39, "data MIME type"),           // metadata MIME complete
        (19 + 39 + 1 + 15, "data MIME type"),  // one byte of "application/json" missing
        (19 + 39 + 1 + 16, "metadata length"), // M set but no metadata length
    ];
    for &(keep, field) in cases {
        let e = decode_err(&wire[..keep], field);
        assert!(
            matches!(e, DecodeError::Truncated { field: f, .. } if f == field),
            "cut at {keep}: {e:?}"
        );
    }
    // Declared metadata longer than what is left.
    let e = decode_err(&wire[..wire.len() - 3], "metadata length");
    assert_eq!(
        e,
        DecodeError::MetadataLength {
            declared: 2,
            remaining: 1
        }
    );
}

#[test]
fn truncated_setup_resume_token() {
    let head = cat(&[
        &[0x00, 0x00, 0x00, 0x00],
        &[0x04, 0x80], // SETUP | R
        &[0x00, 0x01, 0x00, 0x00],
        &[0x00, 0x00, 0x4E, 0x20],
        &[0x00, 0x01, 0x5F, 0x90],
    ]);
    let e = decode_err(&cat(&[&head, &[0x00]]), "resume token length");
    assert!(matches!(
        e,
        DecodeError::Truncated {
            field: "resume token length",
            ..
        }
    ));
    // Token length 16 with only 2 token bytes.
    let e = decode_err(&cat(&[&head, &[0x00, 0x10, 0xAA, 0xBB]]), "resume token");
    assert_eq!(
        e,
        DecodeError::Truncated {
            field: "resume token",
            needed: 16,
            remaining: 2
        }
    );
}

#[test]
fn setup_mime_type_not_utf8() {
    let wire = cat(&[
        &[0x00, 0x00, 0x00, 0x00],
        &[0x04, 0x00], // SETUP, no flags
        &[0x00, 0x01, 0x00, 0x00],
        &[0x00, 0x00, 0x4E, 0x20],
        &[0x00, 0x01, 0x5F, 0x90],
        &[0x02, 0xC3, 0x28], // metadata MIME: 0xC3 0x28 is an invalid 2-byte sequence
        &[0x00],
    ]);
    assert_eq!(
        decode_err(&wire, "metadata MIME type"),
        DecodeError::InvalidUtf8 {
            field: "metadata MIME type"
        }
    );
}

#[test]
fn truncated_fixed_fields_of_other_frames() {
    let sid1 = [0x00, 0x00, 0x00, 0x01];
    let cases: &[(&[u8], &[u8], &str)] = &[
        (&[0x08, 0x00], &[0x00], "time-to-live"), // LEASE
        (&[0x08, 0x00], &[0, 0, 0, 1, 0, 0], "number of requests"), // LEASE
        (
            &[0x0C, 0x80],
            &[0, 0, 0, 0, 0, 0, 0],
            "last received position",
        ), // KEEPALIVE
        (&[0x18, 0x00], &[0x00, 0x00], "initial request-n"), // REQUEST_STREAM
        (&[0x1C, 0x00], &[], "initial request-n"), // REQUEST_CHANNEL
        (&[0x20, 0x00], &[0x00, 0x00, 0x01], "request-n"), // REQUEST_N
        (&[0x2C, 0x00], &[0x00, 0x00, 0x02], "error code"), // ERROR
        (&[0x34, 0x00], &[0x00, 0x01], "minor version"), // RESUME
        (&[0x34, 0x00], &[0, 1, 0, 0, 0, 2, 0xAA], "resume token"), // RESUME
        (
            &[0x34, 0x00],
            &[0, 1, 0, 0, 0, 0, 1, 2, 3],
            "last received server position",
        ),
        (&[0x38, 0x00], &[0; 4], "last received client position"), // RESUME_OK
        (&[0xFC, 0x00], &[0x00], "extended type"),                 // EXT (0x3F << 10)
    ];
    for &(tf, body, field) in cases {
        let wire = cat(&[&sid1, tf, body]);
        let e = decode_err(&wire, field);
        assert!(
            matches!(e, DecodeError::Truncated { field: f, .. } if f == field),
            "{field}: {e:?}"
        );
    }
}

#[test]
fn frame_over_the_maximum_is_refused() {
    let mut wire = vec![0u8; 0x100_0000]; // 2^24 bytes: one more than a frame may have
    wire[5] = 0x00;
    wire[4] = 0x30; // METADATA_PUSH, which would otherwise take any length
    let e = Frame::decode(Bytes::from(wire)).unwrap_err();
    assert_eq!(
        e,
        DecodeError::FrameTooLarge {
            len: 0x100_0000,
            max: 0xFF_FFFF
        }
    );
}
