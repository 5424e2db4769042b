//! Frames with a 24-bit length prefix over a byte stream.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use rsocket_proto::Frame;
use rsocket_proto::codec::{EncodedFrames, LengthCodec};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{FrameIo, Inbound};

/// Largest read chunk between frames and inside frames over [`TRUSTED_FRAME`], until a frame
/// of [`LARGE_FRAME`] bytes or more arrives (then [`LARGE_READ_CHUNK`]). A frame of up to
/// [`TRUSTED_FRAME`] bytes is read into room for all of its rest, whatever the chunk.
const READ_CHUNK: usize = 64 * 1024;
/// Largest read chunk once frames of [`LARGE_FRAME`] bytes or more have arrived: a frame that
/// straddles two buffers is copied into the second, and larger buffers straddle fewer frames.
/// A connection keeps it until [`SMALL_RUN`] smaller frames in a row have arrived; meanwhile
/// a small payload the application keeps can pin up to this much.
const LARGE_READ_CHUNK: usize = 1024 * 1024;
/// See [`LARGE_READ_CHUNK`].
const LARGE_FRAME: usize = 16 * 1024;
/// Frames under [`LARGE_FRAME`] in a row after which a connection's reads go back to at most
/// [`READ_CHUNK`].
const SMALL_RUN: u32 = 1024;
/// First read chunk. A connection's buffers start empty and grow with its traffic: a read
/// that fills the whole chunk doubles the next one, up to the connection's largest chunk, so
/// an idle connection costs a few KiB and a busy one reads 64 KiB (or 1 MiB) per system call.
const FIRST_CHUNK: usize = 4 * 1024;
/// Payload data at least this long is written from the application's own buffer, next to
/// its frame's encoded head (one vectored write for many frames), instead of being copied
/// into the transmit buffer; on every stream whose `is_write_vectored()` says so (TCP and Unix
/// sockets send from the buffers given; TLS and the in-memory pipe copy them as usual).
pub(crate) const ZERO_COPY_MIN: usize = 8 * 1024;
/// Frames up to this long (with their prefix) get a receive buffer for all of them as soon as
/// their length prefix arrives (so a bare prefix reserves up to this much); longer ones get one
/// that grows with what arrives.
const TRUSTED_FRAME: usize = 1024 * 1024 + 3;
/// Most buffers one vectored write hands to the kernel.
const MAX_IOV: usize = 64;

/// A byte-stream transport (TCP, Unix socket, TLS, in-memory pipe) carrying length-prefixed
/// frames.
#[derive(Debug)]
pub struct LengthPrefixed<T> {
    io: T,
    codec: LengthCodec,
    rbuf: BytesMut,
    /// What waits to be written (large payloads uncopied, see [`ZERO_COPY_MIN`]).
    out: EncodedFrames,
    /// Current read chunk (between [`FIRST_CHUNK`] and `max_chunk`).
    chunk: usize,
    /// [`READ_CHUNK`], or [`LARGE_READ_CHUNK`] once large frames arrive.
    max_chunk: usize,
    /// Frames under [`LARGE_FRAME`] received in a row while `max_chunk` is large.
    small_run: u32,
    eof: bool,
    /// TCP: the handle requesters may write through.
    direct: Option<super::DirectWriter>,
}

impl<T: AsyncWrite> LengthPrefixed<T> {
    /// Wraps a byte stream, refusing inbound frames over `max_frame_len`.
    pub fn new(io: T, max_frame_len: usize) -> Self {
        let zero_copy_min = if io.is_write_vectored() {
            ZERO_COPY_MIN
        } else {
            usize::MAX
        };
        LengthPrefixed {
            io,
            codec: LengthCodec::new(max_frame_len),
            rbuf: BytesMut::new(),
            out: EncodedFrames::new(zero_copy_min),
            chunk: FIRST_CHUNK,
            max_chunk: READ_CHUNK,
            small_run: 0,
            eof: false,
            direct: None,
        }
    }
}

impl<T> LengthPrefixed<T> {
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
                Ok(Some(frame)) => {
                    if frame.len() >= LARGE_FRAME {
                        self.max_chunk = LARGE_READ_CHUNK;
                        self.small_run = 0;
                    } else if self.max_chunk > READ_CHUNK {
                        self.small_run += 1;
                        if self.small_run >= SMALL_RUN {
                            self.max_chunk = READ_CHUNK;
                            self.chunk = self.chunk.min(READ_CHUNK);
                        }
                    }
                    return Poll::Ready(Ok(Some(Inbound::Encoded(frame))));
                }
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
            // A frame of up to TRUSTED_FRAME bytes gets room for all of its rest at once
            // (the kernel fills it in as few reads as it can, and nothing is copied while it
            // arrives); a longer one is read a chunk at a time. Between frames, on a connection
            // of small frames, a read gets at least half a chunk of room: one that fills a small
            // remainder of the buffer leaves the socket marked readable, and costs a second
            // system call for the rest of a burst. (Not inside a frame: that would copy what
            // has arrived of it. Nor where large frames arrive: the start of one is better read
            // into what is left than into a fresh chunk it would not fit either.)
            let want = if missing == 0 && self.max_chunk == READ_CHUNK {
                self.chunk / 2
            } else if missing <= TRUSTED_FRAME {
                missing.max(1)
            } else {
                READ_CHUNK
            };
            if self.rbuf.capacity() - self.rbuf.len() < want {
                // Reuse the buffer when no frame read from it is still alive. Otherwise start
                // a new one: of the current chunk size between frames (`reserve` would double
                // the old one's capacity every time, growing without need while payloads are
                // held); inside a frame over TRUSTED_FRAME, twice what has arrived, and the
                // whole rest of the frame once a quarter of it is here (a few copies per
                // frame, and a lying length prefix reserves at most TRUSTED_FRAME plus what was
                // received, or five times what was received, whichever is more; with common
                // allocators, untouched pages cost no resident memory).
                if !self.rbuf.try_reclaim(want.max(self.chunk)) {
                    let len = self.rbuf.len();
                    let extra = if missing <= TRUSTED_FRAME || len.saturating_mul(4) >= missing {
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
            } else if n == room && room >= self.chunk && self.chunk < self.max_chunk {
                self.chunk *= 2; // the peer sends faster than we read: bigger reads
            }
        }
    }

    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        self.out.push(frame).map_err(super::encode_error)
    }

    fn backlog(&self) -> usize {
        self.out.len()
    }

    fn direct_writer(&self) -> Option<super::DirectWriter> {
        self.direct.clone()
    }

    fn queue_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.push_encoded(bytes);
        Ok(())
    }

    fn encoded_frames(&self) -> Option<usize> {
        Some(self.out.zero_copy_min())
    }

    fn append_encoded(&mut self, frames: &mut EncodedFrames) -> io::Result<()> {
        self.out.append(frames);
        Ok(())
    }

    fn has_partial_frame(&self) -> bool {
        !self.rbuf.is_empty()
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = if let Some(buf) = self.out.contiguous() {
                ready!(Pin::new(&mut self.io).poll_write(cx, buf))?
            } else {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let k = self.out.io_slices(&mut iov);
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &iov[..k]))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.consume(n);
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

impl SharedTcp {
    /// Runs `write` (one system call through `&TcpStream`) once the socket is writable.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let tcp: &TcpStream = (*self.write).as_ref();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match write(tcp) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {} // readiness was stale
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
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
        self.poll_write_with(cx, |tcp| tcp.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |tcp| tcp.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let tcp: &TcpStream = (*self.write).as_ref();
        Poll::Ready(socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rsocket_proto::frame::PayloadFrame;
    use rsocket_proto::{Payload, StreamId};

    /// A stream that takes at most `max` bytes per write, and every other write finds it
    /// not ready.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
        vectored: bool,
        stall: bool,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl Trickle {
        fn take(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
            self.stall = !self.stall;
            if self.stall {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.max - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.max {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().take(cx, &[IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            if this.vectored {
                this.take(cx, bufs)
            } else {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..]);
                this.take(cx, &[IoSlice::new(first)])
            }
        }
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn frame(id: u32, len: usize, metadata: bool) -> Frame {
        let data: Vec<u8> = (0..len).map(|i| (i as u32 ^ id) as u8).collect();
        let mut payload = Payload::new(data);
        if metadata {
            payload = payload.with_metadata(bytes::Bytes::from(vec![id as u8; 5]));
        }
        Frame::Payload(PayloadFrame {
            stream_id: StreamId::new(id),
            follows: false,
            complete: false,
            next: true,
            payload,
        })
    }

    fn flush_all(t: &mut LengthPrefixed<Trickle>) {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        // Every other write takes at least one byte (up to `max`).
        let limit = 2 * (t.backlog() / t.io.max + 2) * 2;
        for _ in 0..limit {
            match t.poll_flush(&mut cx) {
                Poll::Ready(r) => return r.expect("flush"),
                Poll::Pending => {}
            }
        }
        panic!("flush did not finish");
    }

    /// A large frame raises the read chunk limit; a long run of small frames lowers it again.
    #[test]
    fn read_chunk_limit_follows_frame_sizes() {
        let mut wire = BytesMut::new();
        frame(1, 20_000, false)
            .encode_length_prefixed(&mut wire)
            .unwrap();
        for i in 0..SMALL_RUN as usize + 1 {
            frame(3, i % 50, false)
                .encode_length_prefixed(&mut wire)
                .unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut a, b) = tokio::io::duplex(64 * 1024);
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                a.write_all(&wire).await.unwrap();
                a
            });
            let mut t = LengthPrefixed::new(b, rsocket_proto::frame::MAX_FRAME_LEN);
            let first = std::future::poll_fn(|cx| t.poll_recv(cx)).await;
            assert!(matches!(first, Ok(Some(Inbound::Encoded(f))) if f.len() > 20_000));
            assert_eq!(t.max_chunk, LARGE_READ_CHUNK);
            for i in 0..SMALL_RUN {
                let f = std::future::poll_fn(|cx| t.poll_recv(cx)).await;
                assert!(matches!(f, Ok(Some(Inbound::Encoded(_)))), "frame {i}");
                let want = if i + 1 < SMALL_RUN {
                    LARGE_READ_CHUNK
                } else {
                    READ_CHUNK
                };
                assert_eq!(t.max_chunk, want, "after {} small frames", i + 1);
            }
            assert!(t.chunk <= READ_CHUNK);
            drop(writer.await.unwrap());
        });
    }

    /// Reads from a script of bursts, one burst (or what fits of it) per read, recording the
    /// room each read is given.
    struct Bursts {
        script: std::collections::VecDeque<Vec<u8>>,
        rooms: Vec<usize>,
    }

    impl AsyncRead for Bursts {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.rooms.push(buf.remaining());
            if let Some(mut burst) = self.script.pop_front() {
                let n = burst.len().min(buf.remaining());
                buf.put_slice(&burst[..n]);
                if n < burst.len() {
                    self.script.push_front(burst.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Bursts {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Bursts of 64 small frames (what a peer with 64 requests in flight sends at once), with
    /// the frames of each burst still held when the next arrives: every read is offered at
    /// least half a chunk, so a burst arrives in one read. (Reading into the few hundred bytes
    /// left at the end of a buffer split a burst in two reads, and the socket stayed marked
    /// readable: ≈0.4 extra `recvfrom` per burst.)
    #[test]
    fn every_read_gets_at_least_half_a_chunk_of_room() {
        let mut burst = BytesMut::new();
        for i in 0..64 {
            frame(2 * i + 1, 16, false)
                .encode_length_prefixed(&mut burst)
                .unwrap();
        }
        assert!(burst.len() < FIRST_CHUNK / 2);
        let script = (0..20).map(|_| burst.to_vec()).collect();
        let io = Bursts {
            script,
            rooms: Vec::new(),
        };
        let mut t = LengthPrefixed::new(io, rsocket_proto::frame::MAX_FRAME_LEN);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut held = Vec::new();
        let mut frames = 0;
        loop {
            match t.poll_recv(&mut cx) {
                Poll::Ready(Ok(Some(Inbound::Encoded(f)))) => {
                    frames += 1;
                    held.push(f);
                    if held.len() > 64 {
                        held.remove(0);
                    }
                }
                Poll::Ready(Ok(None)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(frames, 20 * 64);
        let rooms = &t.io.rooms;
        assert!(
            rooms.iter().all(|&r| r >= FIRST_CHUNK / 2),
            "reads offered {rooms:?}"
        );
        // One read per burst, and the one that found the end of the stream.
        assert_eq!(rooms.len(), 21);
    }

    /// A frame that arrives in pieces is read into room for all of its rest, to its last
    /// byte: nothing of it moves while it arrives (room shrinks by what each read brought).
    #[test]
    fn a_frame_arriving_in_pieces_is_never_moved() {
        let mut wire = BytesMut::new();
        frame(1, 100_000, false)
            .encode_length_prefixed(&mut wire)
            .unwrap();
        let mut pieces = vec![wire[..1000].to_vec()];
        let mut at = 1000;
        while wire.len() - at > 500 {
            let end = (at + 9_000).min(wire.len() - 500);
            pieces.push(wire[at..end].to_vec());
            at = end;
        }
        pieces.push(wire[at..].to_vec());
        let sizes: Vec<usize> = pieces.iter().map(Vec::len).collect();
        let io = Bursts {
            script: pieces.into(),
            rooms: Vec::new(),
        };
        let mut t = LengthPrefixed::new(io, rsocket_proto::frame::MAX_FRAME_LEN);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let f = match t.poll_recv(&mut cx) {
            Poll::Ready(Ok(Some(Inbound::Encoded(f)))) => f,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(f.len(), wire.len() - 3);
        let rooms = &t.io.rooms;
        assert_eq!(rooms.len(), sizes.len());
        // From the second read on, the room is exactly the rest of the frame.
        for i in 1..rooms.len() {
            let rest: usize = sizes[i..].iter().sum();
            assert_eq!(rooms[i], rest, "read {i} of {sizes:?}: rooms {rooms:?}");
        }
    }

    proptest! {
        /// Large payloads written from their own buffers (vectored) come out byte for byte
        /// as if every frame had been copied, in order, whatever the writes accept.
        #[test]
        fn vectored_writes_keep_frames_whole_and_in_order(
            sizes in proptest::collection::vec(
                prop_oneof![0usize..64, 8000usize..8400, 20_000usize..70_000], 1..24),
            max in prop_oneof![1usize..16, 100usize..5000, 60_000usize..200_000],
            vectored: bool,
            flush_every in 1usize..8,
        ) {
            let io = Trickle { out: Vec::new(), max, vectored, stall: false };
            let mut t = LengthPrefixed::new(io, rsocket_proto::frame::MAX_FRAME_LEN);
            let mut expected = BytesMut::new();
            for (i, &len) in sizes.iter().enumerate() {
                let f = frame(i as u32 + 1, len, i % 3 == 0);
                f.encode_length_prefixed(&mut expected).unwrap();
                t.queue(&f).unwrap();
                prop_assert_eq!(t.backlog() + t.io.out.len(), expected.len());
                if i % flush_every == 0 {
                    flush_all(&mut t);
                    prop_assert_eq!(t.backlog(), 0);
                }
            }
            flush_all(&mut t);
            prop_assert_eq!(t.backlog(), 0);
            prop_assert!(t.io.out == expected[..], "bytes differ");
        }
    }
}
