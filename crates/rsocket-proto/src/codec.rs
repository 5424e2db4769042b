//! The 24-bit length prefix that byte-stream transports (TCP, Unix sockets) put before each frame.
//!
//! ```text
//! +-----------------------------------------------+
//! |          Frame Length (24 bits, big-endian)   |
//! +-----------------------------------------------+
//! |                RSocket Frame          ...
//! ```
//!
//! [`LengthCodec::split`] takes complete frames off the front of a receive buffer without
//! copying them; it never reserves memory from a declared length, so a peer announcing a 16 MB
//! frame and sending one byte a second costs nothing but the bytes it actually sent.

use bytes::{Buf, Bytes, BytesMut};

pub use crate::encoded::EncodedFrames;
use crate::frame::{DecodeError, MAX_FRAME_LEN};

/// Size of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 3;

/// Splits a byte stream into frames.
#[derive(Clone, Copy, Debug)]
pub struct LengthCodec {
    max_frame_len: usize,
}

impl Default for LengthCodec {
    fn default() -> Self {
        LengthCodec {
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

impl LengthCodec {
    /// A codec that refuses frames longer than `max_frame_len` (capped at [`MAX_FRAME_LEN`]).
    pub fn new(max_frame_len: usize) -> Self {
        LengthCodec {
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN),
        }
    }

    /// The largest frame accepted.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Takes one complete frame (without its prefix) off the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, and an error as soon as the prefix
    /// announces a frame over the limit.
    pub fn split(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        if buf.len() < LENGTH_PREFIX_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
        if len > self.max_frame_len {
            return Err(DecodeError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if buf.len() < LENGTH_PREFIX_LEN + len {
            return Ok(None);
        }
        // Advancing the frozen `Bytes` takes fewer instructions than advancing the `BytesMut`.
        let mut frame = buf.split_to(LENGTH_PREFIX_LEN + len).freeze();
        frame.advance(LENGTH_PREFIX_LEN);
        Ok(Some(frame))
    }

    /// Bytes still needed before the next frame is complete (a hint for read sizing; 0 if one
    /// is ready or the prefix itself is incomplete).
    pub fn missing(&self, buf: &[u8]) -> usize {
        if buf.len() < LENGTH_PREFIX_LEN {
            return 0;
        }
        let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
        (LENGTH_PREFIX_LEN + len).saturating_sub(buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_coalesced_and_partial_frames() {
        let c = LengthCodec::default();
        let mut buf = BytesMut::from(&[0u8, 0, 2, 0xAA, 0xBB, 0, 0, 1, 0xCC, 0, 0][..]);
        assert_eq!(c.split(&mut buf).unwrap().unwrap(), &[0xAA, 0xBB][..]);
        assert_eq!(c.split(&mut buf).unwrap().unwrap(), &[0xCC][..]);
        assert_eq!(c.split(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[3, 1, 2]);
        assert_eq!(c.split(&mut buf).unwrap(), None);
        assert_eq!(c.missing(&buf), 1);
        buf.extend_from_slice(&[3]);
        assert_eq!(c.split(&mut buf).unwrap().unwrap(), &[1, 2, 3][..]);
    }

    #[test]
    fn rejects_oversized_prefix_without_waiting_for_body() {
        let c = LengthCodec::new(1024);
        let mut buf = BytesMut::from(&[0u8, 4, 1, 0][..]);
        assert!(matches!(
            c.split(&mut buf),
            Err(DecodeError::FrameTooLarge {
                len: 1025,
                max: 1024
            })
        ));
    }
}
