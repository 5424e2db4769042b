//! State shared between a connection's driver task and its handles.
//!
//! The sans-IO [`Connection`] lives behind one mutex (critical sections are short and never
//! call user code). Values travelling to a consumer wait in a bounded per-stream [`Slot`];
//! producers polled by the driver pass through a [`Gate`] that holds the peer's credit.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::stream::{BoxStream, Stream};
use futures::task::AtomicWaker;
use rsocket_proto::stream_map::{StreamMap, stream_map};
use rsocket_proto::stream_table::StreamTable;
use rsocket_proto::{Connection, StreamId};
use tokio::sync::Notify;

use crate::{Error, Payload};

/// Outbound bytes buffered (in the transport) above which producers wait, the driver stops
/// reading from the peer and stops polling response streams. 512 KiB.
pub(crate) const HIGH_WATER: usize = 512 * 1024;

/// Outbound bytes buffered above which the driver also stops reading: 16 MiB. Reading goes on
/// past [`HIGH_WATER`] on purpose: two peers moving bulk data both ways would otherwise each
/// wait for the other to read (a deadlock). Credit and the paused producers bound what reading
/// adds; this cap (with the write timeout) stops a peer that sends but never reads.
pub(crate) const READ_PAUSE: usize = 16 << 20;

/// Payload bytes delivered to consumers that asked for everything (request-n 2^31-1) and not
/// taken yet, above which the driver stops reading from the peer until they catch up: 16 MiB.
/// Credit bounds every other consumer; this bounds the ones that waived it, so a slow consumer
/// of an unbounded stream pushes back through TCP instead of growing memory (as a subscriber
/// that requests `Long.MAX_VALUE` does in rsocket-java, whose delivery blocks the event loop).
pub(crate) const HELD_PAUSE: usize = 16 << 20;
/// Consumers' slots a connection finds without hashing their stream IDs (120 bytes each;
/// more go to a hash map; see `rsocket_proto::stream_table`).
const DIRECT_SLOTS: usize = 1024;

/// Per-connection state reachable from every handle.
pub(crate) struct Inner {
    pub(crate) state: Mutex<Shared>,
    pub(crate) driver: DriverWaker,
    /// Bytes the transport still has to write (stored by the driver after each flush).
    pub(crate) io_backlog: AtomicUsize,
    /// Set (under the lock) while the driver has bytes of its own to write or is writing, and
    /// while a direct write's remainder waits for it: no direct write may overtake them.
    pub(crate) io_busy: AtomicBool,
    /// Signalled when send capacity frees up, a lease arrives, or the connection closes.
    pub(crate) capacity: Notify,
    pub(crate) prefetch: Prefetch,
    pub(crate) interceptor: Option<Arc<dyn crate::intercept::RequestInterceptor>>,
    /// Signalled (one permit) when the session resumes or closes: the lease task re-grants.
    pub(crate) session: Notify,
    /// Requester: how long a request waits for a valid lease (`None`: fails at once).
    pub(crate) lease_wait: Option<std::time::Duration>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock means a panic while holding it; the state is still consistent for
        // our purposes (no invariant spans user code), so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes every queued frame straight to the transport when that keeps the order and
    /// saves the driver a wake-up: the transport gives a direct writer, the driver has nothing
    /// of its own waiting, and `alone` (the caller's request is the only one waiting for an
    /// answer, so there is no batch to wait for). A large payload (see
    /// [`crate::transport::ZERO_COPY_MIN`]) is left to the driver, which writes it without
    /// copying it: the copy would cost more than the wake-up. Returns true when all of it was
    /// written; otherwise the driver must be woken (what the socket did not take stays queued
    /// for it, in the connection's encoded frames or in [`Shared::direct_rest`]).
    pub(crate) fn write_direct(&self, s: &mut Shared, alone: bool) -> bool {
        if !alone || self.io_busy.load(Ordering::Acquire) {
            return false;
        }
        let Some(w) = s.direct.as_ref().and_then(|d| d.upgrade()) else {
            return false;
        };
        if let Some(encoded) = s.conn.encoded_transmit() {
            let Some(bytes) = encoded.contiguous() else {
                return false;
            };
            let n = w.try_write(bytes).unwrap_or(0);
            encoded.consume(n);
            if encoded.is_empty() {
                return true;
            }
            self.io_busy.store(true, Ordering::Release);
            return false;
        }
        // Frames queued one by one (their outgoing log is on).
        if s.conn.pending_transmit_bytes() >= crate::transport::ZERO_COPY_MIN {
            return false;
        }
        let mut buf = std::mem::take(&mut s.direct_rest);
        while let Some(f) = s.conn.poll_transmit() {
            crate::driver::log_frame("out", || Ok(f.clone()));
            if let Err(e) = f.encode_length_prefixed(&mut buf) {
                tracing::warn!(error = %e, "could not encode a frame");
            }
        }
        let n = w.try_write(&buf).unwrap_or(0);
        drop(w);
        if n == buf.len() {
            buf.clear();
            s.direct_rest = buf; // keep the allocation
            return true;
        }
        bytes::Buf::advance(&mut buf, n);
        s.direct_rest = buf;
        self.io_busy.store(true, Ordering::Release);
        false
    }

    /// True when a producer may queue more data (`s` is the locked state).
    pub(crate) fn has_capacity(&self, s: &Shared) -> bool {
        self.io_backlog.load(Ordering::Relaxed) + s.conn.pending_transmit_bytes() < HIGH_WATER
            && !s.store_full()
    }
}

/// Wakes the connection's driver task, at most once per poll of it: handles that find a
/// wake-up already pending skip the waker (the driver sees their work in that poll).
///
/// The waker is kept (woken by reference), so the driver only registers again when its task's
/// waker changes, which costs a comparison per poll instead of two atomic exchanges.
#[derive(Default)]
pub(crate) struct DriverWaker {
    waker: Mutex<Option<Waker>>,
    pending: AtomicBool,
}

impl DriverWaker {
    /// Asks the driver to run.
    pub(crate) fn wake(&self) {
        if !self.pending.load(Ordering::Acquire) && !self.pending.swap(true, Ordering::AcqRel) {
            let w = self.waker.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = &*w {
                w.wake_by_ref();
            }
        }
    }

    /// Called by the driver at the start of each poll, before it looks at any shared state.
    /// `known` is the waker the driver registered last (updated here). Returns true when the
    /// waker changed.
    pub(crate) fn register(&self, waker: &Waker, known: &mut Option<Waker>) -> bool {
        let changed = !known.as_ref().is_some_and(|k| k.will_wake(waker));
        if changed {
            *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(waker.clone());
            *known = Some(waker.clone());
        }
        // Cleared before the driver reads any state: work queued after this wakes it again.
        if self.pending.load(Ordering::Relaxed) {
            self.pending.store(false, Ordering::SeqCst);
        }
        changed
    }
}

/// Request-n policy of a consumer: ask for `initial` at first, then top up by what was
/// consumed whenever that reaches `refill`.
///
/// Values wait for the consumer in a queue bounded by the credit it granted. A consumer that
/// asks for everything (`initial` 2^31-1, [`Prefetch::UNBOUNDED`]) is bounded differently:
/// while such consumers of a connection hold more than 16 MiB of payloads not yet taken, the
/// connection stops reading from the peer (every stream on it waits, as TCP pushes back; a
/// stall longer than the keepalive lifetime or the peer's write timeout ends the connection).
/// Do not wait on another answer of the same connection while holding that much unread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefetch {
    /// Initial request-n (1..=2^31-1). Default 64.
    pub initial: u32,
    /// Batch after which REQUEST_N is sent. Default 32 (half of the default prefetch).
    pub refill: u32,
}

impl Default for Prefetch {
    fn default() -> Self {
        Prefetch {
            initial: 64,
            refill: 32,
        }
    }
}

impl Prefetch {
    /// Ask for everything at once (request-n 2^31-1) and never send REQUEST_N: the fastest
    /// way to take a long stream, bounded by the connection pausing its reads (see above).
    pub const UNBOUNDED: Prefetch = Prefetch {
        initial: 0x7FFF_FFFF,
        refill: 0x4000_0000,
    };

    /// A prefetch of `n`, refilled at half (as rsocket-kotlin's `buffer(n)`).
    pub fn new(n: u32) -> Self {
        let n = n.clamp(1, 0x7FFF_FFFF);
        Prefetch {
            initial: n,
            refill: (n / 2).max(1),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) conn: Connection,
    pub(crate) slots: StreamTable<Slot>,
    pub(crate) gates: StreamMap<Arc<Gate>>,
    /// Requester-channel producers waiting to be adopted by the driver.
    pub(crate) new_outbound: Vec<Outbound>,
    /// A requester waits for send capacity (the driver notifies [`Inner::capacity`] once
    /// there is room, and clears this).
    pub(crate) capacity_wanted: bool,
    /// The transport's direct writer, if it has one and the session is not resumable.
    pub(crate) direct: Option<crate::transport::DirectWriter>,
    /// Encoded frames a direct write could not write (the driver writes them first), and the
    /// buffer direct writes encode into.
    pub(crate) direct_rest: bytes::BytesMut,
    /// Payload bytes waiting in the slots of consumers that asked for everything
    /// ([`HELD_PAUSE`]).
    pub(crate) held_bytes: usize,
    /// The driver stopped reading because of [`Shared::held_bytes`]: consumers that bring it
    /// below the mark wake it.
    pub(crate) read_held: bool,
    /// Set once the connection is over.
    pub(crate) closed: Option<Error>,
    /// Set once the driver has flushed and closed the transport (or was dropped).
    pub(crate) driver_done: bool,
    /// Resumable sessions: bytes of unacknowledged frames kept above which producers wait
    /// (half the resume store's bound); `usize::MAX` without resumption.
    pub(crate) store_limit: usize,
    /// Server: the budget shared by every resumable session, and what this one has reported.
    pub(crate) budget: Option<(Arc<StoreBudget>, usize)>,
    /// Requests waiting for a lease ([`Inner::lease_wait`]), woken by LEASE and close.
    pub(crate) lease_waiters: Vec<Waker>,
}

impl Shared {
    pub(crate) fn new(conn: Connection) -> Self {
        Shared {
            conn,
            slots: StreamTable::new(DIRECT_SLOTS),
            gates: stream_map(),
            new_outbound: Vec::new(),
            capacity_wanted: false,
            direct: None,
            direct_rest: bytes::BytesMut::new(),
            held_bytes: 0,
            read_held: false,
            closed: None,
            driver_done: false,
            store_limit: usize::MAX,
            budget: None,
            lease_waiters: Vec::new(),
        }
    }

    /// Resumable session: keep at most half of `max_store_bytes` unacknowledged before
    /// producers wait (the rest absorbs what is already in flight).
    pub(crate) fn with_store_bound(mut self, max_store_bytes: Option<usize>) -> Self {
        if let Some(max) = max_store_bytes {
            self.store_limit = max / 2;
        }
        self
    }

    /// Server: counts this session's resume store against the server-wide budget.
    pub(crate) fn with_budget(mut self, budget: Option<Arc<StoreBudget>>) -> Self {
        self.budget = budget.map(|b| (b, 0));
        self
    }

    /// Reports this session's resume store bytes to the server-wide budget.
    pub(crate) fn sync_budget(&mut self) {
        let now = self.conn.resume_store_bytes();
        if let Some((b, reported)) = &mut self.budget {
            if now > *reported {
                b.used.fetch_add(now - *reported, Ordering::Relaxed);
            } else if now < *reported {
                b.used.fetch_sub(*reported - now, Ordering::Relaxed);
            }
            *reported = now;
        }
    }

    /// Gives this session's share of the budget back (the session is over).
    pub(crate) fn release_budget(&mut self) {
        if let Some((b, reported)) = &mut self.budget {
            b.used.fetch_sub(*reported, Ordering::Relaxed);
            *reported = 0;
        }
    }

    /// The instant to open a request with: exact when a lease's expiry depends on it,
    /// otherwise the connection's last known time (reading the clock per request costs more
    /// than the rest of a fire-and-forget).
    pub(crate) fn request_instant(&self) -> std::time::Instant {
        if self.conn.lease_enabled() {
            std::time::Instant::now()
        } else {
            self.conn.last_instant()
        }
    }

    /// True when lease is in force and there is no valid lease to send a request with.
    pub(crate) fn lacks_lease(&self) -> bool {
        self.conn.lease_enabled() && self.conn.availability(std::time::Instant::now()) == 0.0
    }

    /// Delivers a value to the consumer of stream `id`, if it still listens.
    pub(crate) fn deliver(&mut self, id: StreamId, item: Result<Payload, Error>, done: bool) {
        if let Some(slot) = self.slots.get_mut(&id) {
            if slot.counted {
                let n = item.as_ref().map_or(0, Payload::len);
                slot.held += n;
                self.held_bytes += n;
            }
            slot.push(item, done);
        }
    }

    /// Accounts for `n` bytes a counted consumer took (or dropped); true when the driver
    /// paused reading for them and may go on now.
    pub(crate) fn release_held(&mut self, n: usize) -> bool {
        self.held_bytes = self.held_bytes.saturating_sub(n);
        if self.read_held && self.held_bytes < HELD_PAUSE {
            self.read_held = false;
            return true;
        }
        false
    }

    /// True when a resumable session keeps so many unacknowledged bytes that producers wait.
    pub(crate) fn store_full(&self) -> bool {
        let kept = self.conn.resume_store_bytes();
        (self.store_limit != usize::MAX && kept >= self.store_limit)
            || (kept > 0 && self.budget.as_ref().is_some_and(|(b, _)| b.exhausted()))
    }
}

/// A server-wide bound on the bytes all resumable sessions keep for retransmission
/// ([`ServerBuilder::max_resume_store_total`](crate::ServerBuilder::max_resume_store_total)).
///
/// Each session reports its store after every write; once the total reaches the limit, the
/// producers of every session that keeps anything pause until acknowledgements free space. The
/// bound is soft by what one wake-up of each session produces (at most the 512 KiB send
/// high-water mark).
#[derive(Debug)]
pub(crate) struct StoreBudget {
    limit: usize,
    used: std::sync::atomic::AtomicUsize,
}

impl StoreBudget {
    pub(crate) fn new(limit: usize) -> Arc<StoreBudget> {
        Arc::new(StoreBudget {
            limit,
            used: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn exhausted(&self) -> bool {
        self.used() >= self.limit
    }
}

/// Values waiting for one consumer (a requester's response, or a channel responder's
/// inbound). Bounded by the credit the consumer granted.
#[derive(Default)]
pub(crate) struct Slot {
    queue: SlotQueue,
    pub(crate) done: bool,
    pub(crate) waker: Option<Waker>,
    /// The consumer asked for everything: its bytes count in [`Shared::held_bytes`].
    pub(crate) counted: bool,
    /// Payload bytes waiting here (counted slots only).
    pub(crate) held: usize,
}

/// A FIFO whose first value is stored inline: a request-response's single answer (and most
/// stream values, consumed as they come) never allocates. The rest is boxed so that a slot
/// stays small enough to be moved in and out of the slot table without a `memcpy` call.
#[derive(Default)]
struct SlotQueue {
    first: Option<Result<Payload, Error>>,
    // Boxed on purpose: the point is the size of the slot, not of the queue.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Result<Payload, Error>>>>,
}

impl SlotQueue {
    fn push_back(&mut self, item: Result<Payload, Error>) {
        // `first` is always older than everything in `rest`.
        if self.is_empty() {
            self.first = Some(item);
        } else {
            self.rest.get_or_insert_default().push_back(item);
        }
    }

    fn pop_front(&mut self) -> Option<Result<Payload, Error>> {
        self.first
            .take()
            .or_else(|| self.rest.as_mut().and_then(|r| r.pop_front()))
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.as_ref().is_none_or(|r| r.is_empty())
    }

    /// Moves every value into `dst` (empty), oldest first, in O(1).
    fn take_all(&mut self, dst: &mut VecDeque<Result<Payload, Error>>) {
        debug_assert!(dst.is_empty());
        if let Some(rest) = &mut self.rest {
            std::mem::swap(&mut **rest, dst);
        }
        if let Some(f) = self.first.take() {
            dst.push_front(f);
        }
    }
}

// Moves of larger values become `memcpy` calls (x86-64): a slot is moved into the table per
// request and out of it per answer.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() <= 112);

impl Slot {
    /// The slot of a consumer that granted `initial` credit.
    pub(crate) fn for_credit(initial: u32) -> Slot {
        Slot {
            counted: initial >= rsocket_proto::Credit::UNBOUNDED_GRANT,
            ..Slot::default()
        }
    }

    /// The oldest value waiting.
    pub(crate) fn pop(&mut self) -> Option<Result<Payload, Error>> {
        self.queue.pop_front()
    }

    /// Moves every waiting value into `dst` (which must be empty): a consumer takes a batch
    /// under one lock.
    pub(crate) fn take_all(&mut self, dst: &mut VecDeque<Result<Payload, Error>>) {
        self.queue.take_all(dst);
    }

    /// True when no value is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn push(&mut self, item: Result<Payload, Error>, done: bool) {
        self.queue.push_back(item);
        self.done |= done;
        self.wake();
    }

    pub(crate) fn finish(&mut self) {
        self.done = true;
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// The peer's credit for one of our producers, and its cancellation.
pub(crate) struct Gate {
    credit: AtomicU64,
    cancelled: AtomicBool,
    waker: AtomicWaker,
}

impl Gate {
    pub(crate) fn new(credit: u32) -> Arc<Gate> {
        let g = Gate {
            credit: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        };
        g.add(credit);
        Arc::new(g)
    }

    pub(crate) fn unbounded() -> Arc<Gate> {
        let g = Gate::new(0);
        g.credit.store(u64::MAX, Ordering::Relaxed);
        g
    }

    pub(crate) fn grant(&self, n: u32) {
        self.add(n);
        self.waker.wake();
    }

    fn add(&self, n: u32) {
        if n >= rsocket_proto::Credit::UNBOUNDED_GRANT {
            self.credit.store(u64::MAX, Ordering::Relaxed);
        } else {
            let c = self.credit.load(Ordering::Relaxed);
            if c != u64::MAX {
                self.credit.store(
                    c.saturating_add(u64::from(n)).min(u64::MAX - 1),
                    Ordering::Relaxed,
                );
            }
        }
    }

    fn available(&self) -> bool {
        self.credit.load(Ordering::Relaxed) > 0
    }

    fn take(&self) {
        let c = self.credit.load(Ordering::Relaxed);
        if c != u64::MAX && c > 0 {
            self.credit.store(c - 1, Ordering::Relaxed);
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.waker.wake();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// How a producer's output maps to frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutMode {
    /// A request-response answer: one value, complete.
    Response,
    /// A stream or channel: values, then completion.
    Stream,
}

/// What a producer emitted.
pub(crate) enum Signal {
    Next(Payload),
    Error(Error),
    Complete,
}

/// One of our producers (a response stream, or a requester channel's outbound), polled by the
/// driver only while its gate has credit.
pub(crate) struct Outbound {
    pub(crate) id: StreamId,
    pub(crate) mode: OutMode,
    gate: Arc<Gate>,
    stream: BoxStream<'static, Result<Payload, Error>>,
    /// A value taken while the peer's credit was used up, waiting for REQUEST_N. The stream
    /// is polled one value ahead so that its end (or error), which needs no credit, goes out
    /// as soon as it happens instead of waiting for credit the requester has no reason to
    /// send.
    ahead: Option<Payload>,
    finished: bool,
}

impl Outbound {
    pub(crate) fn new(
        id: StreamId,
        mode: OutMode,
        gate: Arc<Gate>,
        stream: BoxStream<'static, Result<Payload, Error>>,
    ) -> Self {
        Outbound {
            id,
            mode,
            gate,
            stream,
            ahead: None,
            finished: false,
        }
    }
}

/// Most values one producer hands over per poll (fewer re-queues in the driver's set of
/// producers), and most payload bytes, so a batch never overshoots the write buffer by much.
const PRODUCER_BATCH: usize = 64;
const PRODUCER_BATCH_BYTES: usize = 64 * 1024;

impl Outbound {
    /// One value within credit, or the end (which needs no credit).
    fn take(&mut self, cx: &mut Context<'_>) -> Poll<Option<Signal>> {
        if self.finished || self.gate.is_cancelled() {
            return Poll::Ready(None);
        }
        if let Some(p) = self.ahead.take() {
            if !self.gate.available() {
                self.ahead = Some(p);
                return Poll::Pending; // the gate's waker brings us back with credit
            }
            self.gate.take();
            return Poll::Ready(Some(Signal::Next(p)));
        }
        match self.stream.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(p))) if !self.gate.available() => {
                self.ahead = Some(p);
                Poll::Pending
            }
            Poll::Ready(Some(Ok(p))) => {
                self.gate.take();
                if self.mode == OutMode::Response {
                    self.finished = true;
                }
                Poll::Ready(Some(Signal::Next(p)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finished = true;
                Poll::Ready(Some(Signal::Error(e)))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Signal::Complete))
            }
        }
    }
}

fn signal_len(s: &Signal) -> usize {
    match s {
        Signal::Next(p) => p.len(),
        _ => 0,
    }
}

impl Stream for Outbound {
    /// The stream, its mode, a first value and any more that were ready in the same poll.
    type Item = (StreamId, OutMode, Signal, Vec<Signal>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished || self.gate.is_cancelled() {
            return Poll::Ready(None);
        }
        self.gate.waker.register(cx.waker());
        let Some(first) = std::task::ready!(self.take(cx)) else {
            return Poll::Ready(None);
        };
        let mut more = Vec::new();
        let mut bytes = signal_len(&first);
        while more.len() < PRODUCER_BATCH && bytes < PRODUCER_BATCH_BYTES {
            match self.take(cx) {
                Poll::Ready(Some(s)) => {
                    bytes += signal_len(&s);
                    more.push(s);
                }
                _ => break,
            }
        }
        Poll::Ready(Some((self.id, self.mode, first, more)))
    }
}
