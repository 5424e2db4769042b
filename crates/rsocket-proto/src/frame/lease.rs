//! LEASE (0x02): a responder lets its requester send a number of requests for a time.

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};

/// LEASE: on stream 0; metadata (if any) fills the rest of the frame, with no length prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Milliseconds the lease is valid from its reception (31 bits).
    pub ttl_ms: u32,
    /// Requests the requester may send until the next lease (31 bits).
    pub number_of_requests: u32,
    /// Optional metadata; `Some` sets the M flag.
    pub metadata: Option<Bytes>,
}

impl Body for Lease {
    fn header(&self) -> Header {
        Header {
            stream_id: StreamId::CONNECTION,
            frame_type: FrameType::LEASE,
            flags: Flags::EMPTY.with(Flags::METADATA, self.metadata.is_some()),
        }
    }

    fn body_len(&self) -> usize {
        8 + self.metadata.as_ref().map_or(0, Bytes::len)
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.ttl_ms & 0x7FFF_FFFF);
        dst.put_u32(self.number_of_requests & 0x7FFF_FFFF);
        if let Some(m) = &self.metadata {
            dst.put_slice(m);
        }
    }

    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let ttl_ms = r.u32("time-to-live")? & 0x7FFF_FFFF;
        let number_of_requests = r.u32("number of requests")? & 0x7FFF_FFFF;
        let metadata = h.flags.contains(Flags::METADATA).then(|| r.rest());
        Ok(Lease {
            ttl_ms,
            number_of_requests,
            metadata,
        })
    }
}
