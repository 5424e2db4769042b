//! Mounting RSocket on an axum [`Router`](::axum::Router) (feature `axum`): the RSocket
//! WebSocket endpoint shares the port with the application's HTTP routes.
//!
//! ```no_run
//! # async fn run(server: rsocket::Server) -> std::io::Result<()> {
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .route("/rsocket", rsocket::transport::axum::route(server));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll, ready};

use ::axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use ::axum::routing::{MethodRouter, get};
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use rsocket_proto::Frame;

use super::{FrameIo, Inbound};
use crate::Server;

/// A `GET` route that upgrades to WebSocket and serves RSocket with `server` (its acceptor,
/// limits, connection cap and graceful shutdown apply).
pub fn route<S: Clone + Send + Sync + 'static>(server: Server) -> MethodRouter<S> {
    get(move |ws: WebSocketUpgrade| {
        let server = server.clone();
        async move {
            ws.read_buffer_size(super::ws::READ_BUFFER_SIZE)
                .max_message_size(super::ws::MAX_MESSAGE_SIZE)
                .max_frame_size(super::ws::MAX_MESSAGE_SIZE)
                .on_upgrade(move |socket| server.serve_connection(AxumWebSocket::new(socket)))
        }
    })
}

/// RSocket frames over an axum WebSocket.
#[derive(Debug)]
pub struct AxumWebSocket {
    ws: WebSocket,
    scratch: BytesMut,
    pending: VecDeque<Message>,
    pending_bytes: usize,
}

impl AxumWebSocket {
    /// Wraps an upgraded axum WebSocket.
    pub fn new(ws: WebSocket) -> Self {
        AxumWebSocket {
            ws,
            scratch: BytesMut::with_capacity(64 * 1024),
            pending: VecDeque::new(),
            pending_bytes: 0,
        }
    }
}

fn to_io(e: ::axum::Error) -> io::Error {
    io::Error::other(e)
}

fn message_len(m: &Message) -> usize {
    match m {
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

impl FrameIo for AxumWebSocket {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        loop {
            match ready!(self.ws.poll_next_unpin(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(None)),
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
                Some(Ok(Message::Binary(b))) => return Poll::Ready(Ok(Some(Inbound::Encoded(b)))),
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "RSocket over WebSocket needs binary messages, got text",
                    )));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        frame
            .encode(&mut self.scratch)
            .map_err(super::encode_error)?;
        let msg = Message::Binary(self.scratch.split().freeze());
        self.pending_bytes += message_len(&msg);
        self.pending.push_back(msg);
        Ok(())
    }

    fn backlog(&self) -> usize {
        self.pending_bytes
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            ready!(self.ws.poll_ready_unpin(cx)).map_err(to_io)?;
            if let Some(m) = self.pending.pop_front() {
                self.pending_bytes -= message_len(&m);
                self.ws.start_send_unpin(m).map_err(to_io)?;
            }
        }
        self.ws.poll_flush_unpin(cx).map_err(to_io)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        Poll::Ready(ready!(self.ws.poll_close_unpin(cx)).or(Ok(())))
    }
}
