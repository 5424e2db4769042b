//! The tokio WAMP client: join a realm, call, register, publish, subscribe, leave.
//!
//! A [`Session`] is a cheap handle to one connection task that owns the transport. Commands
//! travel to it over a bounded channel ([`COMMAND_QUEUE`]); events reach each [`Subscription`]
//! over its own bounded channel ([`EVENT_QUEUE`]).
//!
//! **Slow consumer policy (client side): drop.** When a subscription's queue is full, further
//! events for it are dropped (with a warning) rather than stalling the whole session.
//!
//! **Cancel safety.** Dropping the future returned by [`Session::call`] before it resolves sends
//! `CANCEL` (mode `killnowait`) for that call.

mod driver;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};

use crate::id::Id;
use crate::message::{Message, Payload};
use crate::serializer::Serializer;
use crate::value::{Dict, Value};

pub(crate) use driver::Command;

/// Commands queued from handles to the connection task.
pub const COMMAND_QUEUE: usize = 256;
/// Events queued per subscription before new ones are dropped.
pub const EVENT_QUEUE: usize = 1024;

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Realm to join.
    pub realm: String,
    /// Credentials; `None` joins anonymously.
    pub auth: Option<ClientAuth>,
    /// Largest message accepted (default 1 MiB).
    pub max_message_size: usize,
    /// Time allowed to connect and join (default 10 s).
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// Anonymous join of `realm` with default limits.
    pub fn new(realm: impl Into<String>) -> Self {
        ClientConfig {
            realm: realm.into(),
            auth: None,
            max_message_size: 1 << 20,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Client credentials.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Ticket authentication.
    Ticket {
        /// Principal.
        authid: String,
        /// The ticket.
        ticket: String,
    },
    /// WAMP-CRA (salting handled from the challenge).
    WampCra {
        /// Principal.
        authid: String,
        /// Shared secret (or password when the router salts).
        secret: String,
    },
}

/// Client errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// I/O or transport setup failure.
    #[error("transport error: {0}")]
    Transport(String),
    /// The router refused the session (ABORT) with this reason.
    #[error("session aborted: {reason} {message}")]
    Aborted {
        /// Reason URI.
        reason: String,
        /// Human-readable message, if any.
        message: String,
    },
    /// The connection was lost or the session closed.
    #[error("connection closed")]
    ConnectionLost,
    /// Connecting or joining took too long.
    #[error("timed out")]
    Timeout,
    /// The router answered with an ERROR.
    #[error("{0}")]
    Wamp(WampError),
    /// The router broke the protocol.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

/// An application or router error: URI plus optional payload.
#[derive(Debug, Clone, PartialEq)]
pub struct WampError {
    /// Error URI, e.g. `wamp.error.no_such_procedure` or `com.myapp.error`.
    pub uri: String,
    /// Positional payload.
    pub args: Vec<Value>,
    /// Keyword payload.
    pub kwargs: Dict,
}

impl WampError {
    /// An error with a URI and no payload.
    pub fn new(uri: impl Into<String>) -> Self {
        WampError {
            uri: uri.into(),
            args: Vec::new(),
            kwargs: Dict::new(),
        }
    }
    /// Adds positional arguments.
    pub fn with_args(mut self, args: Vec<Value>) -> Self {
        self.args = args;
        self
    }
}

impl std::fmt::Display for WampError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.uri)?;
        if !self.args.is_empty() {
            write!(f, " {:?}", self.args)?;
        }
        Ok(())
    }
}

/// Arguments of a call result, an event or an invocation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args {
    /// Positional arguments (empty if none).
    pub args: Vec<Value>,
    /// Keyword arguments (empty if none).
    pub kwargs: Dict,
    /// Details from the router (e.g. `caller`, `procedure`, `publisher`, `topic`, `progress`).
    pub details: Dict,
}

impl Args {
    pub(crate) fn from_payload(p: Payload, details: Dict) -> Self {
        Args {
            args: p.args.unwrap_or_default(),
            kwargs: p.kwargs.unwrap_or_default(),
            details,
        }
    }
}

fn to_payload(args: Vec<Value>, kwargs: Dict) -> Payload {
    Payload {
        args: if args.is_empty() && kwargs.is_empty() {
            None
        } else {
            Some(args)
        },
        kwargs: if kwargs.is_empty() {
            None
        } else {
            Some(kwargs)
        },
        transparent: None,
    }
}

/// Options for [`Session::call_with`].
#[derive(Default)]
pub struct CallOptions {
    /// Router-side timeout (`CALL.Options.timeout`).
    pub timeout: Option<Duration>,
    /// Ask the callee to disclose our identity.
    pub disclose_me: bool,
    /// Receives progressive results (sets `receive_progress`).
    pub on_progress: Option<Box<dyn FnMut(Args) + Send>>,
}

impl std::fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("disclose_me", &self.disclose_me)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

/// What a procedure handler returns.
pub type HandlerResult = Result<(Vec<Value>, Dict), WampError>;

/// A procedure handler: gets the invocation's arguments (and a [`Progress`] sink), returns a
/// result or an error.
pub type Handler = Arc<dyn Fn(Args, Progress) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// Sends progressive results from a running invocation (see [`Session::register_progressive`]).
#[derive(Debug, Clone)]
pub struct Progress {
    pub(crate) cmd: mpsc::WeakSender<Command>,
    pub(crate) request: Id,
    pub(crate) enabled: bool,
}

impl Progress {
    /// Whether the caller asked for progressive results (`receive_progress`).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Sends one progressive result; a no-op when the caller did not ask for them. Returns
    /// false if the session is gone.
    pub async fn send(&self, args: Vec<Value>, kwargs: Dict) -> bool {
        if !self.enabled {
            return true;
        }
        match self.cmd.upgrade() {
            Some(cmd) => {
                let c = Command::Progress {
                    request: self.request,
                    args,
                    kwargs,
                };
                cmd.send(c).await.is_ok()
            }
            None => false,
        }
    }
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseReason {
    /// Still open.
    Open,
    /// GOODBYE exchanged, with the router's reason.
    Goodbye(String),
    /// The router sent ABORT.
    Aborted(String),
    /// The transport failed or closed.
    ConnectionLost,
}

pub(crate) struct Shared {
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) next_request: AtomicU64,
    pub(crate) session: Id,
    pub(crate) details: Dict,
    pub(crate) closed: watch::Receiver<CloseReason>,
}

/// A joined WAMP session. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.shared.session)
            .finish()
    }
}

/// Active subscription: a stream of events. Dropping it does not unsubscribe; call
/// [`Subscription::unsubscribe`].
#[derive(Debug)]
pub struct Subscription {
    id: Id,
    local: u64,
    rx: mpsc::Receiver<Args>,
    session: Session,
}

/// Active registration.
#[derive(Debug)]
pub struct Registration {
    id: Id,
    session: Session,
}

impl Session {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Session { shared }
    }

    /// Connects over WebSocket (`ws://host:port/path`) and joins the configured realm.
    pub async fn connect_websocket(
        url: &str,
        serializer: Serializer,
        config: ClientConfig,
    ) -> Result<Session, ClientError> {
        let timeout = config.connect_timeout;
        tokio::time::timeout(timeout, driver::connect_websocket(url, serializer, config))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// Connects over RawSocket (`host:port`) and joins the configured realm.
    pub async fn connect_rawsocket(
        addr: &str,
        serializer: Serializer,
        config: ClientConfig,
    ) -> Result<Session, ClientError> {
        let timeout = config.connect_timeout;
        tokio::time::timeout(timeout, driver::connect_rawsocket(addr, serializer, config))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The session ID from WELCOME.
    pub fn id(&self) -> Id {
        self.shared.session
    }

    /// WELCOME details (realm, authid, authrole, router roles).
    pub fn welcome_details(&self) -> &Dict {
        &self.shared.details
    }

    fn next_request(&self) -> Id {
        let n = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
        Id::new((n % Id::MAX) + 1).unwrap_or(Id::new(1).expect("1 is a valid ID"))
    }

    async fn send(&self, cmd: Command) -> Result<(), ClientError> {
        self.shared
            .cmd
            .send(cmd)
            .await
            .map_err(|_| ClientError::ConnectionLost)
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(Id, oneshot::Sender<Result<T, ClientError>>) -> Command,
    ) -> Result<T, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(self.next_request(), tx)).await?;
        rx.await.map_err(|_| ClientError::ConnectionLost)?
    }

    /// Calls `procedure` with arguments; resolves to the result or the error.
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<Args, ClientError> {
        self.call_with(procedure, args, kwargs, CallOptions::default())
            .await
    }

    /// Calls with options (timeout, caller disclosure, progressive results).
    pub async fn call_with(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
        options: CallOptions,
    ) -> Result<Args, ClientError> {
        let request = self.next_request();
        let (tx, rx) = oneshot::channel();
        let mut opts = Dict::new();
        if let Some(t) = options.timeout {
            opts.insert("timeout", t.as_millis().min(u128::from(u64::MAX)) as u64);
        }
        if options.disclose_me {
            opts.insert("disclose_me", true);
        }
        if options.on_progress.is_some() {
            opts.insert("receive_progress", true);
        }
        let call = crate::message::Call {
            request,
            options: opts,
            procedure: procedure.to_owned(),
            payload: to_payload(args, kwargs),
        };
        self.send(Command::Call {
            call,
            reply: tx,
            progress: options.on_progress,
        })
        .await?;
        // If this future is dropped while waiting, the guard sends CANCEL.
        let guard = CancelGuard {
            cmd: self.shared.cmd.clone(),
            request,
            armed: true,
        };
        let out = rx.await.map_err(|_| ClientError::ConnectionLost)?;
        let mut guard = guard;
        guard.armed = false;
        out
    }

    /// Publishes an event; with `acknowledge`, waits for PUBLISHED and returns the publication ID.
    pub async fn publish(
        &self,
        topic: &str,
        args: Vec<Value>,
        kwargs: Dict,
        acknowledge: bool,
    ) -> Result<Option<Id>, ClientError> {
        self.publish_with(
            topic,
            args,
            kwargs,
            Dict::new().with("acknowledge", acknowledge),
        )
        .await
    }

    /// Publishes with raw options (`exclude_me`, `exclude`, `eligible`, `disclose_me`, …).
    pub async fn publish_with(
        &self,
        topic: &str,
        args: Vec<Value>,
        kwargs: Dict,
        options: Dict,
    ) -> Result<Option<Id>, ClientError> {
        let ack = options.get_bool("acknowledge").unwrap_or(false);
        let make = |request, options| crate::message::Publish {
            request,
            options,
            topic: topic.to_owned(),
            payload: to_payload(args, kwargs),
        };
        if !ack {
            let publish = make(self.next_request(), options);
            self.send(Command::Send(Message::Publish(publish))).await?;
            return Ok(None);
        }
        self.request(|request, reply| Command::Publish {
            publish: make(request, options),
            reply,
        })
        .await
        .map(Some)
    }

    /// Subscribes to `topic` (options: `match` = `prefix` / `wildcard`).
    pub async fn subscribe(&self, topic: &str, options: Dict) -> Result<Subscription, ClientError> {
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let (id, local) = self
            .request(|request, reply| Command::Subscribe {
                subscribe: crate::message::Subscribe {
                    request,
                    options,
                    topic: topic.to_owned(),
                },
                events: ev_tx,
                reply,
            })
            .await?;
        Ok(Subscription {
            id,
            local,
            rx: ev_rx,
            session: self.clone(),
        })
    }

    /// Subscribes and calls `callback` for each event on a task of its own; returns the
    /// subscription ID and the task handle (abort it to stop).
    pub async fn subscribe_callback<F>(
        &self,
        topic: &str,
        options: Dict,
        mut callback: F,
    ) -> Result<(Id, tokio::task::JoinHandle<()>), ClientError>
    where
        F: FnMut(Args) + Send + 'static,
    {
        let mut sub = self.subscribe(topic, options).await?;
        let id = sub.id();
        let task = tokio::spawn(async move {
            while let Some(ev) = sub.next().await {
                callback(ev);
            }
        });
        Ok((id, task))
    }

    /// Registers `procedure` with an async handler.
    pub async fn register<F, Fut>(
        &self,
        procedure: &str,
        options: Dict,
        handler: F,
    ) -> Result<Registration, ClientError>
    where
        F: Fn(Args) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = HandlerResult> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |a, _p| Box::pin(handler(a)));
        self.register_handler(procedure, options, handler).await
    }

    /// Registers `procedure` with a handler that may send progressive results through its
    /// [`Progress`] argument before returning the final result.
    pub async fn register_progressive<F, Fut>(
        &self,
        procedure: &str,
        options: Dict,
        handler: F,
    ) -> Result<Registration, ClientError>
    where
        F: Fn(Args, Progress) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = HandlerResult> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |a, p| Box::pin(handler(a, p)));
        self.register_handler(procedure, options, handler).await
    }

    async fn register_handler(
        &self,
        procedure: &str,
        options: Dict,
        handler: Handler,
    ) -> Result<Registration, ClientError> {
        let id = self
            .request(|request, reply| Command::Register {
                register: crate::message::Register {
                    request,
                    options,
                    procedure: procedure.to_owned(),
                },
                handler,
                reply,
            })
            .await?;
        Ok(Registration {
            id,
            session: self.clone(),
        })
    }

    /// Leaves the realm with GOODBYE and waits for the router's GOODBYE, then closes.
    pub async fn leave(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Leave { reply: tx }).await?;
        rx.await.map_err(|_| ClientError::ConnectionLost)?
    }

    /// How the session ended (or [`CloseReason::Open`]).
    pub fn close_reason(&self) -> CloseReason {
        self.shared.closed.borrow().clone()
    }

    /// Resolves when the session ends, with the reason (connection loss is reported here).
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.shared.closed.clone();
        loop {
            let r = rx.borrow_and_update().clone();
            if r != CloseReason::Open {
                return r;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }
}

struct CancelGuard {
    cmd: mpsc::Sender<Command>,
    request: Id,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.cmd.try_send(Command::Cancel {
                request: self.request,
            });
        }
    }
}

impl Subscription {
    /// The router's subscription ID.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The next event; `None` when the session ends.
    pub async fn next(&mut self) -> Option<Args> {
        self.rx.recv().await
    }

    /// Unsubscribes.
    pub async fn unsubscribe(self) -> Result<(), ClientError> {
        let (id, local) = (self.id, self.local);
        self.session
            .request(|request, reply| Command::Unsubscribe {
                request,
                subscription: id,
                local,
                reply,
            })
            .await
    }
}

impl futures::Stream for Subscription {
    type Item = Args;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Args>> {
        self.rx.poll_recv(cx)
    }
}

impl Registration {
    /// The router's registration ID.
    pub fn id(&self) -> Id {
        self.id
    }

    /// Unregisters.
    pub async fn unregister(self) -> Result<(), ClientError> {
        let id = self.id;
        self.session
            .request(|request, reply| Command::Unregister {
                request,
                registration: id,
                reply,
            })
            .await
    }
}
