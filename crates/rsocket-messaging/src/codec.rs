//! Codecs keyed by MIME type: JSON, CBOR, MessagePack, plain text and raw bytes, and your own.
//!
//! A [`Codec`] turns any `serde` value into bytes and back for one MIME type. It is
//! object-safe (values cross it type-erased with [`erased_serde`]), so a [`Codecs`] registry
//! can pick one at run time from the connection's data MIME type or a metadata entry's MIME
//! type, the way tonic picks a codec per service, but per connection.
//!
//! ```
//! use rsocket_messaging::codec::Codecs;
//!
//! let codecs = Codecs::default();
//! let bytes = codecs.encode("application/json", &vec![1, 2, 3]).unwrap();
//! assert_eq!(&bytes[..], b"[1,2,3]");
//! let back: Vec<u32> = codecs.decode("application/json", &bytes).unwrap();
//! assert_eq!(back, [1, 2, 3]);
//! let err = codecs.decode::<Vec<u32>>("application/json", &b"[1,"[..].into()).unwrap_err();
//! assert!(err.to_string().starts_with("cannot decode data as application/json: "));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::de::{BytesDeserializer, CborValue, StrDeserializer};
use crate::error::Error;

/// Why a codec failed: a message that says what was wrong with the bytes or the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

/// Longest codec error message kept, in bytes: messages go back to peers in ERROR frames.
const MAX_MESSAGE_LEN: usize = 512;

impl CodecError {
    /// A codec error with a message (cut to 512 bytes).
    pub fn new(message: impl fmt::Display) -> Self {
        let mut m = message.to_string();
        if m.len() > MAX_MESSAGE_LEN {
            let mut cut = MAX_MESSAGE_LEN;
            while !m.is_char_boundary(cut) {
                cut -= 1;
            }
            m.truncate(cut);
            m.push('…');
        }
        CodecError(m)
    }
}

type Visit = Box<
    dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error> + Send,
>;

/// The type-erased destination of a decode: hand it the codec's `serde` deserializer.
///
/// Codecs call [`deserialize_from`](DecodeTarget::deserialize_from) with their library's
/// deserializer, or (for a library that does not expose one, like ciborium) with the
/// deserializer of an intermediate value.
pub struct DecodeTarget {
    visit: Visit,
}

impl fmt::Debug for DecodeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DecodeTarget")
    }
}

impl DecodeTarget {
    /// Decodes the target value from `deserializer`.
    pub fn deserialize_from<'de, D: serde::Deserializer<'de>>(
        mut self,
        deserializer: D,
    ) -> Result<(), CodecError> {
        let mut erased = <dyn erased_serde::Deserializer>::erase(deserializer);
        (self.visit)(&mut erased).map_err(CodecError::new)
    }
}

/// Encodes and decodes `serde` values for one MIME type.
///
/// Implement it to add a format; register it with [`Codecs::insert`] (and on a
/// [`Router`](crate::Router) or [`RequesterBuilder`](crate::RequesterBuilder)).
pub trait Codec: Send + Sync + 'static {
    /// The MIME type this codec reads and writes, such as `application/json`.
    fn mime_type(&self) -> &str;

    /// Encodes a value.
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Bytes, CodecError>;

    /// Decodes `data` into the target.
    fn decode(&self, data: &Bytes, target: DecodeTarget) -> Result<(), CodecError>;
}

/// `application/json` with `serde_json` (nesting limited to 128 levels).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn mime_type(&self) -> &str {
        "application/json"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Bytes, CodecError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(CodecError::new)
    }
    fn decode(&self, data: &Bytes, target: DecodeTarget) -> Result<(), CodecError> {
        let mut de = serde_json::Deserializer::from_slice(data);
        target.deserialize_from(&mut de)?;
        de.end().map_err(CodecError::new)
    }
}

/// `application/cbor` with `ciborium` (nesting limited to 256 levels).
#[derive(Clone, Copy, Debug, Default)]
pub struct CborCodec;

impl Codec for CborCodec {
    fn mime_type(&self) -> &str {
        "application/cbor"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Bytes, CodecError> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).map_err(CodecError::new)?;
        Ok(out.into())
    }
    fn decode(&self, data: &Bytes, target: DecodeTarget) -> Result<(), CodecError> {
        let value: ciborium::Value = ciborium::from_reader(&data[..]).map_err(CodecError::new)?;
        target.deserialize_from(CborValue(&value))
    }
}

/// `application/x-msgpack` with `rmp-serde`: structs travel as maps (field names), as
/// JavaScript and Java peers expect. Nesting is limited to 128 levels.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgPackCodec;

impl Codec for MsgPackCodec {
    fn mime_type(&self) -> &str {
        "application/x-msgpack"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Bytes, CodecError> {
        rmp_serde::to_vec_named(value)
            .map(Bytes::from)
            .map_err(CodecError::new)
    }
    fn decode(&self, data: &Bytes, target: DecodeTarget) -> Result<(), CodecError> {
        let mut de = rmp_serde::Deserializer::new(&data[..]);
        de.set_max_depth(128);
        target.deserialize_from(&mut de)
    }
}

/// `text/plain`: strings as UTF-8; numbers and booleans as their text. Decoding parses the
/// text as the target asks (a number, a boolean, a string, a unit enum variant).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextCodec;

impl Codec for TextCodec {
    fn mime_type(&self) -> &str {
        "text/plain"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Bytes, CodecError> {
        match serde_json::to_value(value).map_err(CodecError::new)? {
            serde_json::Value::String(s) => Ok(s.into()),
            serde_json::Value::Null => Ok(Bytes::new()),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => {
                Ok(v.to_string().into())
            }
            _ => Err(CodecError::new(
                "text/plain carries strings, numbers and booleans, not sequences or maps",
            )),
        }
    }
    fn decode(&self, data: &Bytes, target: DecodeTarget) -> Result<(), CodecError> {
        let text =
            std::str::from_utf8(data).map_err(|e| CodecError::new(format!("not UTF-8: {e}")))?;
        target.deserialize_from(StrDeserializer(text))
    }
}

/// `application/octet-stream`: the bytes as they are. Encodes byte sequences and strings;
/// decodes into `Vec<u8>`, `String` (when UTF-8) or byte-buffer types.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    fn mime_type(&self) -> &str {
        "application/octet-stream"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Bytes, CodecError> {
        match serde_json::to_value(value).map_err(CodecError::new)? {
            serde_json::Value::String(s) => Ok(s.into()),
            serde_json::Value::Null => Ok(Bytes::new()),
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect::<Option<Vec<u8>>>()
                .map(Bytes::from)
                .ok_or_else(|| CodecError::new("a byte sequence holds only numbers 0..=255")),
            _ => Err(CodecError::new(
                "application/octet-stream carries byte sequences and strings",
            )),
        }
    }
    fn decode(&self, data: &Bytes, target: DecodeTarget) -> Result<(), CodecError> {
        target.deserialize_from(BytesDeserializer(data))
    }
}

/// Codecs by MIME type. Lookups ignore ASCII case and MIME parameters (`; charset=utf-8`).
///
/// The default holds [`JsonCodec`], [`CborCodec`], [`MsgPackCodec`] (also as
/// `application/msgpack` and `application/vnd.msgpack`), [`TextCodec`] and [`BytesCodec`].
/// A MIME type with no codec of its own but a `+json` or `+cbor` suffix (RFC 6839) uses
/// JSON or CBOR.
#[derive(Clone)]
pub struct Codecs {
    by_mime: HashMap<String, Arc<dyn Codec>>,
}

impl fmt::Debug for Codecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut mimes: Vec<_> = self.by_mime.keys().collect();
        mimes.sort();
        f.debug_struct("Codecs")
            .field("mime_types", &mimes)
            .finish()
    }
}

impl Default for Codecs {
    fn default() -> Self {
        let mut c = Codecs::empty();
        c.insert(JsonCodec)
            .insert(CborCodec)
            .insert(MsgPackCodec)
            .insert_as("application/msgpack", MsgPackCodec)
            .insert_as("application/vnd.msgpack", MsgPackCodec)
            .insert(TextCodec)
            .insert(BytesCodec);
        c
    }
}

/// The MIME type without parameters, lower-cased.
fn key(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl Codecs {
    /// A registry without codecs.
    pub fn empty() -> Self {
        Codecs {
            by_mime: HashMap::new(),
        }
    }

    /// Adds (or replaces) the codec for its own MIME type.
    pub fn insert(&mut self, codec: impl Codec) -> &mut Self {
        let mime = key(codec.mime_type());
        self.by_mime.insert(mime, Arc::new(codec));
        self
    }

    /// Adds (or replaces) a codec under another MIME type, such as a vendor type.
    pub fn insert_as(&mut self, mime: &str, codec: impl Codec) -> &mut Self {
        self.by_mime.insert(key(mime), Arc::new(codec));
        self
    }

    /// The codec for a MIME type.
    pub fn get(&self, mime: &str) -> Option<&dyn Codec> {
        let k = key(mime);
        if let Some(c) = self.by_mime.get(&k) {
            return Some(c.as_ref());
        }
        let suffix = if k.ends_with("+json") {
            "application/json"
        } else if k.ends_with("+cbor") {
            "application/cbor"
        } else {
            return None;
        };
        self.by_mime.get(suffix).map(|c| c.as_ref())
    }

    fn codec(&self, mime: &str) -> Result<&dyn Codec, Error> {
        self.get(mime).ok_or_else(|| Error::NoCodec {
            mime: mime.to_string(),
        })
    }

    /// Encodes `value` as `mime`.
    pub fn encode<T: Serialize + ?Sized>(&self, mime: &str, value: &T) -> Result<Bytes, Error> {
        encode_with(self.codec(mime)?, "data", value)
    }

    /// Decodes data of type `mime`.
    pub fn decode<T: DeserializeOwned + Send + 'static>(
        &self,
        mime: &str,
        data: &Bytes,
    ) -> Result<T, Error> {
        decode_with(self.codec(mime)?, "data", data)
    }
}

/// Encodes with one codec; `what` names the value in errors.
pub(crate) fn encode_with<T: Serialize + ?Sized>(
    codec: &dyn Codec,
    what: &str,
    value: &T,
) -> Result<Bytes, Error> {
    codec
        .encode(&value as &dyn erased_serde::Serialize)
        .map_err(|e| Error::encode(what, codec.mime_type(), e))
}

/// Decodes with one codec; `what` names the value in errors. Empty data first tries the
/// target as a unit (so `()` and `Option<T>` accept an empty payload).
pub(crate) fn decode_with<T: DeserializeOwned + Send + 'static>(
    codec: &dyn Codec,
    what: &str,
    data: &Bytes,
) -> Result<T, Error> {
    if data.is_empty() {
        let unit = serde::de::value::UnitDeserializer::<serde::de::value::Error>::new();
        if let Ok(v) = T::deserialize(unit) {
            return Ok(v);
        }
    }
    let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let target = DecodeTarget {
        visit: Box::new(move |de| {
            let v = erased_serde::deserialize::<T>(de)?;
            *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
            Ok(())
        }),
    };
    codec
        .decode(data, target)
        .map_err(|e| Error::decode(what, codec.mime_type(), e))?;
    let value = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    value.ok_or_else(|| {
        Error::decode(
            what,
            codec.mime_type(),
            CodecError::new("the codec produced no value"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Radar {
        code: String,
        lat: f64,
        tags: Vec<String>,
    }

    fn radar() -> Radar {
        Radar {
            code: "EWR".into(),
            lat: 40.69,
            tags: vec!["a".into()],
        }
    }

    #[test]
    fn every_structured_codec_round_trips() {
        let codecs = Codecs::default();
        for mime in [
            "application/json",
            "application/cbor",
            "application/x-msgpack",
            "Application/JSON; charset=utf-8",
            "application/vnd.radar+json",
        ] {
            let b = codecs.encode(mime, &radar()).unwrap();
            assert_eq!(codecs.decode::<Radar>(mime, &b).unwrap(), radar(), "{mime}");
        }
    }

    #[test]
    fn decode_errors_say_what_failed() {
        let codecs = Codecs::default();
        for mime in [
            "application/json",
            "application/cbor",
            "application/x-msgpack",
        ] {
            let e = codecs
                .decode::<Radar>(mime, &Bytes::from_static(b"\x01\x02"))
                .unwrap_err();
            assert_eq!(e.code(), rsocket::ErrorCode::INVALID);
            assert!(
                e.to_string()
                    .starts_with(&format!("cannot decode data as {mime}: "))
            );
        }
        let e = codecs
            .decode::<Radar>("application/json", &Bytes::from_static(br#"{"code":"x"}"#))
            .unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
        let e = codecs.decode::<u8>("image/png", &Bytes::new()).unwrap_err();
        assert_eq!(e.to_string(), "no codec for MIME type image/png");
    }

    #[test]
    fn text_and_bytes() {
        let codecs = Codecs::default();
        assert_eq!(&codecs.encode("text/plain", "hi").unwrap()[..], b"hi");
        assert_eq!(&codecs.encode("text/plain", &42).unwrap()[..], b"42");
        assert!(codecs.encode("text/plain", &[1, 2]).is_err());
        let n: u32 = codecs.decode("text/plain", &"42".into()).unwrap();
        assert_eq!(n, 42);
        let b = codecs
            .encode("application/octet-stream", &vec![1u8, 2])
            .unwrap();
        assert_eq!(&b[..], [1, 2]);
        let v: Vec<u8> = codecs.decode("application/octet-stream", &b).unwrap();
        assert_eq!(v, [1, 2]);
    }

    #[test]
    fn empty_data_decodes_as_unit_or_none() {
        let codecs = Codecs::default();
        let () = codecs.decode("application/json", &Bytes::new()).unwrap();
        let none: Option<Radar> = codecs.decode("application/cbor", &Bytes::new()).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let deep = Bytes::from("[".repeat(100_000));
        let e = Codecs::default().decode::<serde_json::Value>("application/json", &deep);
        assert!(e.is_err());
    }

    #[test]
    fn deeply_nested_cbor_is_an_error_not_a_crash() {
        let deep = Bytes::from(vec![0x81u8; 100_000]); // array of 1, nested
        let e = Codecs::default().decode::<serde_json::Value>("application/cbor", &deep);
        assert!(e.is_err());
        // An error deep inside nested values stays short.
        let mut nested = vec![0x81u8; 200];
        nested.push(0x61); // a 1-byte text string where a number is expected
        nested.push(b'x');
        let e = Codecs::default()
            .decode::<Vec<Vec<Vec<u8>>>>("application/cbor", &nested.into())
            .unwrap_err();
        assert!(e.to_string().len() < 600, "{e}");
    }

    #[test]
    fn deeply_nested_msgpack_is_an_error_not_a_crash() {
        let deep = Bytes::from(vec![0x91u8; 100_000]); // fixarray of 1, nested
        let e = Codecs::default().decode::<serde_json::Value>("application/x-msgpack", &deep);
        assert!(e.is_err());
    }
}
