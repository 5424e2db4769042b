//! The WAMP spec's `testsuite/` byte vectors: every JSON, MessagePack and CBOR sample decodes,
//! re-encodes to the canonical bytes, and the validation samples are accepted or rejected as the
//! suite says. Data: `tests/data/testsuite/` (see its README for attribution).

use std::path::Path;

use serde_json::Value as Json;
use wamp::{DecodeError, Message, Serializer, Value};

/// Message types in the suite that we do not implement: EVENT_RECEIVED (337, experimental
/// acknowledged event delivery).
const UNSUPPORTED: [u64; 1] = [337];

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vector_files() -> Vec<(String, Json)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/testsuite");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, serde_json::from_str(&text).expect("vector json")));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 20, "vector files missing");
    out
}

/// Converts the suite's expected JSON attribute value into our value model.
fn to_value(j: &Json) -> Value {
    Serializer::Json
        .decode_value(j.to_string().as_bytes())
        .expect("expected value")
}

fn payload_args(m: &Message) -> Option<&wamp::Payload> {
    Some(match m {
        Message::Publish(x) => &x.payload,
        Message::Event(x) => &x.payload,
        Message::Call(x) => &x.payload,
        Message::Result(x) => &x.payload,
        Message::Invocation(x) => &x.payload,
        Message::Yield(x) => &x.payload,
        Message::Error(x) => &x.payload,
        _ => return None,
    })
}

#[test]
fn byte_vectors_decode_and_reencode() {
    let mut checked = 0;
    for (file, doc) in vector_files() {
        for sample in doc["samples"].as_array().expect("samples") {
            let Some(sers) = sample.get("serializers") else {
                continue;
            };
            let desc = sample["description"].as_str().unwrap_or("?");
            let expected = &sample["expected_attributes"];
            for (name, ser) in [
                ("json", Serializer::Json),
                ("msgpack", Serializer::MsgPack),
                ("cbor", Serializer::Cbor),
            ] {
                let Some(variants) = sers.get(name).and_then(Json::as_array) else {
                    continue;
                };
                let mut decoded = Vec::new();
                for v in variants {
                    let bytes = hex(v["bytes_hex"].as_str().expect("bytes_hex"));
                    if UNSUPPORTED.contains(&expected["message_type"].as_u64().unwrap_or(0)) {
                        assert!(
                            matches!(ser.decode(&bytes), Err(DecodeError::UnknownType(_))),
                            "{file} / {desc}: unsupported type must be rejected as unknown"
                        );
                        continue;
                    }
                    let msg = ser
                        .decode(&bytes)
                        .unwrap_or_else(|e| panic!("{file} / {desc} / {name}: {e}"));
                    assert_eq!(
                        msg.code(),
                        expected["message_type"].as_u64().unwrap(),
                        "{file} / {desc}"
                    );
                    if let (Some(p), Some(args)) = (payload_args(&msg), expected.get("args")) {
                        if !args.is_null() {
                            assert_eq!(
                                p.args.clone().map(Value::List),
                                Some(to_value(args)),
                                "{file} / {desc} / {name} args"
                            );
                        }
                        if let Some(kw) = expected.get("kwargs").filter(|k| !k.is_null()) {
                            assert_eq!(
                                p.kwargs.clone().map(Value::Dict),
                                Some(to_value(kw)),
                                "{file} / {desc} / {name} kwargs"
                            );
                        }
                        if let Some(pl) = expected.get("payload").and_then(Json::as_str) {
                            assert_eq!(
                                p.transparent,
                                Some(Value::Bytes(hex(pl))),
                                "{file} / {desc} / {name} payload"
                            );
                        }
                    }
                    decoded.push((bytes, msg));
                }
                if decoded.is_empty() {
                    continue;
                }
                // Every variant decodes to the same message, and our encoding is one of the
                // canonical variants (for JSON: the compact form).
                let first = &decoded[0].1;
                for (_, m) in &decoded {
                    assert_eq!(m, first, "{file} / {desc} / {name}: variants differ");
                }
                let ours = ser.encode(first).expect("encode");
                assert!(
                    decoded.iter().any(|(b, _)| *b == ours),
                    "{file} / {desc} / {name}: re-encoding differs:\n ours {}\n them {:?}",
                    String::from_utf8_lossy(&ours),
                    decoded
                        .iter()
                        .map(|(b, _)| String::from_utf8_lossy(b))
                        .collect::<Vec<_>>()
                );
                assert_eq!(&ser.decode(&ours).expect("re-decode"), first);
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "only {checked} vector groups checked");
}

#[test]
fn validation_samples_accepted_or_rejected() {
    let mut checked = 0;
    for (file, doc) in vector_files() {
        for sample in doc["samples"].as_array().expect("samples") {
            let Some(wmsg) = sample.get("wmsg") else {
                continue;
            };
            let desc = sample["description"].as_str().unwrap_or("?");
            let bytes = wmsg.to_string();
            let got = Serializer::Json.decode(bytes.as_bytes());
            match sample.get("expected_error") {
                Some(err) => {
                    let e = got.expect_err(&format!("{file} / {desc}: accepted invalid message"));
                    let needle = err["contains"].as_str().unwrap_or("");
                    assert!(e.to_string().contains(needle), "{file} / {desc}: {e}");
                }
                None => {
                    got.unwrap_or_else(|e| panic!("{file} / {desc}: rejected: {e}"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} validation samples checked");
}
