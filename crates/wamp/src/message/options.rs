//! Typed validation of the well-known keys of Options and Details dicts.
//!
//! Unknown keys are ignored, as the spec requires; a known key with a value of the wrong type is a
//! protocol violation whose message names the key.

use super::DecodeError;
use crate::id::Id;
use crate::value::{Dict, Value};

/// The type a known option must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Bool,
    Id,
    IdList,
    Str,
    StrList,
    Dict,
    UInt,
    /// A list of `{session, authid, authrole}` dicts (router-to-router links).
    ForwardFor,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// `cryptobox`, `mqtt`, `xbr` or a custom `x_…` algorithm.
    EncAlgo,
}

pub(crate) type Schema = &'static [(&'static str, Kind)];

const PPT: [(&str, Kind); 6] = [
    ("enc_algo", Kind::EncAlgo),
    ("enc_serializer", Kind::Str),
    ("enc_key", Kind::Str),
    ("ppt_scheme", Kind::Str),
    ("ppt_serializer", Kind::Str),
    ("ppt_cipher", Kind::Str),
];

macro_rules! schema {
    ($($k:literal => $v:expr),* $(,)?) => { &[$(($k, $v)),*] };
}

pub(crate) const HELLO: Schema = schema! {
    "roles" => Kind::Dict, "agent" => Kind::Str, "authmethods" => Kind::StrList,
    "authid" => Kind::Str, "authrole" => Kind::Str, "authextra" => Kind::Dict,
};
pub(crate) const WELCOME: Schema = schema! {
    "roles" => Kind::Dict, "agent" => Kind::Str, "realm" => Kind::Str, "authid" => Kind::Str,
    "authrole" => Kind::Str, "authmethod" => Kind::Str, "authprovider" => Kind::Str,
    "authextra" => Kind::Dict,
};
pub(crate) const CLOSE: Schema = schema! { "message" => Kind::Str };
pub(crate) const PUBLISH: Schema = schema! {
    "acknowledge" => Kind::Bool, "exclude_me" => Kind::Bool, "exclude" => Kind::IdList,
    "exclude_authid" => Kind::StrList, "exclude_authrole" => Kind::StrList,
    "eligible" => Kind::IdList, "eligible_authid" => Kind::StrList,
    "eligible_authrole" => Kind::StrList, "retain" => Kind::Bool, "disclose_me" => Kind::Bool,
    "transaction_hash" => Kind::Str, "forward_for" => Kind::ForwardFor,
};
pub(crate) const SUBSCRIBE: Schema = schema! {
    "match" => Kind::OneOf(&["exact", "prefix", "wildcard"]), "get_retained" => Kind::Bool,
    "forward_for" => Kind::ForwardFor,
};
pub(crate) const EVENT: Schema = schema! {
    "publisher" => Kind::Id, "publisher_authid" => Kind::Str, "publisher_authrole" => Kind::Str,
    "topic" => Kind::Str, "retained" => Kind::Bool, "transaction_hash" => Kind::Str,
    "x_acknowledged_delivery" => Kind::Bool, "forward_for" => Kind::ForwardFor,
};
pub(crate) const CALL: Schema = schema! {
    "timeout" => Kind::UInt, "receive_progress" => Kind::Bool, "disclose_me" => Kind::Bool,
    "progress" => Kind::Bool, "forward_for" => Kind::ForwardFor,
};
pub(crate) const CANCEL: Schema = schema! {
    "mode" => Kind::OneOf(&["skip", "kill", "killnowait"]), "reason" => Kind::Str,
};
pub(crate) const RESULT: Schema =
    schema! { "progress" => Kind::Bool, "forward_for" => Kind::ForwardFor };
pub(crate) const REGISTER: Schema = schema! {
    "match" => Kind::OneOf(&["exact", "prefix", "wildcard"]),
    "invoke" => Kind::OneOf(&["single", "roundrobin", "random", "first", "last"]),
    "disclose_caller" => Kind::Bool, "concurrency" => Kind::UInt, "forward_for" => Kind::ForwardFor,
};
pub(crate) const INVOCATION: Schema = schema! {
    "caller" => Kind::Id, "caller_authid" => Kind::Str, "caller_authrole" => Kind::Str,
    "procedure" => Kind::Str, "receive_progress" => Kind::Bool, "progress" => Kind::Bool,
    "timeout" => Kind::UInt, "forward_for" => Kind::ForwardFor,
};
pub(crate) const INTERRUPT: Schema = schema! {
    "mode" => Kind::OneOf(&["kill", "killnowait"]), "reason" => Kind::Str,
};
pub(crate) const YIELD: Schema =
    schema! { "progress" => Kind::Bool, "forward_for" => Kind::ForwardFor };
pub(crate) const ERROR: Schema = schema! { "forward_for" => Kind::ForwardFor };
pub(crate) const NONE: Schema = &[];

fn is_id(v: &Value) -> bool {
    v.as_u64().and_then(Id::new).is_some()
}

fn check_kind(kind: Kind, v: &Value) -> Result<(), &'static str> {
    let ok = match kind {
        Kind::Bool => matches!(v, Value::Bool(_)),
        Kind::Id => is_id(v),
        Kind::IdList => v.as_list().is_some_and(|l| l.iter().all(is_id)),
        Kind::Str => matches!(v, Value::Str(_)),
        Kind::StrList => v
            .as_list()
            .is_some_and(|l| l.iter().all(|x| x.as_str().is_some())),
        Kind::Dict => matches!(v, Value::Dict(_)),
        Kind::UInt => matches!(v, Value::UInt(_)),
        Kind::ForwardFor => v.as_list().is_some_and(|l| {
            l.iter().all(|e| {
                e.as_dict().is_some_and(|d| {
                    d.get("session").is_some_and(is_id)
                        && d.get("authid").is_none_or(|a| a.as_str().is_some())
                        && d.get("authrole").is_none_or(|a| a.as_str().is_some())
                })
            })
        }),
        Kind::OneOf(allowed) => v.as_str().is_some_and(|s| allowed.contains(&s)),
        Kind::EncAlgo => v
            .as_str()
            .is_some_and(|s| matches!(s, "cryptobox" | "mqtt" | "xbr") || s.starts_with("x_")),
    };
    if ok {
        Ok(())
    } else {
        Err(match kind {
            Kind::Bool => "must be a bool",
            Kind::Id => "must be an ID in 1..2^53",
            Kind::IdList => "must be a list of IDs",
            Kind::Str => "must be a string",
            Kind::StrList => "must be a list of strings",
            Kind::Dict => "must be a dict",
            Kind::UInt => "must be a non-negative integer",
            Kind::ForwardFor => "must be a list of {session, authid, authrole} dicts",
            Kind::OneOf(_) => "has an unsupported value",
            Kind::EncAlgo => "must be cryptobox, mqtt, xbr or x_*",
        })
    }
}

/// Checks every known key of `dict` against `schema` (and the payload passthru keys if `ppt`).
pub(crate) fn check(
    message: &'static str,
    field: &'static str,
    dict: &Dict,
    schema: Schema,
    ppt: bool,
) -> Result<(), DecodeError> {
    let extra: &[(&str, Kind)] = if ppt { &PPT } else { &[] };
    for (key, kind) in schema.iter().chain(extra.iter()) {
        if let Some(v) = dict.get(key) {
            check_kind(*kind, v).map_err(|reason| DecodeError::Option {
                message,
                field,
                key: (*key).to_owned(),
                reason,
            })?;
        }
    }
    Ok(())
}

/// Whether the options mark the payload as transparent (payload passthru mode / E2E encryption).
pub(crate) fn is_passthru(dict: &Dict) -> bool {
    dict.contains_key("enc_algo") || dict.contains_key("ppt_scheme")
}
