//! How `RequestSpec::metadata(value, mime)` turns a value into a metadata entry.

use bytes::Bytes;
use serde::Serialize;

use crate::codec::{self, Codecs};
use crate::error::Error;
use crate::metadata::{Authentication, Entry, MimeType, WellKnownMimeType};

/// Encodes a value of type `V` as a metadata entry: the second argument of
/// [`RequestSpec::metadata`](super::RequestSpec::metadata).
///
/// Implemented by [`BEARER`] (a token), [`SIMPLE_AUTH`] (a `(username, password)` pair),
/// [`AUTHENTICATION`] (an [`Authentication`]), and by MIME types (`&str`,
/// [`WellKnownMimeType`], [`MimeType`]) for raw [`Bytes`] or a reference to a `Serialize`
/// value encoded with the codec of that type.
pub trait MetadataEncoder<V> {
    /// Encodes the entry.
    fn encode_entry(&self, value: V, codecs: &Codecs) -> Result<Entry, Error>;
}

/// Bearer-token authentication (`message/x.rsocket.authentication.v0`, type `bearer`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bearer;

/// Bearer-token authentication: `.metadata(token, BEARER)`.
pub const BEARER: Bearer = Bearer;

impl<V: Into<String>> MetadataEncoder<V> for Bearer {
    fn encode_entry(&self, token: V, codecs: &Codecs) -> Result<Entry, Error> {
        AuthenticationEntry.encode_entry(Authentication::bearer(token), codecs)
    }
}

/// Simple (username and password) authentication.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleAuth;

/// Simple authentication: `.metadata(("user", "password"), SIMPLE_AUTH)`.
pub const SIMPLE_AUTH: SimpleAuth = SimpleAuth;

impl<U: Into<String>, P: Into<String>> MetadataEncoder<(U, P)> for SimpleAuth {
    fn encode_entry(&self, (user, password): (U, P), codecs: &Codecs) -> Result<Entry, Error> {
        AuthenticationEntry.encode_entry(Authentication::simple(user, password), codecs)
    }
}

/// Any [`Authentication`] value.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthenticationEntry;

/// Any authentication: `.metadata(Authentication::custom(..), AUTHENTICATION)`.
pub const AUTHENTICATION: AuthenticationEntry = AuthenticationEntry;

impl MetadataEncoder<Authentication> for AuthenticationEntry {
    fn encode_entry(&self, auth: Authentication, _: &Codecs) -> Result<Entry, Error> {
        Ok(Entry::new(
            WellKnownMimeType::MESSAGE_RSOCKET_AUTHENTICATION,
            auth.to_bytes()?,
        )?)
    }
}

fn serialized<V: Serialize + ?Sized>(
    mime: MimeType,
    value: &V,
    codecs: &Codecs,
) -> Result<Entry, Error> {
    let name = mime.to_string();
    let codec = codecs
        .get(&name)
        .ok_or_else(|| Error::NoCodec { mime: name.clone() })?;
    let content = codec::encode_with(codec, &format!("metadata entry {name}"), value)?;
    Ok(Entry::new(mime, content)?)
}

impl MetadataEncoder<Bytes> for MimeType {
    fn encode_entry(&self, value: Bytes, _: &Codecs) -> Result<Entry, Error> {
        Ok(Entry::new(self.clone(), value)?)
    }
}

impl<V: Serialize + ?Sized> MetadataEncoder<&V> for MimeType {
    fn encode_entry(&self, value: &V, codecs: &Codecs) -> Result<Entry, Error> {
        serialized(self.clone(), value, codecs)
    }
}

impl MetadataEncoder<Bytes> for WellKnownMimeType {
    fn encode_entry(&self, value: Bytes, codecs: &Codecs) -> Result<Entry, Error> {
        MimeType::from(*self).encode_entry(value, codecs)
    }
}

impl<V: Serialize + ?Sized> MetadataEncoder<&V> for WellKnownMimeType {
    fn encode_entry(&self, value: &V, codecs: &Codecs) -> Result<Entry, Error> {
        serialized(MimeType::from(*self), value, codecs)
    }
}

impl MetadataEncoder<Bytes> for &str {
    fn encode_entry(&self, value: Bytes, codecs: &Codecs) -> Result<Entry, Error> {
        MimeType::parse(self)?.encode_entry(value, codecs)
    }
}

impl<V: Serialize + ?Sized> MetadataEncoder<&V> for &str {
    fn encode_entry(&self, value: &V, codecs: &Codecs) -> Result<Entry, Error> {
        serialized(MimeType::parse(self)?, value, codecs)
    }
}
