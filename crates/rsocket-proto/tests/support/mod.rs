//! Shared test support for the connection state machine:
//!
//! * [`Pair`]: a client and a server [`Connection`] joined by an in-memory byte stream (real
//!   length-prefixed encoding, [`LengthCodec::split`], [`Connection::handle_bytes`]) and a
//!   virtual clock.
//! * [`ScriptedPeer`]: one [`Connection`] driven by hand-built frames; the frames it transmits
//!   come back decoded for the test to check.
//! * [`raw`]: frames written byte by byte from Protocol.md, independent of the frame encoder.
//! * [`Rng`]: a tiny seeded generator, so every "random" test is reproducible.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rsocket_proto::codec::LengthCodec;
use rsocket_proto::frame::{Flags, FrameType, MAX_FRAME_LEN};
use rsocket_proto::{
    Config, Connection, ErrorCode, Event, Frame, Payload, RequestKind, SetupParams, StreamId,
};

/// Upper bound on pump rounds; a conversation that has not gone quiet by then is a bug.
const MAX_PUMP_ROUNDS: usize = 10_000;
/// Upper bound on timer firings within one `advance`.
const MAX_TIMER_STEPS: usize = 100_000;

// ---- invariants checked on every transmitted frame --------------------------------------------

/// Checks what every frame we transmit must satisfy, whatever the test: it encodes, it fits the
/// MTU when it is fragmentable, a PAYLOAD has N or C (Protocol.md PAYLOAD: "MUST NOT have C=0
/// and N=0"), requests use the sender's parity, ERROR codes sit on the right stream.
pub fn check_outbound(sender: &Connection, f: &Frame) {
    let len = f.encoded_len();
    assert!(
        len <= MAX_FRAME_LEN,
        "frame of {len} bytes exceeds 16,777,215"
    );
    let fragmentable = matches!(
        f,
        Frame::RequestResponse(_)
            | Frame::RequestFnf(_)
            | Frame::RequestStream(_)
            | Frame::RequestChannel(_)
            | Frame::Payload(_)
    );
    if fragmentable {
        let mtu = sender.config().effective_mtu();
        assert!(
            len <= mtu,
            "{:?} of {len} bytes exceeds the MTU {mtu}",
            f.frame_type()
        );
    }
    if let Frame::Payload(p) = f {
        assert!(p.next || p.complete, "PAYLOAD with neither N nor C: {p:?}");
    }
    let client = sender.role() == rsocket_proto::Role::Client;
    if matches!(
        f,
        Frame::RequestResponse(_)
            | Frame::RequestFnf(_)
            | Frame::RequestStream(_)
            | Frame::RequestChannel(_)
    ) {
        let id = f.stream_id();
        assert!(!id.is_connection(), "request on stream 0");
        assert_eq!(
            id.is_client_initiated(),
            client,
            "request {id} has the wrong parity"
        );
    }
    if let Frame::Error(e) = f {
        if e.code.is_connection_level() {
            assert!(
                e.stream_id.is_connection(),
                "{:?} on stream {}",
                e.code,
                e.stream_id
            );
        } else {
            assert!(!e.stream_id.is_connection(), "{:?} on stream 0", e.code);
        }
        assert_ne!(e.data.last(), Some(&0), "ERROR data is null-terminated");
    }
}

/// Encodes frames with their length prefix into one write, as a driver does.
fn encode_all(sender: &Connection, frames: &[Frame], wire: &mut BytesMut) {
    for f in frames {
        check_outbound(sender, f);
        let before = wire.len();
        f.encode_length_prefixed(wire)
            .expect("transmitted frame encodes");
        let prefix = u32::from_be_bytes([0, wire[before], wire[before + 1], wire[before + 2]]);
        assert_eq!(prefix as usize, f.encoded_len(), "length prefix");
    }
}

/// Splits a wire buffer into frames (asserting it holds only whole frames).
fn split_all(wire: &mut BytesMut) -> Vec<Bytes> {
    let codec = LengthCodec::default();
    let mut out = Vec::new();
    while let Some(b) = codec
        .split(wire)
        .expect("our own frames are within the limit")
    {
        out.push(b);
    }
    assert!(wire.is_empty(), "a partial frame was left on the wire");
    out
}

/// The earliest deadline among `conns` if it is not after `target`.
fn due(conns: &[&Connection], target: Instant) -> Option<Instant> {
    conns
        .iter()
        .filter_map(|c| c.poll_timeout())
        .min()
        .filter(|t| *t <= target)
}

// ---- the pair ---------------------------------------------------------------------------------

/// Which end of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client connection.
    Client,
    /// The server connection.
    Server,
}

impl Side {
    /// Both sides, for tests that run in each direction.
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// A client and a server joined in memory, with a virtual clock.
pub struct Pair {
    /// The client.
    pub client: Connection,
    /// The server.
    pub server: Connection,
    base: Instant,
    offset: Duration,
    /// Events the client reported, oldest first.
    pub client_events: VecDeque<Event>,
    /// Events the server reported, oldest first.
    pub server_events: VecDeque<Event>,
    /// Every frame the client transmitted (delivered or not).
    pub c2s: Vec<Frame>,
    /// Every frame the server transmitted (delivered or not).
    pub s2c: Vec<Frame>,
    /// Drop client-to-server traffic (a half-dead link).
    pub cut_c2s: bool,
    /// Drop server-to-client traffic.
    pub cut_s2c: bool,
}

impl Pair {
    /// A pair with default configuration, established: SETUP delivered, the server's
    /// [`Event::Setup`] consumed.
    pub fn new() -> Pair {
        Pair::with_configs(Config::default(), Config::default())
    }

    /// A pair with the given configurations, established.
    pub fn with_configs(client: Config, server: Config) -> Pair {
        let base = Instant::now();
        let mut p = Pair {
            client: Connection::client(base, client, SetupParams::default()),
            server: Connection::server(base, server),
            base,
            offset: Duration::ZERO,
            client_events: VecDeque::new(),
            server_events: VecDeque::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
            cut_c2s: false,
            cut_s2c: false,
        };
        p.pump();
        match p.server_events.pop_front() {
            Some(Event::Setup(s)) => assert_eq!(s.version.major, 1),
            other => panic!("expected Event::Setup, got {other:?}"),
        }
        p
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// One side's connection.
    pub fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// One side's pending events.
    pub fn events(&mut self, side: Side) -> &mut VecDeque<Event> {
        match side {
            Side::Client => &mut self.client_events,
            Side::Server => &mut self.server_events,
        }
    }

    /// Frames one side transmitted.
    pub fn sent(&self, side: Side) -> &[Frame] {
        match side {
            Side::Client => &self.c2s,
            Side::Server => &self.s2c,
        }
    }

    /// Forgets the frame logs.
    pub fn clear_logs(&mut self) {
        self.c2s.clear();
        self.s2c.clear();
    }

    /// Feeds a hand-built frame (no length prefix) to `side` as if its peer had sent it, then
    /// pumps. Lets a test break rules the peer's own state machine would refuse to break.
    pub fn inject(&mut self, side: Side, frame: &[u8]) {
        let now = self.now();
        self.conn(side)
            .handle_bytes(now, Bytes::copy_from_slice(frame));
        self.pump();
    }

    /// The next event of a side, if any.
    pub fn next_event(&mut self, side: Side) -> Option<Event> {
        self.events(side).pop_front()
    }

    /// Takes all pending events of a side.
    pub fn take_events(&mut self, side: Side) -> Vec<Event> {
        self.events(side).drain(..).collect()
    }

    /// Expects the next event of `side` to be a request and returns it.
    pub fn expect_request(&mut self, side: Side) -> (StreamId, RequestKind, Payload) {
        match self.next_event(side) {
            Some(Event::Request {
                stream_id,
                kind,
                payload,
            }) => (stream_id, kind, payload),
            other => panic!("{side:?}: expected Event::Request, got {other:?}"),
        }
    }

    /// Expects the next event of `side` to be a value and returns it.
    pub fn expect_next(&mut self, side: Side) -> (StreamId, Payload, bool) {
        match self.next_event(side) {
            Some(Event::Next {
                stream_id,
                payload,
                complete,
            }) => (stream_id, payload, complete),
            other => panic!("{side:?}: expected Event::Next, got {other:?}"),
        }
    }

    /// Asserts that `side` has no pending events.
    pub fn assert_no_events(&mut self, side: Side) {
        let ev = self.take_events(side);
        assert!(ev.is_empty(), "{side:?}: unexpected events {ev:?}");
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push_back(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push_back(e);
        }
    }

    /// Moves frames both ways, through the real length-prefixed encoding, until neither side
    /// has anything left to send.
    pub fn pump(&mut self) {
        for _ in 0..MAX_PUMP_ROUNDS {
            self.collect_events();
            let now = self.now();
            let c2s: Vec<Frame> = std::iter::from_fn(|| self.client.poll_transmit()).collect();
            let s2c: Vec<Frame> = std::iter::from_fn(|| self.server.poll_transmit()).collect();
            if c2s.is_empty() && s2c.is_empty() {
                return;
            }
            let mut wire = BytesMut::new();
            encode_all(&self.client, &c2s, &mut wire);
            if !self.cut_c2s {
                for b in split_all(&mut wire) {
                    self.server.handle_bytes(now, b);
                }
            }
            let mut wire = BytesMut::new();
            encode_all(&self.server, &s2c, &mut wire);
            if !self.cut_s2c {
                for b in split_all(&mut wire) {
                    self.client.handle_bytes(now, b);
                }
            }
            self.c2s.extend(c2s);
            self.s2c.extend(s2c);
        }
        panic!("pump did not reach quiescence within {MAX_PUMP_ROUNDS} rounds");
    }

    /// Moves the virtual clock forward by `d`, firing every timer at its deadline and pumping
    /// after each.
    pub fn advance(&mut self, d: Duration) {
        self.pump();
        let target = self.now() + d;
        for _ in 0..MAX_TIMER_STEPS {
            let Some(at) = due(&[&self.client, &self.server], target) else {
                break;
            };
            let at = at.max(self.now());
            self.offset = at - self.base;
            for side in Side::BOTH {
                let c = self.conn(side);
                if c.poll_timeout().is_some_and(|t| t <= at) {
                    c.handle_timeout(at);
                }
            }
            self.pump();
            assert!(
                due(&[&self.client, &self.server], at).is_none(),
                "poll_timeout did not move after handle_timeout"
            );
        }
        self.offset = self.offset.max(target - self.base);
        self.pump();
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

// ---- the scripted peer ------------------------------------------------------------------------

/// One [`Connection`] under test and a hand-driven peer: the test sends frames (typed or raw
/// bytes) and checks the frames that come back.
pub struct ScriptedPeer {
    /// The connection under test.
    pub conn: Connection,
    base: Instant,
    offset: Duration,
    /// Bytes written toward the connection and not yet split into frames.
    wire_in: BytesMut,
    codec: LengthCodec,
    /// The next stream ID the peer uses for its own requests.
    next_id: u32,
    events: VecDeque<Event>,
}

impl ScriptedPeer {
    /// A server under test; the peer plays a raw client (odd stream IDs). No SETUP sent yet.
    pub fn server(config: Config) -> ScriptedPeer {
        let base = Instant::now();
        let codec = LengthCodec::new(config.limits.max_frame_size);
        ScriptedPeer {
            conn: Connection::server(base, config),
            base,
            offset: Duration::ZERO,
            wire_in: BytesMut::new(),
            codec,
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    /// A server under test that has accepted the peer's default SETUP.
    pub fn established_server(config: Config) -> ScriptedPeer {
        let mut p = ScriptedPeer::server(config);
        p.send_raw(&raw::Setup::default().build());
        p.expect_setup();
        p
    }

    /// A client under test; the peer plays a raw server (even stream IDs). The client's SETUP
    /// is still in its transmit queue.
    pub fn client(config: Config, params: SetupParams) -> ScriptedPeer {
        let base = Instant::now();
        let codec = LengthCodec::new(config.limits.max_frame_size);
        ScriptedPeer {
            conn: Connection::client(base, config, params),
            base,
            offset: Duration::ZERO,
            wire_in: BytesMut::new(),
            codec,
            next_id: 2,
            events: VecDeque::new(),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// A fresh stream ID for the peer's next request.
    pub fn next_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        id
    }

    /// Feeds a typed frame (encoded with its length prefix).
    pub fn send(&mut self, f: Frame) {
        let mut b = BytesMut::new();
        f.encode_length_prefixed(&mut b)
            .expect("test frame encodes");
        self.send_wire(&b);
    }

    /// Feeds one frame given as raw bytes (header and body, no length prefix).
    pub fn send_raw(&mut self, frame: &[u8]) {
        assert!(frame.len() <= MAX_FRAME_LEN);
        let mut b = Vec::with_capacity(frame.len() + 3);
        b.extend_from_slice(&(frame.len() as u32).to_be_bytes()[1..]);
        b.extend_from_slice(frame);
        self.send_wire(&b);
    }

    /// Feeds bytes of the byte stream (length prefixes included), as one transport read. Whole
    /// frames go to the connection; a partial one waits for more bytes. A prefix over the
    /// limit closes the connection, as a driver would.
    pub fn send_wire(&mut self, bytes: &[u8]) {
        self.wire_in.extend_from_slice(bytes);
        let now = self.now();
        loop {
            match self.codec.split(&mut self.wire_in) {
                Ok(Some(frame)) => self.conn.handle_bytes(now, frame),
                Ok(None) => break,
                Err(e) => {
                    self.conn
                        .close_with_error(ErrorCode::CONNECTION_ERROR, e.to_string());
                    self.wire_in.clear();
                    break;
                }
            }
        }
        self.collect_events();
    }

    /// The transport ended (EOF from the peer).
    pub fn transport_closed(&mut self) {
        self.conn.handle_transport_closed();
        self.collect_events();
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            self.events.push_back(e);
        }
    }

    /// The frames the connection transmitted since the last call, as raw bytes (no length
    /// prefix), after a trip through the length codec.
    pub fn expect_raw_frames(&mut self) -> Vec<Bytes> {
        let frames: Vec<Frame> = std::iter::from_fn(|| self.conn.poll_transmit()).collect();
        let mut wire = BytesMut::new();
        encode_all(&self.conn, &frames, &mut wire);
        let raw = split_all(&mut wire);
        for (f, b) in frames.iter().zip(&raw) {
            assert_eq!(&Frame::decode(b.clone()).expect("our frames decode"), f);
        }
        self.collect_events();
        raw
    }

    /// The frames the connection transmitted since the last call, decoded.
    pub fn expect_frames(&mut self) -> Vec<Frame> {
        self.expect_raw_frames()
            .into_iter()
            .map(|b| Frame::decode(b).unwrap())
            .collect()
    }

    /// Asserts that the connection transmitted nothing.
    pub fn expect_silence(&mut self) {
        let f = self.expect_frames();
        assert!(f.is_empty(), "expected no frames, got {f:?}");
    }

    /// Expects exactly one frame and returns it.
    pub fn expect_one(&mut self) -> Frame {
        let mut f = self.expect_frames();
        assert_eq!(f.len(), 1, "expected one frame, got {f:?}");
        f.pop().unwrap()
    }

    /// Expects exactly one ERROR frame on `stream` with `code`; returns its message.
    pub fn expect_error(&mut self, stream: u32, code: ErrorCode) -> String {
        match self.expect_one() {
            Frame::Error(e) => {
                assert_eq!(e.stream_id.get(), stream, "ERROR stream: {e:?}");
                assert_eq!(e.code, code, "ERROR code: {e:?}");
                assert_ne!(e.data.last(), Some(&0), "ERROR data is null-terminated");
                e.message()
            }
            other => panic!("expected ERROR {code:?} on stream {stream}, got {other:?}"),
        }
    }

    /// Expects the connection to have closed with ERROR `code` on stream 0 as its last frame,
    /// and [`Event::Closed`] to be reported.
    pub fn expect_closed_with(&mut self, code: ErrorCode) {
        let frames = self.expect_frames();
        match frames.last() {
            Some(Frame::Error(e)) if e.stream_id.is_connection() && e.code == code => {}
            other => {
                panic!("expected ERROR {code:?} on stream 0 last, got {other:?} in {frames:?}")
            }
        }
        assert!(self.conn.is_closed(), "connection still open");
        assert!(
            self.take_events()
                .iter()
                .any(|e| matches!(e, Event::Closed(_))),
            "no Event::Closed"
        );
    }

    /// Takes the pending events.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.collect_events();
        self.events.drain(..).collect()
    }

    /// The next pending event.
    pub fn next_event(&mut self) -> Option<Event> {
        self.collect_events();
        self.events.pop_front()
    }

    /// Asserts that no events are pending.
    pub fn expect_no_events(&mut self) {
        let ev = self.take_events();
        assert!(ev.is_empty(), "unexpected events {ev:?}");
    }

    /// Expects [`Event::Setup`] next.
    pub fn expect_setup(&mut self) {
        match self.next_event() {
            Some(Event::Setup(_)) => {}
            other => panic!("expected Event::Setup, got {other:?}"),
        }
    }

    /// Expects [`Event::Request`] next and returns it.
    pub fn expect_request(&mut self) -> (StreamId, RequestKind, Payload) {
        match self.next_event() {
            Some(Event::Request {
                stream_id,
                kind,
                payload,
            }) => (stream_id, kind, payload),
            other => panic!("expected Event::Request, got {other:?}"),
        }
    }

    /// Moves the virtual clock forward, firing timers at their deadlines. Transmitted frames
    /// stay queued for [`ScriptedPeer::expect_frames`].
    pub fn advance(&mut self, d: Duration) {
        let target = self.now() + d;
        for _ in 0..MAX_TIMER_STEPS {
            let Some(at) = due(&[&self.conn], target) else {
                break;
            };
            let at = at.max(self.now());
            self.offset = at - self.base;
            self.conn.handle_timeout(at);
            assert!(
                due(&[&self.conn], at).is_none(),
                "poll_timeout did not move after handle_timeout"
            );
        }
        self.offset = self.offset.max(target - self.base);
        self.collect_events();
    }

    /// The liveness probe of conformance.md: KEEPALIVE(R=1, 16 bytes) comes back with R=0 and
    /// the same bytes, and a fresh request-response reaches the application (which answers it,
    /// so no stream is left behind). Only for a server under test.
    pub fn assert_alive(&mut self) {
        assert!(!self.conn.is_closed(), "connection closed");
        let _ = self.expect_frames();
        let _ = self.take_events();
        let probe: Vec<u8> = (0u8..16).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
        self.send_raw(&raw::keepalive(true, 0, &probe));
        match self.expect_one() {
            Frame::Keepalive(k) => {
                assert!(!k.respond, "KEEPALIVE answer has R set");
                assert_eq!(&k.data[..], &probe[..], "KEEPALIVE data not echoed");
            }
            other => panic!("expected a KEEPALIVE answer, got {other:?}"),
        }
        let id = self.next_id();
        self.send_raw(&raw::request_response(id, 0, None, b"probe"));
        let (sid, kind, payload) = self.expect_request();
        assert_eq!(sid.get(), id);
        assert_eq!(kind, RequestKind::Response);
        assert_eq!(&payload.data[..], b"probe");
        self.conn.send_next(sid, payload, true).unwrap();
        match self.expect_one() {
            Frame::Payload(p) => {
                assert_eq!(p.stream_id.get(), id);
                assert!(p.next && p.complete);
            }
            other => panic!("expected the probe's response, got {other:?}"),
        }
    }
}

// ---- hand-built frames ------------------------------------------------------------------------

/// Frames built byte by byte from Protocol.md, without the length prefix.
pub mod raw {
    /// I(gnore).
    pub const I: u16 = 0x200;
    /// M(etadata).
    pub const M: u16 = 0x100;
    /// F(ollows).
    pub const F: u16 = 0x80;
    /// C(omplete).
    pub const C: u16 = 0x40;
    /// N(ext).
    pub const N: u16 = 0x20;
    /// KEEPALIVE R(espond) / SETUP R(esume).
    pub const R: u16 = 0x80;
    /// SETUP L(ease).
    pub const L: u16 = 0x40;

    /// Frame type values.
    pub mod ty {
        /// SETUP.
        pub const SETUP: u8 = 0x01;
        /// LEASE.
        pub const LEASE: u8 = 0x02;
        /// KEEPALIVE.
        pub const KEEPALIVE: u8 = 0x03;
        /// REQUEST_RESPONSE.
        pub const REQUEST_RESPONSE: u8 = 0x04;
        /// REQUEST_FNF.
        pub const REQUEST_FNF: u8 = 0x05;
        /// REQUEST_STREAM.
        pub const REQUEST_STREAM: u8 = 0x06;
        /// REQUEST_CHANNEL.
        pub const REQUEST_CHANNEL: u8 = 0x07;
        /// REQUEST_N.
        pub const REQUEST_N: u8 = 0x08;
        /// CANCEL.
        pub const CANCEL: u8 = 0x09;
        /// PAYLOAD.
        pub const PAYLOAD: u8 = 0x0A;
        /// ERROR.
        pub const ERROR: u8 = 0x0B;
        /// METADATA_PUSH.
        pub const METADATA_PUSH: u8 = 0x0C;
        /// RESUME.
        pub const RESUME: u8 = 0x0D;
        /// EXT.
        pub const EXT: u8 = 0x3F;
    }

    /// Header (stream ID, `type << 10 | flags`) and body.
    pub fn frame(stream_id: u32, frame_type: u8, flags: u16, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(6 + body.len());
        v.extend_from_slice(&stream_id.to_be_bytes());
        v.extend_from_slice(&((u16::from(frame_type) << 10) | flags).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// Optional metadata with its 24-bit length prefix, then data.
    pub fn payload_body(metadata: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(m) = metadata {
            v.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
            v.extend_from_slice(m);
        }
        v.extend_from_slice(data);
        v
    }

    fn m_flag(metadata: Option<&[u8]>) -> u16 {
        if metadata.is_some() { M } else { 0 }
    }

    /// SETUP, field by field.
    #[derive(Clone, Debug)]
    pub struct Setup {
        /// Stream ID (must be 0).
        pub stream_id: u32,
        /// Extra flag bits (R, L, I, ...); M is added when metadata is present.
        pub flags: u16,
        /// Major version.
        pub major: u16,
        /// Minor version.
        pub minor: u16,
        /// Keepalive interval (ms).
        pub keepalive_ms: u32,
        /// Max lifetime (ms).
        pub lifetime_ms: u32,
        /// Resume token (written when the R flag is set).
        pub token: Vec<u8>,
        /// Metadata MIME type.
        pub metadata_mime: Vec<u8>,
        /// Data MIME type.
        pub data_mime: Vec<u8>,
        /// Setup metadata.
        pub metadata: Option<Vec<u8>>,
        /// Setup data.
        pub data: Vec<u8>,
    }

    impl Default for Setup {
        fn default() -> Self {
            Setup {
                stream_id: 0,
                flags: 0,
                major: 1,
                minor: 0,
                keepalive_ms: 20_000,
                lifetime_ms: 90_000,
                token: Vec::new(),
                metadata_mime: b"message/x.rsocket.composite-metadata.v0".to_vec(),
                data_mime: b"application/octet-stream".to_vec(),
                metadata: None,
                data: Vec::new(),
            }
        }
    }

    impl Setup {
        /// The frame bytes.
        pub fn build(&self) -> Vec<u8> {
            let mut b = Vec::new();
            b.extend_from_slice(&self.major.to_be_bytes());
            b.extend_from_slice(&self.minor.to_be_bytes());
            b.extend_from_slice(&self.keepalive_ms.to_be_bytes());
            b.extend_from_slice(&self.lifetime_ms.to_be_bytes());
            if self.flags & R != 0 {
                b.extend_from_slice(&(self.token.len() as u16).to_be_bytes());
                b.extend_from_slice(&self.token);
            }
            b.push(self.metadata_mime.len() as u8);
            b.extend_from_slice(&self.metadata_mime);
            b.push(self.data_mime.len() as u8);
            b.extend_from_slice(&self.data_mime);
            let md = self.metadata.as_deref();
            b.extend_from_slice(&payload_body(md, &self.data));
            frame(self.stream_id, ty::SETUP, self.flags | m_flag(md), &b)
        }
    }

    /// REQUEST_RESPONSE; `flags` adds bits (F, I, or undefined ones).
    pub fn request_response(id: u32, flags: u16, metadata: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
        frame(
            id,
            ty::REQUEST_RESPONSE,
            flags | m_flag(metadata),
            &payload_body(metadata, data),
        )
    }

    /// REQUEST_FNF.
    pub fn request_fnf(id: u32, flags: u16, metadata: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
        frame(
            id,
            ty::REQUEST_FNF,
            flags | m_flag(metadata),
            &payload_body(metadata, data),
        )
    }

    /// REQUEST_STREAM with initial request-n `n` (written as is, all 32 bits).
    pub fn request_stream(
        id: u32,
        flags: u16,
        n: u32,
        metadata: Option<&[u8]>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut b = n.to_be_bytes().to_vec();
        b.extend_from_slice(&payload_body(metadata, data));
        frame(id, ty::REQUEST_STREAM, flags | m_flag(metadata), &b)
    }

    /// REQUEST_CHANNEL with initial request-n `n`; `flags` may add C and F.
    pub fn request_channel(
        id: u32,
        flags: u16,
        n: u32,
        metadata: Option<&[u8]>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut b = n.to_be_bytes().to_vec();
        b.extend_from_slice(&payload_body(metadata, data));
        frame(id, ty::REQUEST_CHANNEL, flags | m_flag(metadata), &b)
    }

    /// REQUEST_N (all 32 bits written as given).
    pub fn request_n(id: u32, n: u32) -> Vec<u8> {
        frame(id, ty::REQUEST_N, 0, &n.to_be_bytes())
    }

    /// CANCEL.
    pub fn cancel(id: u32) -> Vec<u8> {
        frame(id, ty::CANCEL, 0, &[])
    }

    /// PAYLOAD; `flags` carries F, C, N.
    pub fn payload(id: u32, flags: u16, metadata: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
        frame(
            id,
            ty::PAYLOAD,
            flags | m_flag(metadata),
            &payload_body(metadata, data),
        )
    }

    /// ERROR with a text message.
    pub fn error(id: u32, code: u32, message: &str) -> Vec<u8> {
        let mut b = code.to_be_bytes().to_vec();
        b.extend_from_slice(message.as_bytes());
        frame(id, ty::ERROR, 0, &b)
    }

    /// KEEPALIVE on stream 0.
    pub fn keepalive(respond: bool, position: u64, data: &[u8]) -> Vec<u8> {
        keepalive_on(0, if respond { R } else { 0 }, position, data)
    }

    /// KEEPALIVE with any stream and flags.
    pub fn keepalive_on(stream: u32, flags: u16, position: u64, data: &[u8]) -> Vec<u8> {
        let mut b = position.to_be_bytes().to_vec();
        b.extend_from_slice(data);
        frame(stream, ty::KEEPALIVE, flags, &b)
    }

    /// METADATA_PUSH (M set, no length prefix).
    pub fn metadata_push(stream: u32, metadata: &[u8]) -> Vec<u8> {
        frame(stream, ty::METADATA_PUSH, M, metadata)
    }

    /// LEASE on stream 0.
    pub fn lease(ttl_ms: u32, n: u32, metadata: Option<&[u8]>) -> Vec<u8> {
        let mut b = ttl_ms.to_be_bytes().to_vec();
        b.extend_from_slice(&n.to_be_bytes());
        if let Some(m) = metadata {
            b.extend_from_slice(m);
        }
        frame(0, ty::LEASE, m_flag(metadata), &b)
    }

    /// RESUME on stream 0 (version 1.0).
    pub fn resume(token: &[u8], last_received: u64, first_available: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&(token.len() as u16).to_be_bytes());
        b.extend_from_slice(token);
        b.extend_from_slice(&last_received.to_be_bytes());
        b.extend_from_slice(&first_available.to_be_bytes());
        frame(0, ty::RESUME, 0, &b)
    }

    /// EXT with an extended type and some data.
    pub fn ext(stream: u32, ignore: bool, extended_type: u32, data: &[u8]) -> Vec<u8> {
        let mut b = extended_type.to_be_bytes().to_vec();
        b.extend_from_slice(data);
        frame(stream, ty::EXT, if ignore { I } else { 0 }, &b)
    }
}

// ---- helpers ----------------------------------------------------------------------------------

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        assert!(lo < hi);
        lo + (self.next_u64() % (hi - lo) as u64) as usize
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// A payload of `data` bytes and optional `metadata` bytes with a recognisable pattern.
pub fn pattern_payload(seed: u8, data: usize, metadata: Option<usize>) -> Payload {
    let d: Vec<u8> = (0..data).map(|i| (i as u8).wrapping_add(seed)).collect();
    let mut p = Payload::new(d);
    if let Some(m) = metadata {
        let m: Vec<u8> = (0..m)
            .map(|i| (i as u8).wrapping_mul(3).wrapping_add(seed))
            .collect();
        p = p.with_metadata(m);
    }
    p
}

/// A config with an MTU.
pub fn config_with_mtu(mtu: usize) -> Config {
    Config {
        mtu: Some(mtu),
        ..Config::default()
    }
}

/// The header fields of a raw frame.
pub fn header_of(frame: &[u8]) -> (u32, FrameType, Flags) {
    let h = rsocket_proto::frame::Header::peek(frame).expect("a whole header");
    (h.stream_id.get(), h.frame_type, h.flags)
}
