//! Fuzz target: the sans-IO `Connection` state machine, as a server and as a client.
//!
//! The input is a little program. Its first two bytes configure the server and the client
//! (lease, MTU, tight limits, loopback); then each operation byte either
//! * injects raw bytes (or a length-prefixed frame built from input bytes) into one side's
//!   receive buffer, which is split with `LengthCodec` and fed to `handle_bytes`;
//! * advances the virtual clock by an amount taken from the input (or exactly to the
//!   connection's `poll_timeout`) and runs `handle_timeout` on both sides;
//! * issues an application command (requests of every kind, send_next/complete/error,
//!   request_n, cancel, metadata_push, send_lease, close, reject_setup, transport closed).
//!
//! In loopback mode the frames each side transmits are also written, length-prefixed, into the
//! other side's receive buffer, so the client's SETUP opens the server and real streams exist
//! for the injected bytes to interfere with.
//!
//! Checks, for any input: nothing panics; every transmitted frame encodes, with
//! `encoded_len <= 0xFFFFFF`, and decodes back to itself; the transmit queue's byte count
//! returns to zero when drained; `Event::Closed` is reported at most once and is the last event;
//! a closed connection has no timer; availability stays within [0, 1].
//!
//! Every input runs twice: once with both connections queueing frames (`poll_transmit`) and
//! once with both encoding them as they are sent (`encode_transmit`, with a low zero-copy
//! threshold so large payloads travel as separate chunks), the way the runtime drives TCP.
//! The encoded bytes must split and decode into frames, and both runs must give the same
//! events and the same frames, step by step.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run connection` from the repository root.

#![no_main]

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rsocket_proto::codec::{EncodedFrames, LengthCodec};
use rsocket_proto::frame::MAX_FRAME_LEN;
use rsocket_proto::{Config, Connection, ErrorCode, Event, Frame, Payload, SetupParams, StreamId};

/// The operation program, read front to back; reads past the end yield zeros / nothing.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn byte(&mut self) -> u8 {
        self.u8().unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

struct Side {
    name: &'static str,
    conn: Connection,
    codec: LengthCodec,
    rx: BytesMut,
    /// Streams seen (opened by us or by the peer), for commands to act on.
    streams: Vec<StreamId>,
    closed_seen: bool,
    /// The connection encodes its frames (`encode_transmit`).
    encoded: bool,
    /// What came out of the connection, drain by drain.
    transcript: Vec<(Vec<Event>, Vec<Frame>)>,
}

impl Side {
    fn new(name: &'static str, mut conn: Connection, encoded: bool) -> Self {
        let codec = LengthCodec::new(conn.config().limits.max_frame_size);
        if encoded {
            conn.encode_transmit(ZERO_COPY_MIN);
        }
        Side {
            name,
            conn,
            codec,
            rx: BytesMut::new(),
            streams: Vec::new(),
            closed_seen: false,
            encoded,
            transcript: Vec::new(),
        }
    }

    fn remember(&mut self, id: StreamId) {
        if self.streams.len() < 64 {
            self.streams.push(id);
        }
    }

    fn pick(&self, inp: &mut Input) -> StreamId {
        let b = inp.byte();
        if b & 0x80 == 0 && !self.streams.is_empty() {
            self.streams[b as usize % self.streams.len()]
        } else {
            StreamId::new((b & 0x7F) as u32)
        }
    }

    /// Splits the receive buffer into frames and feeds them, as a driver would.
    fn pump(&mut self, now: Instant) {
        loop {
            match self.codec.split(&mut self.rx) {
                Ok(Some(frame)) => self.conn.handle_bytes(now, frame),
                Ok(None) => return,
                Err(e) => {
                    // A driver closes the connection on an over-long frame and stops reading.
                    self.conn
                        .close_with_error(ErrorCode::CONNECTION_ERROR, e.to_string());
                    self.rx.clear();
                    return;
                }
            }
        }
    }

    /// Drains events and transmit frames, checking invariants; returns the frames.
    fn drain(&mut self, now: Instant) -> Vec<Frame> {
        let mut events = Vec::new();
        while let Some(ev) = self.conn.poll_event() {
            events.push(ev.clone());
            assert!(
                !self.closed_seen,
                "{}: event after Event::Closed: {ev:?}",
                self.name
            );
            match ev {
                Event::Request { stream_id, .. } => self.remember(stream_id),
                Event::Closed(_) => self.closed_seen = true,
                _ => {}
            }
        }
        if self.closed_seen {
            assert!(
                self.conn.is_closed(),
                "{}: Closed reported but open",
                self.name
            );
        }
        if self.conn.is_closed() {
            assert_eq!(
                self.conn.poll_timeout(),
                None,
                "{}: closed with a timer",
                self.name
            );
        }
        let a = self.conn.availability(now);
        assert!((0.0..=1.0).contains(&a), "{}: availability {a}", self.name);

        let mut out = Vec::new();
        while let Some(f) = self.conn.poll_transmit() {
            let len = f.encoded_len();
            assert!(
                len <= MAX_FRAME_LEN,
                "{}: frame of {len} bytes: {f:?}",
                self.name
            );
            let mut buf = BytesMut::with_capacity(len);
            f.encode(&mut buf).unwrap_or_else(|e| {
                panic!("{}: transmitted frame does not encode: {e}", self.name)
            });
            assert_eq!(
                buf.len(),
                len,
                "{}: encoded_len is wrong for {f:?}",
                self.name
            );
            let back = Frame::decode(buf.freeze()).expect("transmitted frame decodes");
            assert_eq!(
                back, f,
                "{}: transmitted frame does not round-trip",
                self.name
            );
            out.push(f);
        }
        if self.encoded {
            let e = self.conn.encoded_transmit().expect("encoding connection");
            out.extend(split_encoded(self.name, e));
        }
        assert_eq!(self.conn.pending_transmit_bytes(), 0, "{}", self.name);
        if !events.is_empty() || !out.is_empty() {
            self.transcript.push((events, out.clone()));
        }
        out
    }
}

/// Payload data this long or longer travels as its own chunk when encoding.
const ZERO_COPY_MIN: usize = 64;

/// Takes every encoded byte out of `e` (as a vectored write would, a few slices at a time)
/// and splits it into frames, checking each one.
fn split_encoded(name: &str, e: &mut EncodedFrames) -> Vec<Frame> {
    let mut wire = BytesMut::new();
    while !e.is_empty() {
        let mut iov = [std::io::IoSlice::new(&[]); 4];
        let k = e.io_slices(&mut iov);
        assert!(k > 0, "{name}: bytes pending but no slice");
        let n: usize = iov[..k].iter().map(|s| s.len()).sum();
        for s in &iov[..k] {
            wire.extend_from_slice(s);
        }
        e.consume(n);
    }
    let codec = LengthCodec::default();
    let mut frames = Vec::new();
    while let Some(raw) = codec
        .split(&mut wire)
        .unwrap_or_else(|err| panic!("{name}: encoded bytes do not split: {err}"))
    {
        let f = Frame::decode(raw.clone())
            .unwrap_or_else(|err| panic!("{name}: encoded frame does not decode: {err}"));
        assert_eq!(
            f.encoded_len(),
            raw.len(),
            "{name}: encoded length of {f:?}"
        );
        frames.push(f);
    }
    assert!(
        wire.is_empty(),
        "{name}: {} bytes of a partial frame",
        wire.len()
    );
    frames
}

fn config(bits: u8) -> Config {
    let mut c = Config::default();
    c.lease = bits & 0x01 != 0;
    if bits & 0x02 != 0 {
        // 0..=240 over the minimum: values below MIN_MTU are raised to it by the connection.
        c.mtu = Some(((bits >> 4) as usize) * 16);
    }
    if bits & 0x04 != 0 {
        // Tight limits, so the guards are reachable with small inputs.
        let l = &mut c.limits;
        l.max_frame_size = 4096;
        l.max_payload_size = 300;
        l.max_reassembly_bytes = 600;
        l.max_concurrent_streams = 4;
        l.max_keepalive_data = 16;
        l.setup_timeout = Duration::from_millis(500);
        l.cancel_window = Duration::from_millis(100);
        l.max_cancels_per_window = 3;
        l.max_ignored_per_window = 8;
        l.max_pending_transmit = 1024;
    }
    if bits & 0x08 != 0 {
        c.keepalive_interval = Duration::from_millis(100);
        c.max_lifetime = Duration::from_millis(350);
    }
    c
}

fn payload(inp: &mut Input) -> Payload {
    let ctl = inp.byte();
    let scale = 1usize << (ctl & 0x07); // up to 128x, so MTU fragmentation kicks in
    let data_len = (inp.byte() as usize) * scale / 4;
    let data = Bytes::from((0..data_len).map(|i| i as u8).collect::<Vec<_>>());
    let metadata = match ctl >> 6 {
        0 => None,
        1 => Some(Bytes::new()),
        _ => {
            let n = (inp.byte() as usize) * scale / 4;
            Some(Bytes::from(vec![0xA5u8; n]))
        }
    };
    Payload { data, metadata }
}

fuzz_target!(|data: &[u8]| {
    let queued = run(data, false);
    let encoded = run(data, true);
    assert_eq!(queued.0, encoded.0, "server: encoding changed what it did");
    assert_eq!(queued.1, encoded.1, "client: encoding changed what it did");
});

/// Runs the program in `data`; returns the server's and the client's transcripts.
#[allow(clippy::type_complexity)]
fn run(
    data: &[u8],
    encoded: bool,
) -> (Vec<(Vec<Event>, Vec<Frame>)>, Vec<(Vec<Event>, Vec<Frame>)>) {
    let mut inp = Input(data);
    let server_bits = inp.byte();
    let client_bits = inp.byte();
    let loopback = server_bits & 0x80 != 0;

    let start = Instant::now();
    let mut now = start;
    let mut server = Side::new(
        "server",
        Connection::server(now, config(server_bits)),
        encoded,
    );
    let params = SetupParams {
        resume_token: (client_bits & 0x80 != 0).then(|| Bytes::from_static(b"token")),
        ..SetupParams::default()
    };
    let mut client = Side::new(
        "client",
        Connection::client(now, config(client_bits), params),
        encoded,
    );

    let mut steps = 0;
    while let Some(op) = inp.u8() {
        steps += 1;
        if steps > 512 {
            break;
        }
        let to_client = op & 0x80 != 0;
        let (side, other) = if to_client {
            (&mut client, &mut server)
        } else {
            (&mut server, &mut client)
        };
        match op & 0x0F {
            // Raw bytes into the receive buffer.
            0 | 1 => {
                let n = inp.byte() as usize;
                side.rx.extend_from_slice(inp.take(n));
                side.pump(now);
            }
            // One length-prefixed frame made of input bytes (skips finding the prefix).
            2 | 3 => {
                let n = inp.byte() as usize;
                let body = inp.take(n);
                side.rx.put_uint(body.len() as u64, 3);
                side.rx.extend_from_slice(body);
                side.pump(now);
            }
            // Time passes.
            4 => {
                let ms = u64::from(inp.u16()) << ((op >> 4) & 0x07);
                now += Duration::from_millis(ms);
                server.conn.handle_timeout(now);
                client.conn.handle_timeout(now);
            }
            5 => {
                if let Some(t) = side.conn.poll_timeout() {
                    if t > now {
                        now = t;
                    }
                }
                side.conn.handle_timeout(now);
                other.conn.handle_timeout(now);
            }
            // Requests.
            6 => {
                let p = payload(&mut inp);
                let n = match inp.byte() {
                    0 => 0,
                    0xFF => u32::MAX,
                    0xFE => 0x7FFF_FFFF,
                    b => u32::from(b),
                };
                let r = match (op >> 4) & 0x03 {
                    0 => side.conn.request_response(now, p),
                    1 => side.conn.fire_and_forget(now, p),
                    2 => side.conn.request_stream(now, p, n),
                    _ => side.conn.request_channel(now, p, n, op & 0x40 != 0),
                };
                if let Ok(id) = r {
                    side.remember(id);
                }
            }
            // Stream commands.
            7 => {
                let id = side.pick(&mut inp);
                let p = payload(&mut inp);
                let _ = side.conn.send_next(id, p, op & 0x10 != 0);
            }
            8 => {
                let id = side.pick(&mut inp);
                let _ = side.conn.send_complete(id);
            }
            9 => {
                let id = side.pick(&mut inp);
                let code = ErrorCode(inp.u32());
                let _ = side.conn.send_error(id, code, "fuzz");
            }
            10 => {
                let id = side.pick(&mut inp);
                let _ = side.conn.request_n(id, inp.u32());
            }
            11 => {
                let id = side.pick(&mut inp);
                let _ = side.conn.cancel(id);
            }
            12 => {
                let n = inp.byte() as usize;
                let _ = side.conn.metadata_push(Bytes::copy_from_slice(inp.take(n)));
            }
            13 => {
                let ttl = Duration::from_millis(u64::from(inp.u16()));
                let n = inp.u32();
                let md = (op & 0x10 != 0).then(|| Bytes::from_static(b"lease"));
                let _ = side.conn.send_lease(now, ttl, n, md);
            }
            14 => match (op >> 4) & 0x03 {
                0 => side.conn.close(),
                1 => side.conn.close_with_error(ErrorCode(inp.u32()), "fuzz"),
                2 => side.conn.reject_setup(ErrorCode::REJECTED_SETUP, "no"),
                _ => side.conn.handle_transport_closed(),
            },
            _ => {
                let _ = side.conn.send_credit(side.pick(&mut inp));
                let _ = side.conn.can_send();
                let _ = side.conn.stream_count();
            }
        }

        // Outputs; in loopback mode carry them across, a bounded number of rounds.
        for _ in 0..8 {
            let from_server = server.drain(now);
            let from_client = client.drain(now);
            if !loopback || (from_server.is_empty() && from_client.is_empty()) {
                break;
            }
            for f in &from_server {
                f.encode_length_prefixed(&mut client.rx).unwrap();
            }
            for f in &from_client {
                f.encode_length_prefixed(&mut server.rx).unwrap();
            }
            server.pump(now);
            client.pump(now);
        }
    }
    server.conn.handle_transport_closed();
    client.conn.handle_transport_closed();
    server.drain(now);
    client.drain(now);
    (server.transcript, client.transcript)
}
