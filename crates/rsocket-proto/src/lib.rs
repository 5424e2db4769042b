//! # rsocket-proto
//!
//! A sans-IO implementation of [RSocket 1.0](https://rsocket.io/about/protocol): typed frames,
//! the 24-bit length-prefix codec, and the connection state machine. No sockets, no async
//! runtime, no clock: the `rsocket` crate drives this one on tokio, and tests drive it with a
//! virtual clock.
//!
//! ```text
//!            bytes in                     commands (request, send, cancel, ...)
//!               │                                      │
//!   LengthCodec::split ──► Connection::handle_bytes    ▼
//!                              │   ┌─────────────────────────────┐
//!                              └──►│ Connection                  │──► poll_event()  (to the app)
//!          handle_timeout(now) ───►│ streams, credit, fragments, │──► poll_transmit() (frames out)
//!                                  │ keepalive, lease, positions │──► poll_timeout()  (next timer)
//!                                  └─────────────────────────────┘
//! ```
//!
//! * [`frame`]: every frame type of Protocol.md as a struct; [`Frame::decode`] never panics
//!   and never copies.
//! * [`codec`]: splitting a byte stream into frames.
//! * [`Connection`]: the state machine; its documentation states the calling contract.
//! * [`Credit`]: request-n accounting.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use rsocket_proto::{Config, Connection, Event, Payload, SetupParams, codec::LengthCodec};
//!
//! let now = Instant::now();
//! let mut client = Connection::client(now, Config::default(), SetupParams::default());
//! let mut server = Connection::server(now, Config::default());
//! client.request_stream(now, Payload::from("numbers"), 2).unwrap();
//!
//! // Client to server over a byte stream: encode with a length prefix, split, feed.
//! let mut wire = BytesMut::new();
//! while let Some(f) = client.poll_transmit() { f.encode_length_prefixed(&mut wire).unwrap(); }
//! let codec = LengthCodec::default();
//! while let Some(frame) = codec.split(&mut wire).unwrap() { server.handle_bytes(now, frame); }
//!
//! assert!(matches!(server.poll_event(), Some(Event::Setup(_))));
//! let Some(Event::Request { stream_id, .. }) = server.poll_event() else { panic!() };
//! server.send_next(stream_id, Payload::from("1"), false).unwrap();
//! server.send_next(stream_id, Payload::from("2"), false).unwrap();
//! // The requester granted 2: a third value is refused until it sends REQUEST_N.
//! assert!(server.send_next(stream_id, Payload::from("3"), false).is_err());
//! ```

#![forbid(unsafe_code)]

pub mod codec;
pub mod connection;
pub mod credit;
mod encoded;
pub mod frame;
mod payload;
pub mod stream_map;
pub mod stream_table;

pub use connection::{
    CloseReason, CommandError, Config, Connection, Event, Limits, RequestKind, Role, SetupParams,
};
pub use credit::Credit;
pub use frame::{ErrorCode, Frame, FrameType, StreamId};
pub use payload::Payload;
