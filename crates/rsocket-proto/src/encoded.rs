//! Frames encoded with their length prefixes, waiting for a byte stream.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{EncodeError, Frame};

/// Frames encoded for a byte stream (each with its 24-bit length prefix), in order, as they
/// wait to be written.
///
/// Small frames are copied into one buffer. A frame whose payload data is at least
/// `zero_copy_min` bytes long is kept as its encoded head plus the application's own
/// [`Bytes`], so a vectored write ([`EncodedFrames::io_slices`]) sends the data without it
/// ever being copied. [`crate::Connection::encode_transmit`] makes a connection encode its
/// frames straight into one of these.
///
/// ```
/// use rsocket_proto::codec::EncodedFrames;
/// use rsocket_proto::frame::{Frame, RequestFnf};
/// use rsocket_proto::{Payload, StreamId};
///
/// let mut out = EncodedFrames::new(8 * 1024);
/// let frame = Frame::RequestFnf(RequestFnf {
///     stream_id: StreamId::new(1),
///     follows: false,
///     payload: Payload::from("hi"),
/// });
/// out.push(&frame).unwrap();
/// assert_eq!(out.len(), 3 + frame.encoded_len());
/// assert!(out.contiguous().is_some()); // small: one buffer
/// out.consume(out.len());
/// assert!(out.is_empty());
/// ```
#[derive(Debug)]
pub struct EncodedFrames {
    /// What goes first, oldest first: encoded heads (with the small frames before them) and
    /// the large payloads that follow them.
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks`.
    chunk_bytes: usize,
    /// What goes after `chunks`: small frames encoded whole.
    buf: BytesMut,
    zero_copy_min: usize,
}

impl EncodedFrames {
    /// An empty queue that keeps payload data of `zero_copy_min` bytes or more uncopied
    /// (`usize::MAX`: copy everything; 0 counts as 1, since empty data has nothing to keep).
    pub fn new(zero_copy_min: usize) -> Self {
        EncodedFrames {
            chunks: VecDeque::new(),
            chunk_bytes: 0,
            buf: BytesMut::new(),
            zero_copy_min: zero_copy_min.max(1),
        }
    }

    /// The threshold given to [`EncodedFrames::new`] (at least 1).
    pub fn zero_copy_min(&self) -> usize {
        self.zero_copy_min
    }

    /// The buffer of small frames, which goes last: a small frame written at its end is
    /// queued after everything else.
    pub(crate) fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Encodes `frame` at the end. On error nothing is added.
    pub fn push(&mut self, frame: &Frame) -> Result<(), EncodeError> {
        self.push_sized(frame, frame.encoded_len())
    }

    /// [`EncodedFrames::push`] of a frame whose [`Frame::encoded_len`] is `len`.
    pub(crate) fn push_sized(&mut self, frame: &Frame, len: usize) -> Result<(), EncodeError> {
        debug_assert_eq!(len, frame.encoded_len());
        if frame
            .payload()
            .is_some_and(|p| p.data.len() >= self.zero_copy_min)
        {
            let data = frame.encode_length_prefixed_head(&mut self.buf)?;
            debug_assert!(!data.is_empty(), "zero_copy_min is at least 1");
            let head = self.buf.split().freeze();
            self.chunk_bytes += head.len() + data.len();
            self.chunks.push_back(head);
            self.chunks.push_back(data);
            return Ok(());
        }
        frame.encode_length_prefixed_sized(len, &mut self.buf)
    }

    /// Adds bytes that are already encoded frames (or the rest of one) at the end.
    pub fn push_encoded(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Moves everything in `other` to the end of this queue, leaving `other` empty. Cheap
    /// when this queue is empty (the buffers are swapped) and when `other` holds only small
    /// frames (one copy of them).
    pub fn append(&mut self, other: &mut EncodedFrames) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            std::mem::swap(&mut self.chunks, &mut other.chunks);
            std::mem::swap(&mut self.buf, &mut other.buf);
            self.chunk_bytes = std::mem::take(&mut other.chunk_bytes);
            other.buf.clear();
            return;
        }
        if !other.chunks.is_empty() {
            if !self.buf.is_empty() {
                let tail = self.buf.split().freeze();
                self.chunk_bytes += tail.len();
                self.chunks.push_back(tail);
            }
            self.chunk_bytes += std::mem::take(&mut other.chunk_bytes);
            self.chunks.append(&mut other.chunks);
        }
        self.buf.extend_from_slice(&other.buf);
        other.buf.clear();
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.chunk_bytes + self.buf.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.buf.is_empty()
    }

    /// Drops everything waiting.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.chunk_bytes = 0;
        self.buf.clear();
    }

    /// Everything waiting as one slice, when no large payload is kept apart (`None`
    /// otherwise: use [`EncodedFrames::io_slices`]).
    pub fn contiguous(&self) -> Option<&[u8]> {
        self.chunks.is_empty().then_some(&self.buf[..])
    }

    /// Fills `dst` with the first buffers waiting, in order, and returns how many it filled
    /// (fewer than `dst.len()` means all of them).
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut k = 0;
        for c in &self.chunks {
            if k == dst.len() {
                return k;
            }
            dst[k] = IoSlice::new(c);
            k += 1;
        }
        if k < dst.len() && !self.buf.is_empty() {
            dst[k] = IoSlice::new(&self.buf);
            k += 1;
        }
        k
    }

    /// Drops the first `n` bytes (written).
    pub fn consume(&mut self, mut n: usize) {
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if n >= c.len() => {
                    n -= c.len();
                    self.chunk_bytes -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    self.chunk_bytes -= n;
                    n = 0;
                }
                None => {
                    self.buf.advance(n);
                    n = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;
    use crate::frame::{PayloadFrame, StreamId};
    use proptest::prelude::*;

    fn frame(id: u32, len: usize) -> Frame {
        Frame::Payload(PayloadFrame {
            stream_id: StreamId::new(id),
            follows: false,
            complete: false,
            next: true,
            payload: Payload::new((0..len).map(|i| (i as u32 ^ id) as u8).collect::<Vec<u8>>()),
        })
    }

    /// Writes everything out `max` bytes at a time through `io_slices` and `consume`.
    fn drain(q: &mut EncodedFrames, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..1_000_000 {
            if q.is_empty() {
                return out;
            }
            let mut iov = [IoSlice::new(&[]); 4];
            let k = q.io_slices(&mut iov);
            let mut n = 0;
            for s in &iov[..k] {
                let take = s.len().min(max - n);
                out.extend_from_slice(&s[..take]);
                n += take;
                if n == max {
                    break;
                }
            }
            q.consume(n);
        }
        panic!("drain did not finish");
    }

    proptest! {
        /// Pushing into two queues, appending one to the other and partial writes, in any
        /// mix, give exactly the frames' encodings in order.
        #[test]
        fn bytes_out_are_the_encodings_in_order(
            ops in proptest::collection::vec(
                (0usize..4, prop_oneof![0usize..40, 900usize..1200]), 1..40),
            min in prop_oneof![Just(1000usize), Just(usize::MAX), Just(0usize)],
            max in 1usize..3000,
        ) {
            let mut q = EncodedFrames::new(min);
            let mut other = EncodedFrames::new(min);
            // What each queue should hold, byte for byte.
            let (mut want_q, mut want_other) = (BytesMut::new(), BytesMut::new());
            for (i, (op, len)) in ops.into_iter().enumerate() {
                let f = frame(i as u32 + 1, len);
                match op {
                    0 => {
                        f.encode_length_prefixed(&mut want_q).unwrap();
                        q.push(&f).unwrap();
                    }
                    1 => {
                        f.encode_length_prefixed(&mut want_other).unwrap();
                        other.push(&f).unwrap();
                    }
                    2 => {
                        want_q.extend_from_slice(&want_other.split());
                        q.append(&mut other);
                        prop_assert!(other.is_empty());
                    }
                    _ => {
                        let out = drain(&mut q, max);
                        prop_assert!(out == want_q.split()[..], "bytes differ");
                    }
                }
                prop_assert_eq!(q.len(), want_q.len());
                prop_assert_eq!(other.len(), want_other.len());
            }
            want_q.extend_from_slice(&want_other.split());
            q.append(&mut other);
            let out = drain(&mut q, max);
            prop_assert!(out == want_q[..], "bytes differ");
            if min == usize::MAX {
                prop_assert!(q.contiguous().is_some());
            }
        }
    }

    /// A threshold of 0 must not keep empty data apart: an empty chunk would never be
    /// consumed, and the queue would never look empty.
    #[test]
    fn a_zero_threshold_keeps_no_empty_chunk() {
        let mut q = EncodedFrames::new(0);
        assert_eq!(q.zero_copy_min(), 1);
        q.push(&frame(1, 0)).unwrap();
        q.push(&frame(3, 5)).unwrap();
        let out = drain(&mut q, 7);
        let mut want = BytesMut::new();
        frame(1, 0).encode_length_prefixed(&mut want).unwrap();
        frame(3, 5).encode_length_prefixed(&mut want).unwrap();
        assert_eq!(out, want[..]);
        assert!(q.is_empty());
    }
}
