//! A bounded reader over one received frame.
//!
//! Every read checks the remaining length first and reports the field it was reading, so the
//! decoder can never index out of bounds, and never allocates: slices are `Bytes` views of the
//! received buffer.

use bytes::Bytes;

use super::DecodeError;

/// Reads big-endian fields from a frame body, naming the field on failure.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
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

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(field, 1)?;
        let v = self.buf[self.pos];
        self.pos += 1;
        Ok(v)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(field, 2)?;
        let b = &self.buf[self.pos..self.pos + 2];
        self.pos += 2;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(field, 3)?;
        let b = &self.buf[self.pos..self.pos + 3];
        self.pos += 3;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(field, 4)?;
        let b = &self.buf[self.pos..self.pos + 4];
        self.pos += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.need(field, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.buf[self.pos..self.pos + 8]);
        self.pos += 8;
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn bytes(&mut self, field: &'static str, n: usize) -> Result<Bytes, DecodeError> {
        self.need(field, n)?;
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> Bytes {
        let b = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        b
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
