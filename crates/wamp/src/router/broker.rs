//! The broker: subscriptions (exact, prefix, wildcard) and publications.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Outbox, Realm, SessionInfo, error_msg, send_to};
use crate::id::{Id, IdSequence};
use crate::message::{
    Event, Message, Payload, Publish, Subscribe, Subscribed, Unsubscribe, Unsubscribed, code,
};
use crate::uri::{self, UriRule};
use crate::value::{Dict, Value};

use super::uris;

/// How a subscription or registration URI matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MatchPolicy {
    Exact,
    Prefix,
    Wildcard,
}

impl MatchPolicy {
    /// From the `match` option (validated by the decoder).
    pub(crate) fn from_options(options: &Dict) -> MatchPolicy {
        match options.get_str("match") {
            Some("prefix") => MatchPolicy::Prefix,
            Some("wildcard") => MatchPolicy::Wildcard,
            _ => MatchPolicy::Exact,
        }
    }

    /// Whether `pattern` is a valid URI for this policy.
    pub(crate) fn valid_pattern(self, pattern: &str, rule: UriRule) -> bool {
        match self {
            MatchPolicy::Exact => uri::is_valid(pattern, rule, false),
            MatchPolicy::Prefix | MatchPolicy::Wildcard => uri::is_valid(pattern, rule, true),
        }
    }

    /// Whether `uri` matches `pattern` under this policy.
    pub(crate) fn matches(self, pattern: &str, uri: &str) -> bool {
        match self {
            MatchPolicy::Exact => pattern == uri,
            MatchPolicy::Prefix => uri.starts_with(pattern),
            MatchPolicy::Wildcard => {
                let mut p = pattern.split('.');
                let mut u = uri.split('.');
                loop {
                    match (p.next(), u.next()) {
                        (None, None) => return true,
                        (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
                        _ => return false,
                    }
                }
            }
        }
    }
}

struct Subscription {
    uri: String,
    policy: MatchPolicy,
    subscribers: BTreeSet<Id>,
}

/// Subscriptions of one realm.
#[derive(Default)]
pub(crate) struct Broker {
    subs: HashMap<Id, Subscription>,
    /// (policy, uri) → subscription.
    index: HashMap<(MatchPolicy, String), Id>,
    /// Pattern (prefix, wildcard) subscriptions, scanned on publish.
    patterns: BTreeSet<Id>,
    /// Session → its subscriptions.
    by_session: HashMap<Id, HashSet<Id>>,
}

impl Broker {
    /// Removes a leaving session from every subscription.
    pub(crate) fn remove_session(&mut self, session: Id) {
        for sub in self.by_session.remove(&session).unwrap_or_default() {
            self.drop_subscriber(sub, session);
        }
    }

    fn drop_subscriber(&mut self, sub: Id, session: Id) {
        let Some(s) = self.subs.get_mut(&sub) else {
            return;
        };
        s.subscribers.remove(&session);
        if s.subscribers.is_empty() {
            if let Some(s) = self.subs.remove(&sub) {
                self.index.remove(&(s.policy, s.uri));
            }
            self.patterns.remove(&sub);
        }
    }

    /// Subscriptions matching `topic`: (subscription, is pattern, subscribers).
    fn matching(&self, topic: &str) -> Vec<(Id, bool, Vec<Id>)> {
        let mut out = Vec::new();
        if let Some(id) = self.index.get(&(MatchPolicy::Exact, topic.to_owned())) {
            if let Some(s) = self.subs.get(id) {
                out.push((*id, false, s.subscribers.iter().copied().collect()));
            }
        }
        for id in &self.patterns {
            if let Some(s) = self.subs.get(id) {
                if s.policy.matches(&s.uri, topic) {
                    out.push((*id, true, s.subscribers.iter().copied().collect()));
                }
            }
        }
        out
    }

    /// Whether anyone is subscribed to `topic` (used to skip building meta events).
    pub(crate) fn has_subscribers(&self, topic: &str) -> bool {
        !self.matching(topic).is_empty()
    }
}

pub(crate) fn subscribe(
    realm: &mut Realm,
    out: &mut Outbox,
    ids: &mut IdSequence,
    session: Id,
    msg: Subscribe,
    rule: UriRule,
    limit: usize,
) {
    let policy = MatchPolicy::from_options(&msg.options);
    if !policy.valid_pattern(&msg.topic, rule) {
        let m = error_msg(
            code::SUBSCRIBE,
            msg.request,
            uris::INVALID_URI,
            "invalid topic URI",
        );
        send_to(&realm.sessions, out, session, m);
        return;
    }
    let broker = &mut realm.broker;
    let key = (policy, msg.topic.clone());
    let sub = match broker.index.get(&key) {
        Some(id) => *id,
        None => {
            let held = realm.sessions.get(&session).map_or(0, |s| s.resources);
            if held >= limit {
                let m = error_msg(
                    code::SUBSCRIBE,
                    msg.request,
                    uris::NOT_AUTHORIZED,
                    "too many subscriptions",
                );
                send_to(&realm.sessions, out, session, m);
                return;
            }
            let id = ids.next_id();
            broker.subs.insert(
                id,
                Subscription {
                    uri: msg.topic.clone(),
                    policy,
                    subscribers: BTreeSet::new(),
                },
            );
            broker.index.insert(key, id);
            if policy != MatchPolicy::Exact {
                broker.patterns.insert(id);
            }
            id
        }
    };
    if let Some(s) = broker.subs.get_mut(&sub) {
        if s.subscribers.insert(session) {
            broker.by_session.entry(session).or_default().insert(sub);
            if let Some(info) = realm.sessions.get_mut(&session) {
                info.resources += 1;
            }
        }
    }
    let m = Message::Subscribed(Subscribed {
        request: msg.request,
        subscription: sub,
    });
    send_to(&realm.sessions, out, session, m);
}

pub(crate) fn unsubscribe(realm: &mut Realm, out: &mut Outbox, session: Id, msg: Unsubscribe) {
    let held = realm
        .broker
        .by_session
        .get_mut(&session)
        .is_some_and(|s| s.remove(&msg.subscription));
    if !held {
        let m = error_msg(
            code::UNSUBSCRIBE,
            msg.request,
            uris::NO_SUCH_SUBSCRIPTION,
            "no such subscription",
        );
        send_to(&realm.sessions, out, session, m);
        return;
    }
    realm.broker.drop_subscriber(msg.subscription, session);
    if let Some(info) = realm.sessions.get_mut(&session) {
        info.resources = info.resources.saturating_sub(1);
    }
    let m = Message::Unsubscribed(Unsubscribed {
        request: msg.request,
        details: None,
    });
    send_to(&realm.sessions, out, session, m);
}

fn list_has_str(options: &Dict, key: &str, value: &str) -> Option<bool> {
    options
        .get(key)
        .and_then(Value::as_list)
        .map(|l| l.iter().any(|v| v.as_str() == Some(value)))
}

fn list_has_id(options: &Dict, key: &str, id: Id) -> Option<bool> {
    options
        .get(key)
        .and_then(Value::as_list)
        .map(|l| l.iter().any(|v| v.as_u64() == Some(id.get())))
}

/// Whether `receiver` gets the event under the publish options (exclusion and black/white lists).
fn eligible(options: &Dict, publisher: Id, receiver: &SessionInfo) -> bool {
    if receiver.id == publisher && options.get_bool("exclude_me").unwrap_or(true) {
        return false;
    }
    let excluded = list_has_id(options, "exclude", receiver.id) == Some(true)
        || list_has_str(options, "exclude_authid", &receiver.authid) == Some(true)
        || list_has_str(options, "exclude_authrole", &receiver.authrole) == Some(true);
    let not_eligible = list_has_id(options, "eligible", receiver.id) == Some(false)
        || list_has_str(options, "eligible_authid", &receiver.authid) == Some(false)
        || list_has_str(options, "eligible_authrole", &receiver.authrole) == Some(false);
    !excluded && !not_eligible
}

pub(crate) fn publish(
    realm: &mut Realm,
    out: &mut Outbox,
    session: Id,
    msg: Publish,
    rule: UriRule,
) {
    let Publish {
        request,
        options,
        topic,
        payload,
    } = msg;
    let ack = options.get_bool("acknowledge").unwrap_or(false);
    let fail = |out: &mut Outbox, uri: &str, why: &str| {
        if ack {
            send_to(
                &realm.sessions,
                out,
                session,
                error_msg(code::PUBLISH, request, uri, why),
            );
        }
    };
    if !uri::is_valid(&topic, rule, false) {
        fail(out, uris::INVALID_URI, "invalid topic URI");
        return;
    }
    if uri::is_reserved(&topic) {
        fail(
            out,
            uris::NOT_AUTHORIZED,
            "the wamp.* namespace is reserved for the router",
        );
        return;
    }
    let publication = Id::random();
    let mut base = Dict::new();
    if options.get_bool("disclose_me").unwrap_or(false) {
        if let Some(p) = realm.sessions.get(&session) {
            base.insert("publisher", p.id.get());
            base.insert("publisher_authid", p.authid.as_str());
            base.insert("publisher_authrole", p.authrole.as_str());
        }
    }
    deliver(
        realm,
        out,
        session,
        &topic,
        &options,
        &base,
        publication,
        &payload,
    );
    if ack {
        let m = Message::Published(crate::message::Published {
            request,
            publication,
        });
        send_to(&realm.sessions, out, session, m);
    }
}

/// Sends one EVENT per (matching subscription, eligible subscriber).
#[allow(clippy::too_many_arguments)]
pub(crate) fn deliver(
    realm: &Realm,
    out: &mut Outbox,
    publisher: Id,
    topic: &str,
    options: &Dict,
    base: &Dict,
    publication: Id,
    payload: &Payload,
) {
    for (sub, is_pattern, subscribers) in realm.broker.matching(topic) {
        let mut details = base.clone();
        if is_pattern {
            details.insert("topic", topic);
        }
        for receiver in subscribers {
            let Some(info) = realm.sessions.get(&receiver) else {
                continue;
            };
            if !eligible(options, publisher, info) {
                continue;
            }
            let event = Event {
                subscription: sub,
                publication,
                details: details.clone(),
                payload: payload.clone(),
            };
            out.send(info.conn, Message::Event(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MatchPolicy as M;

    #[test]
    fn matching_rules() {
        assert!(M::Exact.matches("a.b", "a.b"));
        assert!(!M::Exact.matches("a.b", "a.b.c"));
        assert!(M::Prefix.matches("a.b", "a.b.c"));
        assert!(M::Prefix.matches("a.b", "a.bc"));
        assert!(!M::Prefix.matches("a.b", "a"));
        assert!(M::Wildcard.matches("a..c", "a.b.c"));
        assert!(M::Wildcard.matches("..", "x.y.z"));
        assert!(!M::Wildcard.matches("a..c", "a.b.c.d"));
        assert!(!M::Wildcard.matches("a..c", "a.b.d"));
    }
}
