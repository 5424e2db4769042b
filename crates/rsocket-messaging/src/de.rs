//! Small serde deserializers over strings and bytes: route variables, `text/plain` and
//! `application/octet-stream` data.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// The error of these deserializers: a message.
#[derive(Debug)]
pub(crate) struct DeError(pub(crate) String);

impl std::fmt::Display for DeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// Deserializes one string as whatever the target asks for: numbers and booleans are parsed,
/// strings borrowed, unit variants named, `Option` always `Some`.
pub(crate) struct StrDeserializer<'a>(pub(crate) &'a str);

macro_rules! parse_as {
    ($($method:ident => $visit:ident : $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.0.parse::<$ty>() {
                Ok(v) => visitor.$visit(v),
                Err(e) => Err(DeError(format!(
                    "'{}' is not a valid {}: {e}", self.0, stringify!($ty)
                ))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for StrDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.0)
    }

    parse_as! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(self.0))
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

/// Deserializes a list of named string values (route variables): as a map or struct by
/// name, as a tuple or sequence in order, or, when there is exactly one, as that value.
pub(crate) struct ParamsDeserializer<'a>(pub(crate) &'a [(String, String)]);

impl<'a> ParamsDeserializer<'a> {
    fn single(&self) -> Result<StrDeserializer<'a>, DeError> {
        match self.0 {
            [(_, v)] => Ok(StrDeserializer(v)),
            other => Err(DeError(format!(
                "expected 1 route variable, found {}",
                other.len()
            ))),
        }
    }

    fn map(
        &self,
    ) -> MapDeserializer<'a, impl Iterator<Item = (&'a str, StrDeserializer<'a>)>, DeError> {
        MapDeserializer::new(self.0.iter().map(|(k, v)| (k.as_str(), StrDeserializer(v))))
    }

    fn seq(&self) -> SeqDeserializer<impl Iterator<Item = StrDeserializer<'a>>, DeError> {
        SeqDeserializer::new(self.0.iter().map(|(_, v)| StrDeserializer(v)))
    }
}

impl<'de> IntoDeserializer<'de, DeError> for StrDeserializer<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! single {
    ($($method:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ParamsDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.map().deserialize_any(visitor)
    }

    single! {
        deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64,
        deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64,
        deserialize_u128, deserialize_f32, deserialize_f64, deserialize_char, deserialize_str,
        deserialize_string, deserialize_option,
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.seq().deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.seq().deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.seq().deserialize_any(visitor)
    }

    forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct map struct identifier ignored_any
    }
}

/// Deserializes raw bytes: as bytes, as a sequence of `u8`, or (when UTF-8) as a string.
pub(crate) struct BytesDeserializer<'a>(pub(crate) &'a [u8]);

impl<'de> de::Deserializer<'de> for BytesDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_bytes(self.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match std::str::from_utf8(self.0) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(e) => Err(DeError(format!("data is not UTF-8: {e}"))),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        SeqDeserializer::<_, DeError>::new(self.0.iter().copied()).deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// Deserializes a decoded CBOR value. Errors are plain messages, so an error deep inside
/// nested values stays as short as at the top (ciborium's own errors are `Debug`-formatted,
/// which would double their escaping at every level of nesting).
#[derive(Clone, Copy)]
pub(crate) struct CborValue<'a>(pub(crate) &'a ciborium::Value);

impl<'de> IntoDeserializer<'de, DeError> for CborValue<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for CborValue<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        use ciborium::Value as V;
        match self.0 {
            V::Integer(i) => {
                let i = i128::from(*i);
                if let Ok(u) = u64::try_from(i) {
                    visitor.visit_u64(u)
                } else if let Ok(n) = i64::try_from(i) {
                    visitor.visit_i64(n)
                } else {
                    visitor.visit_i128(i)
                }
            }
            V::Bytes(b) => visitor.visit_borrowed_bytes(b),
            V::Float(f) => visitor.visit_f64(*f),
            V::Text(t) => visitor.visit_borrowed_str(t),
            V::Bool(b) => visitor.visit_bool(*b),
            V::Null => visitor.visit_unit(),
            V::Tag(_, inner) => CborValue(inner).deserialize_any(visitor),
            V::Array(items) => {
                SeqDeserializer::new(items.iter().map(CborValue)).deserialize_any(visitor)
            }
            V::Map(entries) => {
                MapDeserializer::new(entries.iter().map(|(k, v)| (CborValue(k), CborValue(v))))
                    .deserialize_any(visitor)
            }
            _ => Err(DeError("unsupported CBOR value".into())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            ciborium::Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            ciborium::Value::Text(t) => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(t.as_str()))
            }
            ciborium::Value::Map(entries) if entries.len() == 1 => {
                let map =
                    MapDeserializer::new(entries.iter().map(|(k, v)| (CborValue(k), CborValue(v))));
                visitor.visit_enum(serde::de::value::MapAccessDeserializer::new(map))
            }
            _ => Err(DeError(
                "an enum is a string or a map with one entry".into(),
            )),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params_as_single_tuple_and_struct() {
        let p = params(&[("code", "EWR")]);
        assert_eq!(String::deserialize(ParamsDeserializer(&p)).unwrap(), "EWR");
        let p = params(&[("a", "x"), ("n", "42")]);
        let (a, n) = <(String, u32)>::deserialize(ParamsDeserializer(&p)).unwrap();
        assert_eq!((a.as_str(), n), ("x", 42));

        #[derive(Deserialize)]
        struct S {
            n: u8,
            a: String,
        }
        let s = S::deserialize(ParamsDeserializer(&p)).unwrap();
        assert_eq!((s.n, s.a.as_str()), (42, "x"));
    }

    #[test]
    fn params_errors_name_the_problem() {
        let p = params(&[("n", "x42")]);
        let e = u32::deserialize(ParamsDeserializer(&p)).unwrap_err();
        assert!(e.0.contains("'x42' is not a valid u32"), "{e}");
        let p = params(&[("a", "1"), ("b", "2")]);
        let e = u32::deserialize(ParamsDeserializer(&p)).unwrap_err();
        assert!(e.0.contains("expected 1 route variable, found 2"), "{e}");
    }

    #[test]
    fn bytes_as_vec_string_and_option() {
        let b = BytesDeserializer(b"hi");
        assert_eq!(Vec::<u8>::deserialize(b).unwrap(), b"hi");
        assert_eq!(String::deserialize(BytesDeserializer(b"hi")).unwrap(), "hi");
        assert!(String::deserialize(BytesDeserializer(&[0xFF])).is_err());
        assert_eq!(
            Option::<String>::deserialize(BytesDeserializer(b"x")).unwrap(),
            Some("x".to_string())
        );
    }
}
