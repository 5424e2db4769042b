//! REQUEST_N (0x08): the requester grants more credit to a stream or channel.

use bytes::BufMut;

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};

/// REQUEST_N: `n` more PAYLOADs may be sent on the stream. The value is kept as received (32
/// bits) so the connection can reject 0 and values with the reserved top bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestN {
    /// The stream.
    pub stream_id: StreamId,
    /// Additional credit; the spec requires 0 < n <= 2^31-1.
    pub n: u32,
}

impl Body for RequestN {
    fn header(&self) -> Header {
        Header {
            stream_id: self.stream_id,
            frame_type: FrameType::REQUEST_N,
            flags: Flags::EMPTY,
        }
    }

    fn body_len(&self) -> usize {
        4
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.n);
    }

    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(RequestN {
            stream_id: h.stream_id,
            n: r.u32("request-n")?,
        })
    }
}
