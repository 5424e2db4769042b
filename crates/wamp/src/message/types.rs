//! One struct per message type, and the field-by-field decoder.

use super::options as o;
use super::{DecodeError, Message, Payload, Reader, code};
use crate::id::Id;
use crate::value::{Dict, Value};

/// `[HELLO, Realm|uri, Details|dict]` — a client asks to join a realm.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// Realm to join.
    pub realm: String,
    /// `roles` (required), `agent`, `authmethods`, `authid`, `authextra`, …
    pub details: Dict,
}

/// `[WELCOME, Session|id, Details|dict]` — the router accepted the session.
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    /// The session ID.
    pub session: Id,
    /// `roles` (required), `realm`, `authid`, `authrole`, `authmethod`, `agent`, …
    pub details: Dict,
}

/// `[ABORT, Details|dict, Reason|uri]` — session establishment failed or a fatal error.
#[derive(Debug, Clone, PartialEq)]
pub struct Abort {
    /// Optional `message`.
    pub details: Dict,
    /// Error URI.
    pub reason: String,
}

/// `[CHALLENGE, AuthMethod|string, Extra|dict]` — the router asks the client to authenticate.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// Authentication method, e.g. `ticket` or `wampcra`.
    pub auth_method: String,
    /// Method-specific data (e.g. the WAMP-CRA `challenge`).
    pub extra: Dict,
}

/// `[AUTHENTICATE, Signature|string, Extra|dict]` — the client's answer to a challenge.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticate {
    /// The ticket or signature.
    pub signature: String,
    /// Method-specific data.
    pub extra: Dict,
}

/// `[GOODBYE, Details|dict, Reason|uri]` — closing an established session.
#[derive(Debug, Clone, PartialEq)]
pub struct Goodbye {
    /// Optional `message`.
    pub details: Dict,
    /// Close reason URI.
    pub reason: String,
}

/// `[ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// Type code of the failed request (e.g. [`code::CALL`]).
    pub request_type: u64,
    /// ID of the failed request.
    pub request: Id,
    /// Details.
    pub details: Dict,
    /// Error URI.
    pub error: String,
    /// Application payload.
    pub payload: Payload,
}

/// `[PUBLISH, Request|id, Options|dict, Topic|uri, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Request ID.
    pub request: Id,
    /// `acknowledge`, `exclude_me`, `exclude`, `eligible`, `disclose_me`, …
    pub options: Dict,
    /// Topic URI.
    pub topic: String,
    /// Event payload.
    pub payload: Payload,
}

/// `[PUBLISHED, PUBLISH.Request|id, Publication|id]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The PUBLISH request ID.
    pub request: Id,
    /// Publication ID.
    pub publication: Id,
}

/// `[SUBSCRIBE, Request|id, Options|dict, Topic|uri]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    /// Request ID.
    pub request: Id,
    /// `match` (`exact`, `prefix`, `wildcard`), …
    pub options: Dict,
    /// Topic URI or pattern.
    pub topic: String,
}

/// `[SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribed {
    /// The SUBSCRIBE request ID.
    pub request: Id,
    /// Subscription ID.
    pub subscription: Id,
}

/// `[UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribe {
    /// Request ID.
    pub request: Id,
    /// Subscription ID.
    pub subscription: Id,
}

/// `[UNSUBSCRIBED, UNSUBSCRIBE.Request|id, Details|dict?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribed {
    /// The UNSUBSCRIBE request ID (0 is not valid; revocation is not implemented).
    pub request: Id,
    /// Optional details (subscription revocation).
    pub details: Option<Dict>,
}

/// `[EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Subscription ID.
    pub subscription: Id,
    /// Publication ID.
    pub publication: Id,
    /// `publisher`, `topic` (pattern subscriptions), …
    pub details: Dict,
    /// Event payload.
    pub payload: Payload,
}

/// `[CALL, Request|id, Options|dict, Procedure|uri, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Request ID.
    pub request: Id,
    /// `timeout`, `receive_progress`, `disclose_me`, …
    pub options: Dict,
    /// Procedure URI.
    pub procedure: String,
    /// Call arguments.
    pub payload: Payload,
}

/// `[CANCEL, CALL.Request|id, Options|dict]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancel {
    /// The CALL request ID.
    pub request: Id,
    /// `mode`: `skip`, `kill` or `killnowait`.
    pub options: Dict,
}

/// `[RESULT, CALL.Request|id, Details|dict, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// The CALL request ID.
    pub request: Id,
    /// `progress`, …
    pub details: Dict,
    /// Result payload.
    pub payload: Payload,
}

/// `[REGISTER, Request|id, Options|dict, Procedure|uri]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    /// Request ID.
    pub request: Id,
    /// `match`, `invoke`, `disclose_caller`, …
    pub options: Dict,
    /// Procedure URI or pattern.
    pub procedure: String,
}

/// `[REGISTERED, REGISTER.Request|id, Registration|id]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The REGISTER request ID.
    pub request: Id,
    /// Registration ID.
    pub registration: Id,
}

/// `[UNREGISTER, Request|id, REGISTERED.Registration|id]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unregister {
    /// Request ID.
    pub request: Id,
    /// Registration ID.
    pub registration: Id,
}

/// `[UNREGISTERED, UNREGISTER.Request|id, Details|dict?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unregistered {
    /// The UNREGISTER request ID.
    pub request: Id,
    /// Optional details (registration revocation).
    pub details: Option<Dict>,
}

/// `[INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Request ID (router-to-callee scope).
    pub request: Id,
    /// Registration ID.
    pub registration: Id,
    /// `caller`, `procedure`, `receive_progress`, `timeout`, …
    pub details: Dict,
    /// Call arguments.
    pub payload: Payload,
}

/// `[INTERRUPT, INVOCATION.Request|id, Options|dict]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupt {
    /// The INVOCATION request ID.
    pub request: Id,
    /// `mode`: `kill` or `killnowait`; `reason`.
    pub options: Dict,
}

/// `[YIELD, INVOCATION.Request|id, Options|dict, Arguments?, ArgumentsKw?]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Yield {
    /// The INVOCATION request ID.
    pub request: Id,
    /// `progress`, …
    pub options: Dict,
    /// Result payload.
    pub payload: Payload,
}

/// Request types an ERROR may answer.
const ERROR_REQUEST_TYPES: [u64; 8] = [
    code::SUBSCRIBE,
    code::UNSUBSCRIBE,
    code::PUBLISH,
    code::REGISTER,
    code::UNREGISTER,
    code::CALL,
    code::INVOCATION,
    code::CANCEL,
];

fn require_roles(name: &'static str, details: &Dict, known: &[&str]) -> Result<(), DecodeError> {
    let err = |reason| DecodeError::Field {
        message: name,
        field: "Details.roles",
        reason,
    };
    let roles = details
        .get("roles")
        .and_then(Value::as_dict)
        .ok_or(err("required dict"))?;
    if !roles.iter().any(|(k, _)| known.contains(&k)) {
        return Err(err("must announce at least one role"));
    }
    if roles.iter().any(|(_, v)| v.as_dict().is_none()) {
        return Err(err("each role must be a dict"));
    }
    Ok(())
}

pub(super) fn decode(code: u64, r: &mut Reader) -> Result<Message, DecodeError> {
    Ok(match code {
        code::HELLO => {
            let realm = r.string("Realm")?;
            let details = r.dict("Details", o::HELLO, false)?;
            require_roles(
                "HELLO",
                &details,
                &["caller", "callee", "publisher", "subscriber"],
            )?;
            Message::Hello(Hello { realm, details })
        }
        code::WELCOME => {
            let session = r.id("Session")?;
            let details = r.dict("Details", o::WELCOME, false)?;
            require_roles("WELCOME", &details, &["broker", "dealer"])?;
            Message::Welcome(Welcome { session, details })
        }
        code::ABORT => {
            let details = r.dict("Details", o::CLOSE, false)?;
            let reason = r.loose_uri("Reason")?;
            // `Arguments|list, ArgumentsKw|dict` may follow (basic/messages.md): checked for
            // shape, then dropped; the reason and the details' `message` carry the meaning.
            r.payload(&details)?;
            Message::Abort(Abort { details, reason })
        }
        code::CHALLENGE => {
            let auth_method = r.string("AuthMethod")?;
            Message::Challenge(Challenge {
                auth_method,
                extra: r.dict("Extra", o::NONE, false)?,
            })
        }
        code::AUTHENTICATE => {
            let signature = r.string("Signature")?;
            Message::Authenticate(Authenticate {
                signature,
                extra: r.dict("Extra", o::NONE, false)?,
            })
        }
        code::GOODBYE => {
            let details = r.dict("Details", o::CLOSE, false)?;
            Message::Goodbye(Goodbye {
                details,
                reason: r.loose_uri("Reason")?,
            })
        }
        code::ERROR => {
            let request_type = r.uint("REQUEST.Type")?;
            if !ERROR_REQUEST_TYPES.contains(&request_type) {
                return Err(DecodeError::Field {
                    message: "ERROR",
                    field: "REQUEST.Type",
                    reason: "not a request message type",
                });
            }
            let request = r.id("REQUEST.Request")?;
            let details = r.dict("Details", o::ERROR, true)?;
            let error = r.loose_uri("Error")?;
            let payload = r.payload(&details)?;
            Message::Error(Error {
                request_type,
                request,
                details,
                error,
                payload,
            })
        }
        code::PUBLISH => {
            let request = r.id("Request")?;
            let options = r.dict("Options", o::PUBLISH, true)?;
            let topic = r.string("Topic")?;
            let payload = r.payload(&options)?;
            Message::Publish(Publish {
                request,
                options,
                topic,
                payload,
            })
        }
        code::PUBLISHED => Message::Published(Published {
            request: r.id("PUBLISH.Request")?,
            publication: r.id("Publication")?,
        }),
        code::SUBSCRIBE => Message::Subscribe(Subscribe {
            request: r.id("Request")?,
            options: r.dict("Options", o::SUBSCRIBE, false)?,
            topic: r.string("Topic")?,
        }),
        code::SUBSCRIBED => Message::Subscribed(Subscribed {
            request: r.id("SUBSCRIBE.Request")?,
            subscription: r.id("Subscription")?,
        }),
        code::UNSUBSCRIBE => Message::Unsubscribe(Unsubscribe {
            request: r.id("Request")?,
            subscription: r.id("SUBSCRIBED.Subscription")?,
        }),
        code::UNSUBSCRIBED => Message::Unsubscribed(Unsubscribed {
            request: r.id("UNSUBSCRIBE.Request")?,
            details: r.opt_dict("Details")?,
        }),
        code::EVENT => {
            let subscription = r.id("SUBSCRIBED.Subscription")?;
            let publication = r.id("PUBLISHED.Publication")?;
            let details = r.dict("Details", o::EVENT, true)?;
            let payload = r.payload(&details)?;
            Message::Event(Event {
                subscription,
                publication,
                details,
                payload,
            })
        }
        code::CALL => {
            let request = r.id("Request")?;
            let options = r.dict("Options", o::CALL, true)?;
            let procedure = r.string("Procedure")?;
            let payload = r.payload(&options)?;
            Message::Call(Call {
                request,
                options,
                procedure,
                payload,
            })
        }
        code::CANCEL => Message::Cancel(Cancel {
            request: r.id("CALL.Request")?,
            options: r.dict("Options", o::CANCEL, false)?,
        }),
        code::RESULT => {
            let request = r.id("CALL.Request")?;
            let details = r.dict("Details", o::RESULT, true)?;
            let payload = r.payload(&details)?;
            Message::Result(CallResult {
                request,
                details,
                payload,
            })
        }
        code::REGISTER => Message::Register(Register {
            request: r.id("Request")?,
            options: r.dict("Options", o::REGISTER, false)?,
            procedure: r.string("Procedure")?,
        }),
        code::REGISTERED => Message::Registered(Registered {
            request: r.id("REGISTER.Request")?,
            registration: r.id("Registration")?,
        }),
        code::UNREGISTER => Message::Unregister(Unregister {
            request: r.id("Request")?,
            registration: r.id("REGISTERED.Registration")?,
        }),
        code::UNREGISTERED => Message::Unregistered(Unregistered {
            request: r.id("UNREGISTER.Request")?,
            details: r.opt_dict("Details")?,
        }),
        code::INVOCATION => {
            let request = r.id("Request")?;
            let registration = r.id("REGISTERED.Registration")?;
            let details = r.dict("Details", o::INVOCATION, true)?;
            let payload = r.payload(&details)?;
            Message::Invocation(Invocation {
                request,
                registration,
                details,
                payload,
            })
        }
        code::INTERRUPT => Message::Interrupt(Interrupt {
            request: r.id("INVOCATION.Request")?,
            options: r.dict("Options", o::INTERRUPT, false)?,
        }),
        code::YIELD => {
            let request = r.id("INVOCATION.Request")?;
            let options = r.dict("Options", o::YIELD, true)?;
            let payload = r.payload(&options)?;
            Message::Yield(Yield {
                request,
                options,
                payload,
            })
        }
        other => return Err(DecodeError::UnknownType(other)),
    })
}
