//! WebSocket transport: one binary message per frame, no length prefix (feature `ws`).

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use rsocket_proto::Frame;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{FrameIo, Inbound};

/// Largest WebSocket message accepted: one maximal RSocket frame.
pub const MAX_MESSAGE_SIZE: usize = rsocket_proto::frame::MAX_FRAME_LEN;

/// tungstenite's read chunk. Its default (128 KiB) is zero-filled before every read: ≈3 µs per
/// message, most of a WebSocket round trip's cost, and 128 KiB per connection.
pub const READ_BUFFER_SIZE: usize = 16 * 1024;

/// The tungstenite configuration used by both ends: messages up to [`MAX_MESSAGE_SIZE`],
/// reads of [`READ_BUFFER_SIZE`].
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
}

/// RSocket frames over a WebSocket connection.
#[derive(Debug)]
pub struct WebSocket<S> {
    ws: WebSocketStream<S>,
    ping: Option<tokio::time::Interval>,
    scratch: BytesMut,
    pending: VecDeque<Message>,
    pending_bytes: usize,
}

impl<S> WebSocket<S> {
    /// Wraps an established WebSocket connection.
    pub fn new(ws: WebSocketStream<S>) -> Self {
        WebSocket {
            ws,
            ping: None,
            scratch: BytesMut::with_capacity(64 * 1024),
            pending: VecDeque::new(),
            pending_bytes: 0,
        }
    }

    /// Sends a WebSocket ping every `interval` (keeps proxies from closing idle connections).
    pub fn with_ping_interval(mut self, interval: std::time::Duration) -> Self {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.ping = Some(i);
        self
    }
}

fn ws_io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameIo for WebSocket<S> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        if let Some(ping) = &mut self.ping {
            if ping.poll_tick(cx).is_ready() {
                self.pending.push_back(Message::Ping(bytes::Bytes::new()));
                // Wake the driver so the ping is flushed.
                cx.waker().wake_by_ref();
            }
        }
        loop {
            match ready!(self.ws.poll_next_unpin(cx)) {
                None => return Poll::Ready(Ok(None)),
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return Poll::Ready(Ok(None));
                }
                Some(Err(e)) => return Poll::Ready(Err(ws_io_error(e))),
                Some(Ok(Message::Binary(b))) => return Poll::Ready(Ok(Some(Inbound::Encoded(b)))),
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "RSocket over WebSocket needs binary messages, got text",
                    )));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Poll::Ready(match frame {
                        Some(f) if f.code != CloseCode::Normal && f.code != CloseCode::Away => {
                            Err(io::Error::new(
                                io::ErrorKind::ConnectionAborted,
                                format!(
                                    "WebSocket closed by peer: {} {}",
                                    u16::from(f.code),
                                    f.reason
                                ),
                            ))
                        }
                        _ => Ok(None),
                    });
                }
                Some(Ok(_)) => {} // ping, pong: tungstenite answers pings itself
            }
        }
    }

    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        frame
            .encode(&mut self.scratch)
            .map_err(super::encode_error)?;
        let msg = self.scratch.split().freeze();
        self.pending_bytes += msg.len();
        self.pending.push_back(Message::Binary(msg));
        Ok(())
    }

    fn backlog(&self) -> usize {
        self.pending_bytes
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            ready!(self.ws.poll_ready_unpin(cx)).map_err(ws_io_error)?;
            if let Some(m) = self.pending.pop_front() {
                self.pending_bytes -= m.len();
                self.ws.start_send_unpin(m).map_err(ws_io_error)?;
            }
        }
        match ready!(self.ws.poll_flush_unpin(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(ws_io_error(e))),
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        match ready!(self.ws.poll_close_unpin(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(ws_io_error(e))),
        }
    }
}

/// Connects a WebSocket client to `url` (`ws://` or, with the `tls` feature, `wss://`), with
/// extra request headers.
pub async fn connect(
    url: &str,
    headers: &[(String, String)],
) -> Result<Box<dyn FrameIo>, crate::Error> {
    connect_with(url, headers, &super::ConnectOptions::default()).await
}

pub(crate) async fn connect_with(
    url: &str,
    headers: &[(String, String)],
    #[allow(unused_variables)] opts: &super::ConnectOptions,
) -> Result<Box<dyn FrameIo>, crate::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let usage = |m: String| crate::Error::new(crate::ErrorKind::Usage, m);
    let mut req = url
        .into_client_request()
        .map_err(|e| usage(format!("invalid URL {url}: {e}")))?;
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| usage(format!("invalid header name {k:?}: {e}")))?;
        let value = http::HeaderValue::from_str(v)
            .map_err(|e| usage(format!("invalid header value {v:?}: {e}")))?;
        req.headers_mut().append(name, value);
    }
    let uri = req.uri().clone();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let secure = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let handshake_err = |e| crate::Error::transport(format!("cannot connect to {url}: {e}"));
    if secure {
        #[cfg(feature = "tls")]
        {
            let config = super::tls::client_config(&opts.tls)?;
            let tls = super::tls::connect(&addr, &host, config).await?;
            let (ws, _) = tokio_tungstenite::client_async_with_config(req, tls, Some(ws_config()))
                .await
                .map_err(handshake_err)?;
            return Ok(Box::new(with_ping(WebSocket::new(ws), opts)));
        }
        #[cfg(not(feature = "tls"))]
        return Err(usage("wss:// needs the `tls` feature".into()));
    }
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| crate::Error::transport(format!("cannot connect to {url}: {e}")))?;
    tcp.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, tcp, Some(ws_config()))
        .await
        .map_err(handshake_err)?;
    Ok(Box::new(with_ping(WebSocket::new(ws), opts)))
}

fn with_ping<S>(ws: WebSocket<S>, opts: &super::ConnectOptions) -> WebSocket<S> {
    match opts.ws_ping_interval {
        Some(i) if !i.is_zero() => ws.with_ping_interval(i),
        _ => ws,
    }
}

/// Accepts a WebSocket upgrade on `stream`, answering 404 unless the request path is `path`.
#[allow(clippy::result_large_err)] // the error type is tungstenite's handshake callback type
pub async fn accept<S>(stream: S, path: &str) -> Result<WebSocket<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    let expected = path.to_string();
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() == expected {
            Ok(resp)
        } else {
            let mut e =
                ErrorResponse::new(Some(format!("no RSocket endpoint at {}", req.uri().path())));
            *e.status_mut() = http::StatusCode::NOT_FOUND;
            Err(e)
        }
    };
    let ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ws_config())).await?;
    Ok(WebSocket::new(ws))
}
