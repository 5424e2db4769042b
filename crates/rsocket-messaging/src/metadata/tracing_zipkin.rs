//! Zipkin tracing metadata: `message/x.rsocket.tracing-zipkin.v0` (Extensions/Tracing-Zipkin.md).
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+
//! |I|D|S|N|T|P|   |  flags
//! +-+-+-+-+-+-+-+-+---------------------------------------------+
//! | trace id: 64 bits, or 128 bits if T             (only if I) |
//! | span id: 64 bits                                (only if I) |
//! | parent span id: 64 bits                    (only if I and P) |
//! +-------------------------------------------------------------+
//! ```
//!
//! All integers are big-endian; a 128-bit trace id is sent high half first (as rsocket-java
//! does).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{Location, MetadataError};
use super::reader::Reader;

const FLAG_IDS_SET: u8 = 0b1000_0000;
const FLAG_DEBUG: u8 = 0b0100_0000;
const FLAG_SAMPLED: u8 = 0b0010_0000;
const FLAG_NOT_SAMPLED: u8 = 0b0001_0000;
const FLAG_TRACE_ID_128: u8 = 0b0000_1000;
const FLAG_PARENT: u8 = 0b0000_0100;

/// The sampling decision carried by the D, S and N flags.
///
/// The spec gives them an order (S is ignored when D is set, N when S or D is set), so a
/// decoded payload with several set keeps the strongest, and re-encodes with that one only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sampling {
    /// No flag: the receiver decides.
    #[default]
    Undecided,
    /// N: do not sample.
    NotSampled,
    /// S: accept for tracing.
    Sampled,
    /// D: force tracing.
    Debug,
}

impl Sampling {
    fn from_flags(flags: u8) -> Self {
        if flags & FLAG_DEBUG != 0 {
            Self::Debug
        } else if flags & FLAG_SAMPLED != 0 {
            Self::Sampled
        } else if flags & FLAG_NOT_SAMPLED != 0 {
            Self::NotSampled
        } else {
            Self::Undecided
        }
    }

    fn flag(self) -> u8 {
        match self {
            Self::Undecided => 0,
            Self::NotSampled => FLAG_NOT_SAMPLED,
            Self::Sampled => FLAG_SAMPLED,
            Self::Debug => FLAG_DEBUG,
        }
    }
}

/// A Zipkin trace id: 64 or 128 bits (the T flag). The width is kept, so a 128-bit id whose
/// high half is zero still travels as 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceId {
    /// A 64-bit trace id.
    Bits64(u64),
    /// A 128-bit trace id.
    Bits128(u128),
}

/// The ids of a traced span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceIds {
    /// The trace every span of the operation shares.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: u64,
    /// The parent span; `None` for the root span (the P flag).
    pub parent_span_id: Option<u64>,
}

/// Zipkin tracing metadata: a sampling decision and, unless the I flag is clear, the ids.
///
/// ```
/// use rsocket_messaging::metadata::{Sampling, TraceId, TraceIds, ZipkinTracing};
///
/// let tracing = ZipkinTracing {
///     sampling: Sampling::Sampled,
///     ids: Some(TraceIds { trace_id: TraceId::Bits64(1), span_id: 2, parent_span_id: None }),
/// };
/// let wire = tracing.to_bytes();
/// assert_eq!(wire[0], 0b1010_0000); // I and S
/// assert_eq!(wire.len(), 17);
/// assert_eq!(ZipkinTracing::decode(&wire).unwrap(), tracing);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ZipkinTracing {
    /// The sampling decision.
    pub sampling: Sampling,
    /// The ids; `None` sends sampling information only (for example a health check that
    /// asks not to be sampled).
    pub ids: Option<TraceIds>,
}

impl ZipkinTracing {
    /// The flags byte this value encodes to.
    pub fn flags(&self) -> u8 {
        let mut flags = self.sampling.flag();
        if let Some(ids) = &self.ids {
            flags |= FLAG_IDS_SET;
            if matches!(ids.trace_id, TraceId::Bits128(_)) {
                flags |= FLAG_TRACE_ID_128;
            }
            if ids.parent_span_id.is_some() {
                flags |= FLAG_PARENT;
            }
        }
        flags
    }

    /// Decodes the payload. Without the I flag the T and P flags are ignored; bytes left after
    /// the fields the flags announce are an error. The two reserved low bits are ignored.
    pub fn decode(buf: &[u8]) -> Result<Self, MetadataError> {
        const AT: Location = Location::Tracing;
        let mut r = Reader::new(buf);
        let flags = r.u8(AT, "flags")?;
        let sampling = Sampling::from_flags(flags);
        let ids = if flags & FLAG_IDS_SET == 0 {
            None
        } else {
            let trace_id = if flags & FLAG_TRACE_ID_128 != 0 {
                let [hi, lo] = [r.u64(AT, "trace id (high)")?, r.u64(AT, "trace id (low)")?];
                TraceId::Bits128((u128::from(hi) << 64) | u128::from(lo))
            } else {
                TraceId::Bits64(r.u64(AT, "trace id")?)
            };
            let span_id = r.u64(AT, "span id")?;
            let parent_span_id = if flags & FLAG_PARENT != 0 {
                Some(r.u64(AT, "parent span id")?)
            } else {
                None
            };
            Some(TraceIds {
                trace_id,
                span_id,
                parent_span_id,
            })
        };
        if !r.is_empty() {
            return Err(MetadataError::TrailingBytes {
                at: AT,
                count: r.remaining(),
            });
        }
        Ok(Self { sampling, ids })
    }

    /// Bytes the encoded payload takes: 1, 17, 25 or 33.
    pub fn encoded_len(&self) -> usize {
        match &self.ids {
            None => 1,
            Some(ids) => {
                let trace = match ids.trace_id {
                    TraceId::Bits64(_) => 8,
                    TraceId::Bits128(_) => 16,
                };
                1 + trace + 8 + if ids.parent_span_id.is_some() { 8 } else { 0 }
            }
        }
    }

    /// Appends the encoded payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.put_u8(self.flags());
        if let Some(ids) = &self.ids {
            match ids.trace_id {
                TraceId::Bits64(id) => dst.put_u64(id),
                TraceId::Bits128(id) => dst.put_u128(id),
            }
            dst.put_u64(ids.span_id);
            if let Some(parent) = ids.parent_span_id {
                dst.put_u64(parent);
            }
        }
    }

    /// The encoded payload as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_only_is_one_byte() {
        for (sampling, byte) in [
            (Sampling::Undecided, 0x00),
            (Sampling::NotSampled, 0x10),
            (Sampling::Sampled, 0x20),
            (Sampling::Debug, 0x40),
        ] {
            let t = ZipkinTracing {
                sampling,
                ids: None,
            };
            assert_eq!(&t.to_bytes()[..], &[byte]);
            assert_eq!(ZipkinTracing::decode(&[byte]), Ok(t));
        }
    }

    #[test]
    fn full_128_bit_with_parent_layout() {
        let t = ZipkinTracing {
            sampling: Sampling::Debug,
            ids: Some(TraceIds {
                trace_id: TraceId::Bits128(0x0102_0304_0506_0708_1112_1314_1516_1718),
                span_id: 0x2122_2324_2526_2728,
                parent_span_id: Some(0x3132_3334_3536_3738),
            }),
        };
        let wire = t.to_bytes();
        assert_eq!(wire.len(), 33);
        assert_eq!(wire.len(), t.encoded_len());
        // I | D | T | P
        assert_eq!(wire[0], 0b1100_1100);
        assert_eq!(&wire[1..9], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            &wire[9..17],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(wire[17], 0x21);
        assert_eq!(wire[25], 0x31);
        assert_eq!(ZipkinTracing::decode(&wire), Ok(t));
    }

    #[test]
    fn strongest_sampling_flag_wins() {
        assert_eq!(
            ZipkinTracing::decode(&[FLAG_DEBUG | FLAG_SAMPLED | FLAG_NOT_SAMPLED])
                .map(|t| t.sampling),
            Ok(Sampling::Debug)
        );
        assert_eq!(
            ZipkinTracing::decode(&[FLAG_SAMPLED | FLAG_NOT_SAMPLED]).map(|t| t.sampling),
            Ok(Sampling::Sampled)
        );
        // T and P without I, and the reserved bits, are ignored.
        assert_eq!(
            ZipkinTracing::decode(&[FLAG_TRACE_ID_128 | FLAG_PARENT | 0b11]),
            Ok(ZipkinTracing::default())
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            ZipkinTracing::decode(&[]).map_err(|e| e.to_string()),
            Err("zipkin tracing metadata: flags needs 1 bytes but only 0 remain".to_owned())
        );
        let mut short = vec![FLAG_IDS_SET | FLAG_PARENT];
        short.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            ZipkinTracing::decode(&short).map_err(|e| e.to_string()),
            Err(
                "zipkin tracing metadata: parent span id needs 8 bytes but only 4 remain"
                    .to_owned()
            )
        );
        assert_eq!(
            ZipkinTracing::decode(&[0x00, 0x00]),
            Err(MetadataError::TrailingBytes {
                at: Location::Tracing,
                count: 1
            })
        );
        let long = vec![FLAG_IDS_SET; 100];
        assert_eq!(
            ZipkinTracing::decode(&long),
            Err(MetadataError::TrailingBytes {
                at: Location::Tracing,
                count: 83
            })
        );
    }
}
