//! Typed RSocket frames: one file per frame type, a shared header, and the decoder.
//!
//! Every frame is a plain struct with public fields. [`Frame::decode`] reads exactly one frame
//! (without the transport's length prefix) from a [`Bytes`] buffer; data and metadata in the
//! result are zero-copy slices of that buffer. [`Frame::encode`] writes the frame into a
//! [`BufMut`] and [`Frame::encoded_len`] says how many bytes that takes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-------------------------------------------------------------+
//! |0|                         Stream ID                           |
//! +-----------+-+-+---------------+-------------------------------+
//! |Frame Type |I|M|     Flags     |     Depends on Frame Type    ...
//! +-------------------------------+
//! ```
//!
//! The decoder never panics and never allocates: every read is bounds-checked and failures are a
//! [`DecodeError`] naming the field that was wrong.

mod cancel;
mod error;
mod ext;
mod keepalive;
mod lease;
mod metadata_push;
mod payload;
pub(crate) mod reader;
mod request;
mod request_n;
mod resume;
mod setup;

use std::fmt;

use bytes::{BufMut, Bytes};

pub use cancel::Cancel;
pub use error::{ErrorCode, ErrorFrame};
pub use ext::{Ext, UnknownFrame};
pub use keepalive::Keepalive;
pub use lease::Lease;
pub use metadata_push::MetadataPush;
pub use payload::PayloadFrame;
pub use request::{RequestChannel, RequestFnf, RequestResponse, RequestStream};
pub use request_n::RequestN;
pub use resume::{Resume, ResumeOk};
pub use setup::{Setup, Version};

use reader::Reader;

/// Largest frame (header and body, without the length prefix) the protocol allows: 2^24-1 bytes.
pub const MAX_FRAME_LEN: usize = 0xFF_FFFF;
/// Size of the frame header: 4 bytes of stream ID and 2 of type and flags.
pub const HEADER_LEN: usize = 6;
/// Size of the metadata length prefix on frames that carry data and metadata.
pub const METADATA_LEN_PREFIX: usize = 3;
/// Largest value a 24-bit length field can hold.
pub const MAX_U24: usize = 0xFF_FFFF;

/// A stream identifier: 31 bits; 0 is the connection itself.
///
/// Clients use odd IDs from 1, servers even IDs from 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(u32);

impl StreamId {
    /// The connection (stream 0).
    pub const CONNECTION: StreamId = StreamId(0);
    /// The largest stream ID, 2^31-1.
    pub const MAX: StreamId = StreamId(0x7FFF_FFFF);

    /// A stream ID; the reserved top bit is cleared.
    pub const fn new(id: u32) -> StreamId {
        StreamId(id & 0x7FFF_FFFF)
    }

    /// The numeric value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// True for stream 0.
    pub const fn is_connection(self) -> bool {
        self.0 == 0
    }

    /// True for IDs a client creates (odd).
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for StreamId {
    fn from(id: u32) -> Self {
        StreamId::new(id)
    }
}

/// The 6-bit frame type. An open newtype: unknown values are kept as they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(u8);

impl FrameType {
    /// Reserved (0x00).
    pub const RESERVED: FrameType = FrameType(0x00);
    /// SETUP (0x01).
    pub const SETUP: FrameType = FrameType(0x01);
    /// LEASE (0x02).
    pub const LEASE: FrameType = FrameType(0x02);
    /// KEEPALIVE (0x03).
    pub const KEEPALIVE: FrameType = FrameType(0x03);
    /// REQUEST_RESPONSE (0x04).
    pub const REQUEST_RESPONSE: FrameType = FrameType(0x04);
    /// REQUEST_FNF (0x05).
    pub const REQUEST_FNF: FrameType = FrameType(0x05);
    /// REQUEST_STREAM (0x06).
    pub const REQUEST_STREAM: FrameType = FrameType(0x06);
    /// REQUEST_CHANNEL (0x07).
    pub const REQUEST_CHANNEL: FrameType = FrameType(0x07);
    /// REQUEST_N (0x08).
    pub const REQUEST_N: FrameType = FrameType(0x08);
    /// CANCEL (0x09).
    pub const CANCEL: FrameType = FrameType(0x09);
    /// PAYLOAD (0x0A).
    pub const PAYLOAD: FrameType = FrameType(0x0A);
    /// ERROR (0x0B).
    pub const ERROR: FrameType = FrameType(0x0B);
    /// METADATA_PUSH (0x0C).
    pub const METADATA_PUSH: FrameType = FrameType(0x0C);
    /// RESUME (0x0D).
    pub const RESUME: FrameType = FrameType(0x0D);
    /// RESUME_OK (0x0E).
    pub const RESUME_OK: FrameType = FrameType(0x0E);
    /// EXT (0x3F).
    pub const EXT: FrameType = FrameType(0x3F);

    /// A frame type from its 6-bit value (higher bits are dropped).
    pub const fn new(v: u8) -> FrameType {
        FrameType(v & 0x3F)
    }

    /// The numeric value.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The spec's name, or `None` for an unassigned value.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "RESERVED",
            0x01 => "SETUP",
            0x02 => "LEASE",
            0x03 => "KEEPALIVE",
            0x04 => "REQUEST_RESPONSE",
            0x05 => "REQUEST_FNF",
            0x06 => "REQUEST_STREAM",
            0x07 => "REQUEST_CHANNEL",
            0x08 => "REQUEST_N",
            0x09 => "CANCEL",
            0x0A => "PAYLOAD",
            0x0B => "ERROR",
            0x0C => "METADATA_PUSH",
            0x0D => "RESUME",
            0x0E => "RESUME_OK",
            0x3F => "EXT",
            _ => return None,
        })
    }

    /// True for the frames counted in the resume position (REQUEST_*, REQUEST_N, CANCEL, ERROR,
    /// PAYLOAD), per Protocol.md "Implied Position".
    pub const fn is_resumable(self) -> bool {
        matches!(self.0, 0x04..=0x0B)
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "FrameType({:#04x})", self.0),
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The 10 flag bits of the frame header. An open newtype: undefined bits survive decoding.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u16);

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// (I)gnore: the frame may be ignored if not understood.
    pub const IGNORE: Flags = Flags(0x200);
    /// (M)etadata present.
    pub const METADATA: Flags = Flags(0x100);
    /// (F)ollows, on REQUEST_* and PAYLOAD: more fragments follow.
    pub const FOLLOWS: Flags = Flags(0x80);
    /// (C)omplete, on PAYLOAD and REQUEST_CHANNEL.
    pub const COMPLETE: Flags = Flags(0x40);
    /// (N)ext, on PAYLOAD.
    pub const NEXT: Flags = Flags(0x20);
    /// (R)esume enable, on SETUP.
    pub const RESUME_ENABLE: Flags = Flags(0x80);
    /// (L)ease, on SETUP.
    pub const LEASE: Flags = Flags(0x40);
    /// (R)espond, on KEEPALIVE.
    pub const RESPOND: Flags = Flags(0x80);

    /// Flags from a 10-bit value (higher bits are dropped).
    pub const fn new(bits: u16) -> Flags {
        Flags(bits & 0x3FF)
    }

    /// The numeric value.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// True when every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with `other` set when `on`.
    pub const fn with(self, other: Flags, on: bool) -> Flags {
        if on { Flags(self.0 | other.0) } else { self }
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#05x})", self.0)
    }
}

/// The six-byte header every frame starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Stream the frame belongs to (0: the connection).
    pub stream_id: StreamId,
    /// Frame type.
    pub frame_type: FrameType,
    /// Flag bits.
    pub flags: Flags,
}

impl Header {
    /// Reads the header at the start of `buf`, or `None` when fewer than six bytes are given.
    pub fn peek(buf: &[u8]) -> Option<Header> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let sid = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let tf = u16::from_be_bytes([buf[4], buf[5]]);
        Some(Header {
            stream_id: StreamId::new(sid),
            frame_type: FrameType::new((tf >> 10) as u8),
            flags: Flags::new(tf & 0x3FF),
        })
    }

    /// Writes the header.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let mut h = [0u8; HEADER_LEN];
        self.write_to(&mut h);
        dst.put_slice(&h);
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    fn write_to(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.stream_id.get().to_be_bytes());
        let tf = ((self.frame_type.get() as u16) << 10) | self.flags.bits();
        out[4..6].copy_from_slice(&tf.to_be_bytes());
    }
}

/// Why a frame could not be decoded. Each variant names the field that was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ended before a field was complete.
    #[error("frame truncated in {field}: needed {needed} bytes, {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The metadata length prefix is larger than the rest of the frame.
    #[error("metadata length {declared} exceeds the {remaining} bytes left in the frame")]
    MetadataLength {
        /// Declared metadata length.
        declared: usize,
        /// Bytes left after the prefix.
        remaining: usize,
    },
    /// A frame longer than the allowed maximum was announced.
    #[error("frame length {len} exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A string field is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
}

/// Why a frame could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The frame is larger than 16,777,215 bytes; it must be fragmented.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    FrameTooLarge {
        /// Encoded length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A length-prefixed field is longer than its prefix can express.
    #[error("{field} is {len} bytes, more than its length field allows ({max})")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

/// Any RSocket frame.
///
/// ```
/// use bytes::BytesMut;
/// use rsocket_proto::{Frame, Payload, StreamId, frame::RequestResponse};
///
/// let frame = Frame::RequestResponse(RequestResponse {
///     stream_id: StreamId::new(1),
///     follows: false,
///     payload: Payload::from("ping"),
/// });
/// let mut buf = BytesMut::new();
/// frame.encode(&mut buf).unwrap();
/// assert_eq!(buf.len(), frame.encoded_len());
/// assert_eq!(Frame::decode(buf.freeze()).unwrap(), frame);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// SETUP (0x01). Boxed: it is by far the largest frame and is sent once, so every other
    /// frame stays small to move.
    Setup(Box<Setup>),
    /// LEASE (0x02).
    Lease(Lease),
    /// KEEPALIVE (0x03).
    Keepalive(Keepalive),
    /// REQUEST_RESPONSE (0x04).
    RequestResponse(RequestResponse),
    /// REQUEST_FNF (0x05).
    RequestFnf(RequestFnf),
    /// REQUEST_STREAM (0x06).
    RequestStream(RequestStream),
    /// REQUEST_CHANNEL (0x07).
    RequestChannel(RequestChannel),
    /// REQUEST_N (0x08).
    RequestN(RequestN),
    /// CANCEL (0x09).
    Cancel(Cancel),
    /// PAYLOAD (0x0A).
    Payload(PayloadFrame),
    /// ERROR (0x0B).
    Error(ErrorFrame),
    /// METADATA_PUSH (0x0C).
    MetadataPush(MetadataPush),
    /// RESUME (0x0D).
    Resume(Resume),
    /// RESUME_OK (0x0E).
    ResumeOk(ResumeOk),
    /// EXT (0x3F).
    Ext(Ext),
    /// A frame of an unassigned type, kept byte for byte.
    Unknown(UnknownFrame),
}

/// What each frame type implements; the [`Frame`] enum dispatches to it.
pub(crate) trait Body: Sized {
    fn header(&self) -> Header;
    fn body_len(&self) -> usize;
    fn encode_body(&self, dst: &mut impl BufMut);
    /// The body without its payload's data (always the last field of a frame that has
    /// one). Must agree with [`Frame::payload`]: frames for which it is `None` (SETUP among
    /// them, whose payload it does not expose) write their whole body.
    fn encode_head(&self, dst: &mut impl BufMut) {
        self.encode_body(dst)
    }
    fn decode_body(h: Header, r: &mut Reader) -> Result<Self, DecodeError>;
}

macro_rules! dispatch {
    ($self:expr, $f:ident => $e:expr) => {
        match $self {
            Frame::Setup($f) => $e,
            Frame::Lease($f) => $e,
            Frame::Keepalive($f) => $e,
            Frame::RequestResponse($f) => $e,
            Frame::RequestFnf($f) => $e,
            Frame::RequestStream($f) => $e,
            Frame::RequestChannel($f) => $e,
            Frame::RequestN($f) => $e,
            Frame::Cancel($f) => $e,
            Frame::Payload($f) => $e,
            Frame::Error($f) => $e,
            Frame::MetadataPush($f) => $e,
            Frame::Resume($f) => $e,
            Frame::ResumeOk($f) => $e,
            Frame::Ext($f) => $e,
            Frame::Unknown($f) => $e,
        }
    };
}

impl Frame {
    /// Decodes one frame; `buf` holds exactly the frame, without a length prefix.
    pub fn decode(buf: Bytes) -> Result<Frame, DecodeError> {
        let h = Header::peek(&buf).ok_or(DecodeError::Truncated {
            field: "frame header",
            needed: HEADER_LEN,
            remaining: buf.len(),
        })?;
        if buf.len() > MAX_FRAME_LEN {
            return Err(DecodeError::FrameTooLarge {
                len: buf.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let mut buf = buf;
        bytes::Buf::advance(&mut buf, HEADER_LEN);
        let mut r = Reader::new(buf);
        Ok(match h.frame_type {
            FrameType::SETUP => Frame::Setup(Box::new(Setup::decode_body(h, &mut r)?)),
            FrameType::LEASE => Frame::Lease(Lease::decode_body(h, &mut r)?),
            FrameType::KEEPALIVE => Frame::Keepalive(Keepalive::decode_body(h, &mut r)?),
            FrameType::REQUEST_RESPONSE => {
                Frame::RequestResponse(RequestResponse::decode_body(h, &mut r)?)
            }
            FrameType::REQUEST_FNF => Frame::RequestFnf(RequestFnf::decode_body(h, &mut r)?),
            FrameType::REQUEST_STREAM => {
                Frame::RequestStream(RequestStream::decode_body(h, &mut r)?)
            }
            FrameType::REQUEST_CHANNEL => {
                Frame::RequestChannel(RequestChannel::decode_body(h, &mut r)?)
            }
            FrameType::REQUEST_N => Frame::RequestN(RequestN::decode_body(h, &mut r)?),
            FrameType::CANCEL => Frame::Cancel(Cancel::decode_body(h, &mut r)?),
            FrameType::PAYLOAD => Frame::Payload(PayloadFrame::decode_body(h, &mut r)?),
            FrameType::ERROR => Frame::Error(ErrorFrame::decode_body(h, &mut r)?),
            FrameType::METADATA_PUSH => Frame::MetadataPush(MetadataPush::decode_body(h, &mut r)?),
            FrameType::RESUME => Frame::Resume(Resume::decode_body(h, &mut r)?),
            FrameType::RESUME_OK => Frame::ResumeOk(ResumeOk::decode_body(h, &mut r)?),
            FrameType::EXT => Frame::Ext(Ext::decode_body(h, &mut r)?),
            _ => Frame::Unknown(UnknownFrame::decode_body(h, &mut r)?),
        })
    }

    /// The payload of a PAYLOAD, REQUEST_RESPONSE or REQUEST_FNF frame (whose bodies are
    /// just the payload) given whole in `buf`, with `h` its header: what [`Frame::decode`]
    /// would put in the frame, without building one. The connection's path for the frames
    /// most traffic consists of.
    pub(crate) fn decode_payload_only(
        h: Header,
        buf: Bytes,
    ) -> Result<crate::Payload, DecodeError> {
        debug_assert!(matches!(
            h.frame_type,
            FrameType::PAYLOAD | FrameType::REQUEST_RESPONSE | FrameType::REQUEST_FNF
        ));
        if buf.len() > MAX_FRAME_LEN {
            return Err(DecodeError::FrameTooLarge {
                len: buf.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let mut buf = buf;
        bytes::Buf::advance(&mut buf, HEADER_LEN);
        Reader::new(buf).payload(h.flags.contains(Flags::METADATA))
    }

    /// The frame's header (stream ID, type and flags) as it will be encoded.
    pub fn header(&self) -> Header {
        dispatch!(self, f => f.header())
    }

    /// The stream the frame belongs to (0 for connection frames).
    pub fn stream_id(&self) -> StreamId {
        self.header().stream_id
    }

    /// The frame type.
    pub fn frame_type(&self) -> FrameType {
        // Without building the header: the connection asks for every frame it queues.
        match self {
            Frame::Setup(_) => FrameType::SETUP,
            Frame::Lease(_) => FrameType::LEASE,
            Frame::Keepalive(_) => FrameType::KEEPALIVE,
            Frame::RequestResponse(_) => FrameType::REQUEST_RESPONSE,
            Frame::RequestFnf(_) => FrameType::REQUEST_FNF,
            Frame::RequestStream(_) => FrameType::REQUEST_STREAM,
            Frame::RequestChannel(_) => FrameType::REQUEST_CHANNEL,
            Frame::RequestN(_) => FrameType::REQUEST_N,
            Frame::Cancel(_) => FrameType::CANCEL,
            Frame::Payload(_) => FrameType::PAYLOAD,
            Frame::Error(_) => FrameType::ERROR,
            Frame::MetadataPush(_) => FrameType::METADATA_PUSH,
            Frame::Resume(_) => FrameType::RESUME,
            Frame::ResumeOk(_) => FrameType::RESUME_OK,
            Frame::Ext(_) => FrameType::EXT,
            Frame::Unknown(u) => u.frame_type,
        }
    }

    /// Bytes [`Frame::encode`] writes (header and body, no length prefix).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + dispatch!(self, f => f.body_len())
    }

    /// Writes the frame (without a length prefix).
    ///
    /// Fails without writing anything when the frame exceeds [`MAX_FRAME_LEN`] or a field is too
    /// long for its length prefix.
    pub fn encode(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        self.check_encodable(self.encoded_len())?;
        self.header().encode(dst);
        dispatch!(self, f => f.encode_body(dst));
        Ok(())
    }

    /// Writes the 24-bit length prefix and then the frame, as byte-stream transports need.
    pub fn encode_length_prefixed(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        self.encode_length_prefixed_sized(self.encoded_len(), dst)
    }

    /// [`Frame::encode_length_prefixed`] for a caller that knows the frame's
    /// [`Frame::encoded_len`] already.
    pub(crate) fn encode_length_prefixed_sized(
        &self,
        len: usize,
        dst: &mut impl BufMut,
    ) -> Result<(), EncodeError> {
        self.put_prefix_and_header(len, dst)?;
        dispatch!(self, f => f.encode_body(dst));
        Ok(())
    }

    /// Like [`Frame::encode_length_prefixed`] without the payload's data, which is returned
    /// for the caller to write right after (empty, with the whole frame written, when
    /// [`Frame::payload`] is `None`, as for SETUP): a transport
    /// that can write several buffers at once sends large payloads without copying them.
    pub fn encode_length_prefixed_head(&self, dst: &mut impl BufMut) -> Result<Bytes, EncodeError> {
        self.put_prefix_and_header(self.encoded_len(), dst)?;
        dispatch!(self, f => f.encode_head(dst));
        Ok(self.payload().map(|p| p.data.clone()).unwrap_or_default())
    }

    /// Checks the frame can be encoded, then writes its length prefix and header in one copy
    /// (most frames are small, and every `put` into a growable buffer checks its capacity).
    fn put_prefix_and_header(&self, len: usize, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        self.check_encodable(len)?;
        let mut head = [0u8; 3 + HEADER_LEN];
        head[..3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        self.header().write_to(&mut head[3..]);
        dst.put_slice(&head);
        Ok(())
    }

    /// Checks a frame of encoded length `len` can be written.
    fn check_encodable(&self, len: usize) -> Result<(), EncodeError> {
        if len > MAX_FRAME_LEN {
            return Err(EncodeError::FrameTooLarge {
                len,
                max: MAX_FRAME_LEN,
            });
        }
        if let Frame::Setup(s) = self {
            s.check_fields()?;
        }
        if let Frame::Resume(r) = self {
            if r.token.len() > u16::MAX as usize {
                return Err(EncodeError::FieldTooLong {
                    field: "resume token",
                    len: r.token.len(),
                    max: u16::MAX as usize,
                });
            }
        }
        Ok(())
    }

    /// The data and metadata the frame carries, for the frames that carry a payload.
    pub fn payload(&self) -> Option<&crate::Payload> {
        match self {
            Frame::RequestResponse(f) => Some(&f.payload),
            Frame::RequestFnf(f) => Some(&f.payload),
            Frame::RequestStream(f) => Some(&f.payload),
            Frame::RequestChannel(f) => Some(&f.payload),
            Frame::Payload(f) => Some(&f.payload),
            Frame::Ext(f) => Some(&f.payload),
            _ => None,
        }
    }
}

/// Body length of an optional metadata (with its 24-bit prefix) plus data.
pub(crate) fn payload_len(p: &crate::Payload) -> usize {
    p.metadata
        .as_ref()
        .map_or(0, |m| METADATA_LEN_PREFIX + m.len())
        + p.data.len()
}

/// Writes optional metadata (with its 24-bit prefix) and data.
pub(crate) fn put_payload(dst: &mut impl BufMut, p: &crate::Payload) {
    put_metadata(dst, p);
    if !p.data.is_empty() {
        dst.put_slice(&p.data);
    }
}

/// Writes optional metadata (with its 24-bit prefix): a payload without its data.
pub(crate) fn put_metadata(dst: &mut impl BufMut, p: &crate::Payload) {
    if let Some(m) = &p.metadata {
        dst.put_slice(&(m.len() as u32).to_be_bytes()[1..]);
        dst.put_slice(m);
    }
}

/// The header flags for a payload's metadata presence.
pub(crate) fn metadata_flag(p: &crate::Payload) -> Flags {
    Flags::EMPTY.with(Flags::METADATA, p.metadata.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes under a PAYLOAD, REQUEST_RESPONSE or REQUEST_FNF header give the same
        /// payload (or the same error) as the generic decoder.
        #[test]
        fn decode_payload_only_agrees_with_decode(
            ty in prop_oneof![
                Just(FrameType::PAYLOAD),
                Just(FrameType::REQUEST_RESPONSE),
                Just(FrameType::REQUEST_FNF),
            ],
            id in any::<u32>(),
            flags in 0u16..0x400,
            body in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut buf = Vec::with_capacity(HEADER_LEN + body.len());
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&((u16::from(ty.get()) << 10) | flags).to_be_bytes());
            buf.extend_from_slice(&body);
            let buf = Bytes::from(buf);
            let h = Header::peek(&buf).unwrap();
            let want = Frame::decode(buf.clone()).map(|f| f.payload().cloned().unwrap());
            prop_assert_eq!(Frame::decode_payload_only(h, buf), want);
        }
    }
}
