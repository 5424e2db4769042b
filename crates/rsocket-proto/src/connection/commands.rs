//! Commands from the application: opening streams, sending on them, lease and closing.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::fragment::Head;
use super::stream::{StreamKind, StreamState};
use super::{CloseReason, CommandError, Connection, Role, State, check_n, duration_ms};
use crate::Payload;
use crate::credit::Credit;
use crate::frame::{Cancel, ErrorCode, ErrorFrame, Frame, Lease, MetadataPush, RequestN, StreamId};

impl Connection {
    // ---- requests -------------------------------------------------------------------------

    /// Sends REQUEST_RESPONSE; the answer arrives as [`Event::Next`](crate::Event::Next) (or
    /// [`Event::Complete`](crate::Event::Complete), [`Event::Error`](crate::Event::Error)) on
    /// the returned stream.
    pub fn request_response(
        &mut self,
        now: Instant,
        payload: Payload,
    ) -> Result<StreamId, CommandError> {
        let id = self.open(now)?;
        let mut st = StreamState::new(StreamKind::Response, true);
        st.send_open = false;
        self.streams.insert(id, st);
        self.send_fragmented(id, Head::RequestResponse, payload);
        Ok(id)
    }

    /// Sends REQUEST_FNF. Nothing comes back.
    pub fn fire_and_forget(
        &mut self,
        now: Instant,
        payload: Payload,
    ) -> Result<StreamId, CommandError> {
        let id = self.open(now)?;
        self.send_fragmented(id, Head::RequestFnf, payload);
        Ok(id)
    }

    /// Sends REQUEST_STREAM granting `initial_n` (1..=2^31-1) payloads.
    pub fn request_stream(
        &mut self,
        now: Instant,
        payload: Payload,
        initial_n: u32,
    ) -> Result<StreamId, CommandError> {
        check_n(initial_n)?;
        let id = self.open(now)?;
        let mut st = StreamState::new(StreamKind::Stream, true);
        st.send_open = false;
        st.recv_credit = Credit::new(initial_n);
        self.streams.insert(id, st);
        self.send_fragmented(id, Head::RequestStream { initial_n }, payload);
        Ok(id)
    }

    /// Sends REQUEST_CHANNEL with the first payload, granting `initial_n` payloads to the
    /// responder. `complete` says the first payload is also our last. Further payloads need
    /// credit from the responder ([`Event::RequestN`](crate::Event::RequestN)).
    pub fn request_channel(
        &mut self,
        now: Instant,
        payload: Payload,
        initial_n: u32,
        complete: bool,
    ) -> Result<StreamId, CommandError> {
        check_n(initial_n)?;
        let id = self.open(now)?;
        let mut st = StreamState::new(StreamKind::Channel, true);
        st.send_open = !complete;
        st.recv_credit = Credit::new(initial_n);
        self.streams.insert(id, st);
        self.send_fragmented(
            id,
            Head::RequestChannel {
                initial_n,
                complete,
            },
            payload,
        );
        Ok(id)
    }

    /// Checks that a request may be sent now, consumes a lease request, and picks its ID.
    fn open(&mut self, now: Instant) -> Result<StreamId, CommandError> {
        self.now = now;
        match self.state {
            State::Closed => return Err(CommandError::Closed),
            State::AwaitingSetup => return Err(CommandError::NotEstablished),
            State::Established | State::Disconnected(_) | State::Resuming(_) => {}
        }
        if self.draining.is_some() {
            return Err(CommandError::Draining);
        }
        if self.lease.enabled {
            match &mut self.lease.ours {
                None => return Err(CommandError::NoLease("no LEASE received from the peer")),
                Some((expiry, _)) if now >= *expiry => {
                    return Err(CommandError::NoLease("the lease has expired"));
                }
                Some((_, 0)) => return Err(CommandError::NoLease("the lease is used up")),
                Some((_, left)) => *left -= 1,
            }
        }
        self.allocate_id()
    }

    fn allocate_id(&mut self) -> Result<StreamId, CommandError> {
        let first = if self.role == Role::Client { 1 } else { 2 };
        for _ in 0..=self.streams.len() + self.partial.len() {
            let id = StreamId::new(self.next_id);
            self.next_id = if self.next_id > StreamId::MAX.get() - 2 {
                self.ids_wrapped = true;
                first
            } else {
                self.next_id + 2
            };
            // Until the IDs wrap around, each one is new: no lookup.
            if !self.ids_wrapped || !self.streams.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(CommandError::StreamIdsExhausted)
    }

    // ---- stream commands ------------------------------------------------------------------

    /// The state of stream `id`, or the error every stream command gives for an unknown one.
    #[inline]
    fn stream_mut(&mut self, id: StreamId) -> Result<&mut StreamState, CommandError> {
        self.streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream(id))
    }

    /// Sends a value on a stream we may send on; `complete` also ends our side. A
    /// request-response responder always completes. Needs credit except for request-response.
    pub fn send_next(
        &mut self,
        id: StreamId,
        payload: Payload,
        complete: bool,
    ) -> Result<(), CommandError> {
        let st = self.stream_mut(id)?;
        if !st.send_open {
            return Err(CommandError::SendClosed(id));
        }
        let complete = complete || st.kind == StreamKind::Response;
        if st.kind != StreamKind::Response && !st.send_credit.take() {
            return Err(CommandError::NoCredit(id));
        }
        st.responded = true;
        if complete {
            st.send_open = false;
        }
        if st.is_done() {
            self.forget(id);
        }
        self.send_fragmented(
            id,
            Head::Payload {
                complete,
                next: true,
            },
            payload,
        );
        Ok(())
    }

    /// Completes our side of a stream without a value (PAYLOAD with C).
    pub fn send_complete(&mut self, id: StreamId) -> Result<(), CommandError> {
        let st = self.stream_mut(id)?;
        if !st.send_open {
            return Err(CommandError::SendClosed(id));
        }
        st.send_open = false;
        st.responded = true;
        self.forget_if_done(id);
        self.queue(Frame::Payload(crate::frame::PayloadFrame {
            stream_id: id,
            follows: false,
            complete: true,
            next: false,
            payload: Payload::default(),
        }));
        Ok(())
    }

    /// Ends a stream with an ERROR (both directions). Codes that belong on stream 0 are
    /// replaced by APPLICATION_ERROR.
    pub fn send_error(
        &mut self,
        id: StreamId,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<(), CommandError> {
        let st = self
            .streams
            .remove(&id)
            .ok_or(CommandError::UnknownStream(id))?;
        self.release(st.reassembly.as_deref());
        let code = if code.is_connection_level() || code.0 == 0 {
            ErrorCode::APPLICATION_ERROR
        } else {
            code
        };
        self.queue(Frame::Error(ErrorFrame::new(id, code, message)));
        self.finish_drain();
        Ok(())
    }

    /// Grants the peer `n` (1..=2^31-1) more payloads on a stream we receive on.
    pub fn request_n(&mut self, id: StreamId, n: u32) -> Result<(), CommandError> {
        check_n(n)?;
        let st = self.stream_mut(id)?;
        if !st.recv_open || st.kind == StreamKind::Response {
            return Err(CommandError::NotAllowed(
                "request-n needs a stream or channel that is still receiving",
            ));
        }
        st.recv_credit.grant(n);
        self.queue(Frame::RequestN(RequestN { stream_id: id, n }));
        Ok(())
    }

    /// Cancels: as requester, the whole stream; as a channel's responder, the requester's
    /// sending side.
    pub fn cancel(&mut self, id: StreamId) -> Result<(), CommandError> {
        let st = self.stream_mut(id)?;
        if st.local {
            let st = self.streams.remove(&id);
            self.release(st.as_ref().and_then(|s| s.reassembly.as_deref()));
        } else if st.kind == StreamKind::Channel && st.recv_open {
            st.recv_open = false;
            let r = st.reassembly.take();
            self.release(r.as_deref());
            self.forget_if_done(id);
        } else {
            return Err(CommandError::NotAllowed(
                "only a requester or a channel's responder can cancel; a responder sends an error",
            ));
        }
        self.queue(Frame::Cancel(Cancel { stream_id: id }));
        self.finish_drain();
        Ok(())
    }

    /// Sends METADATA_PUSH.
    pub fn metadata_push(&mut self, metadata: Bytes) -> Result<(), CommandError> {
        match self.state {
            State::Closed => Err(CommandError::Closed),
            State::AwaitingSetup => Err(CommandError::NotEstablished),
            State::Established | State::Disconnected(_) | State::Resuming(_) => {
                self.queue(Frame::MetadataPush(MetadataPush { metadata }));
                Ok(())
            }
        }
    }

    /// Grants the peer a lease of `number_of_requests` requests for `ttl` (lease must be
    /// enabled on the connection). Replaces any previous lease.
    pub fn send_lease(
        &mut self,
        now: Instant,
        ttl: Duration,
        number_of_requests: u32,
        metadata: Option<Bytes>,
    ) -> Result<(), CommandError> {
        if self.state != State::Established {
            return Err(CommandError::NotEstablished);
        }
        if !self.lease.enabled {
            return Err(CommandError::NotAllowed(
                "lease is not enabled on this connection",
            ));
        }
        let ttl_ms = duration_ms(ttl);
        let n = number_of_requests.min(0x7FFF_FFFF);
        self.lease.theirs = Some((now + Duration::from_millis(ttl_ms.into()), n));
        self.queue(Frame::Lease(Lease {
            ttl_ms,
            number_of_requests: n,
            metadata,
        }));
        Ok(())
    }

    /// True when lease is in force on this connection.
    pub fn lease_enabled(&self) -> bool {
        self.lease.enabled
    }

    /// Server: refuses the SETUP just reported by [`Event::Setup`](crate::Event::Setup) with an
    /// ERROR on stream 0 (REJECTED_SETUP, UNSUPPORTED_SETUP or INVALID_SETUP) and closes.
    pub fn reject_setup(&mut self, code: ErrorCode, message: impl Into<String>) {
        self.close_local(code, message.into());
    }

    /// Closes gracefully: sends ERROR\[CONNECTION_CLOSE\], accepts no new streams, and reports
    /// [`Event::Closed`](crate::Event::Closed) once every open stream has ended.
    pub fn close(&mut self) {
        if self.state != State::Established || self.draining.is_some() {
            if self.state == State::AwaitingSetup {
                self.shut(CloseReason::Graceful);
            }
            return;
        }
        self.queue(Frame::Error(ErrorFrame::new(
            StreamId::CONNECTION,
            ErrorCode::CONNECTION_CLOSE,
            "connection closing",
        )));
        self.draining = Some(CloseReason::Graceful);
        self.finish_drain();
    }

    /// Closes at once with an ERROR on stream 0 (CONNECTION_ERROR for most uses).
    pub fn close_with_error(&mut self, code: ErrorCode, message: impl Into<String>) {
        self.close_local(code, message.into());
    }
}
