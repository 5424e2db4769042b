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
//! [`LengthCodec::split_run`] takes every complete frame at once, as a [`FrameRun`].

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

    /// Takes every complete frame off the front of `buf` at once, as one [`FrameRun`] that
    /// hands them out (a buffer split per run instead of one per frame).
    ///
    /// Returns `Ok(None)` when no frame is complete, and an error when the first prefix
    /// announces a frame over the limit; a later such prefix ends the run before it (the next
    /// call reports it).
    pub fn split_run(&self, buf: &mut BytesMut) -> Result<Option<FrameRun>, DecodeError> {
        let mut end = 0;
        let mut frames = 0u32;
        let mut largest = 0;
        while let Some(prefix) = buf.get(end..end + LENGTH_PREFIX_LEN) {
            let len = u32::from_be_bytes([0, prefix[0], prefix[1], prefix[2]]) as usize;
            if len > self.max_frame_len {
                if frames == 0 {
                    return Err(DecodeError::FrameTooLarge {
                        len,
                        max: self.max_frame_len,
                    });
                }
                break;
            }
            if buf.len() - end < LENGTH_PREFIX_LEN + len {
                break;
            }
            end += LENGTH_PREFIX_LEN + len;
            frames += 1;
            largest = largest.max(len);
        }
        if frames == 0 {
            return Ok(None);
        }
        Ok(Some(FrameRun {
            bytes: buf.split_to(end).freeze(),
            frames,
            largest,
        }))
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

/// Complete frames taken off a receive buffer at once by [`LengthCodec::split_run`], each
/// still behind its length prefix; [`FrameRun::next_frame`] hands them out in order, without
/// copying. The frames share the run's buffer (each holds a reference to it).
#[derive(Clone, Debug, Default)]
pub struct FrameRun {
    bytes: Bytes,
    frames: u32,
    largest: usize,
}

impl FrameRun {
    /// The next frame, without its prefix; `None` once all were taken.
    #[inline]
    pub fn next_frame(&mut self) -> Option<Bytes> {
        let prefix = self.bytes.get(..LENGTH_PREFIX_LEN)?;
        let total =
            LENGTH_PREFIX_LEN + u32::from_be_bytes([0, prefix[0], prefix[1], prefix[2]]) as usize;
        // The last frame takes the buffer itself (no reference-count operation). A run is
        // only built of whole frames, so `total` never exceeds what is left.
        let mut frame = if total >= self.bytes.len() {
            std::mem::take(&mut self.bytes)
        } else {
            self.bytes.split_to(total)
        };
        frame.advance(LENGTH_PREFIX_LEN);
        Some(frame)
    }

    /// True once every frame was taken.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many frames the run held when it was split off (taken ones included).
    pub fn frame_count(&self) -> u32 {
        self.frames
    }

    /// The length of its longest frame (without prefix), taken ones included.
    pub fn largest_frame(&self) -> usize {
        self.largest
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

    #[test]
    fn a_run_holds_every_complete_frame_and_stops_at_a_partial_one() {
        let c = LengthCodec::default();
        let mut buf = BytesMut::from(&[0u8, 0, 2, 0xAA, 0xBB, 0, 0, 0, 0, 0, 1, 0xCC, 0, 0][..]);
        let mut run = c.split_run(&mut buf).unwrap().unwrap();
        assert_eq!((run.frame_count(), run.largest_frame()), (3, 2));
        assert_eq!(run.next_frame().unwrap(), &[0xAA, 0xBB][..]);
        assert_eq!(run.next_frame().unwrap(), &[][..]);
        assert!(!run.is_empty());
        assert_eq!(run.next_frame().unwrap(), &[0xCC][..]);
        assert!(run.is_empty());
        assert_eq!(run.next_frame(), None);
        assert_eq!(&buf[..], &[0, 0][..]);
        assert!(c.split_run(&mut buf).unwrap().is_none());
    }

    #[test]
    fn an_oversized_prefix_ends_the_run_before_it_then_fails() {
        let c = LengthCodec::new(4);
        let mut buf = BytesMut::from(&[0u8, 0, 1, 7, 0, 0, 5, 1, 2, 3, 4, 5][..]);
        let mut run = c.split_run(&mut buf).unwrap().unwrap();
        assert_eq!(run.next_frame().unwrap(), &[7][..]);
        assert_eq!(run.next_frame(), None);
        assert!(matches!(
            c.split_run(&mut buf),
            Err(DecodeError::FrameTooLarge { len: 5, max: 4 })
        ));
    }

    proptest::proptest! {
        /// Whatever the bytes and however they arrive, a run gives exactly the frames (and the
        /// error) that splitting one frame at a time gives.
        #[test]
        fn runs_agree_with_single_splits(
            stream in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            frames in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 0..12),
            cuts in proptest::collection::vec(1usize..64, 1..20),
            garbage_first in proptest::prelude::any::<bool>(),
        ) {
            // Mostly well-formed frames (lengths up to 39, limit 32: some too long), or noise.
            let mut input = Vec::new();
            if garbage_first {
                input.extend_from_slice(&stream);
            }
            for f in &frames {
                input.extend_from_slice(&(f.len() as u32).to_be_bytes()[1..]);
                input.extend_from_slice(f);
            }
            let c = LengthCodec::new(32);
            let (mut one, mut many) = (BytesMut::new(), BytesMut::new());
            let (mut got_one, mut got_many) = (Vec::new(), Vec::new());
            let (mut err_one, mut err_many) = (None, None);
            let mut at = 0;
            let mut cut = cuts.iter().cycle();
            while at < input.len() && err_one.is_none() && err_many.is_none() {
                let end = (at + cut.next().copied().unwrap_or(1)).min(input.len());
                one.extend_from_slice(&input[at..end]);
                many.extend_from_slice(&input[at..end]);
                at = end;
                loop {
                    match c.split(&mut one) {
                        Ok(Some(f)) => got_one.push(f),
                        Ok(None) => break,
                        Err(e) => {
                            err_one = Some(e.to_string());
                            break;
                        }
                    }
                }
                loop {
                    match c.split_run(&mut many) {
                        Ok(Some(mut run)) => {
                            let n = run.frame_count() as usize;
                            let before = got_many.len();
                            while let Some(f) = run.next_frame() {
                                got_many.push(f);
                            }
                            proptest::prop_assert_eq!(got_many.len() - before, n);
                            let largest = got_many[before..].iter().map(Bytes::len).max();
                            proptest::prop_assert_eq!(largest, Some(run.largest_frame()));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            err_many = Some(e.to_string());
                            break;
                        }
                    }
                }
                proptest::prop_assert_eq!(&got_one, &got_many);
                proptest::prop_assert_eq!(&err_one, &err_many);
                proptest::prop_assert_eq!(&one[..], &many[..]);
            }
        }
    }
}
