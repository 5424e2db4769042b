//! Frames with a 24-bit length prefix over a byte stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use rsocket_proto::Frame;
use rsocket_proto::codec::LengthCodec;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};

use super::{FrameIo, Inbound};

/// Read chunk size: the receive buffer grows by at most this much per read, whatever length
/// a frame announces, so a lying prefix costs nothing up front.
const READ_CHUNK: usize = 64 * 1024;

/// A byte-stream transport (TCP, Unix socket, TLS, in-memory pipe) carrying length-prefixed
/// frames.
#[derive(Debug)]
pub struct LengthPrefixed<T> {
    io: T,
    codec: LengthCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    eof: bool,
}

impl<T> LengthPrefixed<T> {
    /// Wraps a byte stream, refusing inbound frames over `max_frame_len`.
    pub fn new(io: T, max_frame_len: usize) -> Self {
        LengthPrefixed {
            io,
            codec: LengthCodec::new(max_frame_len),
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            eof: false,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameIo for LengthPrefixed<T> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        loop {
            match self.codec.split(&mut self.rbuf) {
                Ok(Some(frame)) => return Poll::Ready(Ok(Some(Inbound::Encoded(frame)))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e))),
            }
            if self.eof {
                return Poll::Ready(if self.rbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection ended inside a frame",
                    ))
                });
            }
            let want = self.codec.missing(&self.rbuf).clamp(1, READ_CHUNK);
            if self.rbuf.capacity() - self.rbuf.len() < want {
                self.rbuf.reserve(want.max(4096));
            }
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.rbuf
            ))?;
            if n == 0 {
                self.eof = true;
            }
        }
    }

    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        frame
            .encode_length_prefixed(&mut self.wbuf)
            .map_err(super::encode_error)
    }

    fn backlog(&self) -> usize {
        self.wbuf.len()
    }

    fn has_partial_frame(&self) -> bool {
        !self.rbuf.is_empty()
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Two connected in-memory transports (a `tokio::io::duplex` pipe of `capacity` bytes each
/// way): the protocol's full cost without system calls. For tests and embedding.
pub fn memory_pair(
    capacity: usize,
) -> (LengthPrefixed<DuplexStream>, LengthPrefixed<DuplexStream>) {
    let (a, b) = tokio::io::duplex(capacity);
    (
        LengthPrefixed::new(a, rsocket_proto::frame::MAX_FRAME_LEN),
        LengthPrefixed::new(b, rsocket_proto::frame::MAX_FRAME_LEN),
    )
}
