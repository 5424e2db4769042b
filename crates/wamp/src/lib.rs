//! WAMP v2: messages, serializers, a router and a client.
//!
//! ```text
//!  Session (client)        Router::serve_websocket / serve_rawsocket       tokio: sockets, tasks
//!       │                           │
//!  client::driver           RouterCore (sans-IO: realms, broker, dealer,    deterministic,
//!       │                           │      auth, meta API, timers)          virtual clock
//!       └──────────┬────────────────┘
//!          Message  ◄──►  Serializer (JSON, MessagePack, CBOR)              sans-IO
//!                  transport::{websocket, rawsocket}
//! ```
//!
//! * [`message`]: one struct per WAMP message, validated field by field on decode (IDs in
//!   `1..=2^53`, option types, URIs); anything invalid is a [`DecodeError`], which router and
//!   client answer with `ABORT wamp.error.protocol_violation`.
//! * [`serializer`]: JSON (with the `"\u0000"`+base64 binary convention), MessagePack, CBOR.
//! * [`router`]: [`RouterCore`], the sans-IO router; [`Router`] serves it over WebSocket
//!   (`wamp.2.json`, `wamp.2.msgpack`, `wamp.2.cbor`) and RawSocket.
//! * [`client`]: [`Session`], a tokio client.
//!
//! Implemented Advanced Profile features (announced in WELCOME): progressive call results,
//! call canceling (skip/kill/killnowait), call timeout, caller and publisher identification,
//! pattern-based subscriptions and registrations (prefix, wildcard), shared registrations
//! (roundrobin, random, first, last), publisher exclusion, subscriber black/white-listing,
//! session meta API (`wamp.session.on_join`, `on_leave`, `count`, `list`, `get`), and
//! authentication with ticket and WAMP-CRA.
//!
//! # Quick start
//!
//! ```no_run
//! use wamp::{ClientConfig, Dict, Router, RouterConfig, Serializer, Session, Value};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A router on 127.0.0.1:8080/ws, realm "realm1".
//! let router = Router::new(RouterConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! tokio::spawn(async move { router.serve_websocket(listener, "/ws").await });
//!
//! // A callee and a caller.
//! let url = "ws://127.0.0.1:8080/ws";
//! let callee = Session::connect_websocket(url, Serializer::Json, ClientConfig::new("realm1")).await?;
//! let _reg = callee
//!     .register("com.example.add", Dict::new(), |a: wamp::client::Args| async move {
//!         let sum: i64 = a.args.iter().filter_map(Value::as_i64).sum();
//!         Ok((vec![Value::from(sum)], Dict::new()))
//!     })
//!     .await?;
//! let caller = Session::connect_websocket(url, Serializer::Cbor, ClientConfig::new("realm1")).await?;
//! let result = caller.call("com.example.add", vec![2.into(), 3.into()], Dict::new()).await?;
//! assert_eq!(result.args, vec![Value::from(5)]);
//! caller.leave().await?;
//! # Ok(()) }
//! ```
//!
//! # Limits
//!
//! Every queue is bounded: see [`Limits`] for the router (max message size, max sessions,
//! per-session outbound queue with a *disconnect* policy for slow peers, pending calls,
//! subscriptions and registrations per session, realms) and [`client`] for the client.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod id;
pub mod message;
pub mod router;
pub mod serializer;
mod server;
pub mod transport;
pub mod uri;
pub mod value;

pub use client::{ClientConfig, Session};
pub use id::Id;
pub use message::{DecodeError, Message, Payload};
pub use router::{AuthConfig, Credential, Limits, RouterConfig, RouterCore};
pub use serializer::Serializer;
pub use server::Router;
pub use value::{Dict, Value};
