//! ERROR (0x0B) and its error codes.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::{Body, DecodeError, Flags, FrameType, Header, StreamId, reader::Reader};

/// An RSocket error code. An open newtype: application codes (0x301..=0xFFFFFFFE) and unknown
/// values are kept as they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// The SETUP frame is invalid (stream 0).
    pub const INVALID_SETUP: ErrorCode = ErrorCode(0x0000_0001);
    /// Parameters of the SETUP are unsupported (stream 0).
    pub const UNSUPPORTED_SETUP: ErrorCode = ErrorCode(0x0000_0002);
    /// The server rejected the SETUP (stream 0).
    pub const REJECTED_SETUP: ErrorCode = ErrorCode(0x0000_0003);
    /// The server rejected the RESUME (stream 0).
    pub const REJECTED_RESUME: ErrorCode = ErrorCode(0x0000_0004);
    /// The connection is being terminated at once (stream 0).
    pub const CONNECTION_ERROR: ErrorCode = ErrorCode(0x0000_0101);
    /// The connection is being closed after outstanding streams finish (stream 0).
    pub const CONNECTION_CLOSE: ErrorCode = ErrorCode(0x0000_0102);
    /// The application failed the request (stream > 0).
    pub const APPLICATION_ERROR: ErrorCode = ErrorCode(0x0000_0201);
    /// The responder rejected the request without processing it (stream > 0).
    pub const REJECTED: ErrorCode = ErrorCode(0x0000_0202);
    /// The responder canceled the request, maybe after starting it (stream > 0).
    pub const CANCELED: ErrorCode = ErrorCode(0x0000_0203);
    /// The request is invalid (stream > 0).
    pub const INVALID: ErrorCode = ErrorCode(0x0000_0204);
    /// First application-defined code.
    pub const MIN_APPLICATION: u32 = 0x0000_0301;
    /// Last application-defined code.
    pub const MAX_APPLICATION: u32 = 0xFFFF_FFFE;

    /// The spec's name for a defined code.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0000_0000 => "RESERVED",
            0x0000_0001 => "INVALID_SETUP",
            0x0000_0002 => "UNSUPPORTED_SETUP",
            0x0000_0003 => "REJECTED_SETUP",
            0x0000_0004 => "REJECTED_RESUME",
            0x0000_0101 => "CONNECTION_ERROR",
            0x0000_0102 => "CONNECTION_CLOSE",
            0x0000_0201 => "APPLICATION_ERROR",
            0x0000_0202 => "REJECTED",
            0x0000_0203 => "CANCELED",
            0x0000_0204 => "INVALID",
            0xFFFF_FFFF => "RESERVED_EXTENSION",
            _ => return None,
        })
    }

    /// True for codes that belong on stream 0 (setup, resume and connection errors).
    pub const fn is_connection_level(self) -> bool {
        matches!(self.0, 0x0001..=0x0004 | 0x0101 | 0x0102)
    }

    /// True for the SETUP/RESUME rejection codes a peer must ignore after establishment.
    pub const fn is_setup_rejection(self) -> bool {
        matches!(self.0, 0x0001..=0x0004)
    }

    /// True for the application-defined range 0x301..=0xFFFFFFFE.
    pub const fn is_application_defined(self) -> bool {
        self.0 >= Self::MIN_APPLICATION && self.0 <= Self::MAX_APPLICATION
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({:#x})", self.0),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// ERROR: on stream 0 it concerns the connection, on stream N that stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFrame {
    /// The stream (0: the connection).
    pub stream_id: StreamId,
    /// The code.
    pub code: ErrorCode,
    /// Error data: a UTF-8 message by convention, not null-terminated.
    pub data: Bytes,
}

impl ErrorFrame {
    /// An ERROR with a text message.
    pub fn new(stream_id: StreamId, code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorFrame {
            stream_id,
            code,
            data: Bytes::from(message.into()),
        }
    }

    /// The error data as text (invalid UTF-8 is replaced).
    pub fn message(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

impl Body for ErrorFrame {
    fn header(&self) -> Header {
        Header {
            stream_id: self.stream_id,
            frame_type: FrameType::ERROR,
            flags: Flags::EMPTY,
        }
    }
    fn body_len(&self) -> usize {
        4 + self.data.len()
    }
    fn encode_body(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.code.0);
        dst.put_slice(&self.data);
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(ErrorFrame {
            stream_id: h.stream_id,
            code: ErrorCode(r.u32("error code")?),
            data: r.rest(),
        })
    }
}
