//! RESUME (0x0D) and RESUME_OK (0x0E): continuing a session on a new connection.

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, Version, reader::Reader};

/// RESUME: the client's first frame on a new connection when it resumes a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// Protocol version.
    pub version: Version,
    /// The token from the original SETUP.
    pub token: Bytes,
    /// Last implied position the client received from the server.
    pub last_received_server_position: u64,
    /// Earliest position the client can still retransmit.
    pub first_available_client_position: u64,
}

impl Body for Resume {
    fn header(&self) -> Header {
        Header {
            stream_id: StreamId::CONNECTION,
            frame_type: FrameType::RESUME,
            flags: Flags::EMPTY,
        }
    }

    fn body_len(&self) -> usize {
        4 + 2 + self.token.len() + 16
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.version.major);
        dst.put_u16(self.version.minor);
        dst.put_u16(self.token.len() as u16);
        dst.put_slice(&self.token);
        dst.put_u64(self.last_received_server_position & 0x7FFF_FFFF_FFFF_FFFF);
        dst.put_u64(self.first_available_client_position & 0x7FFF_FFFF_FFFF_FFFF);
    }

    fn decode_body(_h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let major = r.u16("major version")?;
        let minor = r.u16("minor version")?;
        let len = r.u16("resume token length")? as usize;
        let token = r.bytes("resume token", len)?;
        let last = r.u64("last received server position")? & 0x7FFF_FFFF_FFFF_FFFF;
        let first = r.u64("first available client position")? & 0x7FFF_FFFF_FFFF_FFFF;
        Ok(Resume {
            version: Version { major, minor },
            token,
            last_received_server_position: last,
            first_available_client_position: first,
        })
    }
}

/// RESUME_OK: the server accepts a RESUME.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumeOk {
    /// Last implied position the server received from the client.
    pub last_received_client_position: u64,
}

impl Body for ResumeOk {
    fn header(&self) -> Header {
        Header {
            stream_id: StreamId::CONNECTION,
            frame_type: FrameType::RESUME_OK,
            flags: Flags::EMPTY,
        }
    }

    fn body_len(&self) -> usize {
        8
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u64(self.last_received_client_position & 0x7FFF_FFFF_FFFF_FFFF);
    }

    fn decode_body(_h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ResumeOk {
            last_received_client_position: r.u64("last received client position")?
                & 0x7FFF_FFFF_FFFF_FFFF,
        })
    }
}
