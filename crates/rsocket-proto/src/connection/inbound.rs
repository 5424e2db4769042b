//! Frames from the peer: the handshake, stream frames, and the spec's "Handling the
//! Unexpected" rules.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::fragment::{Reassembly, ReassemblyError};
use super::stream::{StreamKind, StreamState};
use super::{CloseReason, Connection, Event, PartialRequest, RequestKind, Role, State};
use crate::Payload;
use crate::credit::Credit;
use crate::frame::{
    Cancel, DecodeError, ErrorCode, ErrorFrame, Flags, Frame, FrameType, Header, Keepalive, Lease,
    PayloadFrame, Setup, StreamId,
};

impl Connection {
    /// Feeds one received frame, still encoded, without the transport's length prefix.
    ///
    /// A frame that does not decode closes the connection with ERROR\[CONNECTION_ERROR\] (or
    /// INVALID_SETUP before the handshake), unless its I flag is set, in which case it is
    /// ignored.
    pub fn handle_bytes(&mut self, now: Instant, buf: Bytes) {
        if self.state == State::Closed {
            return;
        }
        if buf.len() > self.config.limits.max_frame_size {
            let msg = format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                buf.len(),
                self.config.limits.max_frame_size
            );
            return self.close_local(ErrorCode::CONNECTION_ERROR, msg);
        }
        let header = Header::peek(&buf);
        let wire_len = buf.len();
        if let Some(h) = header {
            if self.state == State::Established
                && matches!(
                    h.frame_type,
                    FrameType::PAYLOAD | FrameType::REQUEST_RESPONSE | FrameType::REQUEST_FNF
                )
            {
                return self.handle_payload_bytes(now, h, buf);
            }
        }
        match Frame::decode(buf) {
            Ok(frame) => {
                let sid = header.map_or(StreamId::CONNECTION, |h| h.stream_id);
                self.dispatch(now, sid, frame, wire_len);
            }
            Err(e) => self.undecodable(now, header, e),
        }
    }

    /// [`Connection::handle_bytes`] of a PAYLOAD, REQUEST_RESPONSE or REQUEST_FNF frame (header
    /// `h`) on an established connection: what decoding it and [`Connection::dispatch`] do,
    /// without building a [`Frame`] (most frames are these, and the generic path moves the
    /// frame through two matches).
    fn handle_payload_bytes(&mut self, now: Instant, h: Header, buf: Bytes) {
        let wire_len = buf.len();
        let payload = match Frame::decode_payload_only(h, buf) {
            Ok(p) => p,
            Err(e) => return self.undecodable(now, Some(h), e),
        };
        self.note_received(now, true, wire_len);
        // Not an ERROR on stream 0: a client knows the server took its SETUP (the flag means
        // nothing on a server).
        self.setup_confirmed = true;
        let id = h.stream_id;
        let follows = h.flags.contains(Flags::FOLLOWS);
        match h.frame_type {
            FrameType::PAYLOAD => {
                let frame = PayloadFrame {
                    stream_id: id,
                    follows,
                    complete: h.flags.contains(Flags::COMPLETE),
                    next: h.flags.contains(Flags::NEXT),
                    payload,
                };
                self.on_payload(now, frame, wire_len);
            }
            FrameType::REQUEST_RESPONSE => {
                self.on_request(now, id, RequestKind::Response, follows, payload, wire_len);
            }
            _ => self.on_request(
                now,
                id,
                RequestKind::FireAndForget,
                follows,
                payload,
                wire_len,
            ),
        }
        self.finish_drain();
    }

    /// A frame that did not decode (`header`, when it had one).
    fn undecodable(&mut self, now: Instant, header: Option<Header>, e: DecodeError) {
        let name = header.map_or("frame".to_string(), |h| format!("{} frame", h.frame_type));
        if self.state == State::AwaitingSetup {
            self.close_local(ErrorCode::INVALID_SETUP, format!("invalid {name}: {e}"));
        } else if header.is_some_and(|h| h.flags.contains(Flags::IGNORE)) {
            self.ignored(now);
        } else {
            self.close_local(ErrorCode::CONNECTION_ERROR, format!("invalid {name}: {e}"));
        }
    }

    /// What every received frame of `len` bytes counts for: the keepalive lifetime and, for
    /// resumable frames, the position acknowledged to the peer.
    fn note_received(&mut self, now: Instant, resumable: bool, len: usize) {
        self.now = now;
        self.last_received = now;
        if resumable {
            self.received_position += len as u64;
            self.ack_if_due();
        }
    }

    /// Feeds one received, decoded frame.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.state == State::Closed {
            return;
        }
        let sid = frame.stream_id();
        let len = frame.encoded_len();
        self.dispatch(now, sid, frame, len);
    }

    /// `len` is the frame's length as received: positions count the bytes on the wire, so a
    /// frame with trailing bytes (which the decoder ignores) keeps both sides' positions equal.
    fn dispatch(&mut self, now: Instant, sid: StreamId, frame: Frame, len: usize) {
        self.note_received(now, frame.frame_type().is_resumable(), len);
        if self.state == State::AwaitingSetup {
            return self.handle_first_frame(now, sid, frame);
        }
        if let State::Resuming(_) = self.state {
            return self.handle_resuming(now, sid, frame);
        }
        if let State::Disconnected(_) = self.state {
            return; // no transport: nothing can arrive
        }
        if self.role == Role::Client
            && !self.setup_confirmed
            && !matches!(&frame, Frame::Error(e) if e.stream_id.is_connection())
        {
            self.setup_confirmed = true;
        }
        match frame {
            Frame::Setup(_) | Frame::ResumeOk(_) => self.ignored(now),
            Frame::Resume(_) if self.role == Role::Server => self.close_local(
                ErrorCode::CONNECTION_ERROR,
                "RESUME received on an established connection".into(),
            ),
            Frame::Resume(_) => self.ignored(now),
            Frame::Lease(l) if sid.is_connection() => self.on_lease(now, l),
            Frame::Keepalive(k) if sid.is_connection() => self.on_keepalive(k),
            Frame::MetadataPush(m) if sid.is_connection() => {
                self.events.push_back(Event::MetadataPush(m.metadata));
            }
            Frame::Lease(_) | Frame::Keepalive(_) | Frame::MetadataPush(_) => self.ignored(now),
            Frame::Ext(e) if e.ignore => self.ignored(now),
            Frame::Ext(e) => self.close_local(
                ErrorCode::CONNECTION_ERROR,
                format!(
                    "unsupported extension frame (extended type {})",
                    e.extended_type
                ),
            ),
            Frame::Unknown(u) if u.ignorable() => self.ignored(now),
            Frame::Unknown(u) => self.close_local(
                ErrorCode::CONNECTION_ERROR,
                format!("unknown frame type {:#04x}", u.frame_type.get()),
            ),
            Frame::Error(e) if sid.is_connection() => self.on_connection_error(now, e),
            Frame::Error(e) => self.on_stream_error(now, e),
            Frame::RequestResponse(r) => {
                self.on_request(now, sid, RequestKind::Response, r.follows, r.payload, len)
            }
            Frame::RequestFnf(r) => self.on_request(
                now,
                sid,
                RequestKind::FireAndForget,
                r.follows,
                r.payload,
                len,
            ),
            Frame::RequestStream(r) => self.on_request(
                now,
                sid,
                RequestKind::Stream {
                    initial_n: r.initial_n,
                },
                r.follows,
                r.payload,
                len,
            ),
            Frame::RequestChannel(r) => self.on_request(
                now,
                sid,
                // As for PAYLOAD (Protocol.md "Handling the Unexpected" #7), C with F
                // ignores F: the frame is the whole request and completes the requester.
                RequestKind::Channel {
                    initial_n: r.initial_n,
                    complete: r.complete,
                },
                r.follows && !r.complete,
                r.payload,
                len,
            ),
            Frame::RequestN(r) => self.on_request_n(now, r.stream_id, r.n),
            Frame::Cancel(c) => self.on_cancel(now, c),
            Frame::Payload(p) => self.on_payload(now, p, len),
        }
        self.finish_drain();
    }

    /// Client, after RESUME: only RESUME_OK or an ERROR on stream 0 matter.
    fn handle_resuming(&mut self, now: Instant, sid: StreamId, frame: Frame) {
        match frame {
            Frame::ResumeOk(ok) => {
                let pos = ok.last_received_client_position;
                let first = self.resume.as_ref().map_or(0, |r| r.store.first_position());
                if pos < first || pos > self.sent_position {
                    let msg = format!(
                        "RESUME_OK position {pos} is outside the frames kept ({first} to {})",
                        self.sent_position
                    );
                    self.resume = None;
                    return self.close_local(ErrorCode::CONNECTION_ERROR, msg);
                }
                self.retransmit_after(pos);
                self.resumed(now);
            }
            Frame::Error(e) if sid.is_connection() => {
                self.resume = None;
                self.shut(CloseReason::Peer {
                    code: e.code,
                    message: e.message(),
                });
            }
            _ => self.ignored(now),
        }
    }

    /// Server, before the handshake: only SETUP (or RESUME) on stream 0 is acceptable.
    fn handle_first_frame(&mut self, now: Instant, sid: StreamId, frame: Frame) {
        match frame {
            Frame::Setup(s) if sid.is_connection() => self.on_setup(now, s),
            Frame::Resume(r) if sid.is_connection() && self.config.resume.is_some() => {
                // The session lives in another Connection: the owner looks it up by token.
                self.setup_deadline = None;
                self.events.push_back(Event::Resume(r));
            }
            Frame::Resume(_) if sid.is_connection() => self.close_local(
                ErrorCode::REJECTED_RESUME,
                "resumption is not enabled on this server".into(),
            ),
            other => {
                let msg = if sid.is_connection() {
                    format!(
                        "the first frame must be SETUP or RESUME, got {}",
                        other.frame_type()
                    )
                } else {
                    format!(
                        "the first frame must be SETUP or RESUME on stream 0, got {} on stream {sid}",
                        other.frame_type()
                    )
                };
                self.close_local(ErrorCode::INVALID_SETUP, msg);
            }
        }
    }

    fn on_setup(&mut self, now: Instant, s: Box<Setup>) {
        if s.version.major != 1 {
            let msg = format!(
                "unsupported protocol version {}; this server speaks 1.0",
                s.version
            );
            return self.close_local(ErrorCode::UNSUPPORTED_SETUP, msg);
        }
        if s.keepalive_interval_ms == 0 {
            return self.close_local(
                ErrorCode::INVALID_SETUP,
                "keepalive interval must be greater than 0".into(),
            );
        }
        if s.max_lifetime_ms == 0 {
            return self.close_local(
                ErrorCode::INVALID_SETUP,
                "max lifetime must be greater than 0".into(),
            );
        }
        if let Some(token) = &s.resume_token {
            let Some(config) = self.config.resume.clone() else {
                return self.close_local(
                    ErrorCode::REJECTED_SETUP,
                    "resumption is not enabled on this server".into(),
                );
            };
            if token.is_empty() {
                return self.close_local(
                    ErrorCode::INVALID_SETUP,
                    "the resume token must not be empty".into(),
                );
            }
            self.resume = Some(super::ResumeState::new(config, token.clone()));
        }
        if s.lease && !self.config.lease {
            return self.close_local(
                ErrorCode::UNSUPPORTED_SETUP,
                "lease is not enabled on this server".into(),
            );
        }
        self.state = State::Established;
        self.setup_deadline = None;
        self.keepalive_interval = Duration::from_millis(s.keepalive_interval_ms.into());
        self.max_lifetime = Duration::from_millis(s.max_lifetime_ms.into());
        self.last_received = now;
        self.lease.enabled = s.lease;
        self.setup = Some((*s).clone());
        self.events.push_back(Event::Setup(s));
    }

    fn on_lease(&mut self, now: Instant, l: Lease) {
        if !self.lease.enabled {
            return self.ignored(now);
        }
        self.lease.ours = Some((
            now + Duration::from_millis(l.ttl_ms.into()),
            l.number_of_requests,
        ));
        self.events.push_back(Event::Lease(l));
    }

    fn on_keepalive(&mut self, k: Keepalive) {
        self.buffers.trim_if_unused();
        if let Some(r) = &mut self.resume {
            let pos = k.last_received_position;
            if pos > self.sent_position {
                let msg = format!(
                    "KEEPALIVE acknowledges position {pos}, beyond the {} bytes sent",
                    self.sent_position
                );
                self.resume = None; // the session cannot be trusted any more
                return self.close_local(ErrorCode::CONNECTION_ERROR, msg);
            }
            r.store.release(pos);
        }
        if !k.respond {
            return;
        }
        if k.data.len() > self.config.limits.max_keepalive_data {
            let msg = format!(
                "KEEPALIVE data of {} bytes exceeds the limit of {} bytes",
                k.data.len(),
                self.config.limits.max_keepalive_data
            );
            return self.close_local(ErrorCode::CONNECTION_ERROR, msg);
        }
        let position = self.keepalive_position();
        self.queue(Frame::Keepalive(Keepalive {
            respond: false,
            last_received_position: position,
            data: k.data,
        }));
    }

    fn on_connection_error(&mut self, now: Instant, e: ErrorFrame) {
        if e.code.is_application_defined() || (0x201..=0x204).contains(&e.code.0) {
            // A code that belongs on a stream, sent on stream 0: misaddressed, ignored like
            // a frame on an unknown stream (Protocol.md "Handling the Unexpected", R12).
            return self.ignored(now);
        }
        if e.code.is_setup_rejection() {
            // A server ignores these; so does a client once the server accepted its SETUP.
            if self.role == Role::Client && !self.setup_confirmed {
                self.shut(CloseReason::Peer {
                    code: e.code,
                    message: e.message(),
                });
            } else {
                self.ignored(now);
            }
            return;
        }
        let reason = CloseReason::Peer {
            code: e.code,
            message: e.message(),
        };
        if e.code == ErrorCode::CONNECTION_CLOSE {
            // Outstanding streams finish; new requests are refused.
            if self.draining.is_none() {
                self.draining = Some(reason);
            }
        } else {
            self.shut(reason);
        }
    }

    fn on_stream_error(&mut self, now: Instant, e: ErrorFrame) {
        // A requester ending a request with ERROR before any response is as much a rapid
        // reset as a CANCEL: both count for the rapid-cancel guard. A request abandoned while
        // its fragments were still arriving started no handler, so it costs no more than the
        // frames themselves (the spec allows it: "Sender MAY CANCEL mid-sequence").
        if let Some(p) = self.partial.remove(&e.stream_id) {
            self.release(Some(&p.reassembly));
            return;
        }
        let Some(st) = self.streams.remove(&e.stream_id) else {
            return self.ignored(now);
        };
        self.release(st.reassembly.as_deref());
        let message = e.message();
        self.events.push_back(Event::Error {
            stream_id: e.stream_id,
            code: e.code,
            message,
        });
        if !st.local && !st.responded {
            self.count_cancel(now);
        }
    }

    fn reject(&mut self, id: StreamId, message: String) {
        self.queue(Frame::Error(ErrorFrame::new(
            id,
            ErrorCode::REJECTED,
            message,
        )));
    }

    fn on_request(
        &mut self,
        now: Instant,
        id: StreamId,
        kind: RequestKind,
        follows: bool,
        payload: Payload,
        frame_len: usize,
    ) {
        let ours = id.is_client_initiated() == (self.role == Role::Client);
        if id.is_connection()
            || ours
            || self.streams.contains_key(&id)
            || (!self.partial.is_empty() && self.partial.contains_key(&id))
        {
            return self.ignored(now);
        }
        let fnf = kind == RequestKind::FireAndForget;
        if self.draining.is_some() {
            if !fnf {
                self.reject(id, "the connection is closing".into());
            }
            return;
        }
        let limit = self.config.limits.max_concurrent_streams;
        if self.streams.len() + self.partial.len() >= limit {
            if !fnf {
                self.reject(id, format!("too many concurrent streams (limit {limit})"));
            }
            return;
        }
        if self.lease.enabled {
            let why = match &mut self.lease.theirs {
                None => Some("no lease granted"),
                Some((expiry, _)) if now >= *expiry => Some("lease expired"),
                Some((_, 0)) => Some("lease exhausted"),
                Some((_, left)) => {
                    *left -= 1;
                    None
                }
            };
            if let Some(why) = why {
                if !fnf {
                    self.reject(id, format!("request rejected: {why}"));
                }
                return;
            }
        }
        if let RequestKind::Stream { initial_n } | RequestKind::Channel { initial_n, .. } = kind {
            if initial_n == 0 || initial_n > Credit::UNBOUNDED_GRANT {
                let msg =
                    format!("initial request-n must be between 1 and 2^31-1, got {initial_n}");
                self.queue(Frame::Error(ErrorFrame::new(id, ErrorCode::INVALID, msg)));
                return;
            }
        }
        if !follows {
            return self.deliver_request(id, kind, payload);
        }
        if frame_len < self.config.limits.min_fragment_size {
            return self.tiny_fragment(frame_len);
        }
        let mut reassembly = Reassembly::default();
        if self.push_fragment(&mut reassembly, &payload).is_err() {
            // A connection-level overrun has closed the connection: nothing may follow its
            // ERROR. Fire-and-forget gets no answer.
            if self.state != State::Closed && !fnf {
                self.reject(id, self.too_large_message());
            }
            return;
        }
        self.partial.insert(id, PartialRequest { kind, reassembly });
    }

    fn deliver_request(&mut self, id: StreamId, kind: RequestKind, payload: Payload) {
        let st = match kind {
            RequestKind::FireAndForget => None,
            RequestKind::Response => {
                let mut st = StreamState::new(StreamKind::Response, false);
                st.recv_open = false;
                st.send_credit = Credit::new(1);
                Some(st)
            }
            RequestKind::Stream { initial_n } => {
                let mut st = StreamState::new(StreamKind::Stream, false);
                st.recv_open = false;
                st.send_credit = Credit::new(initial_n);
                Some(st)
            }
            RequestKind::Channel {
                initial_n,
                complete,
            } => {
                let mut st = StreamState::new(StreamKind::Channel, false);
                st.recv_open = !complete;
                st.send_credit = Credit::new(initial_n);
                Some(st)
            }
        };
        if let Some(st) = st {
            self.streams.insert(id, st);
        }
        self.events.push_back(Event::Request {
            stream_id: id,
            kind,
            payload,
        });
    }

    fn too_large_message(&self) -> String {
        format!(
            "payload exceeds the maximum of {} bytes",
            self.config.limits.max_payload_size
        )
    }

    fn tiny_fragment(&mut self, len: usize) {
        let msg = format!(
            "non-final fragment of {len} bytes is below the minimum of {} bytes",
            self.config.limits.min_fragment_size
        );
        self.close_local(ErrorCode::CONNECTION_ERROR, msg);
    }

    /// Adds a fragment, enforcing the per-payload and per-connection budgets. A connection
    /// budget overrun closes the connection; a payload overrun is returned.
    fn push_fragment(&mut self, r: &mut Reassembly, p: &Payload) -> Result<(), ()> {
        let before = r.len();
        match r.push(p, self.config.limits.max_payload_size, &self.buffers) {
            Ok(()) => {}
            Err(ReassemblyError::TooLarge) => return Err(()),
            Err(ReassemblyError::MetadataAfterData) => {
                self.close_local(
                    ErrorCode::CONNECTION_ERROR,
                    "fragment carries metadata after data had started".into(),
                );
                return Err(());
            }
        }
        self.reassembly_bytes += r.len() - before;
        if self.reassembly_bytes > self.config.limits.max_reassembly_bytes {
            let msg = format!(
                "reassembly buffers exceed the connection limit of {} bytes",
                self.config.limits.max_reassembly_bytes
            );
            self.close_local(ErrorCode::CONNECTION_ERROR, msg);
            return Err(());
        }
        Ok(())
    }

    fn on_payload(&mut self, now: Instant, p: PayloadFrame, frame_len: usize) {
        let id = p.stream_id;
        let follows = p.follows && !p.complete;
        if follows && frame_len < self.config.limits.min_fragment_size {
            return self.tiny_fragment(frame_len);
        }
        // A continuation of a fragmented request.
        // (Most connections have no partial request: skip hashing the ID then.)
        let partial = if self.partial.is_empty() {
            None
        } else {
            self.partial.remove(&id)
        };
        if let Some(mut partial) = partial {
            let pushed = self.push_fragment(&mut partial.reassembly, &p.payload);
            if self.state == State::Closed {
                return;
            }
            self.release(Some(&partial.reassembly));
            if pushed.is_err() {
                if partial.kind != RequestKind::FireAndForget {
                    self.reject(id, self.too_large_message());
                }
                return;
            }
            if follows {
                self.reassembly_bytes += partial.reassembly.len();
                self.partial.insert(id, partial);
                return;
            }
            let mut kind = partial.kind;
            if let RequestKind::Channel { complete, .. } = &mut kind {
                *complete = p.complete;
            }
            return self.deliver_request(id, kind, partial.reassembly.finish(&self.buffers));
        }
        let Some(st) = self.streams.get_mut(&id) else {
            return self.ignored(now);
        };
        if !st.recv_open || (!p.next && !p.complete && !p.follows) {
            return self.ignored(now);
        }
        let (payload, next, st) = if follows || st.reassembly.is_some() {
            let mut r = st.reassembly.take().unwrap_or_default();
            let pushed = self.push_fragment(&mut r, &p.payload);
            if self.state == State::Closed {
                return;
            }
            if pushed.is_err() {
                self.release(Some(&r));
                let msg = self.too_large_message();
                return self.stream_violation(id, msg);
            }
            if follows {
                if let Some(st) = self.streams.get_mut(&id) {
                    st.reassembly = Some(r);
                }
                return;
            }
            self.release(Some(&r));
            let Some(st) = self.streams.get_mut(&id) else {
                return;
            };
            (r.finish(&self.buffers), true, st)
        } else {
            (p.payload, p.next, st)
        };
        let complete = p.complete || st.kind == StreamKind::Response;
        if next {
            if st.kind != StreamKind::Response && !st.recv_credit.take() {
                return self.stream_violation(id, "peer sent more payloads than requested".into());
            }
            self.events.push_back(Event::Next {
                stream_id: id,
                payload,
                complete,
            });
        } else {
            self.events.push_back(Event::Complete { stream_id: id });
        }
        if complete {
            st.recv_open = false;
            if st.kind == StreamKind::Response {
                st.send_open = false;
            }
            if st.is_done() {
                self.forget(id);
            }
        }
    }

    /// The peer broke a stream's rules: end the stream on both sides and tell the application.
    fn stream_violation(&mut self, id: StreamId, message: String) {
        let Some(st) = self.streams.remove(&id) else {
            return;
        };
        self.release(st.reassembly.as_deref());
        if st.local {
            self.queue(Frame::Cancel(Cancel { stream_id: id }));
        } else {
            self.queue(Frame::Error(ErrorFrame::new(
                id,
                ErrorCode::INVALID,
                message.clone(),
            )));
        }
        self.events.push_back(Event::Error {
            stream_id: id,
            code: ErrorCode::INVALID,
            message,
        });
    }

    fn on_request_n(&mut self, now: Instant, id: StreamId, n: u32) {
        let Some(st) = self.streams.get_mut(&id) else {
            return self.ignored(now);
        };
        if !st.send_open || st.kind == StreamKind::Response {
            return self.ignored(now);
        }
        if n == 0 || n > Credit::UNBOUNDED_GRANT {
            let msg = format!("request-n must be between 1 and 2^31-1, got {n}");
            return self.stream_violation(id, msg);
        }
        st.send_credit.grant(n);
        self.events.push_back(Event::RequestN { stream_id: id, n });
    }

    fn on_cancel(&mut self, now: Instant, c: Cancel) {
        let id = c.stream_id;
        if let Some(p) = self.partial.remove(&id) {
            // Cancel mid-fragmentation (allowed by the spec): no handler started, nothing to
            // guard against beyond the frames themselves.
            self.release(Some(&p.reassembly));
            return;
        }
        let Some(st) = self.streams.get_mut(&id) else {
            return self.ignored(now);
        };
        if !st.local {
            let responded = st.responded;
            let st = self.streams.remove(&id);
            self.release(st.as_ref().and_then(|s| s.reassembly.as_deref()));
            self.events.push_back(Event::Cancel { stream_id: id });
            if !responded {
                self.count_cancel(now);
            }
        } else if st.kind == StreamKind::Channel && st.send_open {
            st.send_open = false;
            self.events.push_back(Event::Cancel { stream_id: id });
            self.forget_if_done(id);
        } else {
            self.ignored(now);
        }
    }

    fn roll_window(&mut self, now: Instant) {
        if now.saturating_duration_since(self.guard.window_start)
            >= self.config.limits.cancel_window
        {
            self.guard.window_start = now;
            self.guard.cancels = 0;
            self.guard.ignored = 0;
        }
    }

    /// Rapid-cancel guard: requests canceled before any response.
    fn count_cancel(&mut self, now: Instant) {
        self.roll_window(now);
        self.guard.cancels += 1;
        if self.guard.cancels > self.config.limits.max_cancels_per_window {
            self.close_local(
                ErrorCode::CONNECTION_ERROR,
                "too many requests canceled before a response".into(),
            );
        }
    }

    /// A frame the spec says to ignore; too many of them close the connection.
    fn ignored(&mut self, now: Instant) {
        self.roll_window(now);
        self.guard.ignored += 1;
        if self.guard.ignored > self.config.limits.max_ignored_per_window {
            self.close_local(
                ErrorCode::CONNECTION_ERROR,
                "too many frames that had to be ignored".into(),
            );
        }
    }
}
