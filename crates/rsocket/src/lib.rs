//! # rsocket
//!
//! [RSocket 1.0](https://rsocket.io) on tokio: clients and servers over TCP, WebSocket, Unix
//! sockets and in-memory pipes, with every interaction model in both directions.
//!
//! ```text
//!   your code ──► RSocket (requester handle, clone freely) ──┐
//!                                                            ▼
//!   Responder ◄── driver task (one per connection) ◄──► rsocket_proto::Connection (sans-IO)
//!                    │  coalesced writes, credit-gated handler streams
//!                    ▼
//!               FrameIo transport: TCP · WebSocket · Unix · memory
//! ```
//!
//! ## Quick start
//!
//! ```
//! use futures::StreamExt;
//! use rsocket::{Client, Payload, RequestHandler, Server, transport::memory_pair};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rsocket::Error> {
//! let server = Server::builder()
//!     .responder(
//!         RequestHandler::new()
//!             .request_response(|p: Payload| async move { Ok(p) })
//!             .request_stream(|_p| {
//!                 futures::stream::iter(0..3).map(|i| Ok(Payload::from(i.to_string())))
//!             }),
//!     )
//!     .build();
//! let (client_io, server_io) = memory_pair(64 * 1024);
//! tokio::spawn(server.serve_connection(server_io));
//!
//! let rsocket = Client::builder().connect_with(client_io);
//! let echo = rsocket.request_response(Payload::from("hello")).await?;
//! assert_eq!(echo.data_utf8(), Some("hello"));
//! let items: Vec<_> = rsocket.request_stream(Payload::from("count")).collect().await;
//! assert_eq!(items.len(), 3);
//! # Ok(()) }
//! ```
//!
//! Handlers run on the connection's task. Request-response and fire-and-forget handlers that
//! finish at once can be registered without a future
//! ([`RequestHandler::request_response_sync`], [`RequestHandler::fire_and_forget_sync`]),
//! which saves an allocation and a poll per request.
//!
//! ## Cancel safety
//!
//! Dropping a request-response future or a [`PayloadStream`] before it ends sends CANCEL; the
//! responder's future or stream is dropped when the CANCEL arrives. Dropping an
//! [`RSocket`] handle does not close the connection; [`RSocket::close`] does.
//!
//! ## Flow control
//!
//! Streams request `prefetch` values (default 64) and top up at half ([`Prefetch`]). Handler
//! streams are polled only while the requester's credit lasts, and not at all while the
//! transport's send buffer is over 512 KiB, so a slow peer slows the producer instead of
//! growing memory. Reading goes on past that mark (two peers moving bulk data both ways must
//! not wait for each other) and stops only at 16 MiB buffered, where handlers also wait: a peer
//! that pipelines requests for large answers without reading gets no more answers made than
//! 16 MiB and the one that crossed it. A peer that does not read for 30 s while data waits is
//! disconnected. A consumer may waive credit
//! ([`Prefetch::UNBOUNDED`]: request-n 2^31-1, no REQUEST_N afterwards, the fastest way to take
//! a long stream); while such consumers leave more than 16 MiB unread, the connection stops
//! reading from the peer until they catch up. Other streams on the connection wait too, and a
//! stall longer than the keepalive lifetime (or the peer's write timeout, 30 s for this
//! library) ends the connection, as for any peer that stops reading: give a slow consumer
//! credit instead.
//!
//! A lone request-response on TCP (no other request waiting for an answer) is written by the
//! requesting task itself when the connection's task has nothing queued and everything
//! waiting to be sent is in the encoded transmit buffer (payload data of 8 KiB or more is kept
//! out of it and goes through the connection's task, which sends it without copying), which
//! saves that task a wake-up per round trip; everything else is batched by the connection's
//! task, one write per wake-up.
//!
//! ## Buffers of a byte-stream connection (TCP, TLS, Unix, memory)
//!
//! Small frames are encoded into one transmit buffer. Payload data of 8 KiB or more is not
//! copied into it: it is handed to the stream as the application's own [`bytes::Bytes`], next
//! to its encoded frame head, in one vectored write for many frames (on every stream that
//! supports vectored writes; TCP and Unix sockets send it from there, TLS and the in-memory
//! pipe copy it as they would any write). Receive buffers start empty and grow with the
//! traffic: reads of 4 KiB doubling up to 64 KiB, or up to 1 MiB once a frame of 16 KiB or more
//! has arrived on the connection (back to 64 KiB after 1,024 smaller frames in a row). A frame
//! of up to 1 MiB gets a buffer for all of it as soon as its length prefix is in, so a peer
//! that sends a 3-byte prefix announcing 1 MiB makes us reserve 1 MiB for that connection; a
//! longer frame gets a buffer that grows with what arrives (a lying prefix makes us reserve at
//! most 1 MiB plus what was received, or five times what was received, whichever is more; with
//! common allocators, pages not yet written cost no resident memory). Received frames are
//! slices of these buffers: a payload the application keeps keeps its whole buffer alive (up to
//! 1 MiB on a connection that carries large frames), so copy small payloads you keep for long.
//!
//! A payload that arrives in fragments is copied together; from 128 KiB on, into a buffer that
//! comes back to its connection when the application drops the payload, for the next large
//! payload to reuse (each connection keeps at most 4 MiB of such buffers, frees them once two
//! keepalive intervals pass without a large payload, and none once it is closed). The system allocator maps and unmaps large buffers every time: with fresh pages for
//! each payload, 1 MiB payloads at a 64 KiB MTU were received 40 % slower. Unfragmented large
//! frames still get fresh buffers; an application that moves many payloads of 128 KiB or more
//! gains from a caching allocator (jemalloc, mimalloc) or, with glibc, from raising
//! `glibc.malloc.mmap_threshold` and `glibc.malloc.trim_threshold` (`GLIBC_TUNABLES`): 35 %
//! faster for a client receiving 1 MiB answers, 64 in flight, in our benchmark.
//!
//! ## Timers
//!
//! A connection's deadlines (the next KEEPALIVE, the peer's max lifetime, the setup, frame-read
//! and write timeouts) are kept by one thread per process, `rsocket-alarm`, started with the
//! first connection, which sleeps until the earliest deadline and wakes the connections that
//! are due. They are not kept in tokio's timer because a connection always has one: with any
//! tokio timer armed, every park of the runtime is a timed `epoll_wait`, and the kernel arms
//! and cancels a timer for each, which made a request-response round trip with one request in
//! flight 5–10 % slower on a VM in our benchmark. The thread wakes up only when a deadline is
//! due (for each connection about once per keepalive interval). tokio's paused test clock
//! (`tokio::time::pause`) does not drive these deadlines. If the thread cannot be started,
//! connections fall back to tokio's timer.
//!
//! ## Frame log
//!
//! Every frame received and sent is logged at TRACE under the target `rsocket::frames` (what
//! `rsocket serve --debug` shows). Outgoing frames can only be logged one by one, so whether a
//! connection encodes its frames straight into the transmit buffer (the fast way) or queues
//! them for logging is decided when the connection starts, from whether that target is enabled
//! then: enabling it later logs the received frames of connections already open, not the
//! frames they send.

#![forbid(unsafe_code)]

mod alarm;
mod client;
mod driver;
mod error;
pub mod intercept;
pub mod lease;
mod per_ip;
mod responder;
pub mod resume;
mod rsocket;
mod server;
mod shared;
pub mod transport;

pub use client::{Client, ClientBuilder};
pub use error::{Error, ErrorKind};
pub use responder::{Handled, NoResponder, RequestHandler, Responder, ResponseStream};
pub use resume::{Backoff, ResumeOptions};
pub use rsocket::{PayloadStream, RSocket};
pub use rsocket_proto::connection::ResumeConfig;
pub use rsocket_proto::{self as proto, ErrorCode, Payload};
pub use server::{Acceptor, Server, ServerBuilder, SetupInfo};
pub use shared::Prefetch;
