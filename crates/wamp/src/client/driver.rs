//! The client's connection task: transport setup, the HELLO/WELCOME handshake, and the loop that
//! matches requests with replies, delivers events and runs invocation handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{Args, ClientAuth, ClientConfig, ClientError, CloseReason, Handler, HandlerResult};
use super::{Progress, Session, Shared, WampError, to_payload};
use crate::auth;
use crate::id::Id;
use crate::message::*;
use crate::router::uris;
use crate::serializer::Serializer;
use crate::transport::rawsocket::{self, ClientHello, FrameKind, HandshakeReply};
use crate::transport::websocket;
use crate::value::{Dict, Value};

/// Inbound messages queued between the reader task and the connection task.
const INBOUND_QUEUE: usize = 256;
/// Requests awaiting a reply, per session; more fail with `ConnectionLost`-free local errors.
const MAX_PENDING: usize = 65_536;

type Reply<T> = oneshot::Sender<Result<T, ClientError>>;
/// Receives progressive call results.
type OnProgress = Box<dyn FnMut(Args) + Send>;
/// A SUBSCRIBE in flight: the event queue and the reply.
type PendingSubscribe = (mpsc::Sender<Args>, Reply<(Id, u64)>);

/// A command from a handle (or a handler task) to the connection task.
pub(crate) enum Command {
    Send(Message),
    Call {
        call: Call,
        reply: Reply<Args>,
        progress: Option<OnProgress>,
    },
    Cancel {
        request: Id,
    },
    Publish {
        publish: Publish,
        reply: Reply<Id>,
    },
    Subscribe {
        subscribe: Subscribe,
        events: mpsc::Sender<Args>,
        reply: Reply<(Id, u64)>,
    },
    Unsubscribe {
        request: Id,
        subscription: Id,
        local: u64,
        reply: Reply<()>,
    },
    Register {
        register: Register,
        handler: Handler,
        reply: Reply<Id>,
    },
    Unregister {
        request: Id,
        registration: Id,
        reply: Reply<()>,
    },
    Leave {
        reply: Reply<()>,
    },
    Yielded {
        request: Id,
        result: HandlerResult,
    },
    Progress {
        request: Id,
        args: Vec<Value>,
        kwargs: Dict,
    },
}

enum Inbound {
    Msg(Result<Message, DecodeError>),
    Ping(Vec<u8>),
}

enum Writer {
    Ws(SplitSink<WebSocketStream<TcpStream>, WsMessage>),
    Raw {
        w: BufWriter<OwnedWriteHalf>,
        peer_max: usize,
    },
}

impl Writer {
    async fn send(&mut self, ser: Serializer, msg: &Message) -> Result<(), ClientError> {
        let bytes = ser
            .encode(msg)
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let io = |e: std::io::Error| ClientError::Transport(e.to_string());
        match self {
            Writer::Ws(s) => s
                .send(websocket::to_ws_message(ser, bytes))
                .await
                .map_err(|e| ClientError::Transport(e.to_string())),
            Writer::Raw { w, peer_max } => {
                if bytes.len() > *peer_max {
                    return Err(ClientError::Transport(
                        "message exceeds the router's limit".into(),
                    ));
                }
                rawsocket::write_frame(w, FrameKind::Message, &bytes)
                    .await
                    .map_err(io)?;
                w.flush().await.map_err(io)
            }
        }
    }

    async fn pong(&mut self, body: &[u8]) {
        if let Writer::Raw { w, .. } = self {
            let _ = rawsocket::write_frame(w, FrameKind::Pong, body).await;
            let _ = w.flush().await;
        }
    }

    async fn close(&mut self) {
        match self {
            Writer::Ws(s) => {
                let _ = s.close().await;
            }
            Writer::Raw { w, .. } => {
                let _ = w.shutdown().await;
            }
        }
    }
}

fn io_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

fn host_port(url: &str) -> Result<String, ClientError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| io_err("only ws:// URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.contains(':') {
        Ok(authority.to_owned())
    } else {
        Ok(format!("{authority}:80"))
    }
}

pub(crate) async fn connect_websocket(
    url: &str,
    serializer: Serializer,
    config: ClientConfig,
) -> Result<Session, ClientError> {
    let stream = TcpStream::connect(host_port(url)?).await.map_err(io_err)?;
    let _ = stream.set_nodelay(true);
    let (ws, ser) = websocket::connect(stream, url, &[serializer], config.max_message_size)
        .await
        .map_err(io_err)?;
    let (sink, mut stream) = ws.split();
    let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let bytes = match item {
                Ok(WsMessage::Text(t)) if !ser.is_binary() => t.as_bytes().to_vec(),
                Ok(WsMessage::Binary(b)) if ser.is_binary() => b.to_vec(),
                Ok(WsMessage::Text(_) | WsMessage::Binary(_)) => {
                    let e = DecodeError::Malformed {
                        serializer: ser.name(),
                        reason: "wrong WebSocket message type".into(),
                    };
                    let _ = in_tx.send(Inbound::Msg(Err(e))).await;
                    continue;
                }
                Err(_) => break,
                // Keep reading: tungstenite answers the close handshake, then the stream ends.
                Ok(WsMessage::Close(_)) => continue,
                Ok(_) => continue,
            };
            if in_tx.send(Inbound::Msg(ser.decode(&bytes))).await.is_err() {
                break;
            }
        }
    });
    join(Writer::Ws(sink), in_rx, ser, config).await
}

pub(crate) async fn connect_rawsocket(
    addr: &str,
    serializer: Serializer,
    config: ClientConfig,
) -> Result<Session, ClientError> {
    let mut stream = TcpStream::connect(addr).await.map_err(io_err)?;
    let _ = stream.set_nodelay(true);
    let our_max =
        rawsocket::length_from_exponent(rawsocket::length_exponent(config.max_message_size));
    let hello = ClientHello {
        serializer,
        max_len: our_max,
    };
    stream.write_all(&hello.encode()).await.map_err(io_err)?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.map_err(io_err)?;
    let peer_max = match HandshakeReply::parse(reply) {
        Some(HandshakeReply::Accept {
            serializer: s,
            max_len,
        }) if s == serializer => max_len,
        Some(HandshakeReply::Error(e)) => return Err(io_err(format!("rawsocket refused: {e}"))),
        _ => return Err(io_err("invalid rawsocket handshake reply")),
    };
    let (mut rd, wr) = stream.into_split();
    let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
    tokio::spawn(async move {
        loop {
            let item = match rawsocket::read_frame(&mut rd, our_max).await {
                Ok(Some((FrameKind::Message, body))) => Inbound::Msg(serializer.decode(&body)),
                Ok(Some((FrameKind::Ping, body))) => Inbound::Ping(body),
                Ok(Some((FrameKind::Pong, _))) => continue,
                Ok(None) | Err(_) => break,
            };
            if in_tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let writer = Writer::Raw {
        w: BufWriter::new(wr),
        peer_max,
    };
    join(writer, in_rx, serializer, config).await
}

fn client_roles() -> Dict {
    let f = |names: &[&str]| {
        let mut d = Dict::new();
        for n in names {
            d.insert(*n, true);
        }
        Dict::new().with("features", d)
    };
    Dict::new()
        .with(
            "caller",
            f(&[
                "progressive_call_results",
                "call_canceling",
                "call_timeout",
                "caller_identification",
            ]),
        )
        .with(
            "callee",
            f(&[
                "progressive_call_results",
                "call_canceling",
                "caller_identification",
                "pattern_based_registration",
                "shared_registration",
            ]),
        )
        .with(
            "publisher",
            f(&[
                "publisher_identification",
                "publisher_exclusion",
                "subscriber_blackwhite_listing",
            ]),
        )
        .with(
            "subscriber",
            f(&["pattern_based_subscription", "publisher_identification"]),
        )
}

/// HELLO, optional CHALLENGE/AUTHENTICATE, WELCOME; then spawns the connection task.
async fn join(
    mut writer: Writer,
    mut inbound: mpsc::Receiver<Inbound>,
    ser: Serializer,
    config: ClientConfig,
) -> Result<Session, ClientError> {
    let mut details = Dict::new().with("roles", client_roles()).with(
        "agent",
        concat!("wamp-rs-client/", env!("CARGO_PKG_VERSION")),
    );
    match &config.auth {
        Some(ClientAuth::Ticket { authid, .. }) => {
            details.insert("authmethods", vec![Value::from("ticket")]);
            details.insert("authid", authid.as_str());
        }
        Some(ClientAuth::WampCra { authid, .. }) => {
            details.insert("authmethods", vec![Value::from("wampcra")]);
            details.insert("authid", authid.as_str());
        }
        None => {}
    }
    writer
        .send(
            ser,
            &Message::Hello(Hello {
                realm: config.realm.clone(),
                details,
            }),
        )
        .await?;
    let mut challenged = false;
    let welcome = loop {
        let msg = match inbound.recv().await {
            None => return Err(ClientError::ConnectionLost),
            Some(Inbound::Ping(p)) => {
                writer.pong(&p).await;
                continue;
            }
            Some(Inbound::Msg(m)) => m,
        };
        match msg {
            Ok(Message::Welcome(w)) => break w,
            Ok(Message::Abort(a)) => {
                return Err(ClientError::Aborted {
                    reason: a.reason,
                    message: a.details.get_str("message").unwrap_or("").to_owned(),
                });
            }
            Ok(Message::Challenge(c)) if !challenged => {
                challenged = true;
                let signature = match (&config.auth, c.auth_method.as_str()) {
                    (Some(ClientAuth::Ticket { ticket, .. }), "ticket") => ticket.clone(),
                    (Some(ClientAuth::WampCra { secret, .. }), "wampcra") => {
                        let challenge = c.extra.get_str("challenge").unwrap_or("");
                        let key = match c.extra.get_str("salt") {
                            Some(salt) => {
                                let it = c.extra.get_u64("iterations").unwrap_or(1000);
                                let kl = c.extra.get_u64("keylen").unwrap_or(32);
                                auth::derive_key(
                                    secret,
                                    salt,
                                    it.min(1 << 20) as u32,
                                    kl.min(1024) as u32,
                                )
                            }
                            None => secret.clone(),
                        };
                        auth::wampcra_sign(key.as_bytes(), challenge)
                    }
                    _ => {
                        return Err(
                            abort(&mut writer, ser, "unexpected authentication method").await
                        );
                    }
                };
                let m = Message::Authenticate(Authenticate {
                    signature,
                    extra: Dict::new(),
                });
                writer.send(ser, &m).await?;
            }
            Ok(other) => {
                let why = format!("unexpected {} during session establishment", other.name());
                return Err(abort(&mut writer, ser, &why).await);
            }
            Err(e) => return Err(abort(&mut writer, ser, &e.to_string()).await),
        }
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(super::COMMAND_QUEUE);
    let (closed_tx, closed_rx) = watch::channel(CloseReason::Open);
    let shared = Arc::new(Shared {
        cmd: cmd_tx.clone(),
        next_request: AtomicU64::new(0),
        session: welcome.session,
        details: welcome.details,
        closed: closed_rx,
    });
    let state = State {
        ser,
        writer,
        cmd_weak: cmd_tx.downgrade(),
        calls: HashMap::new(),
        publishes: HashMap::new(),
        subscribes: HashMap::new(),
        unsubscribes: HashMap::new(),
        registers: HashMap::new(),
        unregisters: HashMap::new(),
        subs: HashMap::new(),
        regs: HashMap::new(),
        invocations: HashMap::new(),
        next_local: 0,
        leaving: None,
    };
    drop(cmd_tx);
    tokio::spawn(run(state, cmd_rx, inbound, closed_tx));
    Ok(Session::from_shared(shared))
}

async fn abort(writer: &mut Writer, ser: Serializer, why: &str) -> ClientError {
    let m = Abort {
        details: Dict::new().with("message", why),
        reason: uris::PROTOCOL_VIOLATION.into(),
    };
    let _ = writer.send(ser, &Message::Abort(m)).await;
    writer.close().await;
    ClientError::ProtocolViolation(why.to_owned())
}

struct State {
    ser: Serializer,
    writer: Writer,
    cmd_weak: mpsc::WeakSender<Command>,
    calls: HashMap<Id, (Reply<Args>, Option<OnProgress>)>,
    publishes: HashMap<Id, Reply<Id>>,
    subscribes: HashMap<Id, PendingSubscribe>,
    unsubscribes: HashMap<Id, (Id, Reply<()>)>,
    registers: HashMap<Id, (Handler, Reply<Id>)>,
    unregisters: HashMap<Id, (Id, Reply<()>)>,
    subs: HashMap<Id, Vec<(u64, mpsc::Sender<Args>)>>,
    regs: HashMap<Id, Handler>,
    invocations: HashMap<Id, AbortHandle>,
    next_local: u64,
    leaving: Option<Reply<()>>,
}

/// What the loop does next.
enum Flow {
    Continue,
    Stop(CloseReason),
}

fn wamp_error(e: Error) -> ClientError {
    ClientError::Wamp(WampError {
        uri: e.error,
        args: e.payload.args.unwrap_or_default(),
        kwargs: e.payload.kwargs.unwrap_or_default(),
    })
}

impl State {
    fn pending(&self) -> usize {
        self.calls.len()
            + self.publishes.len()
            + self.subscribes.len()
            + self.unsubscribes.len()
            + self.registers.len()
            + self.unregisters.len()
    }

    async fn send(&mut self, msg: Message) -> Flow {
        match self.writer.send(self.ser, &msg).await {
            Ok(()) => Flow::Continue,
            Err(e) => {
                tracing::debug!(error = %e, "client write failed");
                Flow::Stop(CloseReason::ConnectionLost)
            }
        }
    }

    async fn violation(&mut self, why: &str) -> Flow {
        tracing::warn!(why, "router protocol violation");
        let m = Abort {
            details: Dict::new().with("message", why),
            reason: uris::PROTOCOL_VIOLATION.into(),
        };
        let _ = self.send(Message::Abort(m)).await;
        Flow::Stop(CloseReason::Aborted(uris::PROTOCOL_VIOLATION.into()))
    }

    async fn on_command(&mut self, cmd: Command) -> Flow {
        if self.pending() >= MAX_PENDING {
            let busy = || ClientError::Transport("too many pending requests".into());
            match cmd {
                Command::Call { reply, .. } => {
                    let _ = reply.send(Err(busy()));
                    return Flow::Continue;
                }
                Command::Publish { reply, .. } => {
                    let _ = reply.send(Err(busy()));
                    return Flow::Continue;
                }
                _ => {}
            }
        }
        match cmd {
            Command::Send(m) => self.send(m).await,
            Command::Call {
                call,
                reply,
                progress,
            } => {
                self.calls.insert(call.request, (reply, progress));
                self.send(Message::Call(call)).await
            }
            Command::Cancel { request } => {
                if self.calls.remove(&request).is_some() {
                    let options = Dict::new().with("mode", "killnowait");
                    return self
                        .send(Message::Cancel(Cancel { request, options }))
                        .await;
                }
                Flow::Continue
            }
            Command::Publish { publish, reply } => {
                self.publishes.insert(publish.request, reply);
                self.send(Message::Publish(publish)).await
            }
            Command::Subscribe {
                subscribe,
                events,
                reply,
            } => {
                self.subscribes.insert(subscribe.request, (events, reply));
                self.send(Message::Subscribe(subscribe)).await
            }
            Command::Unsubscribe {
                request,
                subscription,
                local,
                reply,
            } => {
                let Some(list) = self.subs.get_mut(&subscription) else {
                    let _ = reply.send(Err(ClientError::Wamp(WampError::new(
                        uris::NO_SUCH_SUBSCRIPTION,
                    ))));
                    return Flow::Continue;
                };
                list.retain(|(l, _)| *l != local);
                if !list.is_empty() {
                    let _ = reply.send(Ok(()));
                    return Flow::Continue;
                }
                self.subs.remove(&subscription);
                self.unsubscribes.insert(request, (subscription, reply));
                self.send(Message::Unsubscribe(Unsubscribe {
                    request,
                    subscription,
                }))
                .await
            }
            Command::Register {
                register,
                handler,
                reply,
            } => {
                self.registers.insert(register.request, (handler, reply));
                self.send(Message::Register(register)).await
            }
            Command::Unregister {
                request,
                registration,
                reply,
            } => {
                self.unregisters.insert(request, (registration, reply));
                self.send(Message::Unregister(Unregister {
                    request,
                    registration,
                }))
                .await
            }
            Command::Leave { reply } => {
                self.leaving = Some(reply);
                let m = Goodbye {
                    details: Dict::new(),
                    reason: uris::CLOSE_REALM.into(),
                };
                self.send(Message::Goodbye(m)).await
            }
            Command::Progress {
                request,
                args,
                kwargs,
            } => {
                if !self.invocations.contains_key(&request) {
                    return Flow::Continue;
                }
                let options = Dict::new().with("progress", true);
                let payload = to_payload(args, kwargs);
                self.send(Message::Yield(Yield {
                    request,
                    options,
                    payload,
                }))
                .await
            }
            Command::Yielded { request, result } => {
                if self.invocations.remove(&request).is_none() {
                    return Flow::Continue; // interrupted meanwhile
                }
                let msg = match result {
                    Ok((args, kwargs)) => Message::Yield(Yield {
                        request,
                        options: Dict::new(),
                        payload: to_payload(args, kwargs),
                    }),
                    Err(e) => Message::Error(Error {
                        request_type: code::INVOCATION,
                        request,
                        details: Dict::new(),
                        error: e.uri,
                        payload: to_payload(e.args, e.kwargs),
                    }),
                };
                self.send(msg).await
            }
        }
    }

    async fn on_message(&mut self, msg: Message) -> Flow {
        match msg {
            Message::Abort(a) => Flow::Stop(CloseReason::Aborted(a.reason)),
            Message::Goodbye(g) => {
                // A pending `leave` is answered in `run` once the close reason is published.
                if self.leaving.is_none() {
                    let m = Goodbye {
                        details: Dict::new(),
                        reason: uris::GOODBYE_AND_OUT.into(),
                    };
                    let _ = self.send(Message::Goodbye(m)).await;
                }
                Flow::Stop(CloseReason::Goodbye(g.reason))
            }
            Message::Error(e) => {
                let (t, r) = (e.request_type, e.request);
                match t {
                    code::CALL => {
                        if let Some((reply, _)) = self.calls.remove(&r) {
                            let _ = reply.send(Err(wamp_error(e)));
                        }
                    }
                    code::PUBLISH => {
                        if let Some(reply) = self.publishes.remove(&r) {
                            let _ = reply.send(Err(wamp_error(e)));
                        }
                    }
                    code::SUBSCRIBE => {
                        if let Some((_, reply)) = self.subscribes.remove(&r) {
                            let _ = reply.send(Err(wamp_error(e)));
                        }
                    }
                    code::UNSUBSCRIBE => {
                        if let Some((_, reply)) = self.unsubscribes.remove(&r) {
                            let _ = reply.send(Err(wamp_error(e)));
                        }
                    }
                    code::REGISTER => {
                        if let Some((_, reply)) = self.registers.remove(&r) {
                            let _ = reply.send(Err(wamp_error(e)));
                        }
                    }
                    code::UNREGISTER => {
                        if let Some((_, reply)) = self.unregisters.remove(&r) {
                            let _ = reply.send(Err(wamp_error(e)));
                        }
                    }
                    _ => {
                        return self
                            .violation("ERROR for a request type a client never sends")
                            .await;
                    }
                }
                Flow::Continue
            }
            Message::Published(p) => match self.publishes.remove(&p.request) {
                Some(reply) => {
                    let _ = reply.send(Ok(p.publication));
                    Flow::Continue
                }
                None => self.violation("PUBLISHED for an unknown request").await,
            },
            Message::Subscribed(s) => match self.subscribes.remove(&s.request) {
                Some((events, reply)) => {
                    self.next_local += 1;
                    let local = self.next_local;
                    self.subs
                        .entry(s.subscription)
                        .or_default()
                        .push((local, events));
                    let _ = reply.send(Ok((s.subscription, local)));
                    Flow::Continue
                }
                None => self.violation("SUBSCRIBED for an unknown request").await,
            },
            Message::Unsubscribed(u) => match self.unsubscribes.remove(&u.request) {
                Some((_, reply)) => {
                    let _ = reply.send(Ok(()));
                    Flow::Continue
                }
                None => self.violation("UNSUBSCRIBED for an unknown request").await,
            },
            Message::Event(e) => {
                if let Some(list) = self.subs.get_mut(&e.subscription) {
                    let args = Args::from_payload(e.payload, e.details);
                    list.retain(|(_, tx)| !tx.is_closed());
                    for (_, tx) in list.iter() {
                        if tx.try_send(args.clone()).is_err() {
                            tracing::warn!(subscription = %e.subscription, "event queue full; event dropped");
                        }
                    }
                }
                Flow::Continue
            }
            Message::Result(r) => {
                let progress = r.details.get_bool("progress").unwrap_or(false);
                if progress {
                    if let Some((_, Some(cb))) = self.calls.get_mut(&r.request) {
                        cb(Args::from_payload(r.payload, r.details));
                    }
                } else if let Some((reply, _)) = self.calls.remove(&r.request) {
                    let _ = reply.send(Ok(Args::from_payload(r.payload, r.details)));
                }
                Flow::Continue
            }
            Message::Registered(r) => match self.registers.remove(&r.request) {
                Some((handler, reply)) => {
                    self.regs.insert(r.registration, handler);
                    let _ = reply.send(Ok(r.registration));
                    Flow::Continue
                }
                None => self.violation("REGISTERED for an unknown request").await,
            },
            Message::Unregistered(u) => match self.unregisters.remove(&u.request) {
                Some((reg, reply)) => {
                    self.regs.remove(&reg);
                    let _ = reply.send(Ok(()));
                    Flow::Continue
                }
                None => self.violation("UNREGISTERED for an unknown request").await,
            },
            Message::Invocation(inv) => {
                let Some(handler) = self.regs.get(&inv.registration).cloned() else {
                    let m = Error {
                        request_type: code::INVOCATION,
                        request: inv.request,
                        details: Dict::new(),
                        error: uris::NO_SUCH_REGISTRATION.into(),
                        payload: Payload::empty(),
                    };
                    return self.send(Message::Error(m)).await;
                };
                // The task holds a weak sender, so a running handler does not keep the session
                // alive once every handle is dropped.
                let cmd = self.cmd_weak.clone();
                let request = inv.request;
                let enabled = inv.details.get_bool("receive_progress").unwrap_or(false);
                let progress = Progress {
                    cmd: cmd.clone(),
                    request,
                    enabled,
                };
                let args = Args::from_payload(inv.payload, inv.details);
                let task = tokio::spawn(async move {
                    let result = handler(args, progress).await;
                    if let Some(cmd) = cmd.upgrade() {
                        let _ = cmd.send(Command::Yielded { request, result }).await;
                    }
                });
                self.invocations.insert(request, task.abort_handle());
                Flow::Continue
            }
            Message::Interrupt(i) => {
                if let Some(task) = self.invocations.remove(&i.request) {
                    task.abort();
                    let m = Error {
                        request_type: code::INVOCATION,
                        request: i.request,
                        details: Dict::new(),
                        error: uris::CANCELED.into(),
                        payload: Payload::empty(),
                    };
                    return self.send(Message::Error(m)).await;
                }
                Flow::Continue
            }
            other => {
                let why = format!("unexpected {} from the router", other.name());
                self.violation(&why).await
            }
        }
    }
}

async fn run(
    mut state: State,
    mut cmds: mpsc::Receiver<Command>,
    mut inbound: mpsc::Receiver<Inbound>,
    closed: watch::Sender<CloseReason>,
) {
    let reason = loop {
        let flow = tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(c) => state.on_command(c).await,
                None => {
                    // Every handle is gone: leave politely.
                    let m = Goodbye { details: Dict::new(), reason: uris::CLOSE_REALM.into() };
                    let _ = state.send(Message::Goodbye(m)).await;
                    Flow::Stop(CloseReason::Goodbye(uris::CLOSE_REALM.into()))
                }
            },
            msg = inbound.recv() => match msg {
                Some(Inbound::Msg(Ok(m))) => state.on_message(m).await,
                Some(Inbound::Msg(Err(e))) => state.violation(&e.to_string()).await,
                Some(Inbound::Ping(p)) => {
                    state.writer.pong(&p).await;
                    Flow::Continue
                }
                None => Flow::Stop(CloseReason::ConnectionLost),
            },
        };
        if let Flow::Stop(reason) = flow {
            break reason;
        }
    };
    tracing::debug!(?reason, "client session ended");
    for (_, task) in state.invocations.drain() {
        task.abort();
    }
    state.writer.close().await;
    let left = matches!(reason, CloseReason::Goodbye(_));
    let _ = closed.send(reason);
    if let Some(reply) = state.leaving.take() {
        let _ = reply.send(if left {
            Ok(())
        } else {
            Err(ClientError::ConnectionLost)
        });
    }
}
