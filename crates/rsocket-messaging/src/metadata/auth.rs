//! Authentication metadata: `message/x.rsocket.authentication.v0`
//! (Extensions/Security/Authentication.md, Simple.md, Bearer.md, WellKnownAuthTypes.md).
//!
//! ```text
//! +-+-------------+------------------------------+-------------------------------+
//! |A| Auth ID/Len | Auth type string (if A=0) ...| Authentication payload     ...|
//! +-+-------------+------------------------------+-------------------------------+
//!
//! simple payload:  | username length (u16 BE) | username (UTF-8) | password (UTF-8) |
//! bearer payload:  | token (UTF-8)                                               |
//! ```
//!
//! As for MIME types, a custom type string's length is stored minus one (1..=128 bytes).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{Location, MetadataError};
use super::mime::{ID_MASK, WELL_KNOWN_FLAG, check_ascii_name};
use super::reader::Reader;

/// A well-known authentication type: the 7-bit id of WellKnownAuthTypes.md.
///
/// An open newtype like [`WellKnownMimeType`](super::WellKnownMimeType): any id in `0..=0x7F`
/// is representable, so ids the spec reserves survive a round trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WellKnownAuthType(u8);

impl WellKnownAuthType {
    /// `simple` (id `0x00`): username and password (Simple.md).
    pub const SIMPLE: Self = Self(0x00);
    /// `bearer` (id `0x01`): a bearer token (Bearer.md).
    pub const BEARER: Self = Self(0x01);
    /// Every type the spec names, in id order.
    pub const ALL: &'static [Self] = &[Self::SIMPLE, Self::BEARER];
    /// The largest id: ids are 7 bits.
    pub const MAX_ID: u8 = ID_MASK;

    /// The well-known type with this id, named or reserved; `None` if `id > 0x7F`.
    pub const fn from_id(id: u8) -> Option<Self> {
        if id <= Self::MAX_ID {
            Some(Self(id))
        } else {
            None
        }
    }

    /// The 7-bit id.
    pub const fn id(self) -> u8 {
        self.0
    }

    /// The type's name; `None` for a reserved id.
    pub const fn as_str(self) -> Option<&'static str> {
        match self.0 {
            0x00 => Some("simple"),
            0x01 => Some("bearer"),
            _ => None,
        }
    }

    /// Looks up a type name (exact match).
    #[allow(clippy::should_implement_trait)] // a lookup that may find nothing: `Option`
    pub fn from_str(name: &str) -> Option<Self> {
        match name {
            "simple" => Some(Self::SIMPLE),
            "bearer" => Some(Self::BEARER),
            _ => None,
        }
    }

    /// Whether the spec names this id.
    pub const fn is_named(self) -> bool {
        self.as_str().is_some()
    }
}

impl TryFrom<u8> for WellKnownAuthType {
    type Error = MetadataError;

    fn try_from(id: u8) -> Result<Self, MetadataError> {
        Self::from_id(id).ok_or(MetadataError::IdOutOfRange {
            at: Location::Value,
            field: "well-known auth type",
            id,
        })
    }
}

impl fmt::Debug for WellKnownAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => write!(f, "WellKnownAuthType({:#04x} {s})", self.0),
            None => write!(f, "WellKnownAuthType({:#04x} reserved)", self.0),
        }
    }
}

impl fmt::Display for WellKnownAuthType {
    /// The type name, or `reserved(0xNN)` for an unnamed id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => write!(f, "reserved({:#04x})", self.0),
        }
    }
}

/// An authentication type sent as a string: US-ASCII, 1..=128 bytes (checked when built).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomAuthType(String);

impl CustomAuthType {
    /// Longest custom type name, in bytes.
    pub const MAX_LEN: usize = super::mime::MAX_NAME_LEN;

    /// Checks and copies a type name.
    pub fn new(name: &str) -> Result<Self, MetadataError> {
        check_ascii_name(name.as_bytes(), Location::Value, "custom auth type")?;
        Ok(Self(name.to_owned()))
    }

    /// The type name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An authentication type: a well-known id or a custom string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// A well-known id, one byte on the wire.
    WellKnown(WellKnownAuthType),
    /// A custom US-ASCII string.
    Custom(CustomAuthType),
}

impl AuthType {
    /// Builds a type from its name, compressing well-known names to their id.
    pub fn parse(name: &str) -> Result<Self, MetadataError> {
        match WellKnownAuthType::from_str(name) {
            Some(known) => Ok(Self::WellKnown(known)),
            None => CustomAuthType::new(name).map(Self::Custom),
        }
    }

    /// The type name; `None` for a reserved well-known id.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::WellKnown(known) => known.as_str(),
            Self::Custom(custom) => Some(custom.as_str()),
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Self::WellKnown(_) => 1,
            Self::Custom(custom) => 1 + custom.as_str().len(),
        }
    }

    fn encode(&self, dst: &mut BytesMut) {
        match self {
            Self::WellKnown(known) => dst.put_u8(WELL_KNOWN_FLAG | known.id()),
            Self::Custom(custom) => {
                let s = custom.as_str().as_bytes();
                // `CustomAuthType` guarantees 1..=128 bytes, so `len - 1` fits in 7 bits.
                dst.put_u8((s.len() - 1) as u8);
                dst.put_slice(s);
            }
        }
    }
}

impl From<WellKnownAuthType> for AuthType {
    fn from(known: WellKnownAuthType) -> Self {
        Self::WellKnown(known)
    }
}

impl From<CustomAuthType> for AuthType {
    fn from(custom: CustomAuthType) -> Self {
        Self::Custom(custom)
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WellKnown(known) => known.fmt(f),
            Self::Custom(custom) => custom.fmt(f),
        }
    }
}

/// Authentication metadata.
///
/// `Debug` output redacts passwords, tokens and custom payloads, so the value can be logged.
///
/// ```
/// use rsocket_messaging::metadata::Authentication;
///
/// let auth = Authentication::bearer("token");
/// let wire = auth.to_bytes().unwrap();
/// assert_eq!(&wire[..], b"\x81token");
/// assert_eq!(Authentication::decode(&wire).unwrap(), auth);
/// assert_eq!(format!("{auth:?}"), r#"Bearer("<redacted>")"#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Authentication {
    /// `simple`: a username (at most 65535 bytes of UTF-8) and a password (UTF-8).
    Simple {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
    /// `bearer`: a UTF-8 token (session id, OAuth 2 token, JWT…).
    Bearer(String),
    /// Any other type, with its payload left encoded: a custom type string, or a well-known id
    /// this crate has no codec for (reserved ids decode here, so they survive a round trip).
    ///
    /// `auth_type` may also be [`SIMPLE`](WellKnownAuthType::SIMPLE) or
    /// [`BEARER`](WellKnownAuthType::BEARER) to send an already-encoded payload; such a value
    /// decodes back as [`Simple`](Self::Simple) or [`Bearer`](Self::Bearer).
    Custom {
        /// The authentication type.
        auth_type: AuthType,
        /// The payload, as the type defines it.
        payload: Bytes,
    },
}

impl Authentication {
    /// Longest username, in bytes: its length prefix is 16 bits.
    pub const MAX_USERNAME_LEN: usize = u16::MAX as usize;

    /// `simple` authentication.
    pub fn simple(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Simple {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `bearer` authentication.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(token.into())
    }

    /// Authentication of another type with an encoded payload.
    pub fn custom(auth_type: impl Into<AuthType>, payload: impl Into<Bytes>) -> Self {
        Self::Custom {
            auth_type: auth_type.into(),
            payload: payload.into(),
        }
    }

    /// The authentication type.
    pub fn auth_type(&self) -> AuthType {
        match self {
            Self::Simple { .. } => AuthType::WellKnown(WellKnownAuthType::SIMPLE),
            Self::Bearer(_) => AuthType::WellKnown(WellKnownAuthType::BEARER),
            Self::Custom { auth_type, .. } => auth_type.clone(),
        }
    }

    /// Decodes authentication metadata. A custom payload is a slice of `buf`.
    pub fn decode(buf: &Bytes) -> Result<Self, MetadataError> {
        const AT: Location = Location::Authentication;
        let mut r = Reader::new(buf);
        let header = r.u8(AT, "auth type header")?;
        if header & WELL_KNOWN_FLAG == 0 {
            let len = usize::from(header) + 1;
            let raw = r.take(len, AT, "auth type")?;
            check_ascii_name(raw, AT, "auth type")?;
            let name = utf8(raw, "auth type")?;
            return Ok(Self::Custom {
                auth_type: AuthType::Custom(CustomAuthType(name)),
                // The rest of `buf` lies within it.
                payload: buf.slice_ref(r.take_rest()),
            });
        }
        match WellKnownAuthType(header & ID_MASK) {
            WellKnownAuthType::SIMPLE => {
                let len = usize::from(r.u16(AT, "username length field")?);
                let username = utf8(r.take(len, AT, "username")?, "username")?;
                let password = utf8(r.take_rest(), "password")?;
                Ok(Self::Simple { username, password })
            }
            WellKnownAuthType::BEARER => Ok(Self::Bearer(utf8(r.take_rest(), "bearer token")?)),
            other => Ok(Self::Custom {
                auth_type: AuthType::WellKnown(other),
                payload: buf.slice_ref(r.take_rest()),
            }),
        }
    }

    /// Bytes the encoded metadata takes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Simple { username, password } => 1 + 2 + username.len() + password.len(),
            Self::Bearer(token) => 1 + token.len(),
            Self::Custom { auth_type, payload } => auth_type.encoded_len() + payload.len(),
        }
    }

    /// Appends the encoded metadata to `dst`. Fails, writing nothing, if the username is
    /// longer than [`MAX_USERNAME_LEN`](Self::MAX_USERNAME_LEN).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), MetadataError> {
        match self {
            Self::Simple { username, password } => {
                let len =
                    u16::try_from(username.len()).map_err(|_| MetadataError::InvalidLength {
                        at: Location::Authentication,
                        field: "username",
                        len: username.len(),
                        min: 0,
                        max: Self::MAX_USERNAME_LEN,
                    })?;
                dst.reserve(self.encoded_len());
                dst.put_u8(WELL_KNOWN_FLAG | WellKnownAuthType::SIMPLE.id());
                dst.put_u16(len);
                dst.put_slice(username.as_bytes());
                dst.put_slice(password.as_bytes());
            }
            Self::Bearer(token) => {
                dst.reserve(self.encoded_len());
                dst.put_u8(WELL_KNOWN_FLAG | WellKnownAuthType::BEARER.id());
                dst.put_slice(token.as_bytes());
            }
            Self::Custom { auth_type, payload } => {
                dst.reserve(self.encoded_len());
                auth_type.encode(dst);
                dst.put_slice(payload);
            }
        }
        Ok(())
    }

    /// The encoded metadata as one buffer.
    pub fn to_bytes(&self) -> Result<Bytes, MetadataError> {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }
}

fn utf8(raw: &[u8], field: &'static str) -> Result<String, MetadataError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| MetadataError::InvalidUtf8 {
            at: Location::Authentication,
            field,
        })
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Simple { username, .. } => f
                .debug_struct("Simple")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
            Self::Custom { auth_type, payload } => f
                .debug_struct("Custom")
                .field("auth_type", auth_type)
                .field(
                    "payload",
                    &format_args!("<{} bytes redacted>", payload.len()),
                )
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(auth: &Authentication) -> Authentication {
        let wire = auth.to_bytes().expect("encodable");
        assert_eq!(wire.len(), auth.encoded_len());
        Authentication::decode(&wire).expect("decodable")
    }

    #[test]
    fn simple_layout_and_round_trip() {
        let auth = Authentication::simple("test", "tset1234");
        let wire = auth.to_bytes().expect("short username");
        assert_eq!(&wire[..3], &[0x80, 0x00, 0x04]);
        assert_eq!(&wire[3..7], b"test");
        assert_eq!(&wire[7..], b"tset1234");
        assert_eq!(round_trip(&auth), auth);
        // rsocket-java's multi-byte username case: the length counts UTF-8 bytes.
        let auth = Authentication::simple("𠜎𠜱𠝹", "p");
        assert_eq!(auth.to_bytes().expect("short")[2], 12);
        assert_eq!(round_trip(&auth), auth);
    }

    #[test]
    fn username_length_bound() {
        let ok = Authentication::simple("u".repeat(65535), "");
        assert_eq!(round_trip(&ok), ok);
        let too_long = Authentication::simple("u".repeat(65536), "p");
        let mut dst = BytesMut::new();
        assert_eq!(
            too_long.encode(&mut dst).map_err(|e| e.to_string()),
            Err("authentication metadata: username length 65536 is outside 0..=65535".to_owned())
        );
        assert!(dst.is_empty());
    }

    #[test]
    fn custom_types_round_trip() {
        let named = CustomAuthType::new("myownauthtype").expect("ascii");
        let auth = Authentication::custom(named, &b"testsecuritybuffer"[..]);
        let wire = auth.to_bytes().expect("valid");
        // rsocket-java: first byte is the name length minus one.
        assert_eq!(wire[0], 12);
        assert_eq!(&wire[1..14], b"myownauthtype");
        assert_eq!(round_trip(&auth), auth);

        let reserved = WellKnownAuthType::from_id(0x05).expect("7-bit id");
        let auth = Authentication::custom(reserved, &b"\x00\xFF"[..]);
        assert_eq!(&auth.to_bytes().expect("valid")[..], &[0x85, 0x00, 0xFF]);
        assert_eq!(round_trip(&auth), auth);
    }

    #[test]
    fn pre_encoded_simple_decodes_as_simple() {
        // rsocket-java's shouldEncodeUsingWellKnownAuthType: type SIMPLE, payload built by hand.
        let auth = Authentication::custom(WellKnownAuthType::SIMPLE, &b"\x00\x01up"[..]);
        assert_eq!(round_trip(&auth), Authentication::simple("u", "p"));
    }

    #[test]
    fn decode_errors_name_the_field() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"",
                "authentication metadata: auth type header needs 1 bytes but only 0 remain",
            ),
            (
                b"\x80\x00",
                "authentication metadata: username length field needs 2 bytes but only 1 remain",
            ),
            (
                b"\x80\x00\x05abc",
                "authentication metadata: username length 5 exceeds remaining 3 bytes",
            ),
            (
                b"\x80\x00\x01\xFFp",
                "authentication metadata: username is not valid UTF-8",
            ),
            (
                b"\x80\x00\x01u\xFF",
                "authentication metadata: password is not valid UTF-8",
            ),
            (
                b"\x81\xC0",
                "authentication metadata: bearer token is not valid UTF-8",
            ),
            (
                b"\x05ab",
                "authentication metadata: auth type length 6 exceeds remaining 2 bytes",
            ),
            (
                b"\x01\xC3\xA9",
                "authentication metadata: auth type is not US-ASCII",
            ),
        ];
        for &(wire, message) in cases {
            let err = Authentication::decode(&Bytes::copy_from_slice(wire)).expect_err(message);
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let simple = format!("{:?}", Authentication::simple("alice", "hunter2"));
        assert!(
            simple.contains("alice") && !simple.contains("hunter2"),
            "{simple}"
        );
        let bearer = format!("{:?}", Authentication::bearer("s3cr3t"));
        assert!(!bearer.contains("s3cr3t"), "{bearer}");
        let custom = format!(
            "{:?}",
            Authentication::custom(WellKnownAuthType::BEARER, "xyz")
        );
        assert!(!custom.contains("xyz"), "{custom}");
    }

    #[test]
    fn type_names() {
        assert_eq!(
            WellKnownAuthType::from_str("simple"),
            Some(WellKnownAuthType::SIMPLE)
        );
        assert_eq!(
            WellKnownAuthType::from_str("bearer").map(|t| t.id()),
            Some(0x01)
        );
        assert_eq!(WellKnownAuthType::from_str("Bearer"), None);
        assert_eq!(
            AuthType::parse("bearer"),
            Ok(AuthType::WellKnown(WellKnownAuthType::BEARER))
        );
        assert!(matches!(AuthType::parse("jwt"), Ok(AuthType::Custom(_))));
        assert!(AuthType::parse("").is_err());
        assert_eq!(
            WellKnownAuthType::from_id(0x10).map(|t| t.to_string()),
            Some("reserved(0x10)".into())
        );
        assert!(WellKnownAuthType::try_from(0x80).is_err());
    }
}
