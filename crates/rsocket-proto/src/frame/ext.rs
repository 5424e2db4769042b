//! EXT (0x3F) and frames of unassigned types.

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};
use crate::Payload;

/// EXT: an extension frame; the layout after the extended type is assumed to be the common
/// optional-metadata-plus-data layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ext {
    /// The stream.
    pub stream_id: StreamId,
    /// I flag: the frame may be ignored if not understood.
    pub ignore: bool,
    /// Extended type (31 bits).
    pub extended_type: u32,
    /// Data and metadata.
    pub payload: Payload,
}

impl Body for Ext {
    fn header(&self) -> Header {
        Header {
            stream_id: self.stream_id,
            frame_type: FrameType::EXT,
            flags: super::metadata_flag(&self.payload).with(Flags::IGNORE, self.ignore),
        }
    }
    fn body_len(&self) -> usize {
        4 + super::payload_len(&self.payload)
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.extended_type & 0x7FFF_FFFF);
        super::put_payload(dst, &self.payload);
    }
    fn encode_head(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.extended_type & 0x7FFF_FFFF);
        super::put_metadata(dst, &self.payload);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let extended_type = r.u32("extended type")? & 0x7FFF_FFFF;
        Ok(Ext {
            stream_id: h.stream_id,
            ignore: h.flags.contains(Flags::IGNORE),
            extended_type,
            payload: r.payload(h.flags.contains(Flags::METADATA))?,
        })
    }
}

/// A frame of a type this crate does not know, kept byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownFrame {
    /// The stream.
    pub stream_id: StreamId,
    /// The unassigned type.
    pub frame_type: FrameType,
    /// All ten flag bits as received.
    pub flags: Flags,
    /// Everything after the header.
    pub body: Bytes,
}

impl UnknownFrame {
    /// I flag: the frame may be ignored.
    pub fn ignorable(&self) -> bool {
        self.flags.contains(Flags::IGNORE)
    }
}

impl Body for UnknownFrame {
    fn header(&self) -> Header {
        Header {
            stream_id: self.stream_id,
            frame_type: self.frame_type,
            flags: self.flags,
        }
    }
    fn body_len(&self) -> usize {
        self.body.len()
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_slice(&self.body);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(UnknownFrame {
            stream_id: h.stream_id,
            frame_type: h.frame_type,
            flags: h.flags,
            body: r.rest(),
        })
    }
}
