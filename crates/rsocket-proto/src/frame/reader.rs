//! A bounded reader over one received frame.
//!
//! Every read checks the remaining length first and reports the field it was reading, so the
//! decoder can never index out of bounds, and never allocates: slices are `Bytes` views of the
//! received buffer.

use bytes::{Buf, Bytes};

use super::DecodeError;

/// Reads big-endian fields from a frame body, naming the field on failure.
///
/// Reading consumes the front of `buf` (pointer moves, no reference-count traffic); the last
/// field takes the rest of the buffer by value.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn need(&self, field: &'static str, n: usize) -> Result<(), DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                field,
                needed: n,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    /// The next `N` bytes, consumed.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        self.need(field, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[..N]);
        self.buf.advance(N);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u24(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let [a, b, c] = self.array(field)?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn bytes(&mut self, field: &'static str, n: usize) -> Result<Bytes, DecodeError> {
        self.need(field, n)?;
        Ok(self.buf.split_to(n))
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Reads the optional metadata (24-bit length prefix when `has_metadata`) and the data that
    /// follows it, the layout shared by every frame that carries both.
    pub(crate) fn payload(&mut self, has_metadata: bool) -> Result<crate::Payload, DecodeError> {
        let metadata = if has_metadata {
            let len = self.u24("metadata length")? as usize;
            if len > self.remaining() {
                return Err(DecodeError::MetadataLength {
                    declared: len,
                    remaining: self.remaining(),
                });
            }
            Some(self.bytes("metadata", len)?)
        } else {
            None
        };
        Ok(crate::Payload {
            data: self.rest(),
            metadata,
        })
    }
}
