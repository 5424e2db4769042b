//! The rows of `conformance.md` that apply to a single connection, run against the sans-IO core
//! with a scripted peer: hand-built frames in, decoded frames out. Each test is named after its
//! row (R = requirement, A = attack). Where the spec leaves a choice, the test checks the choice
//! documented in `rsocket_proto::connection`.
//!
//! After negative tests, [`ScriptedPeer::assert_alive`] runs the liveness probe: KEEPALIVE(R=1,
//! 16 bytes) comes back with R=0 and the same bytes, and a fresh request-response reaches the
//! application.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rsocket_proto::frame::{FrameType, MAX_FRAME_LEN};
use rsocket_proto::{
    CloseReason, CommandError, Config, ErrorCode, Event, Frame, Limits, Payload, RequestKind,
    SetupParams, StreamId,
};
use support::raw::{self, C, F, I, L, M, N, R, ty};
use support::{Rng, ScriptedPeer, header_of, pattern_payload};

const MAX_N: u32 = 0x7FFF_FFFF;

fn server() -> ScriptedPeer {
    ScriptedPeer::established_server(Config::default())
}

fn server_with(limits: Limits) -> ScriptedPeer {
    ScriptedPeer::established_server(Config {
        limits,
        ..Config::default()
    })
}

fn lease_server() -> ScriptedPeer {
    let mut p = ScriptedPeer::server(Config {
        lease: true,
        ..Config::default()
    });
    p.send_raw(
        &raw::Setup {
            flags: L,
            ..Default::default()
        }
        .build(),
    );
    p.expect_setup();
    p.expect_silence();
    assert!(p.conn.lease_enabled());
    p
}

/// Sends items on `id` until the credit runs out; returns how many went.
fn emit_until_no_credit(p: &mut ScriptedPeer, id: StreamId, limit: usize) -> usize {
    for i in 0..limit {
        match p.conn.send_next(id, Payload::new(i.to_string()), false) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e, CommandError::NoCredit(id));
                return i;
            }
        }
    }
    limit
}

fn payloads_on(frames: &[Frame], id: u32) -> Vec<&rsocket_proto::frame::PayloadFrame> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Payload(p) if p.stream_id.get() == id => Some(p),
            _ => None,
        })
        .collect()
}

// ---- framing ----------------------------------------------------------------------------------

fn prefixed(frame: &[u8]) -> Vec<u8> {
    let mut v = (frame.len() as u32).to_be_bytes()[1..].to_vec();
    v.extend_from_slice(frame);
    v
}

#[test]
fn r01_partial_and_coalesced_frames_via_codec() {
    let mut wire = prefixed(&raw::Setup::default().build());
    wire.extend(prefixed(&raw::request_response(1, 0, None, b"hello")));

    // One byte per read.
    let mut p = ScriptedPeer::server(Config::default());
    for b in &wire {
        p.send_wire(std::slice::from_ref(b));
    }
    p.expect_setup();
    let (id, ..) = p.expect_request();
    p.conn.send_next(id, Payload::from("world"), true).unwrap();
    assert!(matches!(p.expect_one(), Frame::Payload(f) if f.payload.data == "world"));

    // Both frames in one read.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_wire(&wire);
    p.expect_setup();
    assert_eq!(p.expect_request().0.get(), 1);

    // Split at arbitrary points.
    let mut rng = Rng::new(1);
    for _ in 0..50 {
        let mut p = ScriptedPeer::server(Config::default());
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = rng.range(1, rest.len() + 1);
            p.send_wire(&rest[..n]);
            rest = &rest[n..];
        }
        p.expect_setup();
        assert_eq!(p.expect_request().2.data, "hello");
    }
}

#[test]
fn r02_frames_never_exceed_16mib() {
    // No MTU configured: a payload over the frame limit is still split.
    let mut p = server();
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 1, None, b"big"));
    let (sid, ..) = p.expect_request();
    let big = pattern_payload(7, MAX_FRAME_LEN + 100, Some(10));
    p.conn.send_next(sid, big.clone(), true).unwrap();
    let raw_frames = p.expect_raw_frames();
    assert!(raw_frames.len() >= 2);
    assert!(raw_frames.iter().all(|f| f.len() <= MAX_FRAME_LEN));
    let mut data = BytesMut::new();
    for f in &raw_frames {
        if let Ok(Frame::Payload(pf)) = Frame::decode(f.clone()) {
            data.extend_from_slice(&pf.payload.data);
        }
    }
    assert_eq!(data.freeze(), big.data);
    p.assert_alive();
}

#[test]
fn r03_malformed_header_is_a_connection_error() {
    // Length 3: shorter than the six-byte header.
    let mut p = server();
    p.send_wire(&[0, 0, 3, 0, 0, 0]);
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);

    // Length 10, four bytes, then EOF: nothing to answer, a clean close.
    let mut p = server();
    p.send_wire(&[0, 0, 10, 0, 0, 0, 1]);
    p.expect_silence();
    p.transport_closed();
    p.expect_silence();
    assert_eq!(
        p.take_events(),
        [Event::Closed(CloseReason::TransportClosed)]
    );

    // Before SETUP a malformed first frame is not a SETUP (R14): INVALID_SETUP.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_wire(&[0, 0, 2, 0, 0]);
    p.expect_closed_with(ErrorCode::INVALID_SETUP);
}

#[test]
fn r04_bad_metadata_length_is_a_connection_error() {
    let mut p = server();
    let id = p.next_id();
    p.send_raw(&raw::frame(
        id,
        ty::REQUEST_RESPONSE,
        M,
        &[0xFF, 0xFF, 0xFF, b'a', b'b'],
    ));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);

    // The same frame with I set is ignored (Protocol.md "Metadata Optional Header").
    let mut p = server();
    let id = p.next_id();
    p.send_raw(&raw::frame(
        id,
        ty::REQUEST_RESPONSE,
        M | I,
        &[0xFF, 0xFF, 0xFF, b'a', b'b'],
    ));
    p.expect_silence();
    p.expect_no_events();
    p.assert_alive();
}

#[test]
fn r05_unknown_frame_with_ignore_flag_is_ignored() {
    let mut p = server();
    p.send_raw(&raw::frame(0, 0x20, I, b"whatever"));
    p.send_raw(&raw::frame(7, 0x20, I | M, b"x"));
    p.expect_silence();
    p.expect_no_events();
    p.assert_alive();
}

#[test]
fn r06_unknown_frame_without_ignore_flag_closes() {
    // Documented choice: CONNECTION_ERROR, never a silent hang.
    let mut p = server();
    p.send_raw(&raw::frame(0, 0x21, 0, b"whatever"));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn r07_ext_with_ignore_flag_is_ignored() {
    let mut p = server();
    p.send_raw(&raw::ext(0, true, 12345, b"ext data"));
    p.send_raw(&raw::ext(5, true, 12345, b""));
    p.expect_silence();
    p.expect_no_events();
    p.assert_alive();

    let mut p = server();
    p.send_raw(&raw::ext(0, false, 12345, b""));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn r08_undefined_flag_bits_are_ignored() {
    let mut p = server();
    // REQUEST_RESPONSE with C and N set: an ordinary request.
    let id = p.next_id();
    p.send_raw(&raw::request_response(id, C | N, None, b"rr"));
    let (sid, kind, payload) = p.expect_request();
    assert_eq!(
        (sid.get(), kind, &payload.data[..]),
        (id, RequestKind::Response, &b"rr"[..])
    );
    p.conn.send_next(sid, payload, true).unwrap();
    assert!(matches!(p.expect_one(), Frame::Payload(_)));
    // KEEPALIVE with 0x40 set (and R): answered.
    p.send_raw(&raw::keepalive_on(0, R | 0x40, 0, b"ka"));
    assert!(matches!(p.expect_one(), Frame::Keepalive(k) if !k.respond && k.data == "ka"));
    // REQUEST_N with every undefined flag bit set.
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 1, None, b"s"));
    p.expect_request();
    p.send_raw(&raw::frame(id, ty::REQUEST_N, 0xFF, &2u32.to_be_bytes()));
    assert_eq!(
        p.next_event(),
        Some(Event::RequestN {
            stream_id: StreamId::new(id),
            n: 2
        })
    );
    p.expect_silence();
    p.assert_alive();
}

#[test]
fn r09_server_stream_ids_are_even_from_2() {
    let mut p = server();
    let now = p.now();
    for _ in 0..4 {
        p.conn.request_response(now, Payload::from("ask")).unwrap();
    }
    p.conn.request_stream(now, Payload::from("ask"), 1).unwrap();
    p.conn
        .request_channel(now, Payload::from("ask"), 1, true)
        .unwrap();
    p.conn.fire_and_forget(now, Payload::from("ask")).unwrap();
    let ids: Vec<u32> = p
        .expect_frames()
        .iter()
        .map(|f| f.stream_id().get())
        .collect();
    assert_eq!(ids, [2, 4, 6, 8, 10, 12, 14]);
}

// ---- stream IDs -------------------------------------------------------------------------------

#[test]
fn r10_request_on_a_live_stream_id_is_ignored() {
    let mut p = server();
    p.send_raw(&raw::request_stream(1, 0, 1, None, b"slow"));
    let (id, ..) = p.expect_request();
    p.send_raw(&raw::request_response(1, 0, None, b"again"));
    p.send_raw(&raw::request_channel(1, 0, 1, None, b"again"));
    p.expect_no_events();
    p.expect_silence();
    // Stream 1 continues as a stream with its credit of 1.
    p.conn.send_next(id, Payload::from("item"), false).unwrap();
    assert_eq!(
        p.conn.send_next(id, Payload::from("x"), false),
        Err(CommandError::NoCredit(id))
    );
    p.conn.send_complete(id).unwrap();
    assert_eq!(payloads_on(&p.expect_frames(), 1).len(), 2);
    assert_eq!(p.conn.stream_count(), 0);
    p.next_id();
    p.assert_alive();
}

#[test]
fn r11_stream_ids_may_be_reused() {
    let mut p = server();
    for id in [MAX_N, 1, MAX_N, 1] {
        p.send_raw(&raw::request_response(id, 0, None, b"q"));
        let (sid, ..) = p.expect_request();
        assert_eq!(sid.get(), id);
        p.conn.send_next(sid, Payload::from("a"), true).unwrap();
        assert!(matches!(p.expect_one(), Frame::Payload(f) if f.stream_id.get() == id));
    }
    // The reserved top bit of a stream ID is not part of the ID.
    p.send_raw(&raw::request_response(0x8000_0003, 0, None, b"q"));
    assert_eq!(p.expect_request().0.get(), 3);
}

#[test]
fn r12_frames_on_unknown_streams_are_ignored() {
    let mut p = server();
    p.send_raw(&raw::cancel(99));
    p.send_raw(&raw::cancel(0));
    p.send_raw(&raw::error(99, 0x201, "nobody"));
    p.send_raw(&raw::error(0, 0x201, "a stream code on stream 0"));
    p.send_raw(&raw::error(0, 0x301, "an application code on stream 0"));
    p.send_raw(&raw::payload(99, N | C, None, b"nobody"));
    p.send_raw(&raw::payload(0, N, None, b"nobody"));
    p.send_raw(&raw::request_n(99, 5));
    p.send_raw(&raw::metadata_push(3, b"not on stream 0"));
    p.send_raw(&raw::keepalive_on(5, R, 0, b"not on stream 0"));
    p.send_raw(&raw::lease(1000, 5, None));
    p.expect_silence();
    p.expect_no_events();
    assert_eq!(p.conn.stream_count(), 0);
    p.assert_alive();
}

#[test]
fn r13_request_frames_on_stream_0_are_ignored() {
    let mut p = server();
    p.send_raw(&raw::request_n(0, 10));
    p.send_raw(&raw::request_response(0, 0, None, b"zero"));
    p.send_raw(&raw::request_stream(0, 0, 5, None, b"zero"));
    p.send_raw(&raw::request_channel(0, 0, 5, None, b"zero"));
    p.send_raw(&raw::request_fnf(0, 0, None, b"zero"));
    p.expect_silence();
    p.expect_no_events();
    assert_eq!(p.conn.stream_count(), 0);
    p.assert_alive();
}

// ---- connection establishment -----------------------------------------------------------------

#[test]
fn r14_first_frame_must_be_setup() {
    // (a) KEEPALIVE first.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(&raw::keepalive(true, 0, b"hi"));
    p.expect_closed_with(ErrorCode::INVALID_SETUP);
    // (b) REQUEST_RESPONSE first.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(&raw::request_response(1, 0, None, b"hi"));
    p.expect_closed_with(ErrorCode::INVALID_SETUP);
    // (c) SETUP on stream 1.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(
        &raw::Setup {
            stream_id: 1,
            ..Default::default()
        }
        .build(),
    );
    p.expect_closed_with(ErrorCode::INVALID_SETUP);
    // After the close every frame is ignored.
    p.send_raw(&raw::Setup::default().build());
    p.send_raw(&raw::request_response(1, 0, None, b"hi"));
    p.expect_silence();
    p.expect_no_events();
}

#[test]
fn r15_rejected_setup() {
    // (a) Version 2.0: UNSUPPORTED_SETUP.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(
        &raw::Setup {
            major: 2,
            ..Default::default()
        }
        .build(),
    );
    p.expect_closed_with(ErrorCode::UNSUPPORTED_SETUP);
    // (b) Keepalive interval 0, and separately max lifetime 0: INVALID_SETUP.
    for (keepalive_ms, lifetime_ms) in [(0, 90_000), (20_000, 0)] {
        let mut p = ScriptedPeer::server(Config::default());
        p.send_raw(
            &raw::Setup {
                keepalive_ms,
                lifetime_ms,
                ..Default::default()
            }
            .build(),
        );
        p.expect_closed_with(ErrorCode::INVALID_SETUP);
    }
    // (c) A MIME type the application refuses, (d) an acceptor that rejects: the application
    // decides after Event::Setup.
    for (code, reason) in [
        (
            ErrorCode::UNSUPPORTED_SETUP,
            "unsupported data MIME type text/x-nope",
        ),
        (ErrorCode::REJECTED_SETUP, "bad credentials"),
    ] {
        let mut p = ScriptedPeer::server(Config::default());
        p.send_raw(
            &raw::Setup {
                data_mime: b"text/x-nope".to_vec(),
                metadata: Some(b"auth".to_vec()),
                ..Default::default()
            }
            .build(),
        );
        match p.next_event() {
            Some(Event::Setup(s)) => {
                assert_eq!(s.data_mime_type, "text/x-nope");
                assert_eq!(s.payload.metadata.as_deref(), Some(&b"auth"[..]));
            }
            other => panic!("expected Event::Setup, got {other:?}"),
        }
        p.conn.reject_setup(code, reason);
        let frames = p.expect_frames();
        assert_eq!(frames.len(), 1);
        match &frames[0] {
            Frame::Error(e) => {
                assert!(e.stream_id.is_connection());
                assert_eq!(e.code, code);
                assert_eq!(e.message(), reason);
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
        assert!(p.conn.is_closed());
        assert!(matches!(
            p.take_events().as_slice(),
            [Event::Closed(CloseReason::Local { code: c, .. })] if *c == code
        ));
        // Requests that follow are never seen.
        p.send_raw(&raw::request_response(1, 0, None, b"x"));
        p.expect_silence();
        p.expect_no_events();
    }
}

#[test]
fn r16_setup_with_resume_to_a_server_without_resume() {
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(
        &raw::Setup {
            flags: R,
            token: b"0123456789abcdef".to_vec(),
            ..Default::default()
        }
        .build(),
    );
    p.expect_closed_with(ErrorCode::REJECTED_SETUP);
}

#[test]
fn r17_lease_flag() {
    // Lease disabled on the server: UNSUPPORTED_SETUP.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(
        &raw::Setup {
            flags: L,
            ..Default::default()
        }
        .build(),
    );
    p.expect_closed_with(ErrorCode::UNSUPPORTED_SETUP);

    // Lease enabled: the application grants a LEASE before anything else.
    let mut p = lease_server();
    let now = p.now();
    p.conn
        .send_lease(now, Duration::from_secs(30), 10, None)
        .unwrap();
    let frames = p.expect_raw_frames();
    assert_eq!(frames.len(), 1);
    let (sid, t, _) = header_of(&frames[0]);
    assert_eq!((sid, t), (0, FrameType::LEASE));
    assert_eq!(&frames[0][6..10], &30_000u32.to_be_bytes());
    assert_eq!(&frames[0][10..14], &10u32.to_be_bytes());
}

#[test]
fn r18_no_requests_before_the_peer_grants_a_lease() {
    let mut p = lease_server();
    let now = p.now();
    assert!(matches!(
        p.conn.request_response(now, Payload::from("early")),
        Err(CommandError::NoLease(_))
    ));
    p.expect_silence();
    // The client's responder grants a lease: now the server may request.
    p.send_raw(&raw::lease(5000, 1, None));
    assert!(matches!(
        p.next_event(),
        Some(Event::Lease(l)) if l.ttl_ms == 5000 && l.number_of_requests == 1
    ));
    let now = p.now();
    let id = p.conn.request_response(now, Payload::from("ok")).unwrap();
    assert_eq!(id.get(), 2);
    assert!(matches!(p.expect_one(), Frame::RequestResponse(_)));
    assert!(matches!(
        p.conn.request_response(now, Payload::from("more")),
        Err(CommandError::NoLease(_))
    ));
}

#[test]
fn r19_second_setup_is_ignored() {
    let mut p = server();
    p.send_raw(&raw::Setup::default().build());
    p.send_raw(
        &raw::Setup {
            major: 9,
            ..Default::default()
        }
        .build(),
    );
    p.expect_silence();
    p.expect_no_events();
    p.assert_alive();
}

#[test]
fn r19_client_ignores_setup() {
    let mut p = ScriptedPeer::client(Config::default(), SetupParams::default());
    assert!(matches!(p.expect_one(), Frame::Setup(_)));
    p.send_raw(&raw::Setup::default().build());
    p.expect_silence();
    p.expect_no_events();
    assert!(p.conn.is_established());
}

#[test]
fn r20_setup_rejection_errors_are_ignored_after_setup() {
    let mut p = server();
    for code in [1, 2, 3, 4] {
        p.send_raw(&raw::error(0, code, "late rejection"));
    }
    p.expect_silence();
    p.expect_no_events();
    p.assert_alive();
}

#[test]
fn r20_client_ignores_setup_rejections_once_established() {
    // Before the server shows acceptance, a rejection closes the client.
    let mut p = ScriptedPeer::client(Config::default(), SetupParams::default());
    p.expect_one();
    p.send_raw(&raw::error(0, 0x3, "go away"));
    assert!(p.conn.is_closed());
    assert!(matches!(
        p.take_events().as_slice(),
        [Event::Closed(CloseReason::Peer {
            code: ErrorCode::REJECTED_SETUP,
            ..
        })]
    ));

    // After any other frame from the server (here a KEEPALIVE answer), it is ignored.
    let mut p = ScriptedPeer::client(Config::default(), SetupParams::default());
    p.expect_one();
    p.send_raw(&raw::keepalive(false, 0, b""));
    for code in [1, 2, 3, 4] {
        p.send_raw(&raw::error(0, code, "late rejection"));
    }
    p.expect_silence();
    p.expect_no_events();
    assert!(p.conn.is_established());
}

// ---- errors -----------------------------------------------------------------------------------

#[test]
fn r21_error_codes_on_the_right_stream_without_trailing_nul() {
    // Handler error: on the request's stream, APPLICATION_ERROR or a custom code.
    let mut p = server();
    for code in [ErrorCode::APPLICATION_ERROR, ErrorCode(0x301)] {
        let id = p.next_id();
        p.send_raw(&raw::request_response(id, 0, None, b"error.route"));
        let (sid, ..) = p.expect_request();
        p.conn.send_error(sid, code, "demo error").unwrap();
        let raw_frames = p.expect_raw_frames();
        assert_eq!(raw_frames.len(), 1);
        let f = &raw_frames[0];
        assert_eq!(header_of(f).0, id);
        assert_eq!(header_of(f).1, FrameType::ERROR);
        assert_eq!(&f[6..10], &code.0.to_be_bytes());
        assert_eq!(&f[10..], b"demo error", "no trailing NUL");
    }

    // Lease reject: REJECTED on the request's stream.
    let mut p = lease_server();
    p.send_raw(&raw::request_response(1, 0, None, b"no lease"));
    let f = p.expect_raw_frames();
    assert_eq!(header_of(&f[0]).0, 1);
    assert_eq!(&f[0][6..10], &0x202u32.to_be_bytes());
    assert_ne!(f[0].last(), Some(&0));

    // Setup reject: on stream 0.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(&raw::Setup::default().build());
    p.expect_setup();
    p.conn.reject_setup(ErrorCode::REJECTED_SETUP, "nope");
    let f = p.expect_raw_frames();
    assert_eq!(header_of(&f[0]).0, 0);
    assert_eq!(&f[0][6..], &[0, 0, 0, 3, b'n', b'o', b'p', b'e']);
}

#[test]
fn r22_connection_close_waits_and_connection_error_is_immediate() {
    // (a) CONNECTION_CLOSE: the outstanding stream finishes, new requests are refused.
    let mut p = server();
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 3, None, b"finite"));
    let (sid, ..) = p.expect_request();
    p.send_raw(&raw::error(0, 0x102, "closing"));
    assert!(!p.conn.is_closed());
    p.expect_no_events();
    let late = p.next_id();
    p.send_raw(&raw::request_response(late, 0, None, b"late"));
    p.expect_no_events();
    assert_eq!(
        p.expect_error(late, ErrorCode::REJECTED),
        "the connection is closing"
    );
    for i in 0..3 {
        p.conn
            .send_next(sid, Payload::new(format!("{i}")), false)
            .unwrap();
    }
    p.conn.send_complete(sid).unwrap();
    assert_eq!(payloads_on(&p.expect_frames(), id).len(), 4);
    assert!(p.conn.is_closed());
    assert!(matches!(
        p.take_events().as_slice(),
        [Event::Closed(CloseReason::Peer {
            code: ErrorCode::CONNECTION_CLOSE,
            ..
        })]
    ));

    // (b) CONNECTION_ERROR: closed at once, streams ended.
    let mut p = server();
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 3, None, b"finite"));
    let (sid, ..) = p.expect_request();
    p.send_raw(&raw::error(0, 0x101, "bye"));
    assert!(p.conn.is_closed());
    assert_eq!(p.conn.stream_count(), 0);
    assert_eq!(
        p.take_events(),
        [Event::Closed(CloseReason::Peer {
            code: ErrorCode::CONNECTION_ERROR,
            message: "bye".into()
        })]
    );
    assert!(p.conn.send_next(sid, Payload::from("x"), false).is_err());
    p.expect_silence();
}

// ---- keepalive --------------------------------------------------------------------------------

#[test]
fn r23_keepalive_echo_and_stream_0_only() {
    let mut p = server();
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
    p.send_raw(&raw::keepalive(true, 0, &data));
    let f = p.expect_raw_frames();
    assert_eq!(f.len(), 1);
    let (sid, t, flags) = header_of(&f[0]);
    assert_eq!((sid, t), (0, FrameType::KEEPALIVE));
    assert_eq!(flags.bits() & R, 0, "answer has R set");
    assert_eq!(&f[0][14..], &data[..], "echo differs");
    // KEEPALIVE on stream 5: ignored.
    p.send_raw(&raw::keepalive_on(5, R, 0, b"x"));
    p.expect_silence();
    p.assert_alive();
}

#[test]
fn r24_keepalive_without_respond_is_not_answered() {
    let mut p = server();
    p.send_raw(&raw::keepalive(false, 0, b"no answer"));
    p.advance(Duration::from_secs(40)); // 2 x the 20 s interval
    p.expect_silence();
    p.expect_no_events();
    // (The advance above was also 40 s of silence, well inside the 90 s lifetime.)
    p.assert_alive();
}

#[test]
fn r25_dead_peer_detection() {
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(
        &raw::Setup {
            keepalive_ms: 500,
            lifetime_ms: 1500,
            ..Default::default()
        }
        .build(),
    );
    p.expect_setup();
    p.advance(Duration::from_millis(1499));
    assert!(!p.conn.is_closed(), "closed before the max lifetime");
    p.expect_silence();
    p.advance(Duration::from_millis(1));
    let frames = p.expect_frames();
    assert!(matches!(
        frames.as_slice(),
        [Frame::Error(e)] if e.stream_id.is_connection() && e.code == ErrorCode::CONNECTION_ERROR
    ));
    assert_eq!(
        p.take_events(),
        [Event::Closed(CloseReason::KeepaliveTimeout(
            Duration::from_millis(1500)
        ))]
    );
}

#[test]
fn r25_keepalives_answered_while_a_bulk_stream_flows() {
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(
        &raw::Setup {
            keepalive_ms: 500,
            lifetime_ms: 1500,
            ..Default::default()
        }
        .build(),
    );
    p.expect_setup();
    p.send_raw(&raw::request_stream(1, 0, MAX_N, None, b"bulk"));
    let (id, ..) = p.expect_request();
    for round in 0..10u8 {
        for i in 0..100 {
            p.conn
                .send_next(id, Payload::new(vec![i; 100]), false)
                .unwrap();
        }
        p.send_raw(&raw::keepalive(true, 0, &[round]));
        p.advance(Duration::from_millis(500));
        let frames = p.expect_frames();
        assert_eq!(payloads_on(&frames, 1).len(), 100);
        assert!(
            frames
                .iter()
                .any(|f| matches!(f, Frame::Keepalive(k) if !k.respond && k.data[..] == [round]))
        );
    }
    assert!(p.conn.is_established());
}

// ---- lease ------------------------------------------------------------------------------------

#[test]
fn r26_lease_frame_format() {
    let mut p = lease_server();
    let now = p.now();
    p.conn
        .send_lease(
            now,
            Duration::from_millis(1234),
            7,
            Some(Bytes::from_static(b"md")),
        )
        .unwrap();
    let f = p.expect_raw_frames();
    assert_eq!(
        &f[0][..],
        &[
            0, 0, 0, 0, // stream 0
            0x09, 0x00, // LEASE << 2 | M
            0, 0, 0x04, 0xD2, // TTL 1234
            0, 0, 0, 7, // 7 requests
            b'm', b'd', // metadata without a length prefix
        ]
    );
}

#[test]
fn r27_requests_beyond_the_lease_are_rejected() {
    let mut p = lease_server();
    let now = p.now();
    p.conn
        .send_lease(now, Duration::from_secs(5), 2, None)
        .unwrap();
    assert!(matches!(p.expect_one(), Frame::Lease(_)));
    let mut accepted = Vec::new();
    for i in 0..3 {
        let id = p.next_id();
        p.send_raw(&raw::request_response(id, 0, None, b"r"));
        if i < 2 {
            accepted.push(p.expect_request().0);
            p.expect_silence();
        } else {
            p.expect_no_events();
            p.expect_error(id, ErrorCode::REJECTED);
        }
    }
    // Past the TTL.
    p.advance(Duration::from_secs(5));
    let _ = p.expect_frames();
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 1, None, b"r"));
    p.expect_no_events();
    p.expect_error(id, ErrorCode::REJECTED);
    // Fire-and-forget beyond the lease: dropped without an answer.
    let id = p.next_id();
    p.send_raw(&raw::request_fnf(id, 0, None, b"r"));
    p.expect_no_events();
    p.expect_silence();

    // A request before any LEASE on a new connection.
    let mut p = lease_server();
    p.send_raw(&raw::request_channel(1, 0, 1, None, b"early"));
    p.expect_no_events();
    p.expect_error(1, ErrorCode::REJECTED);
}

#[test]
fn r27_fragmented_request_costs_one_lease() {
    let mut p = lease_server();
    let now = p.now();
    p.conn
        .send_lease(now, Duration::from_secs(5), 1, None)
        .unwrap();
    p.expect_one();
    p.send_raw(&raw::request_response(1, F, None, &[1; 80]));
    p.send_raw(&raw::payload(1, F | N, None, &[2; 80]));
    p.send_raw(&raw::payload(1, N, None, &[3; 10]));
    let (_, _, payload) = p.expect_request();
    assert_eq!(payload.data.len(), 170);
    p.expect_silence();
    p.send_raw(&raw::request_response(3, 0, None, b"second"));
    p.expect_error(3, ErrorCode::REJECTED);
}

// ---- flow control -----------------------------------------------------------------------------

#[test]
fn r29_request_n_must_be_positive() {
    let mut p = server();
    // Initial n = 0, and with the reserved top bit: ERROR[INVALID], no handler.
    for n in [0, 0x8000_0000, 0xFFFF_FFFF] {
        let id = p.next_id();
        p.send_raw(&raw::request_stream(id, 0, n, None, b"s"));
        p.expect_no_events();
        p.expect_error(id, ErrorCode::INVALID);
        let id = p.next_id();
        p.send_raw(&raw::request_channel(id, 0, n, None, b"c"));
        p.expect_no_events();
        p.expect_error(id, ErrorCode::INVALID);
    }
    assert_eq!(p.conn.stream_count(), 0);
    // REQUEST_N 0 or with the top bit on a live stream: the stream ends with INVALID.
    for n in [0, 0x8000_0001] {
        let id = p.next_id();
        p.send_raw(&raw::request_stream(id, 0, 1, None, b"s"));
        let (sid, ..) = p.expect_request();
        p.send_raw(&raw::request_n(id, n));
        p.expect_error(id, ErrorCode::INVALID);
        assert!(matches!(
            p.next_event(),
            Some(Event::Error { stream_id, code: ErrorCode::INVALID, .. }) if stream_id == sid
        ));
        // Nothing more can be sent on it: no unbounded send.
        assert_eq!(
            p.conn.send_next(sid, Payload::from("x"), false),
            Err(CommandError::UnknownStream(sid))
        );
    }
    assert_eq!(p.conn.stream_count(), 0);
    p.assert_alive();
}

#[test]
fn r30_credits_are_cumulative_and_respected() {
    let mut p = server();
    p.send_raw(&raw::request_stream(1, 0, 3, None, b"infinite"));
    let (id, ..) = p.expect_request();
    assert_eq!(emit_until_no_credit(&mut p, id, 100), 3);
    assert_eq!(payloads_on(&p.expect_frames(), 1).len(), 3);
    p.advance(Duration::from_secs(2));
    p.expect_silence();
    assert_eq!(emit_until_no_credit(&mut p, id, 100), 0);
    p.send_raw(&raw::request_n(1, 2));
    assert_eq!(
        p.next_event(),
        Some(Event::RequestN {
            stream_id: id,
            n: 2
        })
    );
    assert_eq!(emit_until_no_credit(&mut p, id, 100), 2);
    assert_eq!(payloads_on(&p.expect_frames(), 1).len(), 2);
    // request(3) + request(2) + request(4) = 9 in total.
    p.send_raw(&raw::request_n(1, 4));
    p.next_event();
    assert_eq!(emit_until_no_credit(&mut p, id, 100), 4);
}

#[test]
fn r30_requester_cancels_a_responder_that_overruns_its_credit() {
    let mut p = ScriptedPeer::client(Config::default(), SetupParams::default());
    let now = p.now();
    let id = p.conn.request_stream(now, Payload::from("s"), 2).unwrap();
    p.expect_frames();
    for i in 0..2u8 {
        p.send_raw(&raw::payload(id.get(), N, None, &[i]));
    }
    assert_eq!(p.take_events().len(), 2);
    p.expect_silence();
    p.send_raw(&raw::payload(id.get(), N, None, b"one too many"));
    assert!(matches!(p.expect_one(), Frame::Cancel(c) if c.stream_id == id));
    assert!(matches!(
        p.take_events().as_slice(),
        [Event::Error { stream_id, code: ErrorCode::INVALID, .. }] if *stream_id == id
    ));
    assert_eq!(p.conn.stream_count(), 0);
}

#[test]
fn r31_max_request_n_saturates_and_keeps_going() {
    let mut p = server();
    p.send_raw(&raw::request_stream(1, 0, MAX_N, None, b"infinite"));
    let (id, ..) = p.expect_request();
    for _ in 0..5 {
        p.send_raw(&raw::request_n(1, MAX_N));
        assert_eq!(
            p.next_event(),
            Some(Event::RequestN {
                stream_id: id,
                n: MAX_N
            })
        );
    }
    assert!(p.conn.send_credit(id).unwrap().is_unbounded());
    let mut received = 0;
    for chunk in 0..100 {
        for i in 0..1000u32 {
            p.conn
                .send_next(
                    id,
                    Payload::new((chunk * 1000 + i).to_be_bytes().to_vec()),
                    false,
                )
                .unwrap();
        }
        received += payloads_on(&p.expect_frames(), 1).len();
    }
    assert_eq!(received, 100_000);
    assert!(p.conn.send_credit(id).unwrap().is_unbounded());

    // Large grants just below the magic value add up without wrapping.
    let mut p = server();
    p.send_raw(&raw::request_stream(1, 0, MAX_N - 1, None, b"big"));
    let (id, ..) = p.expect_request();
    for _ in 0..5 {
        p.send_raw(&raw::request_n(1, MAX_N - 1));
    }
    assert_eq!(
        p.conn.send_credit(id).unwrap().get(),
        Some(6 * u64::from(MAX_N - 1))
    );
}

// ---- fragmentation ----------------------------------------------------------------------------

fn server_with_mtu(mtu: usize) -> ScriptedPeer {
    ScriptedPeer::established_server(Config {
        mtu: Some(mtu),
        ..Config::default()
    })
}

#[test]
fn r32_fragmented_payload_is_one_credit() {
    let mut p = server_with_mtu(64 * 1024);
    p.send_raw(&raw::request_stream(1, 0, 1, None, b"big"));
    let (id, ..) = p.expect_request();
    let item = pattern_payload(3, 5 * 1024 * 1024, None);
    p.conn.send_next(id, item.clone(), false).unwrap();
    assert_eq!(
        p.conn.send_next(id, Payload::from("second"), false),
        Err(CommandError::NoCredit(id))
    );
    let frames = p.expect_frames();
    let fragments = payloads_on(&frames, 1);
    assert!(fragments.len() >= 80);
    let (last, init) = fragments.split_last().unwrap();
    assert!(init.iter().all(|f| f.follows && f.next && !f.complete));
    assert!(!last.follows && last.next);
    let data: Vec<u8> = fragments
        .iter()
        .flat_map(|f| f.payload.data.iter().copied())
        .collect();
    assert_eq!(data, item.data);
}

#[test]
fn r33_metadata_before_data() {
    let mut p = server_with_mtu(64 * 1024);
    p.send_raw(&raw::request_stream(1, 0, 1, None, b"big"));
    let (id, ..) = p.expect_request();
    let item = pattern_payload(5, 3 << 20, Some(3 << 20));
    p.conn.send_next(id, item.clone(), true).unwrap();
    let frames = p.expect_frames();
    let mut seen_data = false;
    let (mut md, mut data) = (Vec::new(), Vec::new());
    for f in payloads_on(&frames, 1) {
        if seen_data {
            assert!(f.payload.metadata.is_none(), "metadata after data");
        }
        seen_data |= !f.payload.data.is_empty();
        md.extend_from_slice(f.payload.metadata.as_deref().unwrap_or_default());
        data.extend_from_slice(&f.payload.data);
    }
    assert_eq!(Some(Bytes::from(md)), item.metadata);
    assert_eq!(Bytes::from(data), item.data);

    // Inbound: metadata after data breaks the protocol.
    let mut p = server();
    p.send_raw(&raw::request_response(1, F, Some(&[1; 30]), &[2; 40]));
    p.send_raw(&raw::payload(1, N, Some(b"late metadata"), b"x"));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn r34_fragmented_request() {
    let mut p = server();
    let md1 = [b'm'; 70];
    let (md2, d2) = ([b'n'; 10], [b'd'; 60]);
    p.send_raw(&raw::request_response(1, F, Some(&md1), b""));
    p.send_raw(&raw::payload(1, F | N, Some(&md2), &d2));
    p.expect_no_events();
    p.send_raw(&raw::payload(1, N, None, b"tail"));
    let (id, kind, payload) = p.expect_request();
    assert_eq!(kind, RequestKind::Response);
    let mut md = md1.to_vec();
    md.extend_from_slice(&md2);
    let mut data = d2.to_vec();
    data.extend_from_slice(b"tail");
    assert_eq!(payload, Payload::new(data).with_metadata(md));
    // The echo route answers.
    p.conn.send_next(id, payload.clone(), true).unwrap();
    assert!(matches!(p.expect_one(), Frame::Payload(f) if f.payload == payload));

    // Every request type, data only.
    for (t, n) in [
        (ty::REQUEST_FNF, None),
        (ty::REQUEST_STREAM, Some(5u32)),
        (ty::REQUEST_CHANNEL, Some(5)),
    ] {
        let id = p.next_id();
        let mut body = n.map(|n| n.to_be_bytes().to_vec()).unwrap_or_default();
        body.extend_from_slice(&[1; 70]);
        p.send_raw(&raw::frame(id, t, F, &body));
        p.send_raw(&raw::payload(id, N, None, &[2; 5]));
        let (_, kind, payload) = p.expect_request();
        assert_eq!(payload.data.len(), 75);
        match kind {
            RequestKind::FireAndForget => assert_eq!(t, ty::REQUEST_FNF),
            RequestKind::Stream { initial_n } => {
                assert_eq!((t, initial_n), (ty::REQUEST_STREAM, 5))
            }
            RequestKind::Channel {
                initial_n,
                complete,
            } => assert_eq!((t, initial_n, complete), (ty::REQUEST_CHANNEL, 5, false)),
            RequestKind::Response => unreachable!(),
        }
    }
    p.expect_silence();
}

#[test]
fn r35_follows_and_complete_means_final_fragment() {
    let mut p = server();
    // A fragmented channel payload whose last fragment has F and C.
    p.send_raw(&raw::request_channel(1, 0, 5, None, b"open"));
    let (id, ..) = p.expect_request();
    p.conn.request_n(id, 3).unwrap();
    p.expect_one();
    p.send_raw(&raw::payload(1, F | N, None, &[1; 70]));
    p.expect_no_events();
    p.send_raw(&raw::payload(1, F | C | N, None, &[2; 10]));
    let (sid, payload, complete) = match p.next_event() {
        Some(Event::Next {
            stream_id,
            payload,
            complete,
        }) => (stream_id, payload, complete),
        other => panic!("expected Event::Next, got {other:?}"),
    };
    assert_eq!((sid, payload.data.len(), complete), (id, 80, true));
    p.conn.send_complete(id).unwrap();
    p.expect_one();
    assert_eq!(p.conn.stream_count(), 0);

    // The same on a fragmented REQUEST_CHANNEL: the requester's side is complete.
    let id = p.next_id();
    p.send_raw(&raw::request_channel(id, F, 5, None, &[1; 70]));
    p.send_raw(&raw::payload(id, F | C | N, None, &[2; 10]));
    let (earlier, kind, payload) = p.expect_request();
    assert_eq!(
        kind,
        RequestKind::Channel {
            initial_n: 5,
            complete: true
        }
    );
    assert_eq!(payload.data.len(), 80);
    p.expect_silence();
    p.conn.send_complete(earlier).unwrap();
    p.expect_one();

    // REQUEST_CHANNEL with F and C: F is ignored as on a PAYLOAD; the requester is complete.
    let id = p.next_id();
    p.send_raw(&raw::request_channel(id, F | C, 5, None, &[3; 70]));
    let (sid, kind, payload) = p.expect_request();
    assert_eq!(
        kind,
        RequestKind::Channel {
            initial_n: 5,
            complete: true
        }
    );
    assert_eq!(payload.data.len(), 70);
    assert!(matches!(
        p.conn.request_n(sid, 1),
        Err(CommandError::NotAllowed(_))
    ));
    p.send_raw(&raw::payload(id, N, None, b"after C"));
    p.expect_no_events();
    p.conn.send_complete(sid).unwrap();
    p.expect_one();
    assert_eq!(p.conn.stream_count(), 0);
}

#[test]
fn r36_cancel_mid_fragment_sequence() {
    // A small reassembly budget and stream limit: a leak would show.
    let mut p = server_with(Limits {
        max_reassembly_bytes: 10_000,
        max_concurrent_streams: 8,
        ..Limits::default()
    });
    for _ in 0..10_000 {
        let id = p.next_id();
        p.send_raw(&raw::request_response(id, F, Some(&[7; 50]), &[8; 50]));
        p.send_raw(&raw::cancel(id));
        p.advance(Duration::from_millis(1));
    }
    p.expect_silence();
    p.expect_no_events();
    assert_eq!(p.conn.stream_count(), 0);
    assert!(p.conn.is_established());
    // All eight stream slots are free: no partial reassembly was kept.
    let ids: Vec<u32> = (0..8).map(|_| p.next_id()).collect();
    for &id in &ids {
        p.send_raw(&raw::request_response(id, 0, None, b"slow"));
    }
    let got: Vec<StreamId> = (0..8).map(|_| p.expect_request().0).collect();
    p.expect_silence();
    for id in got {
        p.conn.send_complete(id).unwrap();
    }
    assert_eq!(p.expect_frames().len(), 8);
    p.assert_alive();
}

#[test]
fn r37_long_channel() {
    let mut p = server();
    p.send_raw(&raw::request_channel(1, 0, MAX_N, None, b"0"));
    let (id, ..) = p.expect_request();
    p.conn.request_n(id, MAX_N).unwrap();
    p.expect_one();
    let mut echoed = 0;
    for i in 1..100_000u32 {
        let data = i.to_be_bytes();
        if i % 1000 == 0 {
            // Now and then a fragmented one.
            let mut first = vec![0u8; 70];
            first[..4].copy_from_slice(&data);
            p.send_raw(&raw::payload(1, F | N, None, &first));
            p.send_raw(&raw::payload(1, N, None, b"!"));
        } else {
            p.send_raw(&raw::payload(1, N, None, &data));
        }
        match p.next_event() {
            Some(Event::Next { payload, .. }) => {
                assert_eq!(payload.data[..4], data);
                p.conn.send_next(id, payload, false).unwrap();
            }
            other => panic!("item {i}: expected Event::Next, got {other:?}"),
        }
        if i % 1000 == 0 {
            echoed += payloads_on(&p.expect_frames(), 1).len();
        }
    }
    p.send_raw(&raw::payload(1, C, None, b""));
    assert_eq!(p.next_event(), Some(Event::Complete { stream_id: id }));
    p.conn.send_complete(id).unwrap();
    echoed += payloads_on(&p.expect_frames(), 1).len();
    assert_eq!(echoed, 100_000);
    assert_eq!(p.conn.stream_count(), 0);
    p.next_id();
    p.assert_alive();
}

// ---- stream sequences -------------------------------------------------------------------------

#[test]
fn r38_payload_without_next_or_complete_is_ignored() {
    let mut p = server();
    p.send_raw(&raw::request_channel(1, 0, 5, None, b"open"));
    let (id, ..) = p.expect_request();
    p.conn.request_n(id, 5).unwrap();
    p.expect_one();
    p.send_raw(&raw::payload(1, 0, None, b"neither"));
    p.expect_no_events();
    p.expect_silence();
    // The channel is still alive and its credit untouched.
    for i in 0..5u8 {
        p.send_raw(&raw::payload(1, N, None, &[i]));
    }
    assert_eq!(p.take_events().len(), 5);
    p.expect_silence();
    p.next_id();
    p.assert_alive();
}

#[test]
fn r39_no_response_after_cancel() {
    let mut p = server();
    p.send_raw(&raw::request_response(1, 0, None, b"slow"));
    let (id, ..) = p.expect_request();
    p.send_raw(&raw::cancel(1));
    assert_eq!(p.next_event(), Some(Event::Cancel { stream_id: id }));
    assert_eq!(
        p.conn.send_next(id, Payload::from("too late"), true),
        Err(CommandError::UnknownStream(id))
    );
    assert!(
        p.conn
            .send_error(id, ErrorCode::APPLICATION_ERROR, "x")
            .is_err()
    );
    p.expect_silence();
    assert_eq!(p.conn.stream_count(), 0);
    p.next_id();
    p.assert_alive();
}

#[test]
fn r40_channel_responder_grants_credit() {
    let mut p = server();
    p.send_raw(&raw::request_channel(1, 0, 4, None, b"first"));
    let (id, kind, _) = p.expect_request();
    assert_eq!(
        kind,
        RequestKind::Channel {
            initial_n: 4,
            complete: false
        }
    );
    // The application wants input: a REQUEST_N on the stream.
    p.conn.request_n(id, 2).unwrap();
    assert!(matches!(p.expect_one(), Frame::RequestN(r) if r.stream_id.get() == 1 && r.n == 2));
    // The echo respects the requester's n = 4.
    assert_eq!(emit_until_no_credit(&mut p, id, 10), 4);
    assert_eq!(payloads_on(&p.expect_frames(), 1).len(), 4);
    // Two payloads within the granted credit are delivered; a third overruns it.
    p.send_raw(&raw::payload(1, N, None, b"a"));
    p.send_raw(&raw::payload(1, N, None, b"b"));
    assert_eq!(p.take_events().len(), 2);
    p.send_raw(&raw::payload(1, N, None, b"c"));
    p.expect_error(1, ErrorCode::INVALID);
    assert!(matches!(
        p.next_event(),
        Some(Event::Error {
            code: ErrorCode::INVALID,
            ..
        })
    ));
    assert_eq!(p.conn.stream_count(), 0);
    p.next_id();
    p.assert_alive();
}

#[test]
fn r41_channel_half_close() {
    let mut p = server();
    p.send_raw(&raw::request_channel(1, C, 3, None, b"only"));
    let (id, kind, _) = p.expect_request();
    assert_eq!(
        kind,
        RequestKind::Channel {
            initial_n: 3,
            complete: true
        }
    );
    // A PAYLOAD after C is ignored.
    p.send_raw(&raw::payload(1, N, None, b"extra"));
    p.expect_no_events();
    p.expect_silence();
    for i in 0..3u8 {
        p.conn.send_next(id, Payload::new(vec![i]), false).unwrap();
    }
    p.conn.send_complete(id).unwrap();
    let frames = p.expect_frames();
    let out = payloads_on(&frames, 1);
    assert_eq!(out.len(), 4);
    assert!(out[..3].iter().all(|f| f.next && !f.complete));
    assert!(out[3].complete && !out[3].next);
    assert_eq!(p.conn.stream_count(), 0);
    p.next_id();
    p.assert_alive();
}

#[test]
fn r42_error_terminates_the_channel() {
    let mut p = server();
    p.send_raw(&raw::request_channel(1, 0, 10, None, b"c"));
    let (id, ..) = p.expect_request();
    p.conn.send_next(id, Payload::from("1"), false).unwrap();
    p.expect_one();
    p.send_raw(&raw::error(1, 0x201, "requester failed"));
    assert_eq!(
        p.next_event(),
        Some(Event::Error {
            stream_id: id,
            code: ErrorCode::APPLICATION_ERROR,
            message: "requester failed".into()
        })
    );
    assert_eq!(
        p.conn.send_next(id, Payload::from("2"), false),
        Err(CommandError::UnknownStream(id))
    );
    p.expect_silence();
    assert_eq!(p.conn.stream_count(), 0);
    p.next_id();
    p.assert_alive();
}

#[test]
fn r43_cancel_ends_a_stream() {
    let mut p = server();
    p.send_raw(&raw::request_stream(1, 0, 1000, None, b"infinite"));
    let (id, ..) = p.expect_request();
    for i in 0..10u8 {
        p.conn.send_next(id, Payload::new(vec![i]), false).unwrap();
    }
    assert_eq!(p.expect_frames().len(), 10);
    p.send_raw(&raw::cancel(1));
    assert_eq!(p.next_event(), Some(Event::Cancel { stream_id: id }));
    assert!(p.conn.send_next(id, Payload::from("x"), false).is_err());
    p.expect_silence();
    // A second CANCEL (and a late REQUEST_N) for the forgotten stream: ignored.
    p.send_raw(&raw::cancel(1));
    p.send_raw(&raw::request_n(1, 5));
    p.expect_silence();
    p.expect_no_events();
    p.next_id();
    p.assert_alive();
}

#[test]
fn r44_fire_and_forget_has_no_response() {
    let mut p = server_with(Limits {
        max_payload_size: 1000,
        ..Limits::default()
    });
    p.send_raw(&raw::request_fnf(1, 0, Some(b"md"), b"fnf"));
    let (id, kind, payload) = p.expect_request();
    assert_eq!((id.get(), kind), (1, RequestKind::FireAndForget));
    assert_eq!(payload, Payload::from("fnf").with_metadata("md"));
    assert_eq!(p.conn.stream_count(), 0);
    assert!(p.conn.send_next(id, Payload::from("x"), true).is_err());
    // Even a fragmented one over the payload limit is dropped without an answer.
    p.send_raw(&raw::request_fnf(3, F, None, &[0; 600]));
    p.send_raw(&raw::payload(3, N, None, &[0; 600]));
    p.expect_no_events();
    p.send_raw(&raw::request_fnf(5, F, None, &[0; 1001]));
    p.expect_no_events();
    p.expect_silence();
    p.next_id();
    p.next_id();
    p.assert_alive();
}

#[test]
fn r45_metadata_push() {
    let mut p = server();
    p.send_raw(&raw::metadata_push(0, b"pushed metadata"));
    assert_eq!(
        p.next_event(),
        Some(Event::MetadataPush(Bytes::from_static(b"pushed metadata")))
    );
    p.expect_silence();
    p.assert_alive();
}

// ---- resume -----------------------------------------------------------------------------------

#[test]
fn r46_resume_without_resume_support() {
    // (a) RESUME to a server without resume.
    let mut p = ScriptedPeer::server(Config::default());
    p.send_raw(&raw::resume(b"some token", 0, 0));
    p.expect_closed_with(ErrorCode::REJECTED_RESUME);
    // (c) SETUP then RESUME.
    let mut p = server();
    p.send_raw(&raw::resume(b"some token", 0, 0));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

// ---- attacks ----------------------------------------------------------------------------------

#[test]
fn a03_rapid_cancel_closes_the_connection() {
    let limits = Limits {
        max_cancels_per_window: 10,
        cancel_window: Duration::from_secs(1),
        ..Limits::default()
    };
    // Honest: cancels after a response, or spread over windows, are fine.
    let mut p = server_with(limits.clone());
    for round in 0..5 {
        for _ in 0..10 {
            let id = p.next_id();
            p.send_raw(&raw::request_response(id, 0, None, b"q"));
            p.send_raw(&raw::cancel(id));
        }
        assert_eq!(p.take_events().len(), 20, "ten requests and ten cancels");
        p.advance(Duration::from_secs(1));
        assert!(p.conn.is_established(), "round {round}");
    }
    for _ in 0..50 {
        let id = p.next_id();
        p.send_raw(&raw::request_stream(id, 0, 5, None, b"q"));
        let (sid, ..) = p.expect_request();
        p.conn.send_next(sid, Payload::from("1"), false).unwrap();
        p.send_raw(&raw::cancel(id));
        assert_eq!(p.next_event(), Some(Event::Cancel { stream_id: sid }));
    }
    p.take_events();
    p.expect_frames();
    p.assert_alive();

    // Abusive: more than the limit within one window.
    let mut p = server_with(limits);
    for _ in 0..10 {
        let id = p.next_id();
        p.send_raw(&raw::request_response(id, 0, None, b"q"));
        p.send_raw(&raw::cancel(id));
    }
    assert!(p.conn.is_established());
    p.expect_silence();
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 1, None, b"q"));
    p.send_raw(&raw::cancel(id));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn a03_rapid_reset_by_error_instead_of_cancel() {
    // A requester that ends its fresh requests with ERROR (allowed on a channel) instead of
    // CANCEL is the same attack.
    let mut p = server_with(Limits {
        max_cancels_per_window: 10,
        ..Limits::default()
    });
    for i in 0..11 {
        let id = p.next_id();
        p.send_raw(&raw::request_channel(id, 0, 1, None, b"q"));
        p.send_raw(&raw::error(id, 0x201, "never mind"));
        if i < 10 {
            assert!(p.conn.is_established(), "closed after {i}");
        }
    }
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn a03_abandoning_fragmented_requests_is_not_a_rapid_reset() {
    // The spec allows cancelling a fragmented request mid-sequence (R36); no handler ever
    // started, so neither CANCEL nor ERROR on a partial request counts for the guard.
    let mut p = server_with(Limits {
        max_cancels_per_window: 10,
        ..Limits::default()
    });
    for i in 0..100 {
        let id = p.next_id();
        p.send_raw(&raw::request_response(id, F, None, &[0; 80]));
        if i % 2 == 0 {
            p.send_raw(&raw::cancel(id));
        } else {
            p.send_raw(&raw::error(id, 0x201, "never mind"));
        }
    }
    assert!(p.conn.is_established());
    p.expect_silence();
    p.assert_alive();
}

#[test]
fn a04_concurrent_stream_limit() {
    let mut p = server_with(Limits {
        max_concurrent_streams: 4,
        ..Limits::default()
    });
    let mut live = Vec::new();
    for _ in 0..4 {
        let id = p.next_id();
        p.send_raw(&raw::request_stream(id, 0, 1, None, b"slow"));
        live.push(p.expect_request().0);
    }
    let id = p.next_id();
    p.send_raw(&raw::request_stream(id, 0, 1, None, b"one too many"));
    p.expect_no_events();
    p.expect_error(id, ErrorCode::REJECTED);
    // A partial reassembly takes a slot too.
    p.conn.send_complete(live.pop().unwrap()).unwrap();
    p.expect_one();
    let id = p.next_id();
    p.send_raw(&raw::request_response(id, F, None, &[0; 100]));
    let id = p.next_id();
    p.send_raw(&raw::request_response(id, 0, None, b"no room"));
    p.expect_error(id, ErrorCode::REJECTED);
    // Fire-and-forget over the limit is dropped silently.
    let id = p.next_id();
    p.send_raw(&raw::request_fnf(id, 0, None, b"dropped"));
    p.expect_no_events();
    p.expect_silence();
    assert_eq!(p.conn.stream_count(), 3);
}

#[test]
fn a05_client_ignores_requests_with_its_own_parity() {
    let mut p = ScriptedPeer::client(Config::default(), SetupParams::default());
    p.expect_one();
    // The raw server sends requests with odd (client) IDs and on stream 0: ignored.
    for id in [1, 3, 0] {
        p.send_raw(&raw::request_response(id, 0, None, b"wrong parity"));
    }
    p.expect_no_events();
    p.expect_silence();
    // Even IDs reach the client's responder.
    p.send_raw(&raw::request_stream(2, 0, 2, None, b"ok"));
    let (id, kind, _) = p.expect_request();
    assert_eq!((id.get(), kind), (2, RequestKind::Stream { initial_n: 2 }));
    // The client's own requests still use odd IDs, skipping nothing.
    let now = p.now();
    assert_eq!(
        p.conn
            .request_response(now, Payload::from("q"))
            .unwrap()
            .get(),
        1
    );
}

#[test]
fn unexpected5_response_payload_without_complete_completes() {
    let mut p = ScriptedPeer::client(Config::default(), SetupParams::default());
    let now = p.now();
    let id = p.conn.request_response(now, Payload::from("q")).unwrap();
    assert_eq!(p.expect_frames().len(), 2); // SETUP and the request
    p.send_raw(&raw::payload(id.get(), N, None, b"answer"));
    assert_eq!(
        p.next_event(),
        Some(Event::Next {
            stream_id: id,
            payload: Payload::from("answer"),
            complete: true
        })
    );
    assert_eq!(p.conn.stream_count(), 0);
    // A second answer is for an unknown stream.
    p.send_raw(&raw::payload(id.get(), N | C, None, b"again"));
    p.expect_no_events();
    p.expect_silence();
}

#[test]
fn a05_stream_ids_across_the_whole_space() {
    let mut p = server();
    let mut rng = Rng::new(0xA5);
    let mut requested = std::collections::HashSet::new();
    for i in 0..20_000u32 {
        let id = match rng.range(0, 6) {
            0 => 0,
            1 => MAX_N - (rng.range(0, 4) as u32),
            2 => rng.range(0, 16) as u32,
            3 => rng.next_u64() as u32, // the reserved top bit too
            _ => (rng.next_u64() as u32) & MAX_N,
        };
        let body = [i as u8; 8];
        let frame = match rng.range(0, 8) {
            0 => raw::request_response(id, 0, None, &body),
            1 => raw::request_stream(id, 0, rng.range(0, 3) as u32, None, &body),
            2 => raw::request_channel(id, 0, 2, None, &body),
            3 => raw::request_fnf(id, 0, None, &body),
            4 => raw::request_n(id, rng.next_u64() as u32),
            5 => raw::cancel(id),
            6 => raw::payload(id, N, None, &body),
            _ if id & MAX_N != 0 => raw::error(id, 0x201, "e"),
            _ => raw::cancel(id),
        };
        p.send_raw(&frame);
        for e in p.take_events() {
            if let Event::Request {
                stream_id, kind, ..
            } = e
            {
                assert_ne!(stream_id.get(), 0);
                assert!(
                    stream_id.is_client_initiated(),
                    "accepted even ID {stream_id}"
                );
                if kind != RequestKind::FireAndForget {
                    requested.insert(stream_id);
                }
            }
        }
        assert!(p.conn.stream_count() <= requested.len());
        let _ = p.expect_frames();
        if i % 5000 == 0 {
            p.advance(Duration::from_secs(1));
        }
    }
    assert!(p.conn.is_established());
    // Cancel everything: the map is empty again.
    for id in requested {
        p.send_raw(&raw::cancel(id.get()));
        p.advance(Duration::from_millis(1));
    }
    let _ = p.take_events();
    let _ = p.expect_frames();
    assert_eq!(p.conn.stream_count(), 0);
    p.assert_alive();
}

#[test]
fn a06_endless_fragments_hit_the_payload_cap() {
    let mut p = server_with(Limits {
        max_payload_size: 4096,
        ..Limits::default()
    });
    p.send_raw(&raw::request_response(1, F, None, &[0; 100]));
    let mut rejected_at = None;
    for i in 0..1000 {
        p.send_raw(&raw::payload(1, F | N, None, &[0; 100]));
        let frames = p.expect_frames();
        if !frames.is_empty() {
            assert!(matches!(
                frames.as_slice(),
                [Frame::Error(e)] if e.stream_id.get() == 1 && e.code == ErrorCode::REJECTED
            ));
            rejected_at = Some(i);
            break;
        }
    }
    // 100 + 40 * 100 > 4096: the 40th continuation (index 39) is over the cap.
    assert_eq!(rejected_at, Some(39));
    // The rest of the flood is ignored.
    for _ in 0..100 {
        p.send_raw(&raw::payload(1, F | N, None, &[0; 100]));
    }
    p.expect_silence();
    p.expect_no_events();
    p.next_id();
    p.assert_alive();

    // On an established channel, an oversized inbound payload ends the stream.
    let id = p.next_id();
    p.send_raw(&raw::request_channel(id, 0, 1, None, b"c"));
    let (sid, ..) = p.expect_request();
    p.conn.request_n(sid, 1).unwrap();
    p.expect_one();
    for _ in 0..41 {
        p.send_raw(&raw::payload(id, F | N, None, &[0; 100]));
    }
    p.expect_error(id, ErrorCode::INVALID);
    assert!(matches!(p.next_event(), Some(Event::Error { .. })));
    assert_eq!(p.conn.stream_count(), 0);
    p.assert_alive();
}

#[test]
fn a06_many_partial_reassemblies_hit_the_connection_budget() {
    let mut p = server_with(Limits {
        max_reassembly_bytes: 10_000,
        ..Limits::default()
    });
    // Each partial request holds 94 bytes; the 107th goes over 10,000.
    for i in 0..106 {
        let id = p.next_id();
        p.send_raw(&raw::request_response(id, F, None, &[0; 94]));
        assert!(p.conn.is_established(), "closed after {i}");
    }
    p.expect_silence();
    let id = p.next_id();
    p.send_raw(&raw::request_response(id, F, None, &[0; 94]));
    let frames = p.expect_frames();
    assert!(
        matches!(frames.as_slice(), [Frame::Error(e)]
            if e.stream_id.is_connection() && e.code == ErrorCode::CONNECTION_ERROR),
        "{frames:?}"
    );
    assert!(p.conn.is_closed());

    // Growing existing partials counts as well.
    let mut p = server_with(Limits {
        max_reassembly_bytes: 10_000,
        ..Limits::default()
    });
    let ids: Vec<u32> = (0..10).map(|_| p.next_id()).collect();
    for &id in &ids {
        p.send_raw(&raw::request_response(id, F, None, &[0; 94]));
    }
    'flood: for _ in 0..100 {
        for &id in &ids {
            p.send_raw(&raw::payload(id, F | N, None, &[0; 94]));
            if p.conn.is_closed() {
                break 'flood;
            }
        }
    }
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn a06_reassembly_budget_is_released_on_every_exit() {
    // Each round leaves 400 bytes in a reassembly buffer and then ends the stream another
    // way; with a 1,000-byte budget a single leak closes the connection within a few rounds.
    let mut p = server_with(Limits {
        max_reassembly_bytes: 1000,
        ..Limits::default()
    });
    let half_payload = |id: u32| raw::payload(id, F | N, None, &[9; 400]);
    for round in 0..10 {
        for exit in 0..7 {
            let id = p.next_id();
            if exit == 0 {
                // A partial request, canceled.
                p.send_raw(&raw::request_response(id, F, None, &[9; 400]));
                p.send_raw(&raw::cancel(id));
                continue;
            }
            p.send_raw(&raw::request_channel(id, 0, 5, None, b"c"));
            let (sid, ..) = p.expect_request();
            p.conn.send_next(sid, Payload::from("r"), false).unwrap();
            if exit != 5 {
                p.conn.request_n(sid, 5).unwrap();
            }
            p.send_raw(&half_payload(id));
            match exit {
                1 => p.send_raw(&raw::cancel(id)),
                2 => p.send_raw(&raw::error(id, 0x201, "requester error")),
                3 => p
                    .conn
                    .send_error(sid, ErrorCode(0x301), "responder error")
                    .unwrap(),
                4 => p.conn.cancel(sid).unwrap(),
                5 => {
                    // No credit was granted: the completed payload is an overrun.
                    p.send_raw(&raw::payload(id, N, None, b"end"));
                }
                _ => {
                    // Completed normally, then the responder completes too.
                    p.send_raw(&raw::payload(id, N | C, None, b"end"));
                }
            }
            if p.conn.stream_count() > 0 {
                p.conn.send_complete(sid).unwrap();
            }
            let _ = p.take_events();
            let _ = p.expect_frames();
            assert!(
                p.conn.is_established(),
                "round {round}, exit {exit}: budget leaked"
            );
            assert_eq!(p.conn.stream_count(), 0, "round {round}, exit {exit}");
        }
        p.advance(Duration::from_secs(1));
    }
    p.assert_alive();
}

#[test]
fn a07_tiny_non_final_fragments_close_the_connection() {
    let mut p = server();
    p.send_raw(&raw::request_response(1, F, None, b"tiny"));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);

    // An empty non-final PAYLOAD on a live channel.
    let mut p = server();
    p.send_raw(&raw::request_channel(1, 0, 1, None, b"c"));
    let (id, ..) = p.expect_request();
    p.conn.request_n(id, 10).unwrap();
    p.expect_one();
    p.send_raw(&raw::payload(1, F | N, None, b""));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);

    // A small final fragment is fine.
    let mut p = server();
    p.send_raw(&raw::request_response(1, F, None, &[0; 58]));
    p.send_raw(&raw::payload(1, N, None, b""));
    assert_eq!(p.expect_request().2.data.len(), 58);
}

#[test]
fn a08_keepalive_data_over_the_cap() {
    let mut p = server_with(Limits {
        max_keepalive_data: 1024,
        ..Limits::default()
    });
    p.send_raw(&raw::keepalive(true, 0, &[1; 1024]));
    assert!(matches!(p.expect_one(), Frame::Keepalive(k) if k.data.len() == 1024));
    p.send_raw(&raw::keepalive(true, 0, &[1; 1025]));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);

    // The default cap is 64 KiB.
    let mut p = server();
    p.send_raw(&raw::keepalive(true, 0, &vec![2; 64 << 10]));
    p.expect_one();
    p.send_raw(&raw::keepalive(true, 0, &vec![2; (64 << 10) + 1]));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn a09_ignored_frame_budget() {
    let limits = Limits {
        max_ignored_per_window: 100,
        cancel_window: Duration::from_secs(1),
        ..Limits::default()
    };
    let ignorable = |i: u32| match i % 8 {
        0 => raw::cancel(1001 + 2 * i),
        1 => raw::payload(1001 + 2 * i, N, None, b"x"),
        2 => raw::frame(0, 0x20, I, b"unknown"),
        3 => raw::metadata_push(5, b"wrong stream"),
        4 => raw::request_n(1001 + 2 * i, 1),
        5 => raw::ext(0, true, 99, b""),
        6 => raw::error(1001 + 2 * i, 0x201, "unknown stream"),
        _ => raw::error(0, 1 + i % 4, "late setup rejection"),
    };
    // Within the budget, spread over windows: ignored without a word.
    let mut p = server_with(limits.clone());
    for _ in 0..3 {
        for i in 0..100 {
            p.send_raw(&ignorable(i));
        }
        p.expect_silence();
        p.advance(Duration::from_secs(1));
    }
    p.expect_no_events();
    p.assert_alive();

    // Over the budget within one window: closed.
    let mut p = server_with(limits);
    for i in 0..100 {
        p.send_raw(&ignorable(i));
    }
    p.expect_silence();
    p.send_raw(&ignorable(100));
    p.expect_closed_with(ErrorCode::CONNECTION_ERROR);
}

#[test]
fn a15_random_bytes_after_setup() {
    let mut rng = Rng::new(0xA15);
    let mut closed = 0;
    for _ in 0..500 {
        let mut p = server();
        for _ in 0..rng.range(1, 20) {
            let len = rng.range(0, 48);
            let mut frame = rng.bytes(len);
            // Aim some frames at stream 0 and at valid-looking types.
            if len >= 6 && rng.one_in(3) {
                frame[..4].copy_from_slice(&[0, 0, 0, 0]);
            }
            if len >= 6 && rng.one_in(2) {
                frame[4] = (rng.range(0, 16) as u8) << 2 | (frame[4] & 3);
            }
            p.send_raw(&frame);
        }
        let frames = p.expect_frames();
        for (i, f) in frames.iter().enumerate() {
            match f {
                Frame::Error(e) if e.stream_id.is_connection() => {
                    assert_eq!(e.code, ErrorCode::CONNECTION_ERROR, "{f:?}");
                    assert_eq!(i, frames.len() - 1, "frames after the connection error");
                    assert!(p.conn.is_closed());
                }
                Frame::Error(_) => {}
                Frame::Keepalive(k) => assert!(!k.respond),
                other => panic!("unexpected answer to garbage: {other:?}"),
            }
        }
        if p.conn.is_closed() {
            closed += 1;
        }
    }
    assert!(
        closed > 100,
        "garbage rarely closed the connection: {closed}"
    );
}
