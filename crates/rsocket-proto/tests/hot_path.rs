//! The connection decodes PAYLOAD, REQUEST_RESPONSE and REQUEST_FNF frames on a path of their
//! own (`handle_bytes` without building a `Frame`): any sequence of frames must do exactly
//! what it does through the generic path (`handle_frame` of the decoded frames).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use rsocket_proto::frame::{
    Cancel, Flags, FrameType, PayloadFrame, RequestFnf, RequestN, RequestResponse, RequestStream,
    Setup, Version,
};
use rsocket_proto::{Config, Connection, Event, Frame, Payload, SetupParams, StreamId};

/// What a connection did: its events and the frames it sent, and its positions.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    sent: Vec<Frame>,
    closed: bool,
}

fn drain(c: &mut Connection) -> Outcome {
    Outcome {
        events: std::iter::from_fn(|| c.poll_event()).collect(),
        sent: std::iter::from_fn(|| c.poll_transmit()).collect(),
        closed: c.is_closed(),
    }
}

/// A server that took a SETUP, or a client whose SETUP went out; `requests` streams opened by
/// the client (IDs 1, 3, ...) so the peer's PAYLOADs have somewhere to go.
fn connection(now: Instant, server: bool, requests: u32) -> Connection {
    let mut c = if server {
        let mut c = Connection::server(now, Config::default());
        let setup = Setup {
            version: Version::V1_0,
            keepalive_interval_ms: 20_000,
            max_lifetime_ms: 90_000,
            resume_token: None,
            lease: false,
            metadata_mime_type: "application/octet-stream".into(),
            data_mime_type: "application/octet-stream".into(),
            payload: Payload::default(),
        };
        c.handle_frame(now, Frame::Setup(Box::new(setup)));
        c
    } else {
        Connection::client(now, Config::default(), SetupParams::default())
    };
    if !server {
        for i in 0..requests {
            if i % 2 == 0 {
                c.request_response(now, Payload::from("q")).unwrap();
            } else {
                c.request_stream(now, Payload::from("s"), 5).unwrap();
            }
        }
    }
    drain(&mut c);
    c
}

fn payload() -> impl Strategy<Value = Payload> {
    (
        vec(any::<u8>(), 0..8),
        prop_oneof![Just(None), vec(any::<u8>(), 0..8).prop_map(Some)],
    )
        .prop_map(|(d, m)| Payload {
            data: Bytes::from(d),
            metadata: m.map(Bytes::from),
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    let id = (0u32..12).prop_map(StreamId::new);
    prop_oneof![
        4 => (id.clone(), any::<[bool; 3]>(), payload()).prop_map(|(stream_id, [follows, complete, next], payload)| {
            Frame::Payload(PayloadFrame { stream_id, follows, complete, next, payload })
        }),
        2 => (id.clone(), any::<bool>(), payload()).prop_map(|(stream_id, follows, payload)| {
            Frame::RequestResponse(RequestResponse { stream_id, follows, payload })
        }),
        2 => (id.clone(), any::<bool>(), payload()).prop_map(|(stream_id, follows, payload)| {
            Frame::RequestFnf(RequestFnf { stream_id, follows, payload })
        }),
        1 => (id.clone(), 1u32..4, payload()).prop_map(|(stream_id, initial_n, payload)| {
            Frame::RequestStream(RequestStream { stream_id, follows: false, initial_n, payload })
        }),
        1 => (id.clone(), 1u32..4).prop_map(|(stream_id, n)| Frame::RequestN(RequestN { stream_id, n })),
        1 => id.prop_map(|stream_id| Frame::Cancel(Cancel { stream_id })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_fast_path_does_what_the_generic_path_does(
        server in any::<bool>(),
        frames in vec(frame(), 1..24),
        // One frame may be cut short (a truncated metadata length, say).
        cut in proptest::option::of((any::<prop::sample::Index>(), 1usize..6)),
    ) {
        let now = Instant::now();
        let mut fast = connection(now, server, 4);
        let mut generic = connection(now, server, 4);
        let cut = cut.map(|(i, n)| (i.index(frames.len()), n));
        for (i, f) in frames.iter().enumerate() {
            let mut b = BytesMut::new();
            f.encode(&mut b).unwrap();
            let mut bytes = b.freeze();
            if let Some((at, n)) = cut {
                if at == i {
                    bytes.truncate(bytes.len().saturating_sub(n).max(6));
                }
            }
            fast.handle_bytes(now, bytes.clone());
            // The generic path: the frame, decoded. (A frame that does not decode fails the
            // same way on both paths: `decode_payload_only` gives `Frame::decode`'s error, a
            // unit property test in `frame`; both then feed it to the same handler.)
            match Frame::decode(bytes.clone()) {
                Ok(frame) => generic.handle_frame(now, frame),
                Err(_) => generic.handle_bytes(now, bytes),
            }
            prop_assert_eq!(drain(&mut fast), drain(&mut generic), "after frame {}", i);
        }
        prop_assert_eq!(fast.received_position(), generic.received_position());
    }
}

#[test]
fn flags_of_the_fast_path_are_read_as_the_decoder_reads_them() {
    // PAYLOAD with F and C: C wins (the frame completes the stream), as in the generic path.
    let now = Instant::now();
    let mut c = connection(now, false, 1);
    let mut raw = Vec::new();
    raw.extend_from_slice(&1u32.to_be_bytes());
    let bits = (u16::from(FrameType::PAYLOAD.get()) << 10)
        | (Flags::FOLLOWS.bits() | Flags::COMPLETE.bits() | Flags::NEXT.bits());
    raw.extend_from_slice(&bits.to_be_bytes());
    raw.extend_from_slice(b"answer");
    c.handle_bytes(now, Bytes::from(raw));
    let out = drain(&mut c);
    assert!(
        matches!(&out.events[..], [Event::Next { complete: true, payload, .. }] if payload.data == "answer"),
        "{out:?}"
    );
}
