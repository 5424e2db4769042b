//! KEEPALIVE (0x03): liveness probe and resume position acknowledgement.

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};

/// KEEPALIVE: on stream 0. With `respond` set, the receiver must echo `data` back with
/// `respond` clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// R flag: the receiver must answer.
    pub respond: bool,
    /// The sender's last received resume position (63 bits; 0 when resumption is off).
    pub last_received_position: u64,
    /// Data to be echoed.
    pub data: Bytes,
}

impl Body for Keepalive {
    fn header(&self) -> Header {
        Header {
            stream_id: StreamId::CONNECTION,
            frame_type: FrameType::KEEPALIVE,
            flags: Flags::EMPTY.with(Flags::RESPOND, self.respond),
        }
    }

    fn body_len(&self) -> usize {
        8 + self.data.len()
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u64(self.last_received_position & 0x7FFF_FFFF_FFFF_FFFF);
        dst.put_slice(&self.data);
    }

    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let last_received_position = r.u64("last received position")? & 0x7FFF_FFFF_FFFF_FFFF;
        Ok(Keepalive {
            respond: h.flags.contains(Flags::RESPOND),
            last_received_position,
            data: r.rest(),
        })
    }
}
