//! The three Basic Profile serializers: JSON, MessagePack and CBOR.
//!
//! | serializer | WebSocket subprotocol | RawSocket id | frames |
//! |---|---|---|---|
//! | JSON | `wamp.2.json` | 1 | text |
//! | MessagePack | `wamp.2.msgpack` | 2 | binary |
//! | CBOR | `wamp.2.cbor` | 3 | binary |
//!
//! Decoding never panics and rejects trailing bytes; nesting is bounded by
//! [`crate::value::MAX_DEPTH`]. The size of the input is bounded by the transport before it gets
//! here.

use serde::de::DeserializeSeed;
use serde::{Deserialize, Deserializer};

use crate::message::{DecodeError, Message};
use crate::value::{Value, ValueSeed, ValueSer};

/// A WAMP serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// JSON, with the binary convention (`"\u0000"` + base64).
    Json,
    /// MessagePack (version 5, with bin and str types).
    MsgPack,
    /// CBOR (RFC 8949).
    Cbor,
}

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode message with {serializer}: {reason}")]
pub struct EncodeError {
    serializer: &'static str,
    reason: String,
}

/// CBOR wrapper so ciborium's `DeserializeOwned` entry point can use our bounded visitor.
struct CborValue(Value);

impl<'de> Deserialize<'de> for CborValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ValueSeed::new(false).deserialize(d).map(CborValue)
    }
}

impl Serializer {
    /// All serializers, in our order of preference.
    pub const ALL: [Serializer; 3] = [Serializer::Cbor, Serializer::MsgPack, Serializer::Json];

    /// Short name: `json`, `msgpack`, `cbor`.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// The WebSocket subprotocol, e.g. `wamp.2.json`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The serializer for a WebSocket subprotocol.
    pub fn from_subprotocol(p: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.subprotocol() == p)
    }

    /// The RawSocket serializer id (1 JSON, 2 MessagePack, 3 CBOR).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    /// The serializer for a RawSocket serializer id.
    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.rawsocket_id() == id)
    }

    /// Whether messages travel as binary (MessagePack, CBOR) rather than text (JSON).
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }

    /// Encodes a message.
    pub fn encode(self, msg: &Message) -> Result<Vec<u8>, EncodeError> {
        let err = |reason: String| EncodeError {
            serializer: self.name(),
            reason,
        };
        let json = self == Serializer::Json;
        let ser = msg.serializable(json);
        match self {
            Serializer::Json => serde_json::to_vec(&ser).map_err(|e| err(e.to_string())),
            Serializer::MsgPack => {
                let mut out = Vec::with_capacity(64);
                serde::Serialize::serialize(&ser, &mut rmp_serde::Serializer::new(&mut out))
                    .map_err(|e| err(e.to_string()))?;
                Ok(out)
            }
            Serializer::Cbor => {
                let mut out = Vec::with_capacity(64);
                ciborium::ser::into_writer(&ser, &mut out).map_err(|e| err(e.to_string()))?;
                Ok(out)
            }
        }
    }

    /// Encodes any value (used by tests and tools).
    pub fn encode_value(self, value: &Value) -> Result<Vec<u8>, EncodeError> {
        let err = |reason: String| EncodeError {
            serializer: self.name(),
            reason,
        };
        let ser = ValueSer {
            value,
            json: self == Serializer::Json,
        };
        match self {
            Serializer::Json => serde_json::to_vec(&ser).map_err(|e| err(e.to_string())),
            Serializer::MsgPack => {
                let mut out = Vec::new();
                serde::Serialize::serialize(&ser, &mut rmp_serde::Serializer::new(&mut out))
                    .map_err(|e| err(e.to_string()))?;
                Ok(out)
            }
            Serializer::Cbor => {
                let mut out = Vec::new();
                ciborium::ser::into_writer(&ser, &mut out).map_err(|e| err(e.to_string()))?;
                Ok(out)
            }
        }
    }

    /// Decodes bytes into a generic value, rejecting malformed input and trailing bytes.
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, DecodeError> {
        let malformed = |reason: String| DecodeError::Malformed {
            serializer: self.name(),
            reason,
        };
        match self {
            Serializer::Json => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let v = ValueSeed::new(true)
                    .deserialize(&mut de)
                    .map_err(|e| malformed(e.to_string()))?;
                de.end().map_err(|e| malformed(e.to_string()))?;
                Ok(v)
            }
            Serializer::MsgPack => {
                let mut rest = bytes;
                let v = {
                    let mut de = rmp_serde::Deserializer::new(&mut rest);
                    ValueSeed::new(false)
                        .deserialize(&mut de)
                        .map_err(|e| malformed(e.to_string()))?
                };
                if !rest.is_empty() {
                    return Err(malformed("trailing bytes".into()));
                }
                Ok(v)
            }
            Serializer::Cbor => {
                let mut rest = bytes;
                let CborValue(v) = ciborium::de::from_reader(&mut rest)
                    .map_err(|e| malformed(format!("{e:?}")))?;
                if !rest.is_empty() {
                    return Err(malformed("trailing bytes".into()));
                }
                Ok(v)
            }
        }
    }

    /// Decodes and validates a message.
    pub fn decode(self, bytes: &[u8]) -> Result<Message, DecodeError> {
        Message::from_value(self.decode_value(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;
    use crate::message::{Call, Payload, Publish};
    use crate::value::Dict;

    #[test]
    fn json_binary_convention() {
        let msg = Message::Publish(Publish {
            request: Id::new(1).unwrap(),
            options: Dict::new(),
            topic: "t".into(),
            payload: Payload::args(vec![Value::Bytes(vec![0, 1, 2, 255])]),
        });
        let bytes = Serializer::Json.encode(&msg).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"[16,1,{},"t",["\u0000AAEC/w=="]]"#
        );
        assert_eq!(Serializer::Json.decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn trailing_bytes_rejected() {
        let msg = Message::Call(Call {
            request: Id::new(7).unwrap(),
            options: Dict::new(),
            procedure: "p".into(),
            payload: Payload::empty(),
        });
        for s in Serializer::ALL {
            let mut bytes = s.encode(&msg).unwrap();
            assert_eq!(s.decode(&bytes).unwrap(), msg);
            bytes.push(0x01);
            assert!(s.decode(&bytes).is_err(), "{s:?}");
        }
    }

    #[test]
    fn deep_nesting_rejected_without_overflow() {
        for s in Serializer::ALL {
            let mut v = Value::UInt(1);
            for _ in 0..200 {
                v = Value::List(vec![v]);
            }
            let bytes = s.encode_value(&v).unwrap();
            assert!(s.decode_value(&bytes).is_err(), "{s:?}");
        }
        // A huge nesting that the encoder never produced: many open brackets.
        let bytes = vec![b'['; 100_000];
        assert!(Serializer::Json.decode_value(&bytes).is_err());
        let bytes = vec![0x91; 100_000]; // msgpack fixarray(1), nested
        assert!(Serializer::MsgPack.decode_value(&bytes).is_err());
        let bytes = vec![0x81; 100_000]; // cbor array(1), nested
        assert!(Serializer::Cbor.decode_value(&bytes).is_err());
    }

    #[test]
    fn huge_length_prefix_does_not_allocate() {
        // msgpack array32 claiming 2^32-1 elements, with no elements following.
        let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff];
        assert!(Serializer::MsgPack.decode_value(&bytes).is_err());
        // cbor array claiming 2^64-1 elements.
        let bytes = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(Serializer::Cbor.decode_value(&bytes).is_err());
    }

    #[test]
    fn non_string_keys_rejected() {
        let bytes = [0x81, 0xa1, 0x01, 0x02]; // cbor [ {1: 2} ]
        assert!(Serializer::Cbor.decode_value(&bytes).is_err());
    }
}
