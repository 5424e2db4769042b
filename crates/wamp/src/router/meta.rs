//! Session meta API: `wamp.session.on_join` / `on_leave` events and the `wamp.session.count`,
//! `wamp.session.list` and `wamp.session.get` procedures.

use super::{Outbox, Realm, SessionInfo, broker, error_msg, send_to, uris};
use crate::id::Id;
use crate::message::{Call, CallResult, Message, Payload, code};
use crate::value::{Dict, Value};

/// Meta event topics.
pub(crate) const ON_JOIN: &str = "wamp.session.on_join";
pub(crate) const ON_LEAVE: &str = "wamp.session.on_leave";

/// Whether a procedure is served by the router itself.
pub(crate) fn is_meta_procedure(procedure: &str) -> bool {
    procedure.starts_with("wamp.")
}

fn publish(realm: &Realm, out: &mut Outbox, publisher: Id, topic: &str, args: Vec<Value>) {
    if !realm.broker.has_subscribers(topic) {
        return;
    }
    let options = Dict::new().with("exclude_me", false);
    let payload = Payload::args(args);
    broker::deliver(
        realm,
        out,
        publisher,
        topic,
        &options,
        &Dict::new(),
        Id::random(),
        &payload,
    );
}

/// Publishes `wamp.session.on_join` with the session details.
pub(crate) fn on_join(realm: &Realm, out: &mut Outbox, session: Id, details: Dict) {
    publish(realm, out, session, ON_JOIN, vec![Value::Dict(details)]);
}

/// Publishes `wamp.session.on_leave` with `[session, authid, authrole]`.
pub(crate) fn on_leave(realm: &Realm, out: &mut Outbox, info: &SessionInfo) {
    let args = vec![
        Value::UInt(info.id.get()),
        Value::from(info.authid.as_str()),
        Value::from(info.authrole.as_str()),
    ];
    publish(realm, out, info.id, ON_LEAVE, args);
}

/// The optional `filter_authroles` argument.
fn role_filter(call: &Call) -> Option<Vec<String>> {
    let list = call.payload.args.as_ref()?.first()?.as_list()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Answers a call to a `wamp.*` procedure.
pub(crate) fn call(realm: &mut Realm, out: &mut Outbox, caller: Id, call: Call) {
    let filter = role_filter(&call);
    let included = |s: &SessionInfo| {
        filter
            .as_ref()
            .is_none_or(|roles| roles.contains(&s.authrole))
    };
    let result = match call.procedure.as_str() {
        "wamp.session.count" => Ok(vec![Value::UInt(
            realm.sessions.values().filter(|s| included(s)).count() as u64,
        )]),
        "wamp.session.list" => {
            let mut ids: Vec<u64> = realm
                .sessions
                .values()
                .filter(|s| included(s))
                .map(|s| s.id.get())
                .collect();
            ids.sort_unstable();
            Ok(vec![Value::List(
                ids.into_iter().map(Value::UInt).collect(),
            )])
        }
        "wamp.session.get" => {
            let id = call
                .payload
                .args
                .as_ref()
                .and_then(|a| a.first())
                .and_then(Value::as_u64)
                .and_then(Id::new);
            match id.and_then(|id| realm.sessions.get(&id)) {
                Some(s) => Ok(vec![Value::Dict(s.details())]),
                None => Err((uris::NO_SUCH_SESSION, "no such session")),
            }
        }
        _ => Err((uris::NO_SUCH_PROCEDURE, "no such procedure")),
    };
    let msg = match result {
        Ok(args) => Message::Result(CallResult {
            request: call.request,
            details: Dict::new(),
            payload: Payload::args(args),
        }),
        Err((uri, why)) => error_msg(code::CALL, call.request, uri, why),
    };
    send_to(&realm.sessions, out, caller, msg);
}
