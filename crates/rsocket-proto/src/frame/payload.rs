//! PAYLOAD (0x0A): a value, a completion, or both; or a fragment of one.

use bytes::BufMut;

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};
use crate::Payload;

/// PAYLOAD: `next` carries a value (onNext), `complete` ends the sender's side (onComplete).
/// The spec forbids both being false; the decoder keeps such frames so the connection can
/// decide what to do with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadFrame {
    /// The stream.
    pub stream_id: StreamId,
    /// F flag: more fragments of this payload follow.
    pub follows: bool,
    /// C flag: the sender's side of the stream is complete.
    pub complete: bool,
    /// N flag: the frame carries a value.
    pub next: bool,
    /// Data and metadata.
    pub payload: Payload,
}

impl Body for PayloadFrame {
    fn header(&self) -> Header {
        Header {
            stream_id: self.stream_id,
            frame_type: FrameType::PAYLOAD,
            flags: super::metadata_flag(&self.payload)
                .with(Flags::FOLLOWS, self.follows)
                .with(Flags::COMPLETE, self.complete)
                .with(Flags::NEXT, self.next),
        }
    }
    fn body_len(&self) -> usize {
        super::payload_len(&self.payload)
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        super::put_payload(dst, &self.payload);
    }
    fn encode_head(&self, dst: &mut impl BufMut) {
        super::put_metadata(dst, &self.payload);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(PayloadFrame {
            stream_id: h.stream_id,
            follows: h.flags.contains(Flags::FOLLOWS),
            complete: h.flags.contains(Flags::COMPLETE),
            next: h.flags.contains(Flags::NEXT),
            payload: r.payload(h.flags.contains(Flags::METADATA))?,
        })
    }
}
