//! Transports: how frames get to the peer.
//!
//! A transport is anything that implements [`FrameIo`]: receive frames, queue frames, flush.
//! The crate ships:
//!
//! * [`LengthPrefixed`] over any `AsyncRead + AsyncWrite` byte stream: TCP, Unix sockets, TLS
//!   streams and in-memory pipes ([`memory_pair`]). Frames carry the 24-bit length prefix.
//! * [`WebSocket`](ws::WebSocket) (feature `ws`): one binary message per frame, no prefix.
//!
//! Writes are coalesced: the driver queues every frame that is ready and flushes once per
//! wake-up, so a burst of frames costs one system call, not one per frame.

#[cfg(feature = "axum")]
pub mod axum;
mod length_prefixed;
#[cfg(feature = "tls")]
pub mod tls;
pub mod uri;
#[cfg(feature = "ws")]
pub mod ws;

use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use rsocket_proto::Frame;
use rsocket_proto::codec::EncodedFrames;

pub(crate) use length_prefixed::ZERO_COPY_MIN;
pub use length_prefixed::{LengthPrefixed, memory_pair};
pub use uri::TransportUri;

/// A frame as the transport delivers it.
#[derive(Debug)]
pub enum Inbound {
    /// One encoded frame without length prefix (decoded by the connection).
    Encoded(Bytes),
}

/// A duplex, frame-oriented connection to the peer.
pub trait FrameIo: Send + Unpin + 'static {
    /// The next inbound frame; `Ready(None)` at a clean end of stream.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>>;
    /// Queues a frame to be written by the next flush (no IO here).
    fn queue(&mut self, frame: &Frame) -> io::Result<()>;
    /// Bytes queued and not yet written.
    fn backlog(&self) -> usize;
    /// Writes out everything queued.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Flushes and closes the sending side.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// True while part of an inbound frame has been received but not all of it (the driver
    /// bounds how long that may last).
    fn has_partial_frame(&self) -> bool {
        false
    }
    /// A handle through which a requester may write encoded frames itself while the
    /// connection's task has nothing of its own to write (TCP from [`connect`] and
    /// [`Server::serve_tcp`](crate::Server::serve_tcp)): a lone request-response then costs
    /// no wake-up of that task. Transports that give one must implement
    /// [`FrameIo::queue_encoded`]. Default: none.
    fn direct_writer(&self) -> Option<DirectWriter> {
        None
    }
    /// Queues frames already encoded with their length prefixes (what a direct write could
    /// not write), ahead of anything queued later.
    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        let _ = bytes;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this transport takes frames only",
        ))
    }
    /// `Some(n)` when the transport writes frames encoded with their length prefixes
    /// ([`FrameIo::append_encoded`]); the connection then encodes its frames as it sends
    /// them, keeping payload data of `n` bytes or more uncopied (`usize::MAX`: copy all).
    /// Default: `None`, frames go through [`FrameIo::queue`].
    fn encoded_frames(&self) -> Option<usize> {
        None
    }
    /// Moves frames encoded with their length prefixes to the end of what is queued,
    /// leaving `frames` empty. Transports whose [`FrameIo::encoded_frames`] is `Some` must
    /// implement it.
    fn append_encoded(&mut self, frames: &mut EncodedFrames) -> io::Result<()> {
        let _ = frames;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this transport takes frames only",
        ))
    }
}

/// Writes to a TCP connection from outside its task (see [`FrameIo::direct_writer`]). Holds
/// the socket weakly: it closes with the connection's task.
#[derive(Clone, Debug)]
pub struct DirectWriter(std::sync::Weak<tokio::net::tcp::OwnedWriteHalf>);

impl DirectWriter {
    /// The socket, while the connection's task still has it.
    pub(crate) fn upgrade(&self) -> Option<std::sync::Arc<tokio::net::tcp::OwnedWriteHalf>> {
        self.0.upgrade()
    }
}

impl FrameIo for Box<dyn FrameIo> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        (**self).poll_recv(cx)
    }
    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        (**self).queue(frame)
    }
    fn backlog(&self) -> usize {
        (**self).backlog()
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_flush(cx)
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_close(cx)
    }
    fn has_partial_frame(&self) -> bool {
        (**self).has_partial_frame()
    }
    fn direct_writer(&self) -> Option<DirectWriter> {
        (**self).direct_writer()
    }
    fn encoded_frames(&self) -> Option<usize> {
        (**self).encoded_frames()
    }
    fn append_encoded(&mut self, frames: &mut EncodedFrames) -> io::Result<()> {
        (**self).append_encoded(frames)
    }
    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        (**self).queue_encoded(bytes)
    }
}

/// Options for [`connect`].
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Largest inbound frame accepted. Default 16,777,215 bytes.
    pub max_frame_size: usize,
    /// Extra headers of the WebSocket upgrade request (a `Sec-WebSocket-Protocol` header asks
    /// for a subprotocol).
    pub ws_headers: Vec<(String, String)>,
    /// Send a WebSocket ping this often (default: never).
    pub ws_ping_interval: Option<std::time::Duration>,
    /// TLS verification (feature `tls`).
    #[cfg(feature = "tls")]
    pub tls: tls::TlsOptions,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_frame_size: rsocket_proto::frame::MAX_FRAME_LEN,
            ws_headers: Vec::new(),
            ws_ping_interval: None,
            #[cfg(feature = "tls")]
            tls: tls::TlsOptions::default(),
        }
    }
}

/// Opens the transport a URI names: TCP (with `TCP_NODELAY`), TLS over TCP, WebSocket
/// (plain or TLS), or a Unix socket.
pub async fn connect(
    uri: &TransportUri,
    opts: &ConnectOptions,
) -> Result<Box<dyn FrameIo>, crate::Error> {
    let max = opts.max_frame_size;
    let fail = |e: io::Error| crate::Error::transport(format!("cannot connect to {uri}: {e}"));
    match uri {
        TransportUri::Tcp(addr) => {
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(fail)?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(LengthPrefixed::tcp(tcp, max)))
        }
        #[cfg(feature = "tls")]
        TransportUri::TcpTls(addr) => {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let host = host.trim_matches(['[', ']']);
            let config = tls::client_config(&opts.tls)?;
            let stream = tls::connect(addr, host, config).await?;
            Ok(Box::new(LengthPrefixed::new(stream, max)))
        }
        #[cfg(not(feature = "tls"))]
        TransportUri::TcpTls(_) => Err(crate::Error::new(
            crate::ErrorKind::Usage,
            "tcp+tls:// needs the `tls` feature",
        )),
        #[cfg(unix)]
        TransportUri::Unix(path) => {
            let s = tokio::net::UnixStream::connect(path).await.map_err(fail)?;
            Ok(Box::new(LengthPrefixed::new(s, max)))
        }
        #[cfg(not(unix))]
        TransportUri::Unix(_) => Err(crate::Error::new(
            crate::ErrorKind::Usage,
            "Unix sockets are not available on this platform",
        )),
        #[cfg(feature = "ws")]
        TransportUri::WebSocket(url) => ws::connect_with(url, &opts.ws_headers, opts).await,
        #[cfg(not(feature = "ws"))]
        TransportUri::WebSocket(_) => Err(crate::Error::new(
            crate::ErrorKind::Usage,
            "WebSocket support needs the `ws` feature",
        )),
    }
}

pub(crate) fn encode_error(e: rsocket_proto::frame::EncodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
