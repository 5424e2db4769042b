//! CANCEL (0x09): the requester (or a channel's responder) stops a stream.

use bytes::BufMut;

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};

/// CANCEL: no body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancel {
    /// The stream.
    pub stream_id: StreamId,
}

impl Body for Cancel {
    fn header(&self) -> Header {
        Header {
            stream_id: self.stream_id,
            frame_type: FrameType::CANCEL,
            flags: Flags::EMPTY,
        }
    }

    fn body_len(&self) -> usize {
        0
    }

    fn encode_body(&self, _dst: &mut impl BufMut) {}

    fn decode_body(h: Header, _r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Cancel {
            stream_id: h.stream_id,
        })
    }
}
