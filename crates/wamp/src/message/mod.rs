//! WAMP messages: one struct per message type, decoded from and encoded to the generic [`Value`]
//! list form `[TYPE, field, …]` that every serializer produces.
//!
//! Decoding validates every field: message type, length, IDs (`1..=2^53`), field types, the
//! known keys of Options/Details dicts (typed per message), and the URIs in `ABORT`, `GOODBYE` and
//! `ERROR`. URIs naming topics, procedures and realms are only checked to be strings here: the
//! router answers an invalid one with `wamp.error.invalid_uri`, which needs the request ID.

mod options;
mod types;

pub use types::*;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use crate::id::Id;
use crate::uri::{self, UriRule};
use crate::value::{Dict, DictSer, Value, ValueSer};

/// A message could not be decoded: the bytes were malformed or a field was invalid.
///
/// Every variant maps to `ABORT` with `wamp.error.protocol_violation` in a router or client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not valid for the serializer.
    #[error("malformed {serializer} data: {reason}")]
    Malformed {
        /// Serializer name.
        serializer: &'static str,
        /// What the parser reported.
        reason: String,
    },
    /// The message is not a non-empty list starting with an integer type code.
    #[error("a message must be a non-empty list starting with the message type")]
    NotAList,
    /// The message type code is unknown or not allowed here.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// The list has the wrong number of elements.
    #[error("{message}: expected {min} to {max} elements, got {got}")]
    Length {
        /// Message name.
        message: &'static str,
        /// Fewest elements allowed.
        min: usize,
        /// Most elements allowed.
        max: usize,
        /// Elements received.
        got: usize,
    },
    /// A field has the wrong type or an invalid value.
    #[error("{message}.{field}: {reason}")]
    Field {
        /// Message name.
        message: &'static str,
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A known key of an Options/Details dict has the wrong type.
    #[error("{message}.{field}.{key} {reason}")]
    Option {
        /// Message name.
        message: &'static str,
        /// Dict field name (`Options` or `Details`).
        field: &'static str,
        /// The offending key.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Application payload of `PUBLISH`, `EVENT`, `CALL`, `INVOCATION`, `YIELD`, `RESULT`, `ERROR`.
///
/// `args` and `kwargs` keep whether they were present, so decoded messages re-encode to the same
/// bytes. In payload passthru mode (Options carry `enc_algo` or `ppt_scheme`) the payload is one
/// opaque value in the `Arguments` position, held in `transparent`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    /// Positional arguments (`Arguments|list`).
    pub args: Option<Vec<Value>>,
    /// Keyword arguments (`ArgumentsKw|dict`).
    pub kwargs: Option<Dict>,
    /// An opaque payload in passthru mode (binary, or a string for some peers).
    pub transparent: Option<Value>,
}

impl Payload {
    /// An empty payload.
    pub fn empty() -> Self {
        Payload::default()
    }
    /// A payload with positional arguments only.
    pub fn args(args: Vec<Value>) -> Self {
        Payload {
            args: Some(args),
            ..Default::default()
        }
    }
    /// A payload with positional and keyword arguments.
    pub fn new(args: Vec<Value>, kwargs: Dict) -> Self {
        Payload {
            args: Some(args),
            kwargs: Some(kwargs),
            transparent: None,
        }
    }
    fn encoded_fields(&self) -> usize {
        if self.transparent.is_some() {
            1
        } else if self.kwargs.is_some() {
            2
        } else {
            usize::from(self.args.is_some())
        }
    }
}

/// Message type codes.
pub mod code {
    #![allow(missing_docs)]
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

/// Any WAMP message.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Abort(Abort),
    Challenge(Challenge),
    Authenticate(Authenticate),
    Goodbye(Goodbye),
    Error(Error),
    Publish(Publish),
    Published(Published),
    Subscribe(Subscribe),
    Subscribed(Subscribed),
    Unsubscribe(Unsubscribe),
    Unsubscribed(Unsubscribed),
    Event(Event),
    Call(Call),
    Cancel(Cancel),
    Result(CallResult),
    Register(Register),
    Registered(Registered),
    Unregister(Unregister),
    Unregistered(Unregistered),
    Invocation(Invocation),
    Interrupt(Interrupt),
    Yield(Yield),
}

/// One borrowed field of an encoded message.
enum Field<'a> {
    UInt(u64),
    Str(&'a str),
    Dict(&'a Dict),
    Payload(&'a Payload),
}

impl Message {
    /// The message type code.
    pub fn code(&self) -> u64 {
        match self {
            Message::Hello(_) => code::HELLO,
            Message::Welcome(_) => code::WELCOME,
            Message::Abort(_) => code::ABORT,
            Message::Challenge(_) => code::CHALLENGE,
            Message::Authenticate(_) => code::AUTHENTICATE,
            Message::Goodbye(_) => code::GOODBYE,
            Message::Error(_) => code::ERROR,
            Message::Publish(_) => code::PUBLISH,
            Message::Published(_) => code::PUBLISHED,
            Message::Subscribe(_) => code::SUBSCRIBE,
            Message::Subscribed(_) => code::SUBSCRIBED,
            Message::Unsubscribe(_) => code::UNSUBSCRIBE,
            Message::Unsubscribed(_) => code::UNSUBSCRIBED,
            Message::Event(_) => code::EVENT,
            Message::Call(_) => code::CALL,
            Message::Cancel(_) => code::CANCEL,
            Message::Result(_) => code::RESULT,
            Message::Register(_) => code::REGISTER,
            Message::Registered(_) => code::REGISTERED,
            Message::Unregister(_) => code::UNREGISTER,
            Message::Unregistered(_) => code::UNREGISTERED,
            Message::Invocation(_) => code::INVOCATION,
            Message::Interrupt(_) => code::INTERRUPT,
            Message::Yield(_) => code::YIELD,
        }
    }

    /// The upper-case message name, e.g. `"CALL"`.
    pub fn name(&self) -> &'static str {
        name_of(self.code()).unwrap_or("UNKNOWN")
    }

    fn fields(&self) -> Vec<Field<'_>> {
        use Field as F;
        match self {
            Message::Hello(m) => vec![F::Str(&m.realm), F::Dict(&m.details)],
            Message::Welcome(m) => vec![F::UInt(m.session.get()), F::Dict(&m.details)],
            Message::Abort(m) => vec![F::Dict(&m.details), F::Str(&m.reason)],
            Message::Challenge(m) => vec![F::Str(&m.auth_method), F::Dict(&m.extra)],
            Message::Authenticate(m) => vec![F::Str(&m.signature), F::Dict(&m.extra)],
            Message::Goodbye(m) => vec![F::Dict(&m.details), F::Str(&m.reason)],
            Message::Error(m) => vec![
                F::UInt(m.request_type),
                F::UInt(m.request.get()),
                F::Dict(&m.details),
                F::Str(&m.error),
                F::Payload(&m.payload),
            ],
            Message::Publish(m) => vec![
                F::UInt(m.request.get()),
                F::Dict(&m.options),
                F::Str(&m.topic),
                F::Payload(&m.payload),
            ],
            Message::Published(m) => {
                vec![F::UInt(m.request.get()), F::UInt(m.publication.get())]
            }
            Message::Subscribe(m) => {
                vec![
                    F::UInt(m.request.get()),
                    F::Dict(&m.options),
                    F::Str(&m.topic),
                ]
            }
            Message::Subscribed(m) => {
                vec![F::UInt(m.request.get()), F::UInt(m.subscription.get())]
            }
            Message::Unsubscribe(m) => {
                vec![F::UInt(m.request.get()), F::UInt(m.subscription.get())]
            }
            Message::Unsubscribed(m) => {
                let mut v = vec![F::UInt(m.request.get())];
                if let Some(d) = &m.details {
                    v.push(F::Dict(d));
                }
                v
            }
            Message::Event(m) => vec![
                F::UInt(m.subscription.get()),
                F::UInt(m.publication.get()),
                F::Dict(&m.details),
                F::Payload(&m.payload),
            ],
            Message::Call(m) => vec![
                F::UInt(m.request.get()),
                F::Dict(&m.options),
                F::Str(&m.procedure),
                F::Payload(&m.payload),
            ],
            Message::Cancel(m) => vec![F::UInt(m.request.get()), F::Dict(&m.options)],
            Message::Result(m) => {
                vec![
                    F::UInt(m.request.get()),
                    F::Dict(&m.details),
                    F::Payload(&m.payload),
                ]
            }
            Message::Register(m) => {
                vec![
                    F::UInt(m.request.get()),
                    F::Dict(&m.options),
                    F::Str(&m.procedure),
                ]
            }
            Message::Registered(m) => {
                vec![F::UInt(m.request.get()), F::UInt(m.registration.get())]
            }
            Message::Unregister(m) => {
                vec![F::UInt(m.request.get()), F::UInt(m.registration.get())]
            }
            Message::Unregistered(m) => {
                let mut v = vec![F::UInt(m.request.get())];
                if let Some(d) = &m.details {
                    v.push(F::Dict(d));
                }
                v
            }
            Message::Invocation(m) => vec![
                F::UInt(m.request.get()),
                F::UInt(m.registration.get()),
                F::Dict(&m.details),
                F::Payload(&m.payload),
            ],
            Message::Interrupt(m) => vec![F::UInt(m.request.get()), F::Dict(&m.options)],
            Message::Yield(m) => {
                vec![
                    F::UInt(m.request.get()),
                    F::Dict(&m.options),
                    F::Payload(&m.payload),
                ]
            }
        }
    }

    /// A serde view of this message; `json` applies the JSON binary convention.
    pub fn serializable(&self, json: bool) -> MessageSer<'_> {
        MessageSer { msg: self, json }
    }

    /// Converts the message to its generic list form.
    pub fn to_value(&self) -> Value {
        let mut out = vec![Value::UInt(self.code())];
        for f in self.fields() {
            match f {
                Field::UInt(u) => out.push(Value::UInt(u)),
                Field::Str(s) => out.push(Value::Str(s.to_owned())),
                Field::Dict(d) => out.push(Value::Dict(d.clone())),
                Field::Payload(p) => {
                    if let Some(t) = &p.transparent {
                        out.push(t.clone());
                    } else if p.encoded_fields() > 0 {
                        out.push(Value::List(p.args.clone().unwrap_or_default()));
                        if let Some(kw) = &p.kwargs {
                            out.push(Value::Dict(kw.clone()));
                        }
                    }
                }
            }
        }
        Value::List(out)
    }

    /// Decodes and validates a message from its generic list form.
    pub fn from_value(value: Value) -> Result<Message, DecodeError> {
        let Value::List(items) = value else {
            return Err(DecodeError::NotAList);
        };
        let code = match items.first() {
            Some(Value::UInt(c)) => *c,
            _ => return Err(DecodeError::NotAList),
        };
        let (name, min, max) = shape(code).ok_or(DecodeError::UnknownType(code))?;
        if items.len() < min || items.len() > max {
            return Err(DecodeError::Length {
                message: name,
                min,
                max,
                got: items.len(),
            });
        }
        let mut r = Reader {
            name,
            it: items.into_iter(),
        };
        r.it.next(); // the type code
        types::decode(code, &mut r)
    }
}

/// Serde view of a [`Message`] (see [`Message::serializable`]).
#[derive(Debug, Clone, Copy)]
pub struct MessageSer<'a> {
    msg: &'a Message,
    json: bool,
}

impl Serialize for MessageSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = self.msg.fields();
        let len = 1 + fields
            .iter()
            .map(|f| match f {
                Field::Payload(p) => p.encoded_fields(),
                _ => 1,
            })
            .sum::<usize>();
        let json = self.json;
        let mut seq = s.serialize_seq(Some(len))?;
        seq.serialize_element(&self.msg.code())?;
        for f in &fields {
            match f {
                Field::UInt(u) => seq.serialize_element(u)?,
                Field::Str(st) => seq.serialize_element(st)?,
                Field::Dict(d) => seq.serialize_element(&DictSer { dict: d, json })?,
                Field::Payload(p) => {
                    if let Some(t) = &p.transparent {
                        seq.serialize_element(&ValueSer { value: t, json })?;
                    } else if p.encoded_fields() > 0 {
                        seq.serialize_element(&ArgsSer {
                            args: p.args.as_deref(),
                            json,
                        })?;
                        if let Some(kw) = &p.kwargs {
                            seq.serialize_element(&DictSer { dict: kw, json })?;
                        }
                    }
                }
            }
        }
        seq.end()
    }
}

struct ArgsSer<'a> {
    args: Option<&'a [Value]>,
    json: bool,
}

impl Serialize for ArgsSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let args = self.args.unwrap_or(&[]);
        let mut seq = s.serialize_seq(Some(args.len()))?;
        for v in args {
            seq.serialize_element(&ValueSer {
                value: v,
                json: self.json,
            })?;
        }
        seq.end()
    }
}

/// Name and allowed list length (including the type code) of each message type.
fn shape(code: u64) -> Option<(&'static str, usize, usize)> {
    Some(match code {
        code::HELLO => ("HELLO", 3, 3),
        code::WELCOME => ("WELCOME", 3, 3),
        code::ABORT => ("ABORT", 3, 5),
        code::CHALLENGE => ("CHALLENGE", 3, 3),
        code::AUTHENTICATE => ("AUTHENTICATE", 3, 3),
        code::GOODBYE => ("GOODBYE", 3, 3),
        code::ERROR => ("ERROR", 5, 7),
        code::PUBLISH => ("PUBLISH", 4, 6),
        code::PUBLISHED => ("PUBLISHED", 3, 3),
        code::SUBSCRIBE => ("SUBSCRIBE", 4, 4),
        code::SUBSCRIBED => ("SUBSCRIBED", 3, 3),
        code::UNSUBSCRIBE => ("UNSUBSCRIBE", 3, 3),
        code::UNSUBSCRIBED => ("UNSUBSCRIBED", 2, 3),
        code::EVENT => ("EVENT", 4, 6),
        code::CALL => ("CALL", 4, 6),
        code::CANCEL => ("CANCEL", 3, 3),
        code::RESULT => ("RESULT", 3, 5),
        code::REGISTER => ("REGISTER", 4, 4),
        code::REGISTERED => ("REGISTERED", 3, 3),
        code::UNREGISTER => ("UNREGISTER", 3, 3),
        code::UNREGISTERED => ("UNREGISTERED", 2, 3),
        code::INVOCATION => ("INVOCATION", 4, 6),
        code::INTERRUPT => ("INTERRUPT", 3, 3),
        code::YIELD => ("YIELD", 3, 5),
        _ => return None,
    })
}

/// The name of a message type code.
pub fn name_of(code: u64) -> Option<&'static str> {
    shape(code).map(|s| s.0)
}

/// Reads the fields of a message list in order.
pub(crate) struct Reader {
    name: &'static str,
    it: std::vec::IntoIter<Value>,
}

impl Reader {
    fn err(&self, field: &'static str, reason: &'static str) -> DecodeError {
        DecodeError::Field {
            message: self.name,
            field,
            reason,
        }
    }

    fn next(&mut self, field: &'static str) -> Result<Value, DecodeError> {
        self.it.next().ok_or_else(|| self.err(field, "missing"))
    }

    pub(crate) fn id(&mut self, field: &'static str) -> Result<Id, DecodeError> {
        match self.next(field)? {
            Value::UInt(u) => Id::new(u).ok_or_else(|| self.err(field, "ID out of range 1..2^53")),
            _ => Err(self.err(field, "must be an integer ID")),
        }
    }

    pub(crate) fn uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        match self.next(field)? {
            Value::UInt(u) => Ok(u),
            _ => Err(self.err(field, "must be a non-negative integer")),
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        match self.next(field)? {
            Value::Str(s) => Ok(s),
            _ => Err(self.err(field, "must be a string")),
        }
    }

    /// A URI that must satisfy the loose rules (reasons and error URIs).
    pub(crate) fn loose_uri(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let s = self.string(field)?;
        if uri::is_valid(&s, UriRule::Loose, false) {
            Ok(s)
        } else {
            Err(self.err(field, "invalid URI"))
        }
    }

    pub(crate) fn dict(
        &mut self,
        field: &'static str,
        schema: options::Schema,
        ppt: bool,
    ) -> Result<Dict, DecodeError> {
        match self.next(field)? {
            Value::Dict(d) => {
                options::check(self.name, field, &d, schema, ppt)?;
                Ok(d)
            }
            _ => Err(self.err(field, "must be a dict")),
        }
    }

    pub(crate) fn opt_dict(&mut self, field: &'static str) -> Result<Option<Dict>, DecodeError> {
        match self.it.next() {
            None => Ok(None),
            Some(Value::Dict(d)) => Ok(Some(d)),
            Some(_) => Err(self.err(field, "must be a dict")),
        }
    }

    /// The optional `Arguments|list, ArgumentsKw|dict` tail.
    pub(crate) fn payload(&mut self, options: &Dict) -> Result<Payload, DecodeError> {
        let mut p = Payload::default();
        match self.it.next() {
            None => return Ok(p),
            Some(Value::List(l)) => p.args = Some(l),
            Some(v @ (Value::Bytes(_) | Value::Str(_))) if options::is_passthru(options) => {
                if self.it.next().is_some() {
                    return Err(self.err("ArgumentsKw", "not allowed with a transparent payload"));
                }
                p.transparent = Some(v);
                return Ok(p);
            }
            Some(_) => return Err(self.err("Arguments", "must be a list")),
        }
        match self.it.next() {
            None => {}
            Some(Value::Dict(d)) => p.kwargs = Some(d),
            Some(_) => return Err(self.err("ArgumentsKw", "must be a dict")),
        }
        Ok(p)
    }
}
