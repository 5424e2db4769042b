//! WAMP RawSocket: the 4-byte handshake and length-prefixed frames (spec "RawSocket Transport").
//!
//! ```text
//! handshake (client → router):  0x7F  LLLL SSSS  0x00 0x00
//!   LLLL: the client's maximum receive length, 2^(9+LLLL) bytes (512 B … 16 MiB)
//!   SSSS: serializer (1 JSON, 2 MessagePack, 3 CBOR)
//! reply (router → client):      0x7F  LLLL SSSS  0x00 0x00     accepted, router's max length
//!                               0x7F  EEEE 0000  0x00 0x00     error EEEE (see HandshakeError)
//! frame:                        RRRRR TTT | 24-bit big-endian length | payload
//!   TTT: 0 WAMP message, 1 PING, 2 PONG (PONG echoes the PING payload); RRRRR must be 0
//! ```
//!
//! The sans-IO pieces ([`ClientHello`], [`HandshakeReply`], [`FrameHeader`]) are plain values;
//! [`read_frame`] and [`write_frame`] put them on a tokio stream.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::serializer::Serializer;

/// The magic first octet of both handshake messages.
pub const MAGIC: u8 = 0x7F;

/// Largest frame payload the 24-bit length can carry.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// Handshake error codes a router may answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// 1: serializer unsupported.
    #[error("serializer unsupported")]
    SerializerUnsupported,
    /// 2: maximum message length unacceptable.
    #[error("maximum message length unacceptable")]
    LengthUnacceptable,
    /// 3: use of reserved bits (unsupported feature).
    #[error("use of reserved bits")]
    ReservedBits,
    /// 4: maximum connection count reached.
    #[error("maximum connection count reached")]
    ConnectionLimit,
    /// Any other code (0 is illegal).
    #[error("unknown handshake error {0}")]
    Other(u8),
}

impl HandshakeError {
    /// The 4-bit code.
    pub fn code(self) -> u8 {
        match self {
            HandshakeError::SerializerUnsupported => 1,
            HandshakeError::LengthUnacceptable => 2,
            HandshakeError::ReservedBits => 3,
            HandshakeError::ConnectionLimit => 4,
            HandshakeError::Other(c) => c & 0x0F,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            1 => HandshakeError::SerializerUnsupported,
            2 => HandshakeError::LengthUnacceptable,
            3 => HandshakeError::ReservedBits,
            4 => HandshakeError::ConnectionLimit,
            c => HandshakeError::Other(c),
        }
    }
}

/// The exponent `LLLL` for the largest `2^(9+LLLL)` not above `max` (at least 512 bytes).
pub fn length_exponent(max: usize) -> u8 {
    let mut l = 0u8;
    while l < 15 && (1usize << (9 + l + 1)) <= max {
        l += 1;
    }
    l
}

/// The length `2^(9+exp)` for an exponent.
pub fn length_from_exponent(exp: u8) -> usize {
    1usize << (9 + (exp & 0x0F))
}

/// The client's opening handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello {
    /// Requested serializer.
    pub serializer: Serializer,
    /// Most bytes the client accepts in one message.
    pub max_len: usize,
}

/// What a router makes of the 4 bytes a client opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientHelloParse {
    /// Valid request.
    Ok(ClientHello),
    /// Answer with this error, then close.
    Reject(HandshakeError),
    /// Not RawSocket at all (first octet not 0x7F): close without reply.
    NotRawSocket,
}

impl ClientHello {
    /// Encodes the 4 handshake bytes.
    pub fn encode(self) -> [u8; 4] {
        [
            MAGIC,
            (length_exponent(self.max_len) << 4) | self.serializer.rawsocket_id(),
            0,
            0,
        ]
    }

    /// Parses the client's 4 bytes.
    pub fn parse(b: [u8; 4]) -> ClientHelloParse {
        if b[0] != MAGIC {
            return ClientHelloParse::NotRawSocket;
        }
        if b[1] & 0x0F == 0 {
            // Serializer 0 is illegal: "fail the connection" without a reply (the spec's
            // router example), unlike a merely unsupported serializer.
            return ClientHelloParse::NotRawSocket;
        }
        if b[2] != 0 || b[3] != 0 {
            return ClientHelloParse::Reject(HandshakeError::ReservedBits);
        }
        match Serializer::from_rawsocket_id(b[1] & 0x0F) {
            Some(serializer) => ClientHelloParse::Ok(ClientHello {
                serializer,
                max_len: length_from_exponent(b[1] >> 4),
            }),
            None => ClientHelloParse::Reject(HandshakeError::SerializerUnsupported),
        }
    }
}

/// The router's handshake reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeReply {
    /// Accepted, with the router's maximum receive length.
    Accept {
        /// The serializer (echoed).
        serializer: Serializer,
        /// Most bytes the router accepts in one message.
        max_len: usize,
    },
    /// Refused.
    Error(HandshakeError),
}

impl HandshakeReply {
    /// Encodes the 4 reply bytes.
    pub fn encode(self) -> [u8; 4] {
        match self {
            HandshakeReply::Accept {
                serializer,
                max_len,
            } => [
                MAGIC,
                (length_exponent(max_len) << 4) | serializer.rawsocket_id(),
                0,
                0,
            ],
            HandshakeReply::Error(e) => [MAGIC, e.code() << 4, 0, 0],
        }
    }

    /// Parses the router's 4 bytes (client side); `None` if they are not a RawSocket reply.
    pub fn parse(b: [u8; 4]) -> Option<HandshakeReply> {
        if b[0] != MAGIC || b[2] != 0 || b[3] != 0 {
            return None;
        }
        let ser = b[1] & 0x0F;
        if ser == 0 {
            return Some(HandshakeReply::Error(HandshakeError::from_code(b[1] >> 4)));
        }
        let serializer = Serializer::from_rawsocket_id(ser)?;
        Some(HandshakeReply::Accept {
            serializer,
            max_len: length_from_exponent(b[1] >> 4),
        })
    }
}

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A WAMP message.
    Message,
    /// PING: the peer must answer PONG with the same payload.
    Ping,
    /// PONG.
    Pong,
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame type.
    pub kind: FrameKind,
    /// Payload length.
    pub len: usize,
}

/// A frame header is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Reserved bits set or unknown frame type.
    #[error("invalid frame type octet {0:#04x}")]
    BadType(u8),
    /// Longer than the receiver's announced maximum.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Announced length.
        len: usize,
        /// Our limit.
        max: usize,
    },
}

impl FrameHeader {
    /// Encodes the 4 header bytes (`len` must be at most [`MAX_FRAME_LEN`]).
    pub fn encode(self) -> [u8; 4] {
        let t = match self.kind {
            FrameKind::Message => 0,
            FrameKind::Ping => 1,
            FrameKind::Pong => 2,
        };
        let l = self.len.min(MAX_FRAME_LEN) as u32;
        [t, (l >> 16) as u8, (l >> 8) as u8, l as u8]
    }

    /// Parses 4 header bytes against our receive limit `max`.
    pub fn parse(b: [u8; 4], max: usize) -> Result<FrameHeader, FrameError> {
        let kind = match b[0] {
            0 => FrameKind::Message,
            1 => FrameKind::Ping,
            2 => FrameKind::Pong,
            other => return Err(FrameError::BadType(other)),
        };
        let len = (usize::from(b[1]) << 16) | (usize::from(b[2]) << 8) | usize::from(b[3]);
        if len > max {
            return Err(FrameError::TooLong { len, max });
        }
        Ok(FrameHeader { kind, len })
    }
}

/// Reads one frame, enforcing `max` before allocating. `Ok(None)` on a clean EOF between frames.
/// Not cancel-safe: run it in a loop that is not raced against other futures mid-frame.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<(FrameKind, Vec<u8>)>> {
    let mut h = [0u8; 4];
    // Only an EOF before the first header byte is clean; one inside the header is an error.
    match r.read_exact(&mut h[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut h[1..]).await?;
    let header = FrameHeader::parse(h, max)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    // Grow the buffer as bytes arrive: a peer that announces a large frame and sends little
    // costs only what it sent, not the announced length.
    let mut body = Vec::with_capacity(header.len.min(64 * 1024));
    let n = (&mut *r)
        .take(header.len as u64)
        .read_to_end(&mut body)
        .await?;
    if n < header.len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection ended inside a RawSocket frame",
        ));
    }
    Ok(Some((header.kind, body)))
}

/// Writes one frame (not flushed; the caller flushes once per batch).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: FrameKind,
    payload: &[u8],
) -> std::io::Result<()> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "frame too long",
        ));
    }
    w.write_all(
        &FrameHeader {
            kind,
            len: payload.len(),
        }
        .encode(),
    )
    .await?;
    w.write_all(payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents() {
        assert_eq!(length_exponent(0), 0);
        assert_eq!(length_exponent(512), 0);
        assert_eq!(length_exponent(1023), 0);
        assert_eq!(length_exponent(1 << 20), 11);
        assert_eq!(length_exponent(usize::MAX), 15);
        assert_eq!(length_from_exponent(15), 1 << 24);
    }

    #[test]
    fn client_hello_round_trip_and_errors() {
        let h = ClientHello {
            serializer: Serializer::Cbor,
            max_len: 1 << 24,
        };
        assert_eq!(h.encode(), [0x7F, 0xF3, 0, 0]);
        assert_eq!(ClientHello::parse(h.encode()), ClientHelloParse::Ok(h));
        assert_eq!(
            ClientHello::parse([0x47, 0x45, 0x54, 0x20]),
            ClientHelloParse::NotRawSocket
        );
        assert_eq!(
            ClientHello::parse([0x7F, 0xF9, 0, 0]),
            ClientHelloParse::Reject(HandshakeError::SerializerUnsupported)
        );
        assert_eq!(
            ClientHello::parse([0x7F, 0xF0, 0, 0]),
            ClientHelloParse::NotRawSocket,
            "serializer 0 is illegal: the connection fails without a reply"
        );
        assert_eq!(
            ClientHello::parse([0x7F, 0xF1, 0, 1]),
            ClientHelloParse::Reject(HandshakeError::ReservedBits)
        );
    }

    #[test]
    fn replies() {
        let a = HandshakeReply::Accept {
            serializer: Serializer::Json,
            max_len: 1 << 20,
        };
        assert_eq!(a.encode(), [0x7F, 0xB1, 0, 0]);
        assert_eq!(HandshakeReply::parse(a.encode()), Some(a));
        let e = HandshakeReply::Error(HandshakeError::SerializerUnsupported);
        assert_eq!(e.encode(), [0x7F, 0x10, 0, 0]);
        assert_eq!(HandshakeReply::parse(e.encode()), Some(e));
        assert_eq!(HandshakeReply::parse([0, 0, 0, 0]), None);
    }

    #[test]
    fn frame_headers() {
        let h = FrameHeader {
            kind: FrameKind::Ping,
            len: 0x010203,
        };
        assert_eq!(h.encode(), [1, 1, 2, 3]);
        assert_eq!(FrameHeader::parse(h.encode(), 1 << 24), Ok(h));
        assert_eq!(
            FrameHeader::parse([0, 0, 4, 1], 1024),
            Err(FrameError::TooLong {
                len: 1025,
                max: 1024
            })
        );
        assert_eq!(
            FrameHeader::parse([8, 0, 0, 1], 1024),
            Err(FrameError::BadType(8))
        );
        assert_eq!(
            FrameHeader::parse([3, 0, 0, 1], 1024),
            Err(FrameError::BadType(3))
        );
    }

    #[tokio::test]
    async fn frames_over_a_pipe() {
        let (mut a, mut b) = tokio::io::duplex(64);
        write_frame(&mut a, FrameKind::Message, b"hello")
            .await
            .unwrap();
        a.flush().await.unwrap();
        assert_eq!(
            read_frame(&mut b, 100).await.unwrap(),
            Some((FrameKind::Message, b"hello".to_vec()))
        );
        write_frame(&mut a, FrameKind::Message, &[0; 50])
            .await
            .unwrap();
        assert!(read_frame(&mut b, 10).await.is_err());
        drop(a);
        let (_a2, mut b2) = tokio::io::duplex(64);
        drop(_a2);
        assert_eq!(read_frame(&mut b2, 10).await.unwrap(), None);
    }
}
