//! METADATA_PUSH (0x0C): connection-level metadata.

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};

/// METADATA_PUSH: on stream 0, M flag always set, the metadata fills the frame (no length
/// prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataPush {
    /// The metadata.
    pub metadata: Bytes,
}

impl Body for MetadataPush {
    fn header(&self) -> Header {
        Header {
            stream_id: StreamId::CONNECTION,
            frame_type: FrameType::METADATA_PUSH,
            flags: Flags::METADATA,
        }
    }

    fn body_len(&self) -> usize {
        self.metadata.len()
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_slice(&self.metadata);
    }

    fn decode_body(_h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(MetadataPush { metadata: r.rest() })
    }
}
