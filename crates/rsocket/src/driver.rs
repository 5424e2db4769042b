//! The connection driver: one task per connection that owns the transport.
//!
//! Each wake-up it reads what the transport has (a bounded batch), feeds the sans-IO
//! [`Connection`](rsocket_proto::Connection), routes events to consumers and handlers, polls
//! the handlers' response streams as far as credit allows, and writes every frame that became
//! ready in one flush. Handlers run on this task: no task is spawned per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SelectAll, StreamExt};
use rsocket_proto::frame::Setup;
use rsocket_proto::{ErrorCode, Event, RequestKind, StreamId};

use crate::alarm::Timer;
use crate::responder::{Handled, Responder};
use crate::resume::{DriverIo, Resumption};
use crate::server::{Acceptor, SetupInfo};
use crate::shared::{
    Gate, HELD_PAUSE, HIGH_WATER, Inner, OutMode, Outbound, READ_PAUSE, Shared, Signal, Slot,
};
use crate::transport::Inbound;
use crate::{Error, PayloadStream, RSocket};

mod resumption;

/// Frames read per wake-up before other work gets a turn.
const READ_BATCH: usize = 256;
/// Producer items taken per wake-up.
const WRITE_BATCH: usize = 256;
/// Fire-and-forget and metadata-push handlers running at once; at the limit the driver stops
/// reading, so a flood pushes back to the peer.
const MAX_TASKS: usize = 1024;
/// How long the transport may refuse to take our bytes before the connection is dropped.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Logs a frame at TRACE under the target `rsocket::frames` (what `rsocket serve --debug`
/// shows). The frame is only built when that target is enabled.
pub(crate) fn log_frame(
    dir: &str,
    frame: impl FnOnce() -> Result<rsocket_proto::Frame, rsocket_proto::frame::DecodeError>,
) {
    if tracing::enabled!(target: "rsocket::frames", tracing::Level::TRACE) {
        match frame() {
            Ok(f) => tracing::trace!(target: "rsocket::frames", "{dir} {f:?}"),
            Err(e) => tracing::trace!(target: "rsocket::frames", "{dir} undecodable frame: {e}"),
        }
    }
}

/// Deferred work that calls user code (never under the lock).
enum Deferred {
    Setup(Box<Setup>),
    Fnf(crate::Payload),
    Push(bytes::Bytes),
    Response(StreamId, crate::Payload),
    Stream(StreamId, crate::Payload, Arc<Gate>),
    Channel(StreamId, crate::Payload, Arc<Gate>, bool),
    /// Server: this fresh connection's first frame is RESUME; hand the transport over.
    Resume(rsocket_proto::frame::Resume),
}

/// Drives one connection until it closes.
pub(crate) struct Driver<T: DriverIo> {
    io: T,
    inner: Arc<Inner>,
    responder: Arc<dyn Responder>,
    acceptor: Option<Arc<dyn Acceptor>>,
    accepting: Option<BoxFuture<'static, Result<Arc<dyn Responder>, Error>>>,
    outbound: SelectAll<Outbound>,
    tasks: FuturesUnordered<BoxFuture<'static, ()>>,
    timer: Timer,
    timer_at: Option<Instant>,
    /// The timer was polled (and is pending) with the driver's current waker since it was last
    /// reset: polling it again is needed only once it has elapsed.
    timer_armed: bool,
    stalled_since: Option<Instant>,
    partial_since: Option<Instant>,
    frame_timeout: Duration,
    /// Why the transport failed, reported instead of a bare "transport closed".
    transport_error: Option<String>,
    eof: bool,
    closing: bool,
    /// How a resumable session finds a new transport (`None`: the connection ends with its
    /// transport).
    resume: Option<Box<Resumption>>,
    /// Set when routing changed the session (lost or resumed its transport): another pass
    /// must run, to poll the reconnection or the producers that were paused.
    again: bool,
    /// The task waker last registered with [`crate::shared::DriverWaker`].
    waker: Option<std::task::Waker>,
    /// Work that calls user code, collected under the lock and run outside it (kept to reuse
    /// its allocation).
    deferred: Vec<Deferred>,
    /// Request-response answers that were ready at once, sent under the pass's last lock.
    answers: Vec<(StreamId, Result<crate::Payload, Error>)>,
    /// Payload bytes in `answers` (not yet in the transport's backlog).
    answer_bytes: usize,
    /// The connection's next deadline, as of the last flush.
    next_timeout: Option<Instant>,
    /// A requester waits for send capacity: notify once the backlog is below the mark.
    capacity_wanted: bool,
}

impl<T: DriverIo> Driver<T> {
    pub(crate) fn new(
        io: T,
        inner: Arc<Inner>,
        responder: Arc<dyn Responder>,
        acceptor: Option<Arc<dyn Acceptor>>,
    ) -> Self {
        let frame_timeout = {
            let mut s = inner.lock();
            s.direct = io.direct_writer();
            // A byte-stream transport takes frames encoded as they are sent (no queue of
            // frames in between), unless outgoing frames are to be logged one by one.
            if !tracing::enabled!(target: "rsocket::frames", tracing::Level::TRACE)
                && let Some(zero_copy_min) = io.encoded_frames()
            {
                s.conn.encode_transmit(zero_copy_min);
            }
            s.conn.config().limits.frame_read_timeout
        };
        Driver {
            io,
            inner,
            responder,
            acceptor,
            accepting: None,
            outbound: SelectAll::new(),
            tasks: FuturesUnordered::new(),
            timer: Timer::new(),
            timer_at: None,
            timer_armed: false,
            stalled_since: None,
            partial_since: None,
            frame_timeout,
            transport_error: None,
            eof: false,
            closing: false,
            resume: None,
            again: false,
            waker: None,
            deferred: Vec::new(),
            answers: Vec::new(),
            answer_bytes: 0,
            next_timeout: None,
            capacity_wanted: false,
        }
    }

    /// Makes the driver keep the session across transports.
    pub(crate) fn with_resumption(mut self, resumption: Resumption) -> Self {
        self.resume = Some(Box::new(resumption));
        self
    }

    fn awaiting_acceptance(&self) -> bool {
        self.acceptor.is_some() || self.accepting.is_some()
    }

    /// Reads a batch of frames into the connection (`s` is the locked state). Returns true
    /// when more may be waiting (the batch was full, or reading stopped early for the
    /// acceptor).
    fn read(&mut self, cx: &mut Context<'_>, now: &mut Option<Instant>, s: &mut Shared) -> bool {
        if s.held_bytes >= HELD_PAUSE {
            s.read_held = true; // consumers that take enough wake us
            self.partial_since = None; // our pause, not a slow peer
            return false;
        }
        if self.eof {
            return false;
        }
        if self.closing
            || self.accepting.is_some()
            || self.io.backlog() >= READ_PAUSE
            || !self.deferred.is_empty() // handlers paused on the backlog (see run_deferred)
            || self.tasks.len() >= MAX_TASKS
        {
            self.partial_since = None; // our pause, not a slow peer
            return false;
        }
        let mut n = 0;
        let mut bytes = 0;
        let mut more = false;
        while n < READ_BATCH {
            match self.io.poll_recv(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(Some(Inbound::Encoded(frame)))) => {
                    log_frame("in", || rsocket_proto::Frame::decode(frame.clone()));
                    let now = *now.get_or_insert_with(Instant::now);
                    bytes += frame.len();
                    s.conn.handle_bytes(now, frame);
                    n += 1;
                    if self.acceptor.is_some() {
                        more = true;
                        break; // let the SETUP be accepted before anything else is read
                    }
                    if s.held_bytes + bytes >= HELD_PAUSE {
                        // What was read may be for consumers that waived credit: route it
                        // first (the next pass decides whether to pause).
                        more = true;
                        break;
                    }
                }
                Poll::Ready(Ok(None)) => {
                    tracing::debug!("transport closed by peer");
                    self.eof = true;
                    s.conn.handle_transport_closed();
                    return false;
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "transport read failed");
                    self.eof = true;
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        s.conn
                            .close_with_error(ErrorCode::CONNECTION_ERROR, e.to_string());
                    } else {
                        self.transport_error = Some(e.to_string());
                        s.conn.handle_transport_closed();
                    }
                    return false;
                }
            }
        }
        // The frame-read timeout measures how long one frame takes to complete: it restarts
        // whenever a frame completed (a bulk transfer whose reads all end inside a frame is
        // making progress).
        if !self.io.has_partial_frame() {
            self.partial_since = None;
        } else if n > 0 {
            self.partial_since = Some(Instant::now());
        } else {
            self.partial_since.get_or_insert_with(Instant::now);
        }
        more || n == READ_BATCH
    }

    /// Routes the connection's events, locking for it; the work that calls user code is
    /// dropped (for the paths that are closing).
    fn route_events(&mut self) {
        let inner = self.inner.clone();
        self.route(&mut inner.lock());
        self.deferred.clear();
    }

    /// Routes the connection's events (`s` is the locked state); the work that calls user code
    /// goes to `self.deferred`.
    fn route(&mut self, s: &mut Shared) {
        let deferred = &mut self.deferred;
        let mut notify = false;
        while let Some(ev) = s.conn.poll_event() {
            match ev {
                Event::Setup(setup) => deferred.push(Deferred::Setup(setup)),
                Event::Request {
                    stream_id,
                    kind,
                    payload,
                } => match kind {
                    RequestKind::FireAndForget => deferred.push(Deferred::Fnf(payload)),
                    RequestKind::Response => deferred.push(Deferred::Response(stream_id, payload)),
                    RequestKind::Stream { initial_n } => {
                        let g = Gate::new(initial_n);
                        s.gates.insert(stream_id, g.clone());
                        deferred.push(Deferred::Stream(stream_id, payload, g));
                    }
                    RequestKind::Channel {
                        initial_n,
                        complete,
                    } => {
                        let g = Gate::new(initial_n);
                        s.gates.insert(stream_id, g.clone());
                        if !complete {
                            s.slots
                                .insert(stream_id, Slot::for_credit(self.inner.prefetch.initial));
                            let _ = s.conn.request_n(stream_id, self.inner.prefetch.initial);
                        }
                        deferred.push(Deferred::Channel(stream_id, payload, g, complete));
                    }
                },
                Event::Next {
                    stream_id,
                    payload,
                    complete,
                } => {
                    s.deliver(stream_id, Ok(payload), complete);
                }
                Event::Complete { stream_id } => {
                    if let Some(slot) = s.slots.get_mut(&stream_id) {
                        slot.finish();
                    }
                }
                Event::Error {
                    stream_id,
                    code,
                    message,
                } => {
                    s.deliver(stream_id, Err(Error::from_code(code, message)), true);
                    if let Some(g) = s.gates.remove(&stream_id) {
                        g.cancel();
                    }
                }
                Event::Cancel { stream_id } => {
                    if let Some(g) = s.gates.remove(&stream_id) {
                        g.cancel();
                    }
                    if !s.conn.is_stream_open(stream_id) {
                        if let Some(slot) = s.slots.get_mut(&stream_id) {
                            slot.finish();
                        }
                    }
                }
                Event::RequestN { stream_id, n } => {
                    if let Some(g) = s.gates.get(&stream_id) {
                        g.grant(n);
                    }
                }
                Event::MetadataPush(m) => deferred.push(Deferred::Push(m)),
                Event::Disconnected => match &mut self.resume {
                    Some(r) => {
                        tracing::debug!("transport lost; the session waits to resume");
                        drop(self.io.detach());
                        self.eof = false;
                        self.stalled_since = None;
                        self.partial_since = None;
                        self.transport_error = None;
                        r.transport_lost();
                        self.again = true;
                    }
                    // A resume token without a way to reconnect (set by hand): the session
                    // cannot survive its transport.
                    None => s.conn.close_with_error(
                        ErrorCode::CONNECTION_ERROR,
                        "transport lost and this connection cannot reconnect",
                    ),
                },
                Event::Resume(r) => match self.resume.as_deref() {
                    Some(Resumption::Server { .. }) => deferred.push(Deferred::Resume(r)),
                    _ => s.conn.close_with_error(
                        ErrorCode::REJECTED_RESUME,
                        "no resumable session with this token",
                    ),
                },
                Event::Resumed => {
                    tracing::debug!("session resumed");
                    self.again = true;
                    self.inner.session.notify_one();
                    notify = true;
                }
                Event::Lease(_) => {
                    for w in s.lease_waiters.drain(..) {
                        w.wake();
                    }
                    notify = true;
                }
                Event::Closed(reason) => {
                    tracing::debug!(%reason, "connection closed");
                    s.direct = None;
                    let err = match (&reason, self.transport_error.take()) {
                        (rsocket_proto::CloseReason::TransportClosed, Some(why)) => {
                            Error::transport(why)
                        }
                        _ => Error::closed(&reason),
                    };
                    for slot in s.slots.values_mut() {
                        if !slot.done {
                            slot.push(Err(err.clone()), true);
                        }
                    }
                    for g in s.gates.values() {
                        g.cancel();
                    }
                    s.gates.clear();
                    s.held_bytes = 0;
                    for w in s.lease_waiters.drain(..) {
                        w.wake();
                    }
                    self.inner.session.notify_one();
                    s.closed = Some(err);
                    self.closing = true;
                    notify = true;
                }
            }
        }
        if notify {
            self.inner.capacity.notify_waiters();
        }
    }

    /// Runs deferred work: accepting SETUP and starting handlers. Returns true if it ran any.
    ///
    /// Handlers wait while [`READ_PAUSE`] bytes are waiting to be written (counting the answers
    /// already made in this pass): a peer that pipelines requests for large answers and never
    /// reads gets no more answers made than that (plus the one that crossed it), instead of one
    /// per request read. The rest keep their order for a later pass, and reading waits until
    /// they have run.
    fn run_deferred(&mut self) -> bool {
        if self.deferred.is_empty() {
            return false;
        }
        let mut deferred = std::mem::take(&mut self.deferred);
        let mut ran = false;
        let mut items = deferred.drain(..);
        while let Some(d) = items.next() {
            if self.io.backlog() + self.answer_bytes >= READ_PAUSE {
                let mut rest: Vec<Deferred> = std::iter::once(d).chain(items).collect();
                rest.append(&mut self.deferred);
                self.deferred = rest;
                return ran;
            }
            ran = true;
            match d {
                Deferred::Setup(setup) => {
                    if !self.register_session(&setup) {
                        self.acceptor = None;
                    }
                    if let Some(acceptor) = self.acceptor.take() {
                        let info = SetupInfo::from_frame(*setup);
                        let requester = RSocket::new(self.inner.clone());
                        self.accepting = Some(acceptor.accept(info, requester));
                    }
                }
                // Handlers that finish at once (the common case) are done here: no task, no
                // gate, no producer slot.
                Deferred::Fnf(p) => {
                    if let Handled::Later(p) = self.responder.fire_and_forget_sync(p) {
                        self.spawn_task(self.responder.fire_and_forget(p));
                    }
                }
                Deferred::Push(m) => self.spawn_task(self.responder.metadata_push(m)),
                Deferred::Response(id, p) => {
                    let p = match self.responder.request_response_sync(p) {
                        Handled::Now(answer) => {
                            self.push_answer(id, answer);
                            continue;
                        }
                        Handled::Later(p) => p,
                    };
                    let mut fut = self.responder.request_response(p);
                    let mut noop = Context::from_waker(futures::task::noop_waker_ref());
                    if let Poll::Ready(answer) = fut.poll_unpin(&mut noop) {
                        self.push_answer(id, answer);
                        continue;
                    }
                    let g = Gate::unbounded();
                    {
                        let mut s = self.inner.lock();
                        if !s.conn.is_stream_open(id) {
                            continue; // cancelled before its handler got going
                        }
                        s.gates.insert(id, g.clone());
                    }
                    let stream = futures::stream::once(fut).boxed();
                    self.outbound
                        .push(Outbound::new(id, OutMode::Response, g, stream));
                }
                Deferred::Stream(id, p, g) => {
                    let stream = self.responder.request_stream(p);
                    self.outbound
                        .push(Outbound::new(id, OutMode::Stream, g, stream));
                }
                Deferred::Channel(id, p, g, complete) => {
                    let inbound = if complete {
                        PayloadStream::empty(self.inner.clone())
                    } else {
                        PayloadStream::active(self.inner.clone(), id, self.inner.prefetch.refill)
                    };
                    let stream = self.responder.request_channel(p, inbound);
                    self.outbound
                        .push(Outbound::new(id, OutMode::Stream, g, stream));
                }
                Deferred::Resume(r) => self.hand_off(r),
            }
        }
        drop(items);
        if self.deferred.is_empty() {
            self.deferred = deferred; // keep the allocation
        }
        ran
    }

    /// Keeps an answer for the pass's last lock, counting its bytes against the backlog.
    fn push_answer(&mut self, id: StreamId, answer: Result<crate::Payload, Error>) {
        if let Ok(p) = &answer {
            self.answer_bytes += p.data.len() + p.metadata.as_ref().map_or(0, |m| m.len());
        }
        self.answers.push((id, answer));
    }

    /// Runs a fire-and-forget or metadata-push handler: polled once here, kept as a task only
    /// if it has to wait.
    fn spawn_task(&mut self, mut fut: BoxFuture<'static, ()>) {
        let mut noop = Context::from_waker(futures::task::noop_waker_ref());
        if fut.poll_unpin(&mut noop).is_pending() {
            self.tasks.push(fut);
        }
    }

    /// Sends the answers of request-response handlers that were ready at once.
    fn send_answers(&mut self, s: &mut Shared) {
        self.answer_bytes = 0;
        for (id, answer) in self.answers.drain(..) {
            let r = match answer {
                Ok(p) => s.conn.send_next(id, p, true),
                Err(e) => s.conn.send_error(id, e.stream_code(), e.message()),
            };
            if let Err(e) = r {
                tracing::trace!(stream = %id, error = %e, "dropped output of a finished stream");
            }
        }
    }

    /// Polls the acceptor of a pending SETUP.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(fut) = &mut self.accepting else {
            return false;
        };
        let Poll::Ready(result) = fut.poll_unpin(cx) else {
            return false;
        };
        self.accepting = None;
        match result {
            Ok(responder) => self.responder = responder,
            Err(e) => {
                let code = match e.code() {
                    Some(c) if c.is_setup_rejection() => c,
                    _ => ErrorCode::REJECTED_SETUP,
                };
                self.inner.lock().conn.reject_setup(code, e.message());
            }
        }
        true
    }

    /// Adopts the producers requesters queued (`s` is the locked state); returns true when
    /// producers must wait: a resumable session without a transport, or keeping too much for
    /// retransmission.
    fn adopt_producers(&mut self, s: &mut Shared) -> bool {
        for o in s.new_outbound.drain(..) {
            self.outbound.push(o);
        }
        self.resume.is_some() && (s.conn.is_disconnected() || s.store_full())
    }

    /// Takes what the handlers and requester channels produced, within credit. Returns true
    /// when it stopped at the batch limit with producers possibly still ready.
    fn poll_producers(&mut self, cx: &mut Context<'_>, paused: bool, inner: &Inner) -> bool {
        if !self.tasks.is_empty() {
            while let Poll::Ready(Some(())) = self.tasks.poll_next_unpin(cx) {}
        }
        if self.closing || paused || self.outbound.is_empty() {
            return false;
        }
        let mut n = 0;
        while n < WRITE_BATCH && self.io.backlog() < HIGH_WATER {
            let Poll::Ready(Some((id, mode, first, more))) = self.outbound.poll_next_unpin(cx)
            else {
                break;
            };
            n += 1 + more.len();
            let mut s = inner.lock();
            for signal in std::iter::once(first).chain(more) {
                let r = match signal {
                    Signal::Next(p) => s.conn.send_next(id, p, mode == OutMode::Response),
                    Signal::Error(e) => {
                        s.gates.remove(&id);
                        s.conn.send_error(id, e.stream_code(), e.message())
                    }
                    Signal::Complete => {
                        s.gates.remove(&id);
                        if mode == OutMode::Response {
                            Ok(())
                        } else {
                            s.conn.send_complete(id)
                        }
                    }
                };
                if let Err(e) = r {
                    tracing::trace!(stream = %id, error = %e, "dropped output of a finished stream");
                }
            }
            if mode == OutMode::Response {
                s.gates.remove(&id);
            }
            // Move frames out now so large streams do not pile up in the connection's queue.
            self.drain_transmit(&mut s);
        }
        n >= WRITE_BATCH
    }

    /// Moves what waits to be written into the transport's buffer, in order: first what a
    /// requester's direct write could not write (possibly the tail of a frame), then the
    /// connection's queued frames. While the buffer holds anything, requesters may not write
    /// directly (`io_busy`, cleared once a flush empties it). `s` is the locked state.
    fn drain_transmit(&mut self, s: &mut Shared) {
        if !s.direct_rest.is_empty() {
            if let Err(e) = self.io.queue_encoded(&s.direct_rest) {
                tracing::warn!(error = %e, "could not queue a direct write's remainder");
            }
            s.direct_rest.clear();
        }
        if let Some(encoded) = s.conn.encoded_transmit() {
            if !encoded.is_empty()
                && let Err(e) = self.io.append_encoded(encoded)
            {
                tracing::warn!(error = %e, "could not queue encoded frames");
                encoded.clear();
            }
            if let Some(e) = s.conn.take_encode_error() {
                tracing::warn!(error = %e, "could not encode a frame");
            }
        }
        while let Some(f) = s.conn.poll_transmit() {
            log_frame("out", || Ok(f.clone()));
            if let Err(e) = self.io.queue(&f) {
                tracing::warn!(error = %e, "could not encode a frame");
            }
        }
        if self.io.backlog() > 0 {
            self.inner.io_busy.store(true, Ordering::Release);
        }
    }

    /// Sends the answers that were ready, routes the events producing caused (running their
    /// work), moves queued frames to the transport and flushes, all under one lock. Returns
    /// Err when the transport failed, else whether routing found work.
    fn flush(&mut self, cx: &mut Context<'_>, inner: &Inner) -> Result<bool, ()> {
        let before = self.io.backlog();
        let mut routed = false;
        {
            let mut s = inner.lock();
            self.send_answers(&mut s);
            self.route(&mut s);
            if !self.deferred.is_empty() {
                // Requests refused or streams closed while producing: rare.
                drop(s);
                routed = self.run_deferred();
                s = inner.lock();
                self.send_answers(&mut s);
            }
            self.drain_transmit(&mut s);
            s.sync_budget();
            self.capacity_wanted |= std::mem::take(&mut s.capacity_wanted);
            self.next_timeout = s.conn.poll_timeout();
        }
        let result = match self.io.poll_flush(cx) {
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "transport write failed");
                Err(())
            }
            _ => Ok(routed),
        };
        let after = self.io.backlog();
        inner.io_backlog.store(after, Ordering::Relaxed);
        if after == 0 && result.is_ok() {
            inner.io_busy.store(false, Ordering::Release);
        }
        if after >= HIGH_WATER {
            self.stalled_since.get_or_insert_with(Instant::now);
        } else {
            self.stalled_since = None;
            if self.capacity_wanted || before >= HIGH_WATER {
                self.capacity_wanted = false;
                inner.capacity.notify_waiters();
            }
        }
        if before >= HIGH_WATER && after < HIGH_WATER {
            // Reading and the producers were paused on this backlog, and nothing else may wake
            // us (the write finished): run again so they resume.
            cx.waker().wake_by_ref();
        }
        result
    }

    /// Runs expired timers; returns true if something happened. The clock is read only when a
    /// deadline of the driver's own is set (`now` caches it); the connection's deadlines are
    /// left to the armed timer.
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: &mut Option<Instant>) -> bool {
        if self.stalled_since.is_some() || self.partial_since.is_some() {
            now.get_or_insert_with(Instant::now);
        }
        if self
            .stalled_since
            .is_some_and(|t| now.is_some_and(|now| now >= t + WRITE_TIMEOUT))
        {
            tracing::debug!("peer is not reading; closing");
            let mut s = self.inner.lock();
            if self.resume.is_some() && s.conn.resume_token().is_some() {
                // Treat the transport as lost: the session may resume on a new one.
                s.conn.handle_transport_closed();
            } else {
                s.conn
                    .close_with_error(ErrorCode::CONNECTION_ERROR, "peer stopped reading");
            }
            drop(s);
            self.eof = true;
            return true;
        }
        if let (Some(t), Some(now)) = (self.partial_since, *now)
            && now >= t + self.frame_timeout
        {
            let msg = format!("frame not completed within {:?}", now - t);
            self.inner
                .lock()
                .conn
                .close_with_error(ErrorCode::CONNECTION_ERROR, msg);
            self.eof = true;
            return true;
        }
        let next = [
            self.next_timeout,
            self.stalled_since.map(|t| t + WRITE_TIMEOUT),
            self.partial_since.map(|t| t + self.frame_timeout),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(at) = next else {
            return false;
        };
        if let Some(now) = now.filter(|now| *now >= at) {
            self.inner.lock().conn.handle_timeout(now);
            return true;
        }
        // A deadline that moved later (the max lifetime, pushed back by every frame received)
        // keeps the armed timer, which then fires early once and is re-armed: no timer reset
        // on every wake-up.
        if self.timer_at.is_none_or(|t| at < t) {
            self.timer_at = Some(at);
            self.timer.reset(at, cx.waker());
            self.timer_armed = false;
        }
        if self.timer_armed && !self.timer.is_elapsed() {
            return false; // its waker is registered: it wakes us when due
        }
        self.timer_armed = true;
        if self.timer.poll(cx).is_ready() {
            self.timer_armed = false;
            self.timer_at = None;
            self.inner.lock().conn.handle_timeout(Instant::now());
            return true;
        }
        false
    }
}

impl<T: DriverIo> Future for Driver<T> {
    type Output = ();

    /// One pass reads, routes, runs handlers, polls producers and flushes; another pass runs
    /// only when work is known to be left (a full read or write batch, an acceptance or
    /// resumption that completed, a transport lost or resumed, a timer that fired). Wake-ups
    /// that arrive during a pass make the runtime poll again, so nothing waits on an extra
    /// pass.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let inner = this.inner.clone();
        if inner.driver.register(cx.waker(), &mut this.waker) {
            this.timer_armed = false; // the timer holds the old waker
        }
        // At most one clock read per poll, and only when frames arrive or a deadline of the
        // driver's own is set: a pass takes microseconds, far below any timer's precision.
        let mut now = None;
        for _ in 0..16 {
            let mut progress = this.resume.is_some() && this.poll_resume(cx);
            progress |= this.poll_accept(cx);
            // One lock to read, route and adopt new producers; one (in flush) to send what
            // the pass produced.
            let paused = {
                let mut s = inner.lock();
                progress |= this.read(cx, &mut now, &mut s);
                this.route(&mut s);
                this.adopt_producers(&mut s)
            };
            this.run_deferred();
            if !this.awaiting_acceptance() {
                progress |= this.poll_producers(cx, paused, &inner);
            }
            progress |= std::mem::take(&mut this.again);
            match this.flush(cx, &inner) {
                Ok(routed) => progress |= routed | std::mem::take(&mut this.again),
                Err(()) => {
                    let mut s = inner.lock();
                    if !s.conn.is_closed() {
                        s.conn.handle_transport_closed();
                    }
                    drop(s);
                    this.route_events();
                    if this.closing || this.resume.is_none() {
                        return Poll::Ready(());
                    }
                    continue; // the session waits for a new transport
                }
            }
            if this.closing {
                this.route_events();
                if this.io.backlog() == 0 || this.eof {
                    return match this.io.poll_close(cx) {
                        Poll::Pending if !this.eof => Poll::Pending,
                        _ => Poll::Ready(()),
                    };
                }
                return Poll::Pending;
            }
            if !progress && !this.poll_timer(cx, &mut now) {
                return Poll::Pending;
            }
        }
        // Still busy: timers get their turn (a flood must not starve keepalives), then yield
        // to other tasks and come back.
        this.poll_timer(cx, &mut Some(Instant::now()));
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<T: DriverIo> Drop for Driver<T> {
    /// Whatever ended the driver (the connection closing, or its task being dropped), the
    /// handles learn that nothing more will be written.
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        s.driver_done = true;
        s.release_budget();
        if s.closed.is_none() {
            s.closed = Some(Error::new(
                crate::ErrorKind::ConnectionClosed,
                "the connection's task ended",
            ));
        }
        drop(s);
        self.inner.capacity.notify_waiters();
    }
}
