//! A bounded, never-panicking cursor over received bytes (in the spirit of rustls' `Reader`).
//!
//! Every read checks the remaining length first and reports a [`MetadataError`] naming the
//! location and field. Slices returned by [`Reader::take`] borrow the input, so a decoder that
//! holds the input as [`bytes::Bytes`] can turn them into zero-copy `Bytes` with `slice_ref`.

use super::error::{Location, MetadataError};

/// A cursor over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads a fixed-size field.
    pub(crate) fn array<const N: usize>(
        &mut self,
        at: Location,
        field: &'static str,
    ) -> Result<[u8; N], MetadataError> {
        let Some(head) = self.buf.get(..N) else {
            return Err(MetadataError::Truncated {
                at,
                field,
                needed: N,
                remaining: self.buf.len(),
            });
        };
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        self.buf = self.buf.get(N..).unwrap_or_default();
        Ok(out)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, at: Location, field: &'static str) -> Result<u8, MetadataError> {
        self.array::<1>(at, field).map(|[b]| b)
    }

    /// Reads a big-endian unsigned 16-bit integer.
    pub(crate) fn u16(&mut self, at: Location, field: &'static str) -> Result<u16, MetadataError> {
        self.array::<2>(at, field).map(u16::from_be_bytes)
    }

    /// Reads a big-endian unsigned 24-bit integer.
    pub(crate) fn u24(&mut self, at: Location, field: &'static str) -> Result<u32, MetadataError> {
        self.array::<3>(at, field)
            .map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a big-endian unsigned 64-bit integer.
    pub(crate) fn u64(&mut self, at: Location, field: &'static str) -> Result<u64, MetadataError> {
        self.array::<8>(at, field).map(u64::from_be_bytes)
    }

    /// Takes the next `len` bytes as a zero-copy slice of the input; `len` came from a length
    /// prefix, so a shortfall is reported as [`MetadataError::LengthExceedsRemaining`].
    pub(crate) fn take(
        &mut self,
        len: usize,
        at: Location,
        field: &'static str,
    ) -> Result<&'a [u8], MetadataError> {
        let Some((head, rest)) = self.buf.split_at_checked(len) else {
            return Err(MetadataError::LengthExceedsRemaining {
                at,
                field,
                len,
                remaining: self.buf.len(),
            });
        };
        self.buf = rest;
        Ok(head)
    }

    /// Takes every remaining byte.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_fields_and_reports_shortfalls() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 3, 9]);
        assert_eq!(r.u8(Location::Value, "a"), Ok(1));
        assert_eq!(r.u16(Location::Value, "b"), Ok(2));
        assert_eq!(r.u24(Location::Value, "c"), Ok(3));
        assert_eq!(
            r.u64(Location::Value, "d"),
            Err(MetadataError::Truncated {
                at: Location::Value,
                field: "d",
                needed: 8,
                remaining: 1
            })
        );
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 1);
        assert_eq!(
            r.take(2, Location::Value, "e"),
            Err(MetadataError::LengthExceedsRemaining {
                at: Location::Value,
                field: "e",
                len: 2,
                remaining: 1
            })
        );
        assert_eq!(r.take_rest(), &[9]);
        assert!(r.is_empty());
    }
}
