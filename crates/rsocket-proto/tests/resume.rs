//! Session resumption in the state machine, with a virtual clock and a link that can lose
//! frames in flight.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rsocket_proto::codec::LengthCodec;
use rsocket_proto::connection::ResumeConfig;
use rsocket_proto::frame::{Keepalive, Resume, Version};
use rsocket_proto::{
    CloseReason, Config, Connection, ErrorCode, Event, Frame, Payload, SetupParams, StreamId,
};

fn resumable() -> Config {
    Config {
        resume: Some(ResumeConfig::default()),
        ..Config::default()
    }
}

/// Moves every queued frame from `a` to `b` through the byte codec.
fn deliver(now: Instant, a: &mut Connection, b: &mut Connection) -> usize {
    let mut wire = BytesMut::new();
    let mut n = 0;
    while let Some(f) = a.poll_transmit() {
        f.encode_length_prefixed(&mut wire).unwrap();
        n += 1;
    }
    let codec = LengthCodec::default();
    while let Some(f) = codec.split(&mut wire).unwrap() {
        b.handle_bytes(now, f);
    }
    n
}

/// Drops every queued frame (lost in flight).
fn lose(a: &mut Connection) -> usize {
    let mut n = 0;
    while a.poll_transmit().is_some() {
        n += 1;
    }
    n
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn values(evs: &[Event]) -> Vec<String> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Next { payload, .. } => {
                Some(String::from_utf8_lossy(&payload.data).into_owned())
            }
            _ => None,
        })
        .collect()
}

struct Session {
    now: Instant,
    client: Connection,
    server: Connection,
}

impl Session {
    fn new() -> Session {
        let now = Instant::now();
        let params = SetupParams {
            resume_token: Some(Bytes::from_static(b"0123456789abcdef")),
            ..SetupParams::default()
        };
        let client = Connection::client(now, resumable(), params);
        let server = Connection::server(now, resumable());
        let mut s = Session {
            now,
            client,
            server,
        };
        s.pump();
        assert!(matches!(
            events(&mut s.server).first(),
            Some(Event::Setup(_))
        ));
        s
    }

    fn pump(&mut self) {
        for _ in 0..100 {
            let a = deliver(self.now, &mut self.client, &mut self.server);
            let b = deliver(self.now, &mut self.server, &mut self.client);
            if a + b == 0 {
                return;
            }
        }
        panic!("link did not settle");
    }

    /// Both transports die; frames in flight are lost.
    fn cut(&mut self) {
        lose(&mut self.client);
        lose(&mut self.server);
        self.client.handle_transport_closed();
        self.server.handle_transport_closed();
        assert!(events(&mut self.client).contains(&Event::Disconnected));
        assert!(events(&mut self.server).contains(&Event::Disconnected));
    }

    /// The client reconnects: its RESUME reaches a fresh server connection, which hands it
    /// to the session.
    fn resume(&mut self) -> Result<(), String> {
        self.client.start_resume(self.now).unwrap();
        let mut fresh = Connection::server(self.now, resumable());
        deliver(self.now, &mut self.client, &mut fresh);
        let Some(Event::Resume(r)) = fresh.poll_event() else {
            panic!("the fresh connection must report RESUME");
        };
        self.server.handle_resume(self.now, &r)?;
        self.pump();
        Ok(())
    }
}

#[test]
fn stream_continues_after_loss_exactly_once_in_order() {
    let mut s = Session::new();
    let id = s
        .client
        .request_stream(s.now, Payload::from("go"), 10)
        .unwrap();
    s.pump();
    let Some(Event::Request { stream_id: sid, .. }) = s.server.poll_event() else {
        panic!()
    };
    for i in 0..4 {
        s.server
            .send_next(sid, Payload::from(i.to_string()), false)
            .unwrap();
    }
    s.pump();
    assert_eq!(values(&events(&mut s.client)), ["0", "1", "2", "3"]);
    // Two more are sent but lost with the transport; three more while disconnected.
    for i in 4..6 {
        s.server
            .send_next(sid, Payload::from(i.to_string()), false)
            .unwrap();
    }
    s.cut();
    for i in 6..9 {
        s.server
            .send_next(sid, Payload::from(i.to_string()), false)
            .unwrap();
    }
    s.server.send_next(sid, Payload::from("9"), true).unwrap();
    assert_eq!(
        s.server.poll_transmit(),
        None,
        "nothing is sent without a transport"
    );
    s.resume().unwrap();
    let evs = events(&mut s.client);
    assert_eq!(evs.first(), Some(&Event::Resumed));
    assert_eq!(values(&evs), ["4", "5", "6", "7", "8", "9"]);
    assert!(!s.client.is_stream_open(id));
    assert!(s.client.is_established() && s.server.is_established());
}

#[test]
fn requester_frames_lost_in_flight_are_resent() {
    let mut s = Session::new();
    let id = s
        .client
        .request_channel(s.now, Payload::from("c0"), 100, false)
        .unwrap();
    s.pump();
    let Some(Event::Request { stream_id: sid, .. }) = s.server.poll_event() else {
        panic!()
    };
    s.server.request_n(sid, 100).unwrap();
    s.pump();
    events(&mut s.client);
    s.client.send_next(id, Payload::from("c1"), false).unwrap();
    s.client.send_next(id, Payload::from("c2"), false).unwrap();
    s.cut(); // c1 and c2 never arrived
    s.client.send_next(id, Payload::from("c3"), true).unwrap();
    s.resume().unwrap();
    let evs = events(&mut s.server);
    assert_eq!(values(&evs), ["c1", "c2", "c3"]);
    assert!(matches!(
        evs.last(),
        Some(Event::Next { complete: true, .. })
    ));
}

#[test]
fn fragmented_payload_cut_mid_sequence_arrives_whole_once() {
    let now = Instant::now();
    let cfg = Config {
        mtu: Some(128),
        ..resumable()
    };
    let params = SetupParams {
        resume_token: Some(Bytes::from_static(b"tok")),
        ..SetupParams::default()
    };
    let mut s = Session {
        now,
        client: Connection::client(now, cfg.clone(), params),
        server: Connection::server(now, cfg),
    };
    s.pump();
    events(&mut s.server);
    s.client.request_response(now, Payload::from("q")).unwrap();
    s.pump();
    let Some(Event::Request { stream_id: sid, .. }) = s.server.poll_event() else {
        panic!()
    };
    let big: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    s.server
        .send_next(sid, Payload::new(big.clone()), true)
        .unwrap();
    // Deliver only the first five fragments, then lose the rest with the transport.
    let mut wire = BytesMut::new();
    for _ in 0..5 {
        s.server
            .poll_transmit()
            .unwrap()
            .encode_length_prefixed(&mut wire)
            .unwrap();
    }
    let codec = LengthCodec::default();
    while let Some(f) = codec.split(&mut wire).unwrap() {
        s.client.handle_bytes(now, f);
    }
    assert!(events(&mut s.client).is_empty());
    s.cut();
    s.resume().unwrap();
    let evs = events(&mut s.client);
    let got: Vec<&Payload> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Next { payload, .. } => Some(payload),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].data[..], &big[..]);
}

#[test]
fn keepalive_acknowledgements_free_the_store() {
    let mut s = Session::new();
    let id = s
        .client
        .request_stream(s.now, Payload::from("go"), 1000)
        .unwrap();
    s.pump();
    let Some(Event::Request { stream_id: sid, .. }) = s.server.poll_event() else {
        panic!()
    };
    for i in 0..100 {
        s.server
            .send_next(sid, Payload::from(i.to_string()), false)
            .unwrap();
    }
    s.pump();
    assert!(s.server.resume_store_bytes() > 0);
    // The client's periodic KEEPALIVE carries its received position.
    s.now += Duration::from_secs(21);
    s.client.handle_timeout(s.now);
    s.pump();
    assert_eq!(s.server.resume_store_bytes(), 0);
    let _ = id;
}

#[test]
fn keepalive_position_beyond_what_was_sent_terminates() {
    let mut s = Session::new();
    let bad = Frame::Keepalive(Keepalive {
        respond: false,
        last_received_position: 1_000_000,
        data: Bytes::new(),
    });
    s.server.handle_frame(s.now, bad);
    assert!(s.server.is_closed());
    let evs = events(&mut s.server);
    assert!(matches!(
        evs.last(),
        Some(Event::Closed(CloseReason::Local {
            code: ErrorCode::CONNECTION_ERROR,
            ..
        }))
    ));
}

#[test]
fn impossible_position_and_wrong_token_are_rejected_without_harm() {
    let mut s = Session::new();
    s.cut();
    let bad = Resume {
        version: Version::V1_0,
        token: Bytes::from_static(b"0123456789abcdef"),
        last_received_server_position: 999,
        first_available_client_position: 0,
    };
    let e = s.server.handle_resume(s.now, &bad).unwrap_err();
    assert!(e.contains("999"), "{e}");
    let wrong = Resume {
        token: Bytes::from_static(b"someone else"),
        last_received_server_position: 0,
        ..bad
    };
    assert!(s.server.handle_resume(s.now, &wrong).is_err());
    // The genuine client can still resume.
    s.resume().unwrap();
    assert!(s.server.is_established());
}

#[test]
fn session_expires_without_a_transport() {
    let mut s = Session::new();
    s.client
        .request_stream(s.now, Payload::from("go"), 5)
        .unwrap();
    s.pump();
    s.cut();
    s.now += Duration::from_secs(61);
    s.server.handle_timeout(s.now);
    s.client.handle_timeout(s.now);
    for c in [&mut s.server, &mut s.client] {
        assert!(c.is_closed());
        assert!(matches!(
            events(c).last(),
            Some(Event::Closed(CloseReason::SessionExpired(_)))
        ));
    }
}

#[test]
fn server_without_resume_rejects_resume_and_resumable_setup() {
    let now = Instant::now();
    let mut server = Connection::server(now, Config::default());
    let resume = Frame::Resume(Resume {
        version: Version::V1_0,
        token: Bytes::from_static(b"t"),
        last_received_server_position: 0,
        first_available_client_position: 0,
    });
    server.handle_frame(now, resume);
    let f = server.poll_transmit().unwrap();
    assert!(
        matches!(f, Frame::Error(e) if e.code == ErrorCode::REJECTED_RESUME && e.stream_id == StreamId::CONNECTION)
    );
}

#[test]
fn requests_made_while_disconnected_go_out_after_resume() {
    let mut s = Session::new();
    s.cut();
    let id = s
        .client
        .request_response(s.now, Payload::from("later"))
        .unwrap();
    s.resume().unwrap();
    assert_eq!(s.server.poll_event(), Some(Event::Resumed));
    let Some(Event::Request {
        stream_id, payload, ..
    }) = s.server.poll_event()
    else {
        panic!("the request made while disconnected must arrive")
    };
    assert_eq!(stream_id, id);
    assert_eq!(&payload.data[..], b"later");
}

#[test]
fn received_position_counts_wire_bytes_including_ignored_trailing_bytes() {
    // REQUEST_N with 3 trailing bytes: the decoder ignores them, the position must not.
    let now = Instant::now();
    let mut server = Connection::server(now, resumable());
    let setup = Frame::Setup(Box::new(rsocket_proto::frame::Setup {
        version: Version::V1_0,
        keepalive_interval_ms: 20_000,
        max_lifetime_ms: 90_000,
        resume_token: Some(Bytes::from_static(b"t")),
        lease: false,
        metadata_mime_type: String::new(),
        data_mime_type: String::new(),
        payload: Payload::default(),
    }));
    server.handle_frame(now, setup);
    let mut padded = vec![0, 0, 0, 1, (0x08 << 2) as u8, 0, 0, 0, 0, 5];
    padded.extend_from_slice(&[9, 9, 9]);
    server.handle_bytes(now, Bytes::from(padded));
    assert_eq!(server.received_position(), 13);
}

#[test]
fn a_busy_receiver_acknowledges_before_the_store_fills() {
    // A small store (64 KiB) and a keepalive far away: 100 KiB of payloads must still go
    // through, because the client acknowledges every quarter of the store.
    let now = Instant::now();
    let cfg = Config {
        resume: Some(ResumeConfig {
            max_store_bytes: 64 * 1024,
            ..ResumeConfig::default()
        }),
        ..Config::default()
    };
    let params = SetupParams {
        resume_token: Some(Bytes::from_static(b"busy")),
        ..SetupParams::default()
    };
    let mut s = Session {
        now,
        client: Connection::client(now, cfg.clone(), params),
        server: Connection::server(now, cfg),
    };
    s.pump();
    events(&mut s.server);
    s.client
        .request_stream(now, Payload::from("go"), 1_000_000)
        .unwrap();
    s.pump();
    let Some(Event::Request { stream_id: sid, .. }) = s.server.poll_event() else {
        panic!()
    };
    let chunk = vec![7u8; 1000];
    for _ in 0..100 {
        s.server
            .send_next(sid, Payload::new(chunk.clone()), false)
            .unwrap();
        s.pump();
        assert!(!s.server.is_closed(), "the store overflowed");
        assert!(s.server.resume_store_bytes() <= 64 * 1024);
    }
    assert!(s.server.resume_store_bytes() < 32 * 1024);
}
