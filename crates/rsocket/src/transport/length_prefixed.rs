//! Frames with a 24-bit length prefix over a byte stream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use rsocket_proto::Frame;
use rsocket_proto::codec::LengthCodec;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{FrameIo, Inbound};

/// Largest read chunk: a read asks for at most this much, whatever length a frame announces
/// (the buffer for a large frame grows with what arrives; see `poll_recv`).
const READ_CHUNK: usize = 64 * 1024;
/// First read chunk. A connection's buffers start empty and grow with its traffic: a read
/// that fills the whole chunk doubles the next one, up to [`READ_CHUNK`], so an idle
/// connection costs a few KiB and a busy one reads 64 KiB per system call.
const FIRST_CHUNK: usize = 4 * 1024;

/// A byte-stream transport (TCP, Unix socket, TLS, in-memory pipe) carrying length-prefixed
/// frames.
#[derive(Debug)]
pub struct LengthPrefixed<T> {
    io: T,
    codec: LengthCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// Current read chunk (between [`FIRST_CHUNK`] and [`READ_CHUNK`]).
    chunk: usize,
    eof: bool,
    /// TCP: the handle requesters may write through.
    direct: Option<super::DirectWriter>,
}

impl<T> LengthPrefixed<T> {
    /// Wraps a byte stream, refusing inbound frames over `max_frame_len`.
    pub fn new(io: T, max_frame_len: usize) -> Self {
        LengthPrefixed {
            io,
            codec: LengthCodec::new(max_frame_len),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            chunk: FIRST_CHUNK,
            eof: false,
            direct: None,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl LengthPrefixed<SharedTcp> {
    /// A TCP connection that requesters may also write directly
    /// ([`FrameIo::direct_writer`]).
    pub(crate) fn tcp(stream: TcpStream, max_frame_len: usize) -> Self {
        let (read, write) = stream.into_split();
        let write = Arc::new(write);
        let direct = super::DirectWriter(Arc::downgrade(&write));
        let mut t = LengthPrefixed::new(SharedTcp { read, write }, max_frame_len);
        t.direct = Some(direct);
        t
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
            let missing = self.codec.missing(&self.rbuf);
            let want = missing.clamp(1, READ_CHUNK);
            if self.rbuf.capacity() - self.rbuf.len() < want {
                // Reuse the buffer when no frame read from it is still alive. Otherwise start
                // a new one: of the current chunk size between frames (`reserve` would double
                // the old one's capacity every time, growing without need while payloads are
                // held); inside a large frame, twice what has arrived, and the whole rest of
                // the frame once a quarter of it is here (a few copies per frame, and a
                // lying length prefix reserves no more than five times what was received).
                if !self.rbuf.try_reclaim(want.max(self.chunk)) {
                    let len = self.rbuf.len();
                    let extra = if len.saturating_mul(4) >= missing {
                        missing
                    } else {
                        missing.min(len.max(self.chunk))
                    };
                    let mut fresh = BytesMut::with_capacity(len + extra.max(self.chunk));
                    fresh.extend_from_slice(&self.rbuf);
                    self.rbuf = fresh;
                }
            }
            let room = self.rbuf.capacity() - self.rbuf.len();
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.rbuf
            ))?;
            if n == 0 {
                self.eof = true;
            } else if n == room && room >= self.chunk && self.chunk < READ_CHUNK {
                self.chunk *= 2; // the peer sends faster than we read: bigger reads
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

    fn direct_writer(&self) -> Option<super::DirectWriter> {
        self.direct.clone()
    }

    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wbuf.extend_from_slice(bytes);
        Ok(())
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

/// A TCP stream shared by the connection's task (which reads and writes it through this) and
/// the [`DirectWriter`](super::DirectWriter) requesters write through. Reads use tokio's own
/// path (which spares the system call that would only find the socket empty); writes go
/// through `&TcpStream`.
#[derive(Debug)]
pub(crate) struct SharedTcp {
    read: OwnedReadHalf,
    write: Arc<OwnedWriteHalf>,
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let tcp: &TcpStream = (*self.write).as_ref();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {} // readiness was stale
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let tcp: &TcpStream = (*self.write).as_ref();
        Poll::Ready(socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write))
    }
}
