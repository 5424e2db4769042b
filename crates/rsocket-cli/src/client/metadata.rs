//! Building request and SETUP metadata from the command line, the way rsc does.
//!
//! * The connection's metadata MIME type is composite metadata unless the command asks for
//!   one plain type: `--mmt TYPE` alone (no `-m`), or a single `-m` with its `--mmt` and no
//!   route or authentication (sent as is, as rsc does).
//! * In composite metadata, entries come in this order: the route (`-r`), simple auth (`-u`),
//!   bearer auth (`--bearer`), then each `-m` with its `--mmt` (the n-th `--mmt` goes with the
//!   n-th `-m`; without any `--mmt`, `-m` values are `application/json`, rsc's default).
//! * A value whose type is `message/x.rsocket.routing.v0` is a route and is encoded as one;
//!   one of type `message/x.rsocket.authentication.v0` may be written `simple:USER:PASS` or
//!   `bearer:TOKEN` (`token:TOKEN`, as in rsc). Other values are sent byte for byte.

use bytes::Bytes;
use rsocket_messaging::metadata::{Authentication, CompositeMetadata, MimeType, RoutingMetadata};

use super::{ClientArgs, Failure, load_value};
use crate::pretty::{AUTHENTICATION, COMPOSITE, ROUTING};

/// The type of a `-m` value given without `--mmt` (rsc's default).
pub(crate) const DEFAULT_ENTRY_MIME: &str = "application/json";

/// The Java enum names rsc accepts for MIME types (`--mmt TEXT_PLAIN`), beyond the ones
/// derived from the MIME string itself (`APPLICATION_JSON`).
const JAVA_NAMES: &[(&str, &str)] = &[
    ("MESSAGE_RSOCKET_MIMETYPE", "message/x.rsocket.mime-type.v0"),
    (
        "MESSAGE_RSOCKET_ACCEPT_MIMETYPES",
        "message/x.rsocket.accept-mime-types.v0",
    ),
    ("MESSAGE_RSOCKET_AUTHENTICATION", AUTHENTICATION),
    (
        "MESSAGE_RSOCKET_TRACING_ZIPKIN",
        "message/x.rsocket.tracing-zipkin.v0",
    ),
    ("MESSAGE_RSOCKET_ROUTING", ROUTING),
    ("MESSAGE_RSOCKET_COMPOSITE_METADATA", COMPOSITE),
    ("APPLICATION_PROTOBUF", "application/vnd.google.protobuf"),
    ("APPLICATION_THRIFT", "application/vnd.apache.thrift.binary"),
    ("APPLICATION_HESSIAN", "application/x-hessian"),
    ("APPLICATION_JAVA_OBJECT", "application/x-java-object"),
    (
        "APPLICATION_CLOUDEVENTS_JSON",
        "application/cloudevents+json",
    ),
    ("APPLICATION_CAPNP", "application/x-capnp"),
    ("APPLICATION_FLATBUFFERS", "application/x-flatbuffers"),
    (
        "AUTHENTICATION_BASIC",
        "message/x.rsocket.authentication.basic.v0",
    ),
    ("APP_INFO", "message/x.rsocket.application+json"),
];

/// A MIME type from the command line: a MIME string, or the Java enum name rsc accepts
/// (`APPLICATION_JSON`, `MESSAGE_RSOCKET_ROUTING`, ...).
pub(crate) fn resolve_mime(s: &str) -> String {
    let looks_like_enum = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !looks_like_enum {
        return s.to_string();
    }
    if let Some((_, m)) = JAVA_NAMES.iter().find(|(n, _)| *n == s) {
        return (*m).to_string();
    }
    for known in rsocket_messaging::metadata::WellKnownMimeType::ALL {
        if let Some(m) = known.as_str() {
            let name: String = m
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            if name == s {
                return m.to_string();
            }
        }
    }
    s.to_string()
}

/// Parses `USER:PASS`.
fn user_pass(s: &str) -> Result<(String, String), Failure> {
    s.split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .ok_or_else(|| Failure::usage(format!("expected USER:PASSWORD, got {s:?}")))
}

fn routing_bytes(route: &str) -> Result<Bytes, Failure> {
    RoutingMetadata::from_route(route)
        .map(|r| r.to_bytes())
        .map_err(|e| Failure::usage(format!("invalid route {route:?}: {e}")))
}

fn auth_bytes(a: &Authentication) -> Result<Bytes, Failure> {
    a.to_bytes()
        .map_err(|e| Failure::usage(format!("invalid authentication: {e}")))
}

/// Encodes a value given for `mime`: routes and `simple:`/`bearer:` authentication are
/// encoded, anything else is sent as given.
pub(crate) fn encode_value(mime: &str, raw: Bytes) -> Result<Bytes, Failure> {
    if mime.eq_ignore_ascii_case(ROUTING) {
        let route =
            std::str::from_utf8(&raw).map_err(|_| Failure::usage("a route must be UTF-8 text"))?;
        return routing_bytes(route);
    }
    if mime.eq_ignore_ascii_case(AUTHENTICATION) {
        if let Ok(s) = std::str::from_utf8(&raw) {
            if let Some(rest) = s.strip_prefix("simple:") {
                let (u, p) = user_pass(rest)?;
                return auth_bytes(&Authentication::simple(u, p));
            }
            if let Some(t) = s
                .strip_prefix("bearer:")
                .or_else(|| s.strip_prefix("token:"))
            {
                return auth_bytes(&Authentication::bearer(t));
            }
        }
    }
    Ok(raw)
}

fn composite(entries: &[(String, Bytes)]) -> Result<Bytes, Failure> {
    let mut c = CompositeMetadata::new();
    for (mime, value) in entries {
        let m = MimeType::parse(mime)
            .map_err(|e| Failure::usage(format!("invalid MIME type {mime:?}: {e}")))?;
        c.push(m, value.clone())
            .map_err(|e| Failure::usage(format!("metadata entry {mime}: {e}")))?;
    }
    Ok(c.to_bytes())
}

/// The metadata of a session: the connection's MIME type and what requests and SETUP carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MetadataPlan {
    /// Metadata MIME type announced in SETUP.
    pub mime: String,
    /// Metadata of each request (and of METADATA_PUSH).
    pub request: Option<Bytes>,
    /// Metadata of the SETUP payload.
    pub setup: Option<Bytes>,
}

/// Works out the metadata from the options.
pub(crate) fn plan(args: &ClientArgs) -> Result<MetadataPlan, Failure> {
    let mmts: Vec<String> = args
        .metadata_mime_type
        .iter()
        .map(|m| resolve_mime(m))
        .collect();
    let values = args
        .metadata
        .iter()
        .map(|m| load_value(m, false))
        .collect::<Result<Vec<_>, _>>()?;

    let mut auth = Vec::new();
    if let Some(up) = &args.auth_simple {
        let (u, p) = user_pass(up)?;
        auth.push(auth_bytes(&Authentication::simple(u, p))?);
    }
    if let Some(t) = &args.bearer {
        auth.push(auth_bytes(&Authentication::bearer(t.as_str()))?);
    }

    // The connection's type when chosen by a lone --mmt, and the (type, value) pairs.
    let (selected, pairs): (Option<String>, Vec<(String, Bytes)>) =
        if values.is_empty() && mmts.len() == 1 {
            (Some(mmts[0].clone()), Vec::new())
        } else if values.len() == mmts.len() {
            (None, mmts.into_iter().zip(values).collect())
        } else if mmts.is_empty() {
            let pairs = values
                .into_iter()
                .map(|v| (DEFAULT_ENTRY_MIME.to_string(), v))
                .collect();
            (None, pairs)
        } else {
            return Err(Failure::usage(format!(
                "-m/--metadata is given {} times and --mmt/--metadataMimeType {} times: give one \
                 --mmt per -m (or a single --mmt alone to choose the connection's metadata type)",
                values.len(),
                mmts.len()
            )));
        };
    let pairs = pairs
        .into_iter()
        .map(|(m, v)| encode_value(&m, v).map(|v| (m, v)))
        .collect::<Result<Vec<_>, _>>()?;

    let plain = match &selected {
        Some(m) if !m.eq_ignore_ascii_case(COMPOSITE) => Some(m.clone()),
        Some(_) => None,
        None if pairs.len() == 1 && args.route.is_none() && auth.is_empty() => {
            Some(pairs[0].0.clone())
        }
        None => None,
    };

    let setup_value = args
        .setup_metadata
        .as_deref()
        .map(|sm| {
            let smmt = resolve_mime(&args.setup_metadata_mime_type);
            load_value(sm, false)
                .and_then(|raw| encode_value(&smmt, raw))
                .map(|v| (smmt, v))
        })
        .transpose()?;

    match plain {
        Some(mime) => {
            let is_routing = mime.eq_ignore_ascii_case(ROUTING);
            if !auth.is_empty() {
                return Err(Failure::usage(format!(
                    "-u/--bearer need composite metadata, but the metadata type is {mime}"
                )));
            }
            let request = if let Some(route) = &args.route {
                if !is_routing {
                    return Err(Failure::usage(format!(
                        "-r/--route needs composite or routing metadata, but the metadata type \
                         is {mime}"
                    )));
                }
                if !pairs.is_empty() {
                    return Err(Failure::usage(
                        "-r/--route with -m needs composite metadata",
                    ));
                }
                Some(routing_bytes(route)?)
            } else {
                pairs.into_iter().next().map(|(_, v)| v)
            };
            let setup = match (&args.setup_route, setup_value) {
                (Some(_), Some(_)) => {
                    return Err(Failure::usage(
                        "--setup-route with --sm/--setupMetadata needs composite metadata",
                    ));
                }
                (Some(route), None) if is_routing => Some(routing_bytes(route)?),
                (Some(_), None) => {
                    return Err(Failure::usage(format!(
                        "--setup-route needs composite or routing metadata, but the metadata \
                         type is {mime}"
                    )));
                }
                (None, v) => v.map(|(_, v)| v),
            };
            Ok(MetadataPlan {
                mime,
                request,
                setup,
            })
        }
        None => {
            let mut entries = Vec::new();
            if let Some(route) = &args.route {
                entries.push((ROUTING.to_string(), routing_bytes(route)?));
            }
            for a in auth {
                entries.push((AUTHENTICATION.to_string(), a));
            }
            entries.extend(pairs);
            let request = (!entries.is_empty())
                .then(|| composite(&entries))
                .transpose()?;
            let mut setup_entries = Vec::new();
            if let Some(route) = &args.setup_route {
                setup_entries.push((ROUTING.to_string(), routing_bytes(route)?));
            }
            setup_entries.extend(setup_value);
            let setup = (!setup_entries.is_empty())
                .then(|| composite(&setup_entries))
                .transpose()?;
            Ok(MetadataPlan {
                mime: COMPOSITE.to_string(),
                request,
                setup,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: ClientArgs,
    }

    fn plan_of(cmd: &[&str]) -> Result<MetadataPlan, Failure> {
        let mut v = vec!["rsocket", "tcp://127.0.0.1:1"];
        v.extend_from_slice(cmd);
        plan(&T::try_parse_from(v).expect("parses").args)
    }

    #[test]
    fn mime_names() {
        assert_eq!(resolve_mime("APPLICATION_JSON"), "application/json");
        assert_eq!(resolve_mime("TEXT_PLAIN"), "text/plain");
        assert_eq!(resolve_mime("MESSAGE_RSOCKET_ROUTING"), ROUTING);
        assert_eq!(resolve_mime("text/plain"), "text/plain");
        assert_eq!(resolve_mime("NOT_A_TYPE"), "NOT_A_TYPE");
    }

    #[test]
    fn route_goes_into_composite() {
        let p = plan_of(&["-r", "echo"]).unwrap();
        assert_eq!(p.mime, COMPOSITE);
        assert_eq!(
            &p.request.unwrap()[..],
            &[0xFE, 0, 0, 5, 4, b'e', b'c', b'h', b'o']
        );
        assert_eq!(p.setup, None);
    }

    #[test]
    fn lone_routing_mmt_sends_plain_routing() {
        let p = plan_of(&["--mmt", ROUTING, "-r", "echo"]).unwrap();
        assert_eq!(p.mime, ROUTING);
        assert_eq!(&p.request.unwrap()[..], b"\x04echo");
    }

    #[test]
    fn repeated_m_builds_composite_in_order() {
        let p = plan_of(&[
            "-r",
            "x",
            "-u",
            "a:b",
            "--mmt",
            "text/plain",
            "-m",
            "hi",
            "--mmt",
            "app/x",
            "-m",
            "yo",
        ])
        .unwrap();
        let c = CompositeMetadata::decode(&p.request.unwrap()).unwrap();
        let mimes: Vec<String> = c.iter().map(|e| e.mime().to_string()).collect();
        assert_eq!(
            mimes,
            [ROUTING, AUTHENTICATION, "text/plain", "app/x"].map(String::from)
        );
    }

    #[test]
    fn single_m_with_mmt_is_plain_like_rsc() {
        let p = plan_of(&["--mmt", "application/json", "-m", "{}"]).unwrap();
        assert_eq!(p.mime, "application/json");
        assert_eq!(&p.request.unwrap()[..], b"{}");
    }

    #[test]
    fn mismatched_counts_are_usage_errors() {
        let e = plan_of(&["--mmt", "a/b", "--mmt", "c/d", "-m", "x"]).unwrap_err();
        assert_eq!(e.code, super::super::EXIT_USAGE);
    }

    #[test]
    fn setup_route_and_auth_setup_metadata() {
        let p = plan_of(&[
            "--setup-route",
            "hello",
            "--sm",
            "simple:u:p",
            "--smmt",
            "MESSAGE_RSOCKET_AUTHENTICATION",
        ])
        .unwrap();
        let c = CompositeMetadata::decode(&p.setup.unwrap()).unwrap();
        assert_eq!(c.routing().unwrap().unwrap().route(), Some("hello"));
        assert_eq!(
            c.authentication().unwrap(),
            Some(Authentication::simple("u", "p"))
        );
    }
}
