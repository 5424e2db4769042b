//! The requester handle, [`RSocket`], and the streams and futures it returns.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};
use rsocket_proto::{CommandError, StreamId};

use crate::intercept::Interaction;
use crate::shared::{Gate, Inner, OutMode, Outbound, Prefetch, Shared, Slot};
use crate::{Error, Payload};

/// A handle for sending requests to the peer. Cheap to clone; usable on both sides (a server
/// gets one per client to request it).
///
/// # Cancel safety
///
/// Dropping the future of [`RSocket::request_response`] before it resolves, or a
/// [`PayloadStream`] before it ends, sends CANCEL to the peer: the responder stops working on
/// it. Dropping a requester channel's stream cancels the whole channel.
#[derive(Clone)]
pub struct RSocket {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("RSocket")
            .field("role", &s.conn.role())
            .field("streams", &s.conn.stream_count())
            .field("closed", &s.closed.is_some())
            .finish()
    }
}

impl RSocket {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        RSocket { inner }
    }

    /// Runs the requester interceptor, if any.
    fn intercept(&self, i: Interaction, p: &mut Payload) -> Result<(), Error> {
        match &self.inner.interceptor {
            Some(f) => f.intercept(i, p),
            None => Ok(()),
        }
    }

    /// Waits until a request may be queued (send capacity, and a lease when `leased` and
    /// waiting for one is configured) and runs `open` under the connection lock.
    async fn open<T>(
        &self,
        leased: bool,
        mut open: impl FnMut(&mut crate::shared::Shared) -> Result<T, CommandError>,
    ) -> Result<T, Error> {
        let mut lease_deadline = (!leased).then(Instant::now);
        // Fast path: room to send and no lease to wait for, so no waiter is registered.
        {
            let mut s = self.inner.lock();
            if let Some(e) = &s.closed {
                return Err(e.clone());
            }
            if self.inner.has_capacity(&s) && self.lease_deadline(&s, &mut lease_deadline).is_none()
            {
                let r = open(&mut s);
                drop(s);
                self.inner.driver.wake();
                return r.map_err(Error::from);
            }
        }
        loop {
            let notified = self.inner.capacity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait_until = {
                let mut s = self.inner.lock();
                if let Some(e) = &s.closed {
                    return Err(e.clone());
                }
                if self.inner.has_capacity(&s) {
                    match self.lease_deadline(&s, &mut lease_deadline) {
                        // Wait for a LEASE (it notifies), up to the deadline.
                        Some(deadline) => Some(deadline),
                        None => {
                            let r = open(&mut s);
                            drop(s);
                            self.inner.driver.wake();
                            return r.map_err(Error::from);
                        }
                    }
                } else if s.store_full() {
                    // A resumable session waits for the peer to acknowledge what it kept
                    // (on KEEPALIVE, which does not always notify): look again soon.
                    Some(Instant::now() + STORE_RECHECK)
                } else {
                    // The driver notifies once its backlog is below the mark.
                    s.capacity_wanted = true;
                    drop(s);
                    self.inner.driver.wake();
                    None
                }
            };
            match wait_until {
                Some(t) => {
                    let _ = tokio::time::timeout_at(t.into(), notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// With [`ClientBuilder::wait_for_lease`](crate::ClientBuilder::wait_for_lease) and no
    /// valid lease: until when to wait for one (`None`: go ahead, and fail if there is none).
    fn lease_deadline(&self, s: &Shared, deadline: &mut Option<Instant>) -> Option<Instant> {
        let wait = self.inner.lease_wait?;
        if !s.lacks_lease() {
            return None;
        }
        let now = Instant::now();
        let d = *deadline.get_or_insert(now + wait);
        (now < d).then_some(d)
    }

    /// Sends a fire-and-forget request. Resolves once the request is queued for writing;
    /// waits while the connection's send buffer is full, so a flood pushes back.
    ///
    /// Like any future, it does nothing until polled; when there is room to send (the usual
    /// case) the first poll queues the request without allocating.
    pub fn fire_and_forget(
        &self,
        payload: Payload,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        FireAndForget {
            rsocket: self,
            payload: Some(payload),
            slow: None,
        }
    }

    /// Opens a request at once when there is room to send and no lease to wait for;
    /// otherwise gives the payload back (`Err`) for [`RSocket::open`] to wait with. With
    /// `direct`, a request that is the only one waiting for an answer is written to the
    /// transport here when it can be ([`Inner::write_direct`]).
    fn try_open<T>(
        &self,
        leased: bool,
        direct: bool,
        payload: Payload,
        open: impl FnOnce(&mut Shared, Payload) -> Result<T, CommandError>,
    ) -> Result<Result<T, Error>, Payload> {
        let mut s = self.inner.lock();
        if let Some(e) = &s.closed {
            return Ok(Err(e.clone()));
        }
        let waits_for_lease = leased && self.inner.lease_wait.is_some() && s.lacks_lease();
        if !self.inner.has_capacity(&s) || waits_for_lease {
            return Err(payload);
        }
        let r = open(&mut s, payload);
        if direct && r.is_ok() {
            let alone = s.slots.len() == 1;
            if self.inner.write_direct(&mut s, alone) {
                return Ok(r.map_err(Error::from));
            }
        }
        drop(s);
        self.inner.driver.wake();
        Ok(r.map_err(Error::from))
    }

    /// Sends METADATA_PUSH.
    pub async fn metadata_push(&self, metadata: Bytes) -> Result<(), Error> {
        let mut p = Payload::default().with_metadata(metadata);
        self.intercept(Interaction::MetadataPush, &mut p)?;
        let metadata = p.metadata.unwrap_or_default();
        self.open(false, |s| s.conn.metadata_push(metadata.clone()))
            .await
    }

    /// Sends a request-response request and waits for the answer. A response that completes
    /// without a value yields an empty [`Payload`].
    ///
    /// Like any future, it does nothing until polled; the first poll sends the request (without
    /// allocating when there is room to send).
    pub fn request_response(
        &self,
        payload: Payload,
    ) -> impl Future<Output = Result<Payload, Error>> + Send + '_ {
        RequestResponse {
            rsocket: self,
            state: RrState::Start(payload),
        }
    }

    /// Sends a request-stream request with the default prefetch.
    pub fn request_stream(&self, payload: Payload) -> PayloadStream {
        self.request_stream_with(payload, self.inner.prefetch)
    }

    /// Sends a request-stream request, asking for `prefetch.initial` values at first and
    /// topping up by `prefetch.refill` as they are consumed.
    pub fn request_stream_with(&self, mut payload: Payload, prefetch: Prefetch) -> PayloadStream {
        if let Err(e) = self.intercept(Interaction::RequestStream, &mut payload) {
            return PayloadStream::failed(self.inner.clone(), e);
        }
        let mut s = self.inner.lock();
        if let Some(e) = &s.closed {
            return PayloadStream::failed(self.inner.clone(), e.clone());
        }
        if let Some(wait) = self.inner.lease_wait.filter(|_| s.lacks_lease()) {
            drop(s);
            return PayloadStream::waiting(
                self.inner.clone(),
                Pending::Stream(payload),
                prefetch,
                wait,
            );
        }
        match s
            .conn
            .request_stream(Instant::now(), payload, prefetch.initial)
        {
            Ok(id) => {
                s.slots.insert(id, Slot::for_credit(prefetch.initial));
                drop(s);
                self.inner.driver.wake();
                PayloadStream::active(self.inner.clone(), id, prefetch.refill)
            }
            Err(e) => PayloadStream::failed(self.inner.clone(), e.into()),
        }
    }

    /// Opens a channel: the first item of `outbound` goes with REQUEST_CHANNEL, the rest as
    /// the responder grants credit; the end of `outbound` completes our side. The returned
    /// stream carries the responder's values.
    pub fn request_channel<S>(&self, outbound: S) -> PayloadStream
    where
        S: Stream<Item = Payload> + Send + 'static,
    {
        let prefetch = self.inner.prefetch;
        PayloadStream::with(
            self.inner.clone(),
            State::Starting(outbound.boxed()),
            prefetch.refill,
            prefetch.initial,
        )
    }

    /// Availability in [0, 1] for load balancers: 0 when closed or, with lease, without a
    /// valid lease.
    pub fn availability(&self) -> f64 {
        self.inner.lock().conn.availability(Instant::now())
    }

    /// Grants the peer a lease: `number_of_requests` requests within `ttl` (lease must have
    /// been negotiated in SETUP). Replaces the previous lease.
    pub fn send_lease(
        &self,
        ttl: std::time::Duration,
        number_of_requests: u32,
        metadata: Option<Bytes>,
    ) -> Result<(), Error> {
        let mut s = self.inner.lock();
        if let Some(e) = &s.closed {
            return Err(e.clone());
        }
        s.conn
            .send_lease(Instant::now(), ttl, number_of_requests, metadata)?;
        drop(s);
        self.inner.driver.wake();
        Ok(())
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed.is_some()
    }

    /// Closes gracefully: ERROR\[CONNECTION_CLOSE\], then the connection ends once the open
    /// streams have.
    ///
    /// A resumable session waiting for a new transport ends at once (there is nobody to tell).
    pub fn close(&self) {
        let mut s = self.inner.lock();
        if s.conn.is_disconnected() {
            s.conn
                .close_with_error(rsocket_proto::ErrorCode::CONNECTION_CLOSE, "closed");
        } else {
            s.conn.close();
        }
        drop(s);
        self.inner.driver.wake();
    }

    /// Bytes of sent frames kept for retransmission until the peer acknowledges them (0
    /// without resumption). See [`crate::resume`].
    pub fn resume_store_bytes(&self) -> usize {
        self.inner.lock().conn.resume_store_bytes()
    }

    /// True while a resumable session has lost its transport and is not resumed yet.
    pub fn is_disconnected(&self) -> bool {
        self.inner.lock().conn.is_disconnected()
    }

    /// Waits for the connection to end and returns why. It returns once the connection's
    /// task has flushed what was queued and closed the transport, so a process may exit right
    /// after it without losing a fire-and-forget sent just before [`RSocket::close`].
    pub async fn closed(&self) -> Error {
        loop {
            let notified = self.inner.capacity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.inner.lock();
                if let (Some(e), true) = (&s.closed, s.driver_done) {
                    return e.clone();
                }
            }
            notified.await;
        }
    }
}

/// Opens a request-response's stream under the lock (the payload is already intercepted);
/// `waker` is the task to wake with the answer.
fn open_request_response(
    s: &mut Shared,
    p: Payload,
    waker: Option<&std::task::Waker>,
) -> Result<StreamId, CommandError> {
    let now = s.request_instant();
    let id = s.conn.request_response(now, p)?;
    let mut slot = Slot::default();
    slot.waker = waker.cloned();
    s.slots.insert(id, slot);
    Ok(id)
}

fn open_fire_and_forget(s: &mut Shared, p: Payload) -> Result<(), CommandError> {
    let now = s.request_instant();
    s.conn.fire_and_forget(now, p).map(|_| ())
}

/// [`RSocket::fire_and_forget`]: queues at the first poll, or waits (boxed, the rare case)
/// for send capacity or a lease.
struct FireAndForget<'a> {
    rsocket: &'a RSocket,
    payload: Option<Payload>,
    slow: Option<BoxFuture<'a, Result<(), Error>>>,
}

impl Future for FireAndForget<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(slow) = &mut this.slow {
            return slow.as_mut().poll(cx);
        }
        let Some(mut payload) = this.payload.take() else {
            return Poll::Ready(Err(Error::invalid("future polled after completion")));
        };
        let rs = this.rsocket;
        if let Err(e) = rs.intercept(Interaction::FireAndForget, &mut payload) {
            return Poll::Ready(Err(e));
        }
        match rs.try_open(true, false, payload, open_fire_and_forget) {
            Ok(r) => Poll::Ready(r),
            Err(payload) => {
                let mut payload = Some(payload);
                let mut slow: BoxFuture<'_, _> = Box::pin(rs.open(true, move |s| {
                    open_fire_and_forget(s, payload.take().unwrap_or_default())
                }));
                let r = slow.as_mut().poll(cx);
                this.slow = Some(slow);
                r
            }
        }
    }
}

enum RrState<'a> {
    Start(Payload),
    /// Waiting for send capacity or a lease before the request can go.
    Opening(BoxFuture<'a, Result<StreamId, Error>>),
    Waiting(ResponseFuture<'a>),
    Done,
}

/// [`RSocket::request_response`]: sends at the first poll (or once it may), then waits for
/// the answer; dropping it after the request went sends CANCEL.
struct RequestResponse<'a> {
    rsocket: &'a RSocket,
    state: RrState<'a>,
}

impl Future for RequestResponse<'_> {
    type Output = Result<Payload, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let rs = this.rsocket;
        loop {
            let opened = match &mut this.state {
                RrState::Start(_) => {
                    let RrState::Start(mut payload) =
                        std::mem::replace(&mut this.state, RrState::Done)
                    else {
                        continue;
                    };
                    if let Err(e) = rs.intercept(Interaction::RequestResponse, &mut payload) {
                        return Poll::Ready(Err(e));
                    }
                    let waker = cx.waker();
                    match rs.try_open(true, true, payload, |s, p| {
                        open_request_response(s, p, Some(waker))
                    }) {
                        // Sent, with our waker in the slot: nothing to poll before the answer.
                        Ok(Ok(id)) => {
                            this.state = RrState::Waiting(ResponseFuture::new(rs, id));
                            return Poll::Pending;
                        }
                        Ok(Err(e)) => Err(e),
                        Err(payload) => {
                            let mut payload = Some(payload);
                            this.state = RrState::Opening(Box::pin(rs.open(true, move |s| {
                                open_request_response(s, payload.take().unwrap_or_default(), None)
                            })));
                            continue;
                        }
                    }
                }
                RrState::Opening(f) => std::task::ready!(f.as_mut().poll(cx)),
                RrState::Waiting(f) => {
                    let answer = std::task::ready!(Pin::new(f).poll(cx));
                    this.state = RrState::Done;
                    return Poll::Ready(answer);
                }
                RrState::Done => {
                    return Poll::Ready(Err(Error::invalid("future polled after completion")));
                }
            };
            match opened {
                Ok(id) => this.state = RrState::Waiting(ResponseFuture::new(rs, id)),
                Err(e) => {
                    this.state = RrState::Done;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }
}

/// The answer of a request-response; dropping it early sends CANCEL.
struct ResponseFuture<'a> {
    inner: &'a Inner,
    id: StreamId,
    done: bool,
}

impl<'a> ResponseFuture<'a> {
    fn new(rs: &'a RSocket, id: StreamId) -> Self {
        ResponseFuture {
            inner: &rs.inner,
            id,
            done: false,
        }
    }
}

impl Future for ResponseFuture<'_> {
    type Output = Result<Payload, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut s = this.inner.lock();
        let s = &mut *s;
        let Some(slot) = s.slots.get_mut(&this.id) else {
            this.done = true;
            return Poll::Ready(Err(s
                .closed
                .clone()
                .unwrap_or_else(|| Error::canceled("request canceled"))));
        };
        if slot.is_empty() && !slot.done {
            if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                slot.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let item = s
            .slots
            .remove(&this.id)
            .and_then(|mut slot| slot.pop())
            .unwrap_or_else(|| Ok(Payload::default()));
        this.done = true;
        Poll::Ready(item)
    }
}

impl Drop for ResponseFuture<'_> {
    fn drop(&mut self) {
        if !self.done {
            cancel(self.inner, self.id);
        }
    }
}

/// Removes a consumer's slot and tells the peer we are no longer interested.
///
/// Our own request ends as a whole (a requester channel's outbound stops too); a channel
/// responder that drops its inbound only half-closes the channel and keeps answering.
fn cancel(inner: &Inner, id: StreamId) {
    let mut s = inner.lock();
    if let Some(slot) = s.slots.remove(&id) {
        if !slot.done && s.conn.is_stream_open(id) {
            let _ = s.conn.cancel(id);
        }
        if slot.held > 0 {
            s.release_held(slot.held); // the driver is woken below anyway
        }
    }
    let ours = id.is_client_initiated() == (s.conn.role() == rsocket_proto::Role::Client);
    if ours {
        if let Some(g) = s.gates.remove(&id) {
            g.cancel();
        }
    }
    drop(s);
    inner.driver.wake();
}

/// How often a requester blocked by a full resume store looks again.
const STORE_RECHECK: Duration = Duration::from_millis(20);

/// A request waiting for a lease.
enum Pending {
    Stream(Payload),
    Channel(Payload, BoxStream<'static, Payload>),
}

/// A request waiting (bounded) for a valid lease before it is sent.
struct Waiting {
    request: Pending,
    deadline: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

enum State {
    Starting(BoxStream<'static, Payload>),
    Waiting(Box<Waiting>),
    Active(StreamId),
    Failed(Error),
    Done,
}

/// A stream of payloads from the peer: a request-stream's or channel's responses, or a
/// channel responder's inbound payloads.
///
/// Consumption drives credit: values are requested `prefetch` at a time and topped up as they
/// are read, so a slow consumer slows the producer instead of filling memory. Dropping the
/// stream before its end sends CANCEL.
pub struct PayloadStream {
    inner: Arc<Inner>,
    state: State,
    refill: u32,
    initial: u32,
    /// Values taken from the slot in one batch, not yet handed out (they count against the
    /// credit granted, like the slot's).
    local: VecDeque<Result<Payload, Error>>,
    /// Values handed out since the last REQUEST_N.
    consumed: u32,
}

impl std::fmt::Debug for PayloadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Starting(_) => "starting".to_string(),
            State::Waiting(_) => "waiting for a lease".to_string(),
            State::Active(id) => format!("stream {id}"),
            State::Failed(e) => format!("failed: {e}"),
            State::Done => "done".to_string(),
        };
        f.debug_struct("PayloadStream")
            .field("state", &state)
            .finish()
    }
}

impl PayloadStream {
    fn with(inner: Arc<Inner>, state: State, refill: u32, initial: u32) -> Self {
        PayloadStream {
            inner,
            state,
            refill,
            initial,
            local: VecDeque::new(),
            consumed: 0,
        }
    }

    pub(crate) fn active(inner: Arc<Inner>, id: StreamId, refill: u32) -> Self {
        PayloadStream::with(inner, State::Active(id), refill.max(1), 0)
    }

    fn waiting(inner: Arc<Inner>, request: Pending, prefetch: Prefetch, wait: Duration) -> Self {
        let deadline = Instant::now() + wait;
        PayloadStream::with(
            inner,
            State::Waiting(Box::new(Waiting {
                request,
                deadline,
                sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
            })),
            prefetch.refill.max(1),
            prefetch.initial,
        )
    }

    /// Waits for a lease (or the deadline), then sends the request.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Waiting(w) = &mut self.state else {
            return Poll::Ready(());
        };
        let inner = self.inner.clone();
        let mut s = inner.lock();
        if s.closed.is_none() && s.lacks_lease() && Instant::now() < w.deadline {
            if !s.lease_waiters.iter().any(|x| x.will_wake(cx.waker())) {
                s.lease_waiters.push(cx.waker().clone());
            }
            if w.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let State::Waiting(w) = std::mem::replace(&mut self.state, State::Done) else {
            return Poll::Ready(());
        };
        if let Some(e) = &s.closed {
            self.state = State::Failed(e.clone());
            return Poll::Ready(());
        }
        match w.request {
            Pending::Stream(payload) => {
                match s.conn.request_stream(Instant::now(), payload, self.initial) {
                    Ok(id) => {
                        s.slots.insert(id, Slot::for_credit(self.initial));
                        self.state = State::Active(id);
                    }
                    Err(e) => self.state = State::Failed(e.into()),
                }
            }
            Pending::Channel(first, rest) => self.open_channel(&mut s, first, rest),
        }
        drop(s);
        self.inner.driver.wake();
        Poll::Ready(())
    }

    /// Sends REQUEST_CHANNEL and hands the rest of `outbound` to the driver.
    fn open_channel(&mut self, s: &mut Shared, first: Payload, rest: BoxStream<'static, Payload>) {
        match s
            .conn
            .request_channel(Instant::now(), first, self.initial, false)
        {
            Ok(id) => {
                s.slots.insert(id, Slot::for_credit(self.initial));
                let gate = Gate::new(0);
                s.gates.insert(id, gate.clone());
                s.new_outbound.push(Outbound::new(
                    id,
                    OutMode::Stream,
                    gate,
                    rest.map(Ok).boxed(),
                ));
                self.state = State::Active(id);
            }
            Err(e) => self.state = State::Failed(e.into()),
        }
    }

    fn failed(inner: Arc<Inner>, e: Error) -> Self {
        PayloadStream::with(inner, State::Failed(e), 1, 0)
    }

    /// A stream that has ended (for a channel whose requester completed at once).
    pub(crate) fn empty(inner: Arc<Inner>) -> Self {
        PayloadStream::with(inner, State::Done, 1, 0)
    }

    fn start(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Payload, Error>>> {
        let State::Starting(out) = &mut self.state else {
            return Poll::Ready(None);
        };
        let mut first = match out.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(p)) => p,
            Poll::Ready(None) => {
                self.state = State::Done;
                return Poll::Ready(Some(Err(Error::invalid(
                    "request_channel needs at least one payload to send",
                ))));
            }
        };
        let State::Starting(rest) = std::mem::replace(&mut self.state, State::Done) else {
            return Poll::Ready(None);
        };
        if let Some(f) = &self.inner.interceptor {
            if let Err(e) = f.intercept(Interaction::RequestChannel, &mut first) {
                self.state = State::Failed(e);
                return Poll::Ready(None);
            }
        }
        let inner = self.inner.clone();
        let mut s = inner.lock();
        if let Some(e) = &s.closed {
            self.state = State::Failed(e.clone());
            return Poll::Ready(None);
        }
        if let Some(wait) = self.inner.lease_wait.filter(|_| s.lacks_lease()) {
            let deadline = Instant::now() + wait;
            self.state = State::Waiting(Box::new(Waiting {
                request: Pending::Channel(first, rest),
                deadline,
                sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
            }));
            return Poll::Ready(None);
        }
        self.open_channel(&mut s, first, rest);
        drop(s);
        self.inner.driver.wake();
        Poll::Ready(None)
    }
}

impl Stream for PayloadStream {
    type Item = Result<Payload, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let State::Starting(_) = self.state {
            match self.start(cx) {
                Poll::Ready(None) => {}
                other => return other,
            }
        }
        if let State::Waiting(_) = self.state {
            if self.poll_waiting(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let id = match &self.state {
            State::Active(id) => *id,
            State::Failed(_) => {
                let State::Failed(e) = std::mem::replace(&mut self.state, State::Done) else {
                    return Poll::Ready(None);
                };
                return Poll::Ready(Some(Err(e)));
            }
            State::Done | State::Starting(_) | State::Waiting(_) => return Poll::Ready(None),
        };
        let this = &mut *self;
        if let Some(item) = this.local.pop_front() {
            note_consumed(
                &this.inner,
                &mut this.consumed,
                this.refill,
                id,
                &item,
                None,
            );
            return Poll::Ready(Some(item));
        }
        // Take everything the driver has delivered under one lock.
        let inner = &this.inner;
        let mut guard = inner.lock();
        let s = &mut *guard;
        let Some(slot) = s.slots.get_mut(&id) else {
            let closed = s.closed.clone();
            this.state = State::Done;
            return Poll::Ready(closed.map(Err));
        };
        slot.take_all(&mut this.local);
        let held = std::mem::take(&mut slot.held);
        let done = slot.done;
        if this.local.is_empty()
            && !done
            && !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            slot.waker = Some(cx.waker().clone());
        }
        if held > 0 && s.release_held(held) {
            inner.driver.wake(); // it stopped reading for these bytes
        }
        if let Some(item) = this.local.pop_front() {
            note_consumed(
                inner,
                &mut this.consumed,
                this.refill,
                id,
                &item,
                Some(guard),
            );
            return Poll::Ready(Some(item));
        }
        if done {
            s.slots.remove(&id);
            this.state = State::Done;
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// Counts a value a [`PayloadStream`] handed out and tops the peer's credit up once `refill`
/// were (not after the stream ended).
fn note_consumed(
    inner: &Inner,
    consumed: &mut u32,
    refill: u32,
    id: StreamId,
    item: &Result<Payload, Error>,
    held: Option<std::sync::MutexGuard<'_, Shared>>,
) {
    if item.is_err() {
        return;
    }
    *consumed += 1;
    if *consumed < refill {
        return;
    }
    let mut s = held.unwrap_or_else(|| inner.lock());
    if s.slots.get(&id).is_none_or(|slot| slot.done) {
        return;
    }
    let n = std::mem::take(consumed);
    if s.conn.request_n(id, n).is_ok() {
        drop(s);
        inner.driver.wake();
    }
}

impl Drop for PayloadStream {
    fn drop(&mut self) {
        if let State::Active(id) = self.state {
            cancel(&self.inner, id);
        }
    }
}
