//! SETUP (0x01): the client's first frame, with the connection's parameters.

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, EncodeError, Flags, FrameType, Header, StreamId, reader::Reader};
use crate::Payload;

/// A protocol version, major and minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl Version {
    /// RSocket 1.0, the version this crate speaks.
    pub const V1_0: Version = Version { major: 1, minor: 0 };
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// SETUP: sent by the client on stream 0 to open the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Protocol version.
    pub version: Version,
    /// Milliseconds between the client's KEEPALIVE frames (31 bits; must be > 0).
    pub keepalive_interval_ms: u32,
    /// Milliseconds without a KEEPALIVE after which the peer is considered dead (31 bits; > 0).
    pub max_lifetime_ms: u32,
    /// Resume identification token; `Some` sets the R flag.
    pub resume_token: Option<Bytes>,
    /// L flag: the client will honour LEASE.
    pub lease: bool,
    /// MIME type of metadata (at most 255 bytes).
    pub metadata_mime_type: String,
    /// MIME type of data (at most 255 bytes).
    pub data_mime_type: String,
    /// The setup payload.
    pub payload: Payload,
}

impl Setup {
    pub(crate) fn check_fields(&self) -> Result<(), EncodeError> {
        for (field, s) in [
            ("metadata MIME type", &self.metadata_mime_type),
            ("data MIME type", &self.data_mime_type),
        ] {
            if s.len() > u8::MAX as usize {
                return Err(EncodeError::FieldTooLong {
                    field,
                    len: s.len(),
                    max: u8::MAX as usize,
                });
            }
        }
        if let Some(t) = &self.resume_token {
            if t.len() > u16::MAX as usize {
                return Err(EncodeError::FieldTooLong {
                    field: "resume token",
                    len: t.len(),
                    max: u16::MAX as usize,
                });
            }
        }
        Ok(())
    }
}

fn mime(r: &mut Reader, field: &'static str) -> Result<String, DecodeError> {
    let len = r.u8(field)? as usize;
    let b = r.bytes(field, len)?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { field })
}

impl Body for Setup {
    fn header(&self) -> Header {
        Header {
            stream_id: StreamId::CONNECTION,
            frame_type: FrameType::SETUP,
            flags: super::metadata_flag(&self.payload)
                .with(Flags::RESUME_ENABLE, self.resume_token.is_some())
                .with(Flags::LEASE, self.lease),
        }
    }

    fn body_len(&self) -> usize {
        12 + self.resume_token.as_ref().map_or(0, |t| 2 + t.len())
            + 1
            + self.metadata_mime_type.len()
            + 1
            + self.data_mime_type.len()
            + super::payload_len(&self.payload)
    }

    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.version.major);
        dst.put_u16(self.version.minor);
        dst.put_u32(self.keepalive_interval_ms & 0x7FFF_FFFF);
        dst.put_u32(self.max_lifetime_ms & 0x7FFF_FFFF);
        if let Some(t) = &self.resume_token {
            dst.put_u16(t.len() as u16);
            dst.put_slice(t);
        }
        dst.put_u8(self.metadata_mime_type.len() as u8);
        dst.put_slice(self.metadata_mime_type.as_bytes());
        dst.put_u8(self.data_mime_type.len() as u8);
        dst.put_slice(self.data_mime_type.as_bytes());
        super::put_payload(dst, &self.payload);
    }

    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        let major = r.u16("major version")?;
        let minor = r.u16("minor version")?;
        let keepalive_interval_ms = r.u32("keepalive interval")? & 0x7FFF_FFFF;
        let max_lifetime_ms = r.u32("max lifetime")? & 0x7FFF_FFFF;
        let resume_token = if h.flags.contains(Flags::RESUME_ENABLE) {
            let len = r.u16("resume token length")? as usize;
            Some(r.bytes("resume token", len)?)
        } else {
            None
        };
        let metadata_mime_type = mime(r, "metadata MIME type")?;
        let data_mime_type = mime(r, "data MIME type")?;
        let payload = r.payload(h.flags.contains(Flags::METADATA))?;
        Ok(Setup {
            version: Version { major, minor },
            keepalive_interval_ms,
            max_lifetime_ms,
            resume_token,
            lease: h.flags.contains(Flags::LEASE),
            metadata_mime_type,
            data_mime_type,
            payload,
        })
    }
}
