//! The dynamic value model shared by every serializer.
//!
//! WAMP messages are lists of integers, strings, booleans, lists and dicts; application payloads may
//! also carry `null`, floats and binary data. [`Value`] holds any of these, and [`Dict`] is an
//! insertion-ordered string-keyed map, so a decoded message re-encodes to the same bytes.
//!
//! Serialization goes through serde; the JSON binary convention (a byte string travels as a JSON
//! string made of `"\u0000"` followed by the base64 of the bytes) is applied by the JSON flavour
//! of [`ValueSer`] and [`ValueSeed`]. Decoding is bounded: nesting deeper than [`MAX_DEPTH`] is
//! rejected before it can exhaust the stack, and no allocation trusts a peer-supplied length.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Maximum nesting depth of lists and dicts in a decoded message (the message list itself counts
/// as one level). Deeper input is rejected; this keeps the recursive decoder's stack use bounded.
pub const MAX_DEPTH: u32 = 100;

/// Largest number of elements pre-allocated from a peer's length hint; longer collections still
/// decode, they just grow as elements actually arrive.
const MAX_PREALLOC: usize = 256;

/// A dynamically typed WAMP value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` / `nil` / CBOR null (only in application payloads).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer (decoders normalise non-negative integers to [`Value::UInt`]).
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Binary data (MessagePack bin, CBOR byte string, JSON `"\u0000"`+base64 string).
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A dict with string keys, in insertion order.
    Dict(Dict),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The integer, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(u) => Some(*u),
            _ => None,
        }
    }
    /// The integer, if this is an integer representable as `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The list, if this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    /// The dict, if this is a [`Value::Dict`].
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// A short name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::UInt(_) | Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Value::UInt(u)
    }
}
impl From<u32> for Value {
    fn from(u: u32) -> Self {
        Value::UInt(u.into())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        if i >= 0 {
            Value::UInt(i as u64)
        } else {
            Value::Int(i)
        }
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::from(i64::from(i))
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(b)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}
impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}

/// An insertion-ordered map from strings to [`Value`]s (WAMP `dict`).
///
/// Lookups are linear: WAMP option and detail dicts are small. Decoding keeps duplicate keys as
/// sent (so bytes round-trip); [`Dict::get`] returns the first occurrence. Equality ignores
/// order, as dicts are unordered in WAMP.
#[derive(Debug, Clone, Default)]
pub struct Dict(Vec<(String, Value)>);

impl PartialEq for Dict {
    /// Equal when both hold the same entries in any order, duplicates counted (so a decoded
    /// dict with a repeated key equals itself).
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut used = vec![false; other.len()];
        self.0.iter().all(|entry| {
            let found = other
                .0
                .iter()
                .zip(used.iter_mut())
                .find(|(o, u)| !**u && *o == entry);
            found.map(|(_, u)| *u = true).is_some()
        })
    }
}

impl Dict {
    /// An empty dict.
    pub fn new() -> Self {
        Dict(Vec::new())
    }
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Sets `key` to `value`, replacing an existing entry in place or appending a new one.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
    /// Builder form of [`Dict::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }
    /// Removes and returns the value under `key`.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(pos).1)
    }
    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the dict is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Iterates over the entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// Convenience: the string under `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
    /// Convenience: the boolean under `key`.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }
    /// Convenience: the non-negative integer under `key`.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }
}

impl FromIterator<(String, Value)> for Dict {
    fn from_iter<T: IntoIterator<Item = (String, Value)>>(iter: T) -> Self {
        let mut d = Dict::new();
        for (k, v) in iter {
            d.insert(k, v);
        }
        d
    }
}

/// Serializes a [`Value`]; `json` selects the JSON binary convention for [`Value::Bytes`].
#[derive(Debug, Clone, Copy)]
pub struct ValueSer<'a> {
    /// The value to serialize.
    pub value: &'a Value,
    /// Apply the JSON binary convention.
    pub json: bool,
}

impl Serialize for ValueSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let json = self.json;
        match self.value {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(st) => s.serialize_str(st),
            Value::Bytes(b) if json => {
                let mut text = String::with_capacity(1 + b.len().div_ceil(3) * 4);
                text.push('\0');
                base64::engine::general_purpose::STANDARD.encode_string(b, &mut text);
                s.serialize_str(&text)
            }
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(&ValueSer { value: v, json })?;
                }
                seq.end()
            }
            Value::Dict(d) => DictSer { dict: d, json }.serialize(s),
        }
    }
}

/// Serializes a [`Dict`] (see [`ValueSer`]).
#[derive(Debug, Clone, Copy)]
pub struct DictSer<'a> {
    /// The dict to serialize.
    pub dict: &'a Dict,
    /// Apply the JSON binary convention.
    pub json: bool,
}

impl Serialize for DictSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.dict.len()))?;
        for (k, v) in self.dict.iter() {
            map.serialize_entry(
                k,
                &ValueSer {
                    value: v,
                    json: self.json,
                },
            )?;
        }
        map.end()
    }
}

/// Deserializes a [`Value`] with a depth bound; `json` applies the JSON binary convention.
#[derive(Debug, Clone, Copy)]
pub struct ValueSeed {
    /// Apply the JSON binary convention to strings starting with `"\u0000"`.
    pub json: bool,
    /// Nesting levels still allowed.
    pub depth_left: u32,
}

impl ValueSeed {
    /// A seed for a top-level value.
    pub fn new(json: bool) -> Self {
        ValueSeed {
            json,
            depth_left: MAX_DEPTH,
        }
    }
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        match self.depth_left.checked_sub(1) {
            Some(d) if d > 0 => Ok(ValueSeed {
                depth_left: d,
                ..self
            }),
            _ => Err(E::custom("value nested too deeply")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(u) = u64::try_from(v) {
            Ok(Value::UInt(u))
        } else if let Ok(i) = i64::try_from(v) {
            Ok(Value::Int(i))
        } else {
            Err(E::custom("integer out of 64-bit range"))
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(Value::UInt)
            .map_err(|_| E::custom("integer out of 64-bit range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        if self.json {
            if let Some(b64) = v.strip_prefix('\0') {
                return base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(Value::Bytes)
                    .map_err(|_| E::custom("invalid base64 in JSON binary string"));
            }
        }
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        if self.json && v.starts_with('\0') {
            return self.visit_str(&v);
        }
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(key) = map.next_key_seed(inner)? {
            let Value::Str(key) = key else {
                return Err(de::Error::custom("dict keys must be strings"));
            };
            let v = map.next_value_seed(inner)?;
            out.push((key, v));
        }
        Ok(Value::Dict(Dict(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_insert_replaces_in_place() {
        let mut d = Dict::new().with("a", 1u64).with("b", 2u64);
        d.insert("a", 3u64);
        assert_eq!(d.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.get_u64("a"), Some(3));
        assert_eq!(d.remove("a"), Some(Value::UInt(3)));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn negative_and_positive_integers_normalise() {
        assert_eq!(Value::from(5i64), Value::UInt(5));
        assert_eq!(Value::from(-5i64), Value::Int(-5));
        assert_eq!(Value::UInt(7).as_i64(), Some(7));
    }
}
