//! The connection driver: one task per connection that owns the transport.
//!
//! Each wake-up it reads what the transport has (a bounded batch), feeds the sans-IO
//! [`Connection`](rsocket_proto::Connection), routes events to consumers and handlers, polls
//! the handlers' response streams as far as credit allows, and writes every frame that became
//! ready in one flush. Handlers run on this task: no task is spawned per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, SelectAll, StreamExt};
use rsocket_proto::frame::Setup;
use rsocket_proto::{ErrorCode, Event, RequestKind, StreamId};
use tokio::time::Sleep;

use crate::responder::Responder;
use crate::resume::{DriverIo, Resumption};
use crate::server::{Acceptor, SetupInfo};
use crate::shared::{Gate, HIGH_WATER, Inner, OutMode, Outbound, READ_PAUSE, Signal, Slot};
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
fn log_frame(
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
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
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
}

impl<T: DriverIo> Driver<T> {
    pub(crate) fn new(
        io: T,
        inner: Arc<Inner>,
        responder: Arc<dyn Responder>,
        acceptor: Option<Arc<dyn Acceptor>>,
    ) -> Self {
        let frame_timeout = inner.lock().conn.config().limits.frame_read_timeout;
        Driver {
            io,
            inner,
            responder,
            acceptor,
            accepting: None,
            outbound: SelectAll::new(),
            tasks: FuturesUnordered::new(),
            timer: Box::pin(tokio::time::sleep(Duration::from_secs(3600))),
            timer_at: None,
            stalled_since: None,
            partial_since: None,
            frame_timeout,
            transport_error: None,
            eof: false,
            closing: false,
            resume: None,
            again: false,
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

    /// Reads a batch of frames into the connection. Returns true when more may be waiting
    /// (the batch was full, or reading stopped early for the acceptor).
    fn read(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        if self.eof
            || self.closing
            || self.accepting.is_some()
            || self.io.backlog() >= READ_PAUSE
            || self.tasks.len() >= MAX_TASKS
        {
            return false;
        }
        let mut n = 0;
        let mut s = None;
        let mut more = false;
        while n < READ_BATCH {
            match self.io.poll_recv(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(Some(Inbound::Encoded(frame)))) => {
                    log_frame("in", || rsocket_proto::Frame::decode(frame.clone()));
                    let s = s.get_or_insert_with(|| self.inner.lock());
                    s.conn.handle_bytes(now, frame);
                    n += 1;
                    if self.acceptor.is_some() {
                        more = true;
                        break; // let the SETUP be accepted before anything else is read
                    }
                }
                Poll::Ready(Ok(None)) => {
                    tracing::debug!("transport closed by peer");
                    self.eof = true;
                    s.get_or_insert_with(|| self.inner.lock())
                        .conn
                        .handle_transport_closed();
                    return false;
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "transport read failed");
                    self.eof = true;
                    let s = s.get_or_insert_with(|| self.inner.lock());
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
        if self.io.has_partial_frame() {
            self.partial_since.get_or_insert_with(Instant::now);
        } else {
            self.partial_since = None;
        }
        more || n == READ_BATCH
    }

    /// Routes the connection's events; returns the work that calls user code.
    fn route_events(&mut self) -> Vec<Deferred> {
        let mut deferred = Vec::new();
        let mut s = self.inner.lock();
        let s = &mut *s;
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
                            s.slots.insert(stream_id, Slot::default());
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
                    if let Some(slot) = s.slots.get_mut(&stream_id) {
                        slot.push(Ok(payload), complete);
                    }
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
                    if let Some(slot) = s.slots.get_mut(&stream_id) {
                        slot.push(Err(Error::from_code(code, message)), true);
                    }
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
        deferred
    }

    /// Runs deferred work: accepting SETUP and starting handlers.
    fn run_deferred(&mut self, deferred: Vec<Deferred>) {
        for d in deferred {
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
                Deferred::Fnf(p) => self.spawn_task(self.responder.fire_and_forget(p)),
                Deferred::Push(m) => self.spawn_task(self.responder.metadata_push(m)),
                Deferred::Response(id, p) => {
                    let mut fut = self.responder.request_response(p);
                    let mut noop = Context::from_waker(futures::task::noop_waker_ref());
                    if let Poll::Ready(answer) = fut.poll_unpin(&mut noop) {
                        self.answer_now(id, answer);
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
    }

    /// Runs a fire-and-forget or metadata-push handler: polled once here, kept as a task only
    /// if it has to wait.
    fn spawn_task(&mut self, mut fut: BoxFuture<'static, ()>) {
        let mut noop = Context::from_waker(futures::task::noop_waker_ref());
        if fut.poll_unpin(&mut noop).is_pending() {
            self.tasks.push(fut);
        }
    }

    /// Sends the answer of a request-response handler that was ready at once.
    fn answer_now(&mut self, id: StreamId, answer: Result<crate::Payload, Error>) {
        let mut s = self.inner.lock();
        let r = match answer {
            Ok(p) => s.conn.send_next(id, p, true),
            Err(e) => s.conn.send_error(id, e.stream_code(), e.message()),
        };
        if let Err(e) = r {
            tracing::trace!(stream = %id, error = %e, "dropped output of a finished stream");
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

    /// Takes what the handlers and requester channels produced, within credit. Returns true
    /// when it stopped at the batch limit with producers possibly still ready.
    fn poll_producers(&mut self, cx: &mut Context<'_>) -> bool {
        let paused = {
            let mut s = self.inner.lock();
            for o in s.new_outbound.drain(..) {
                self.outbound.push(o);
            }
            // A resumable session without a transport, or keeping too much for
            // retransmission, lets its producers wait.
            self.resume.is_some() && (s.conn.is_disconnected() || s.store_full())
        };
        while let Poll::Ready(Some(())) = self.tasks.poll_next_unpin(cx) {}
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
            let mut s = self.inner.lock();
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
            while let Some(f) = s.conn.poll_transmit() {
                log_frame("out", || Ok(f.clone()));
                if let Err(e) = self.io.queue(&f) {
                    tracing::warn!(error = %e, "could not encode a frame");
                }
            }
        }
        n >= WRITE_BATCH
    }

    /// Moves queued frames to the transport and flushes. Returns Err when the transport failed.
    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), ()> {
        {
            let mut s = self.inner.lock();
            while let Some(f) = s.conn.poll_transmit() {
                log_frame("out", || Ok(f.clone()));
                if let Err(e) = self.io.queue(&f) {
                    tracing::warn!(error = %e, "could not encode a frame");
                }
            }
        }
        let before = self.io.backlog();
        let result = match self.io.poll_flush(cx) {
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "transport write failed");
                Err(())
            }
            _ => Ok(()),
        };
        let after = self.io.backlog();
        let mut s = self.inner.lock();
        s.io_backlog = after;
        s.sync_budget();
        if after >= HIGH_WATER {
            self.stalled_since.get_or_insert_with(Instant::now);
        } else {
            self.stalled_since = None;
        }
        let had_capacity = before >= HIGH_WATER || s.conn.pending_transmit_bytes() > 0;
        drop(s);
        if had_capacity && after < HIGH_WATER {
            self.inner.capacity.notify_waiters();
        }
        if before >= HIGH_WATER && after < HIGH_WATER {
            // Reading and the producers were paused on this backlog, and nothing else may wake
            // us (the write finished): run again so they resume.
            cx.waker().wake_by_ref();
        }
        result
    }

    /// Runs expired timers; returns true if something happened.
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        if self.stalled_since.is_some_and(|t| now >= t + WRITE_TIMEOUT) {
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
        if let Some(t) = self
            .partial_since
            .filter(|t| now >= *t + self.frame_timeout)
        {
            let msg = format!("frame not completed within {:?}", now - t);
            self.inner
                .lock()
                .conn
                .close_with_error(ErrorCode::CONNECTION_ERROR, msg);
            self.eof = true;
            return true;
        }
        let next = {
            let s = self.inner.lock();
            s.conn.poll_timeout()
        };
        let next = [
            next,
            self.stalled_since.map(|t| t + WRITE_TIMEOUT),
            self.partial_since.map(|t| t + self.frame_timeout),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(at) = next else {
            return false;
        };
        if now >= at {
            self.inner.lock().conn.handle_timeout(now);
            return true;
        }
        // A deadline that moved later (the max lifetime, pushed back by every frame received)
        // keeps the armed timer, which then fires early once and is re-armed: no timer reset
        // on every wake-up.
        if self.timer_at.is_none_or(|t| at < t) {
            self.timer_at = Some(at);
            self.timer.as_mut().reset(at.into());
        }
        if self.timer.as_mut().poll(cx).is_ready() {
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
        this.inner.driver.register(cx.waker());
        // One clock read per poll: a pass takes microseconds, far below any timer's precision.
        let now = Instant::now();
        for _ in 0..16 {
            let mut progress = this.resume.is_some() && this.poll_resume(cx);
            progress |= this.poll_accept(cx);
            progress |= this.read(cx, now);
            let deferred = this.route_events();
            this.run_deferred(deferred);
            if !this.awaiting_acceptance() {
                progress |= this.poll_producers(cx);
            }
            progress |= !this.route_events_quiet();
            progress |= std::mem::take(&mut this.again);
            if this.flush(cx).is_err() {
                let mut s = this.inner.lock();
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
            if this.closing {
                let _ = this.route_events();
                if this.io.backlog() == 0 || this.eof {
                    return match this.io.poll_close(cx) {
                        Poll::Pending if !this.eof => Poll::Pending,
                        _ => Poll::Ready(()),
                    };
                }
                return Poll::Pending;
            }
            if !progress && !this.poll_timer(cx, now) {
                return Poll::Pending;
            }
        }
        // Still busy: timers get their turn (a flood must not starve keepalives), then yield
        // to other tasks and come back.
        this.poll_timer(cx, Instant::now());
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

impl<T: DriverIo> Driver<T> {
    /// Routes events produced while polling producers (requests refused, closes); true when
    /// there were none.
    fn route_events_quiet(&mut self) -> bool {
        let deferred = self.route_events();
        let none = deferred.is_empty();
        self.run_deferred(deferred);
        none
    }
}
