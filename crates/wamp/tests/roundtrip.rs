//! Property tests: every message round-trips through every serializer, and arbitrary bytes never
//! make a decoder panic.

use proptest::prelude::*;
use wamp::message::*;
use wamp::{Dict, Id, Message, Payload, Serializer, Value};

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::UInt),
        (i64::MIN..0).prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Float),
        "[^\u{0}][a-zA-Z0-9 ü.]{0,8}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::vec(("[a-z_]{1,6}", inner), 0..4)
                .prop_map(|kv| Value::Dict(kv.into_iter().collect())),
        ]
    })
}

fn dict() -> impl Strategy<Value = Dict> {
    proptest::collection::vec(("x_[a-z]{1,6}", value()), 0..3)
        .prop_map(|kv| kv.into_iter().collect())
}

fn id() -> impl Strategy<Value = Id> {
    (1..=Id::MAX).prop_map(|v| Id::new(v).expect("in range"))
}

fn uri() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,6}(\\.[a-z][a-z0-9_]{0,6}){0,3}"
}

fn payload() -> impl Strategy<Value = Payload> {
    (
        proptest::option::of(proptest::collection::vec(value(), 0..3)),
        proptest::option::of(proptest::collection::vec(("[a-z]{1,5}", value()), 0..3)),
    )
        .prop_map(|(args, kw)| Payload {
            args: if kw.is_some() {
                Some(args.unwrap_or_default())
            } else {
                args
            },
            kwargs: kw.map(|kv| kv.into_iter().collect()),
            transparent: None,
        })
}

fn roles(names: &[&str]) -> Dict {
    let mut r = Dict::new();
    for n in names {
        r.insert(*n, Dict::new());
    }
    Dict::new().with("roles", r)
}

/// Strings never start with NUL: under the JSON binary convention such a string means base64
/// binary, so it is not representable as a WAMP JSON string.
fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (uri(), dict()).prop_map(|(realm, mut details)| {
            details.insert("roles", roles(&["caller"]).remove("roles").unwrap());
            Message::Hello(Hello { realm, details })
        }),
        id().prop_map(|session| Message::Welcome(Welcome {
            session,
            details: roles(&["broker"])
        })),
        (dict(), uri()).prop_map(|(details, reason)| Message::Abort(Abort { details, reason })),
        (dict(), uri()).prop_map(|(details, reason)| Message::Goodbye(Goodbye { details, reason })),
        ("[a-z]{1,8}", dict())
            .prop_map(|(auth_method, extra)| Message::Challenge(Challenge { auth_method, extra })),
        ("([^\u{0}].{0,9})?", dict()).prop_map(|(signature, extra)| Message::Authenticate(
            Authenticate { signature, extra }
        )),
        (
            prop::sample::select(vec![
                code::CALL,
                code::INVOCATION,
                code::SUBSCRIBE,
                code::PUBLISH
            ]),
            id(),
            dict(),
            uri(),
            payload()
        )
            .prop_map(
                |(request_type, request, details, error, payload)| Message::Error(Error {
                    request_type,
                    request,
                    details,
                    error,
                    payload
                })
            ),
        (id(), dict(), uri(), payload()).prop_map(|(request, options, topic, payload)| {
            Message::Publish(Publish {
                request,
                options,
                topic,
                payload,
            })
        }),
        (id(), id()).prop_map(|(request, publication)| Message::Published(Published {
            request,
            publication
        })),
        (id(), dict(), uri()).prop_map(|(request, options, topic)| Message::Subscribe(Subscribe {
            request,
            options,
            topic
        })),
        (id(), id()).prop_map(|(request, subscription)| Message::Subscribed(Subscribed {
            request,
            subscription
        })),
        (id(), id()).prop_map(|(request, subscription)| Message::Unsubscribe(Unsubscribe {
            request,
            subscription
        })),
        (id(), proptest::option::of(dict())).prop_map(|(request, details)| Message::Unsubscribed(
            Unsubscribed { request, details }
        )),
        (id(), id(), dict(), payload()).prop_map(
            |(subscription, publication, details, payload)| Message::Event(Event {
                subscription,
                publication,
                details,
                payload
            })
        ),
        (id(), dict(), uri(), payload()).prop_map(|(request, options, procedure, payload)| {
            Message::Call(Call {
                request,
                options,
                procedure,
                payload,
            })
        }),
        (id(), dict()).prop_map(|(request, options)| Message::Cancel(Cancel { request, options })),
        (id(), dict(), payload()).prop_map(|(request, details, payload)| Message::Result(
            CallResult {
                request,
                details,
                payload
            }
        )),
        (id(), dict(), uri()).prop_map(|(request, options, procedure)| Message::Register(
            Register {
                request,
                options,
                procedure
            }
        )),
        (id(), id()).prop_map(|(request, registration)| Message::Registered(Registered {
            request,
            registration
        })),
        (id(), id()).prop_map(|(request, registration)| Message::Unregister(Unregister {
            request,
            registration
        })),
        (id(), proptest::option::of(dict())).prop_map(|(request, details)| Message::Unregistered(
            Unregistered { request, details }
        )),
        (id(), id(), dict(), payload()).prop_map(|(request, registration, details, payload)| {
            Message::Invocation(Invocation {
                request,
                registration,
                details,
                payload,
            })
        }),
        (id(), dict())
            .prop_map(|(request, options)| Message::Interrupt(Interrupt { request, options })),
        (id(), dict(), payload()).prop_map(|(request, options, payload)| Message::Yield(Yield {
            request,
            options,
            payload
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn messages_round_trip(msg in message()) {
        for s in Serializer::ALL {
            let bytes = s.encode(&msg).expect("encode");
            let back = s.decode(&bytes).expect("decode");
            prop_assert_eq!(&back, &msg, "{:?}", s);
            // Encoding is deterministic and stable across a round trip.
            prop_assert_eq!(s.encode(&back).expect("encode"), bytes);
            // The generic value form agrees with the direct encoding.
            prop_assert_eq!(s.encode_value(&msg.to_value()).expect("encode"), s.encode(&msg).expect("encode"));
        }
    }

    #[test]
    fn values_round_trip(v in value()) {
        for s in Serializer::ALL {
            let bytes = s.encode_value(&v).expect("encode");
            prop_assert_eq!(&s.decode_value(&bytes).expect("decode"), &v);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        for s in Serializer::ALL {
            let _ = s.decode(&bytes);
        }
    }

    #[test]
    fn mutated_messages_never_panic(msg in message(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for s in Serializer::ALL {
            let mut bytes = s.encode(&msg).expect("encode");
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            let _ = s.decode(&bytes);
            bytes.truncate(i);
            let _ = s.decode(&bytes);
        }
    }
}

#[test]
fn ids_out_of_range_are_rejected() {
    for bad in [
        "[33,0,5]",
        "[33,9007199254740993,5]",
        "[33,1,-1]",
        "[33,1,1.5]",
        "[33,\"1\",5]",
    ] {
        assert!(Serializer::Json.decode(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(Serializer::Json.decode(b"[33,9007199254740992,1]").is_ok());
}

#[test]
fn every_shape_violation_is_rejected() {
    let bad: &[&str] = &[
        "[]",
        "{}",
        "[\"x\"]",
        "[999,1]",
        "[1]",
        "[1,\"realm\"]",
        "[1,\"realm\",{}]",
        "[1,\"realm\",{\"roles\":{}}]",
        "[1,5,{\"roles\":{\"caller\":{}}}]",
        "[1,\"r\",{\"roles\":{\"caller\":{}}},1]",
        "[2,1,{}]",
        "[3,{},\"bad uri\"]",
        "[6,{},5]",
        "[8,48,1,{},\"a..b\"]",
        "[8,1,1,{},\"a.b\"]",
        "[16,1,{},\"t\",{}]",
        "[16,1,{},\"t\",[],[]]",
        "[16,1,[],\"t\"]",
        "[32,1,{},\"t\",[]]",
        "[34,1]",
        "[36,1,1,{},[],{},1]",
        "[48,1,{\"timeout\":-1},\"p\"]",
        "[48,1,{\"receive_progress\":1},\"p\"]",
        "[49,1,{\"mode\":\"nope\"}]",
        "[64,1,{\"invoke\":\"sometimes\"},\"p\"]",
        "[64,1,{\"match\":\"regex\"},\"p\"]",
        "[68,1,1,{\"caller\":0}]",
        "[69,1,{\"mode\":\"skip\"}]",
        "[70,1,{},{}]",
        "[50,1,{},\"x\"]",
        "[17,1,0]",
        "[65,0,1]",
        "[67,1,[]]",
    ];
    for b in bad {
        assert!(
            Serializer::Json.decode(b.as_bytes()).is_err(),
            "accepted {b}"
        );
    }
}
