//! The sans-IO connection state machine.
//!
//! [`Connection`] holds everything one RSocket connection knows: the setup handshake, every
//! stream's state and credit, fragmentation and reassembly, keepalive and lease timing, the
//! implied resume positions and the limits that protect it from its peer. It does no IO and
//! reads no clock: time is an argument.
//!
//! # Calling contract
//!
//! The owner (an async driver, or a test) loops:
//!
//! 1. **Input.** Feed every frame received, in order: [`Connection::handle_bytes`] for an
//!    undecoded frame (without the length prefix; it gets the header-level rules right, such
//!    as the I flag on a malformed frame) or [`Connection::handle_frame`] for a decoded one.
//!    Call [`Connection::handle_timeout`] when the instant from [`Connection::poll_timeout`]
//!    has passed, and [`Connection::handle_transport_closed`] when the transport ends.
//! 2. **Commands.** Open streams and send on them: [`Connection::request_response`],
//!    [`Connection::fire_and_forget`], [`Connection::request_stream`],
//!    [`Connection::request_channel`], [`Connection::send_next`],
//!    [`Connection::send_complete`], [`Connection::send_error`], [`Connection::request_n`],
//!    [`Connection::cancel`], [`Connection::metadata_push`], [`Connection::send_lease`].
//!    Commands that the protocol forbids return a [`CommandError`] and change nothing.
//! 3. **Output.** After any input or command, drain [`Connection::poll_event`] (what the
//!    application must learn) and [`Connection::poll_transmit`] (frames to write, in order;
//!    write them all in one go), then re-arm the timer from [`Connection::poll_timeout`].
//!
//! Back-pressure: before asking the application for more data to send, check
//! [`Connection::can_send`]; stop reading from the transport while the transmit queue is over
//! the driver's own high-water mark, so a peer that does not read cannot make us buffer.
//!
//! Once [`Event::Closed`] has been returned, the connection ignores all input; flush the
//! remaining transmit frames and close the transport.
//!
//! # Decisions where the spec leaves room
//!
//! * **Liveness**: any frame from the peer (not only KEEPALIVE) proves it alive; after the max
//!   lifetime of silence the connection closes with ERROR\[CONNECTION_ERROR\].
//! * **Stream IDs**: IDs are reused after 2^31-1 by wrapping to 1 (client) or 2 (server) and
//!   skipping live IDs, as the spec's "Lifetime" section allows. A request on a live ID, on
//!   stream 0, or with our own parity is ignored.
//! * **Request-n**: 0 or a value with the reserved top bit set is a stream error
//!   (ERROR\[INVALID\] from a responder, CANCEL from a requester). 2^31-1 is unbounded.
//! * **Credit overrun**: a peer that sends more PAYLOADs than it was granted gets the same
//!   stream error; we never buffer beyond the credit we gave.
//! * **Unknown frames** without the I flag close the connection with CONNECTION_ERROR (the spec
//!   allows it); with the I flag they are ignored.
//! * **ERROR on stream 0** closes the connection (CONNECTION_CLOSE drains it first) when its
//!   code is a connection code or unknown; a code that belongs on a stream (0x201–0x204 or the
//!   application range) is misaddressed and ignored, like a frame on an unknown stream.
//! * **Reassembly** copies fragments together. Data that reaches 128 KiB moves to a buffer of
//!   the connection's pool, handed to the application as [`Bytes`] that return it to the pool
//!   when dropped (at most 4 MiB kept per connection, freed at a KEEPALIVE received when no
//!   large payload came since the previous one, when a resumable session loses its transport
//!   and for good when the connection closes; see `pool.rs`), so that large payloads do not
//!   map fresh pages every time.
//! * A PAYLOAD with neither N nor C is ignored. A REQUEST_CHANNEL with both F and C is treated
//!   like a PAYLOAD with both (Protocol.md "Handling the Unexpected" #7): F is ignored, the
//!   frame is the whole request and completes the requester's side.

mod commands;
mod config;
mod event;
mod fragment;
mod inbound;
mod pool;
mod resume;
mod stream;
mod transmit;

use crate::stream_map::{StreamMap, stream_map};
use crate::stream_table::StreamTable;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use config::{Config, Limits, MIN_MTU, SetupParams};
pub use event::{CloseReason, Event, RequestKind};
pub use resume::ResumeConfig;

use crate::Payload;
use crate::credit::Credit;
use crate::frame::{ErrorCode, ErrorFrame, Frame, Keepalive, Setup, StreamId, Version};
use fragment::{Head, Reassembly};
pub(crate) use resume::ResumeState;
use stream::StreamState;

/// Streams a connection finds without hashing their IDs (40 bytes each; more go to a
/// hash map).
const DIRECT_STREAMS: usize = 1024;
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Option<(StreamId, StreamState)>>() <= 40);

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sent SETUP; uses odd stream IDs.
    Client,
    /// Received SETUP; uses even stream IDs.
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingSetup,
    Established,
    /// Resumable session without a transport (since the instant given).
    Disconnected(Instant),
    /// Client: RESUME sent on a new transport, waiting for RESUME_OK (session lost since the
    /// instant given).
    Resuming(Instant),
    Closed,
}

/// A command the protocol does not allow in the current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// The connection is closing gracefully and takes no new streams.
    #[error("the connection is closing and accepts no new requests")]
    Draining,
    /// The server has not received SETUP yet.
    #[error("the connection is not established yet")]
    NotEstablished,
    /// No such stream (it may have ended).
    #[error("stream {0} is not open")]
    UnknownStream(StreamId),
    /// Our sending side of the stream is complete.
    #[error("stream {0} can no longer send")]
    SendClosed(StreamId),
    /// The peer has not granted credit for another PAYLOAD.
    #[error("no request-n credit left on stream {0}")]
    NoCredit(StreamId),
    /// The operation does not fit the stream's interaction model or our role in it.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// Lease is enabled and there is no valid lease.
    #[error("no valid lease: {0}")]
    NoLease(&'static str),
    /// Request-n must be 1..=2^31-1.
    #[error("request-n must be between 1 and 2^31-1, got {0}")]
    InvalidRequestN(u32),
    /// Every stream ID is in use.
    #[error("all stream IDs are in use")]
    StreamIdsExhausted,
}

/// A fragmented request being reassembled before its stream exists.
#[derive(Debug)]
struct PartialRequest {
    kind: RequestKind,
    reassembly: Reassembly,
}

/// Lease bookkeeping for both directions.
#[derive(Debug, Default)]
struct LeaseState {
    enabled: bool,
    /// Granted to us by the peer: (expiry, requests left).
    ours: Option<(Instant, u32)>,
    /// Granted by us to the peer.
    theirs: Option<(Instant, u32)>,
}

/// Counts of abuse within the current window.
#[derive(Debug)]
struct Guard {
    window_start: Instant,
    cancels: u32,
    ignored: u32,
}

/// One RSocket connection, without IO. See the [module documentation](self) for the calling
/// contract.
///
/// ```
/// use std::time::Instant;
/// use rsocket_proto::{Config, Connection, Event, Payload, SetupParams};
///
/// let now = Instant::now();
/// let mut client = Connection::client(now, Config::default(), SetupParams::default());
/// let mut server = Connection::server(now, Config::default());
/// let id = client.request_response(now, Payload::from("ping")).unwrap();
///
/// // Move frames across, as a transport would.
/// while let Some(f) = client.poll_transmit() { server.handle_frame(now, f); }
/// assert!(matches!(server.poll_event(), Some(Event::Setup(_))));
/// let Some(Event::Request { stream_id, payload, .. }) = server.poll_event() else { panic!() };
/// server.send_next(stream_id, payload, true).unwrap();
/// while let Some(f) = server.poll_transmit() { client.handle_frame(now, f); }
/// assert!(matches!(client.poll_event(),
///     Some(Event::Next { stream_id, complete: true, .. }) if stream_id == id));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    state: State,
    config: Config,
    keepalive_interval: Duration,
    max_lifetime: Duration,
    last_received: Instant,
    next_keepalive: Option<Instant>,
    setup_deadline: Option<Instant>,
    /// Client: the server has shown it accepted our SETUP.
    setup_confirmed: bool,
    setup: Option<Setup>,
    /// Live streams (see [`crate::stream_table`]: at most [`DIRECT_STREAMS`] in the
    /// direct-mapped part).
    streams: StreamTable<StreamState>,
    partial: StreamMap<PartialRequest>,
    next_id: u32,
    /// Our stream IDs wrapped around (or a test moved `next_id`): an ID may still be in use.
    ids_wrapped: bool,
    transmit: VecDeque<(Frame, usize)>,
    transmit_bytes: usize,
    /// Set by [`Connection::encode_transmit`]: frames are encoded here instead of being
    /// queued in `transmit`.
    encoded: Option<crate::codec::EncodedFrames>,
    /// The last frame that could not be encoded into `encoded` (it was dropped).
    encode_error: Option<crate::frame::EncodeError>,
    events: VecDeque<Event>,
    reassembly_bytes: usize,
    /// Buffers of large reassembled payloads, back from the application for reuse.
    buffers: pool::BufferPool,
    sent_position: u64,
    received_position: u64,
    guard: Guard,
    draining: Option<CloseReason>,
    lease: LeaseState,
    resume: Option<ResumeState>,
    /// The latest instant passed in.
    now: Instant,
}

impl Connection {
    fn new(role: Role, now: Instant, config: Config) -> Self {
        Connection {
            role,
            state: State::AwaitingSetup,
            keepalive_interval: config.keepalive_interval,
            max_lifetime: config.max_lifetime,
            config,
            last_received: now,
            next_keepalive: None,
            setup_deadline: None,
            setup_confirmed: false,
            setup: None,
            streams: StreamTable::new(DIRECT_STREAMS),
            partial: stream_map(),
            next_id: if role == Role::Client { 1 } else { 2 },
            ids_wrapped: false,
            transmit: VecDeque::new(),
            transmit_bytes: 0,
            encoded: None,
            encode_error: None,
            events: VecDeque::new(),
            reassembly_bytes: 0,
            buffers: pool::BufferPool::default(),
            sent_position: 0,
            received_position: 0,
            guard: Guard {
                window_start: now,
                cancels: 0,
                ignored: 0,
            },
            draining: None,
            lease: LeaseState::default(),
            resume: None,
            now,
        }
    }

    /// A client connection; its SETUP frame is queued for transmission at once, and requests
    /// may be sent right away (unless lease is enabled: then they wait for the server's LEASE).
    pub fn client(now: Instant, config: Config, params: SetupParams) -> Self {
        let mut c = Connection::new(Role::Client, now, config);
        if let Some(token) = &params.resume_token {
            c.resume = Some(ResumeState::new(
                c.config.resume.clone().unwrap_or_default(),
                token.clone(),
            ));
        }
        let setup = Setup {
            version: Version::V1_0,
            keepalive_interval_ms: duration_ms(c.keepalive_interval),
            max_lifetime_ms: duration_ms(c.max_lifetime),
            resume_token: params.resume_token,
            lease: c.config.lease,
            metadata_mime_type: params.metadata_mime_type,
            data_mime_type: params.data_mime_type,
            payload: params.payload,
        };
        c.lease.enabled = c.config.lease;
        c.state = State::Established;
        c.next_keepalive = Some(now + c.keepalive_interval);
        c.queue(Frame::Setup(Box::new(setup.clone())));
        c.setup = Some(setup);
        c
    }

    /// A server connection waiting for the client's SETUP (or RESUME).
    pub fn server(now: Instant, config: Config) -> Self {
        let mut c = Connection::new(Role::Server, now, config);
        c.setup_deadline = Some(now + c.config.limits.setup_timeout);
        c
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The SETUP frame: the one sent (client) or accepted (server).
    pub fn setup(&self) -> Option<&Setup> {
        self.setup.as_ref()
    }

    /// True once SETUP was sent (client) or accepted (server) and until the connection closes,
    /// except while a resumable session has no transport.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// True while a resumable session is waiting for a new transport (or, on a client, for
    /// RESUME_OK).
    pub fn is_disconnected(&self) -> bool {
        matches!(self.state, State::Disconnected(_) | State::Resuming(_))
    }

    /// The resume token, when resumption is in use on this connection.
    pub fn resume_token(&self) -> Option<&Bytes> {
        self.resume.as_ref().map(|r| &r.token)
    }

    /// Bytes of sent frames kept for retransmission (0 without resumption).
    pub fn resume_store_bytes(&self) -> usize {
        self.resume.as_ref().map_or(0, |r| r.store.bytes())
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Live streams (fragmented requests still being received not included).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// True while the stream is open in either direction.
    pub fn is_stream_open(&self, id: StreamId) -> bool {
        self.streams.contains_key(&id)
    }

    /// Credit the peer has granted us on a stream, if it is open for sending.
    pub fn send_credit(&self, id: StreamId) -> Option<Credit> {
        self.streams
            .get(&id)
            .filter(|s| s.send_open)
            .map(|s| s.send_credit)
    }

    /// Testing hook: makes `id` the next stream ID this side tries to allocate, so tests can
    /// reach the 2^31-1 wrap-around without opening a billion streams. An ID of the wrong
    /// parity for this role (or 0) is ignored. Not part of the stable API.
    #[doc(hidden)]
    pub fn set_next_stream_id_for_test(&mut self, id: StreamId) {
        let id = id.get();
        if id != 0 && (id % 2 == 0) == (self.role == Role::Server) {
            self.next_id = id;
            self.ids_wrapped = true;
        }
    }

    /// Implied position of the resumable frames sent so far (Protocol.md "Implied Position").
    pub fn sent_position(&self) -> u64 {
        self.sent_position
    }

    /// Implied position of the resumable frames received so far.
    pub fn received_position(&self) -> u64 {
        self.received_position
    }

    /// The position KEEPALIVE frames carry: the implied position received with resumption,
    /// and 0 while resumption is not in use ("Set to all 0s
    /// when not supported", Protocol.md KEEPALIVE), as Java peers expect.
    fn keepalive_position(&mut self) -> u64 {
        match &mut self.resume {
            Some(r) => {
                r.acked = self.received_position;
                self.received_position
            }
            None => 0,
        }
    }

    /// With resumption, acknowledges what was received once a quarter of the store limit has
    /// arrived since the last acknowledgement: an unsolicited KEEPALIVE with R clear (the peer
    /// reads its position and does not answer). Without it a fast stream would stall until
    /// the next periodic KEEPALIVE.
    fn ack_if_due(&mut self) {
        let due = self
            .resume
            .as_ref()
            .is_some_and(|r| self.received_position - r.acked >= r.ack_every());
        if due && self.state == State::Established {
            let position = self.keepalive_position();
            self.queue(Frame::Keepalive(Keepalive {
                respond: false,
                last_received_position: position,
                data: Bytes::new(),
            }));
        }
    }

    /// The latest instant passed to any method: a clock that costs nothing to read, for
    /// callers whose time does not need to be exact (a request when lease is off).
    pub fn last_instant(&self) -> Instant {
        self.now
    }

    /// Bytes of frames waiting in [`Connection::poll_transmit`] (or, once
    /// [`Connection::encode_transmit`] was called, in [`Connection::encoded_transmit`]).
    pub fn pending_transmit_bytes(&self) -> usize {
        self.transmit_bytes + self.encoded.as_ref().map_or(0, |e| e.len())
    }

    /// False when the transmit queue is over [`Limits::max_pending_transmit`]: the application
    /// should wait (drain the transmit queue to the transport) before sending more.
    pub fn can_send(&self) -> bool {
        self.pending_transmit_bytes() < self.config.limits.max_pending_transmit
    }

    /// Availability for load balancing in [0, 1]: 0 when closed or when lease is enabled and
    /// there is no valid lease; otherwise the share of the lease left (1 without lease).
    pub fn availability(&self, now: Instant) -> f64 {
        if self.state != State::Established || self.draining.is_some() {
            return 0.0;
        }
        if !self.lease.enabled {
            return 1.0;
        }
        match self.lease.ours {
            Some((expiry, left)) if now < expiry && left > 0 => 1.0,
            _ => 0.0,
        }
    }

    /// The next frame to write, oldest first (always `None` once
    /// [`Connection::encode_transmit`] was called).
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        let (frame, len) = self.transmit.pop_front()?;
        self.transmit_bytes -= len;
        Some(frame)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if self.events.is_empty() {
            // Start the ring over: a queue drained after every batch then reuses the same
            // few cache lines instead of walking through its whole capacity.
            self.events.clear();
        }
        e
    }

    /// When [`Connection::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Disconnected(since) | State::Resuming(since) => self
                .resume
                .as_ref()
                .map(|r| since + r.config.session_timeout),
            State::AwaitingSetup => self.setup_deadline,
            State::Established => {
                let dead = self.last_received + self.max_lifetime;
                Some(self.next_keepalive.map_or(dead, |k| k.min(dead)))
            }
        }
    }

    /// Runs the timers: the setup deadline, sending KEEPALIVE (client), and the max lifetime.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        match self.state {
            State::Closed => {}
            State::Disconnected(since) | State::Resuming(since) => {
                let timeout = self.resume.as_ref().map(|r| r.config.session_timeout);
                if let Some(t) = timeout.filter(|t| now >= since + *t) {
                    self.shut(CloseReason::SessionExpired(t));
                }
            }
            State::AwaitingSetup => {
                if self.setup_deadline.is_some_and(|d| now >= d) {
                    let msg = format!(
                        "no SETUP received within {:?}",
                        self.config.limits.setup_timeout
                    );
                    self.close_local(ErrorCode::INVALID_SETUP, msg);
                }
            }
            State::Established => {
                if now >= self.last_received + self.max_lifetime {
                    if self.resume.is_some() {
                        // The transport is presumed dead; the session waits for a new one.
                        return self.handle_transport_closed();
                    }
                    let lifetime = self.max_lifetime;
                    self.queue(Frame::Error(ErrorFrame::new(
                        StreamId::CONNECTION,
                        ErrorCode::CONNECTION_ERROR,
                        format!("no KEEPALIVE received within the max lifetime of {lifetime:?}"),
                    )));
                    self.shut(CloseReason::KeepaliveTimeout(lifetime));
                    return;
                }
                if let Some(k) = self.next_keepalive {
                    if now >= k {
                        let position = self.keepalive_position();
                        self.queue(Frame::Keepalive(Keepalive {
                            respond: true,
                            last_received_position: position,
                            data: Bytes::new(),
                        }));
                        self.next_keepalive = Some(now + self.keepalive_interval);
                    }
                }
            }
        }
    }

    /// The transport ended. Without resumption every stream ends and [`Event::Closed`] is
    /// reported; a resumable session keeps its streams and reports [`Event::Disconnected`].
    pub fn handle_transport_closed(&mut self) {
        if self.resume.is_some()
            && matches!(self.state, State::Established | State::Resuming(_))
            && self.draining.is_none()
        {
            let since = match self.state {
                State::Resuming(since) => since,
                _ => self.now,
            };
            self.state = State::Disconnected(since);
            // Unsent frames are dropped: the resumable ones are in the store and go out again
            // after RESUME. Partial reassemblies stay: they match the position received, and
            // the peer resends only what comes after it.
            self.clear_transmit();
            // No KEEPALIVE comes to trim the pool while the transport is gone.
            self.buffers.clear(false);
            self.events.push_back(Event::Disconnected);
            return;
        }
        if self.state != State::Closed {
            let reason = match self.draining.take() {
                Some(r) if self.streams.is_empty() => r,
                _ => CloseReason::TransportClosed,
            };
            self.shut(reason);
        }
    }

    // ---- internals ------------------------------------------------------------------------

    /// Queues a frame, counting its resume position and keeping it for retransmission when
    /// resumption is on. Without a transport, only resumable frames are kept (in the store).
    fn queue(&mut self, frame: Frame) {
        let len = frame.encoded_len();
        let resumable = frame.frame_type().is_resumable();
        if resumable {
            self.sent_position += len as u64;
            if let Some(r) = &mut self.resume {
                r.store.push(frame.clone(), len);
                if r.store.bytes() > r.config.max_store_bytes {
                    let msg = format!(
                        "resume store full: the peer has not acknowledged {} bytes (limit {})",
                        r.store.bytes(),
                        r.config.max_store_bytes
                    );
                    self.resume = None;
                    self.close_local(ErrorCode::CONNECTION_ERROR, msg);
                    return;
                }
            }
        }
        if self.is_disconnected() {
            return;
        }
        self.push_transmit(frame, len);
    }

    /// Queues a frame for the current transport only (RESUME, RESUME_OK).
    fn transmit_now(&mut self, frame: Frame) {
        let len = frame.encoded_len();
        self.push_transmit(frame, len);
    }

    /// Queues every kept frame after `peer_position` for retransmission.
    fn retransmit_after(&mut self, peer_position: u64) {
        let Some(r) = &mut self.resume else {
            return;
        };
        r.store.release(peer_position);
        let frames: Vec<(Frame, usize)> = r.store.frames().cloned().collect();
        for (f, len) in frames {
            self.push_transmit(f, len);
        }
    }

    /// Client: starts resuming on a new transport after [`Event::Disconnected`]: queues the
    /// RESUME frame (send it, and nothing else, first). [`Event::Resumed`] follows the
    /// server's RESUME_OK; a rejection closes the connection.
    pub fn start_resume(&mut self, now: Instant) -> Result<(), CommandError> {
        self.now = now;
        let State::Disconnected(since) = self.state else {
            return Err(CommandError::NotAllowed(
                "start_resume needs a disconnected session",
            ));
        };
        if self.role != Role::Client {
            return Err(CommandError::NotAllowed("only a client sends RESUME"));
        }
        let Some(r) = &self.resume else {
            return Err(CommandError::NotAllowed("resumption is not enabled"));
        };
        let frame = Frame::Resume(crate::frame::Resume {
            version: Version::V1_0,
            token: r.token.clone(),
            last_received_server_position: self.received_position,
            first_available_client_position: r.store.first_position(),
        });
        self.state = State::Resuming(since);
        self.last_received = now;
        self.transmit_now(frame);
        Ok(())
    }

    /// Server: resumes this session on a new transport with the client's RESUME frame.
    ///
    /// On success RESUME_OK and the retransmission are queued (the old transport's unsent
    /// frames are dropped) and [`Event::Resumed`] is reported. On failure nothing changes and
    /// the message says why; answer the new transport with ERROR\[REJECTED_RESUME\].
    pub fn handle_resume(
        &mut self,
        now: Instant,
        resume: &crate::frame::Resume,
    ) -> Result<(), String> {
        self.now = now;
        if self.role != Role::Server || self.state == State::Closed {
            return Err("the session is closed".into());
        }
        let Some(r) = &self.resume else {
            return Err("resumption is not enabled on this session".into());
        };
        if r.token != resume.token {
            return Err("unknown resume token".into());
        }
        let (first, sent) = (r.store.first_position(), self.sent_position);
        let peer_last = resume.last_received_server_position;
        if peer_last < first || peer_last > sent {
            return Err(format!(
                "cannot resume from server position {peer_last}: frames from {first} to {sent} are available"
            ));
        }
        if resume.first_available_client_position > self.received_position {
            return Err(format!(
                "cannot resume: the client keeps frames from position {}, but {} were received",
                resume.first_available_client_position, self.received_position
            ));
        }
        self.clear_transmit();
        self.transmit_now(Frame::ResumeOk(crate::frame::ResumeOk {
            last_received_client_position: self.received_position,
        }));
        self.retransmit_after(peer_last);
        self.resumed(now);
        Ok(())
    }

    /// Back to normal operation after a resumption.
    fn resumed(&mut self, now: Instant) {
        self.state = State::Established;
        self.last_received = now;
        if self.role == Role::Client {
            self.next_keepalive = Some(now + self.keepalive_interval);
        }
        // Lease restarts after resumption (Protocol.md): wait for a fresh one.
        self.lease.ours = None;
        self.lease.theirs = None;
        self.events.push_back(Event::Resumed);
    }

    fn send_fragmented(&mut self, id: StreamId, head: Head, payload: Payload) {
        let mtu = self.config.effective_mtu();
        // The common case, written straight into the transport's bytes without building a
        // frame: one frame (so no fragmentation), data small enough to copy, no resume store
        // to keep the frame for. The same bytes and accounting as `queue` (every head is a
        // resumable frame type).
        if self.resume.is_none() && !self.is_disconnected() {
            if let Some(e) = &mut self.encoded {
                let len = head.whole_len(&payload);
                if len <= mtu && payload.data.len() < e.zero_copy_min() {
                    self.sent_position += len as u64;
                    head.put_whole(id, &payload, len, e.tail_mut());
                    return;
                }
            }
        }
        fragment::fragment(id, head, payload, mtu, |f| self.queue(f));
    }

    /// Drops a stream that is done both ways.
    fn forget(&mut self, id: StreamId) {
        self.streams.remove(&id);
        self.finish_drain();
    }

    fn forget_if_done(&mut self, id: StreamId) {
        if self.streams.get(&id).is_some_and(StreamState::is_done) {
            self.streams.remove(&id);
            self.finish_drain();
        }
    }

    fn release(&mut self, r: Option<&Reassembly>) {
        if let Some(r) = r {
            self.reassembly_bytes = self.reassembly_bytes.saturating_sub(r.len());
        }
    }

    /// Sends an ERROR on stream 0 and closes.
    fn close_local(&mut self, code: ErrorCode, message: String) {
        if self.state == State::Closed {
            return;
        }
        self.queue(Frame::Error(ErrorFrame::new(
            StreamId::CONNECTION,
            code,
            message.clone(),
        )));
        self.shut(CloseReason::Local { code, message });
    }

    /// Ends every stream and reports the close.
    fn shut(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.streams.clear();
        self.partial.clear();
        self.reassembly_bytes = 0;
        self.buffers.clear(true);
        self.draining = None;
        self.events.push_back(Event::Closed(reason));
    }

    /// Finishes a graceful close once no stream is left.
    #[inline(always)]
    fn finish_drain(&mut self) {
        if self.draining.is_some() {
            self.finish_drain_now();
        }
    }

    #[cold]
    fn finish_drain_now(&mut self) {
        if self.state == State::Established && self.streams.is_empty() && self.partial.is_empty() {
            if let Some(reason) = self.draining.take() {
                self.shut(reason);
            }
        }
    }
}

fn check_n(n: u32) -> Result<(), CommandError> {
    if n == 0 || n > Credit::UNBOUNDED_GRANT {
        return Err(CommandError::InvalidRequestN(n));
    }
    Ok(())
}

/// Milliseconds of a duration as a 31-bit protocol value (at least 1).
fn duration_ms(d: Duration) -> u32 {
    d.as_millis().clamp(1, 0x7FFF_FFFF) as u32
}
