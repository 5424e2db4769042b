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

mod length_prefixed;
pub mod uri;
#[cfg(feature = "ws")]
pub mod ws;

use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use rsocket_proto::Frame;

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
}

pub(crate) fn encode_error(e: rsocket_proto::frame::EncodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
