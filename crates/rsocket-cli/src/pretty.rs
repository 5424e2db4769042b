//! Human-readable and JSON views of RSocket frames, shared by `rsocket frames` and the client's
//! `--debug` output.
//!
//! ```text
//!   raw frame bytes ──► Frame::decode ──► FramePrinter ──► text  (one header line, details)
//!                                            │        └──► JSON  (one object per frame)
//!                                            └── metadata: composite entries, routes, auth,
//!                                                per-stream MIME types, text or hex
//! ```
//!
//! The printer remembers the metadata MIME type announced by a SETUP so later frames of the same
//! capture are read accordingly; without one it recognises composite metadata by its shape.
//! Secrets in authentication metadata (passwords, tokens) are never printed, only their length.

use std::fmt::Write as _;

use bytes::Bytes;
use rsocket_messaging::metadata::{
    AcceptMimeTypes, Authentication, CompositeMetadata, DataMimeType, MimeType, RoutingMetadata,
    WellKnownMimeType,
};
use rsocket_proto::frame::{Flags, Header};
use rsocket_proto::{ErrorCode, Frame, FrameType, Payload};
use serde_json::{Map, Value, json};

/// `message/x.rsocket.composite-metadata.v0`.
pub const COMPOSITE: &str = "message/x.rsocket.composite-metadata.v0";
/// `message/x.rsocket.routing.v0`.
pub const ROUTING: &str = "message/x.rsocket.routing.v0";
/// `message/x.rsocket.authentication.v0`.
pub const AUTHENTICATION: &str = "message/x.rsocket.authentication.v0";

/// Longest data or metadata text shown inline in text output (JSON output is never cut).
const TEXT_PREVIEW: usize = 512;
/// Longest binary value shown inline as hex in text output.
const HEX_PREVIEW: usize = 64;

/// Lower-case hex of `bytes`, two digits per byte, no separators.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses hex text. Whitespace, `:` and `-` separators and a leading `0x` are ignored.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let mut out = Vec::with_capacity(t.len() / 2);
    let mut high: Option<u8> = None;
    for (i, c) in t.char_indices() {
        if c.is_whitespace() || c == ':' || c == '-' {
            continue;
        }
        let Some(v) = c.to_digit(16) else {
            return Err(format!("invalid hex character {c:?} at offset {i}"));
        };
        let v = v as u8;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push(h << 4 | v),
        }
    }
    if high.is_some() {
        return Err("odd number of hex digits".to_string());
    }
    Ok(out)
}

/// A classic hex dump: offset, 16 bytes in hex, and their printable ASCII.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(s, "{b:02x} ");
                }
                None => s.push_str("   "),
            }
            if j == 7 {
                s.push(' ');
            }
        }
        s.push_str(" |");
        for b in chunk {
            s.push(if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            });
        }
        s.push_str("|\n");
    }
    s
}

/// The spec's letters for the flags set in `flags`, read for frame type `ft`.
pub fn flag_names(ft: FrameType, flags: Flags) -> Vec<&'static str> {
    let bits = flags.bits();
    let mut names = Vec::new();
    if bits & 0x200 != 0 {
        names.push("I");
    }
    if bits & 0x100 != 0 {
        names.push("M");
    }
    let payloadish = matches!(
        ft,
        FrameType::REQUEST_RESPONSE
            | FrameType::REQUEST_FNF
            | FrameType::REQUEST_STREAM
            | FrameType::REQUEST_CHANNEL
            | FrameType::PAYLOAD
    );
    if bits & 0x80 != 0 {
        names.push(match ft {
            FrameType::SETUP => "R(resume)",
            FrameType::KEEPALIVE => "R(respond)",
            _ if payloadish => "F",
            _ => "0x080",
        });
    }
    if bits & 0x40 != 0 {
        names.push(match ft {
            FrameType::SETUP => "L",
            FrameType::PAYLOAD | FrameType::REQUEST_CHANNEL => "C",
            _ => "0x040",
        });
    }
    if bits & 0x20 != 0 {
        names.push(if ft == FrameType::PAYLOAD {
            "N"
        } else {
            "0x020"
        });
    }
    if bits & 0x1F != 0 {
        names.push("other");
    }
    names
}

/// Text form of an error code: `APPLICATION_ERROR (0x00000201)` or `0x00000301`.
pub fn error_code_text(code: ErrorCode) -> String {
    match code.name() {
        Some(n) => format!("{n} (0x{:08X})", code.0),
        None if code.is_application_defined() => {
            format!("0x{:08X} (application-defined)", code.0)
        }
        None => format!("0x{:08X}", code.0),
    }
}

/// What a metadata or data value turned out to be.
#[derive(Clone, Debug)]
enum View {
    /// Composite metadata entries.
    Composite(Vec<EntryView>),
    /// Routing tags.
    Routing(Vec<String>),
    /// Authentication, secrets redacted.
    Auth(AuthView),
    /// A list of MIME types (per-stream data MIME, accepted MIME types).
    Mimes(Vec<String>),
    /// UTF-8 text.
    Text(String),
    /// Anything else.
    Binary(Bytes),
    /// A value of a known type that did not decode.
    Invalid { why: String, raw: Bytes },
}

#[derive(Clone, Debug)]
struct EntryView {
    mime: String,
    len: usize,
    value: View,
}

#[derive(Clone, Debug)]
enum AuthView {
    Simple {
        username: String,
        password_len: usize,
    },
    Bearer {
        token_len: usize,
    },
    Other {
        auth_type: String,
        len: usize,
    },
}

fn is_printable_text(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t')
}

fn text_or_binary(b: &Bytes) -> View {
    match std::str::from_utf8(b) {
        Ok(s) if is_printable_text(s) => View::Text(s.to_string()),
        _ => View::Binary(b.clone()),
    }
}

fn auth_view(b: &Bytes) -> View {
    match Authentication::decode(b) {
        Ok(Authentication::Simple { username, password }) => View::Auth(AuthView::Simple {
            username,
            password_len: password.len(),
        }),
        Ok(Authentication::Bearer(t)) => View::Auth(AuthView::Bearer { token_len: t.len() }),
        Ok(Authentication::Custom { auth_type, payload }) => View::Auth(AuthView::Other {
            auth_type: auth_type.to_string(),
            len: payload.len(),
        }),
        Err(e) => View::Invalid {
            why: e.to_string(),
            raw: b.clone(),
        },
    }
}

/// Reads a value whose MIME type is known.
fn view_as(b: &Bytes, mime: &str) -> View {
    let known = WellKnownMimeType::from_str(mime);
    match known {
        Some(WellKnownMimeType::MESSAGE_RSOCKET_COMPOSITE_METADATA) => {
            match CompositeMetadata::decode(b) {
                Ok(c) => View::Composite(entries_view(&c)),
                Err(e) => View::Invalid {
                    why: e.to_string(),
                    raw: b.clone(),
                },
            }
        }
        Some(WellKnownMimeType::MESSAGE_RSOCKET_ROUTING) => match RoutingMetadata::decode(b) {
            Ok(r) => View::Routing(r.iter().map(str::to_string).collect()),
            Err(e) => View::Invalid {
                why: e.to_string(),
                raw: b.clone(),
            },
        },
        Some(WellKnownMimeType::MESSAGE_RSOCKET_AUTHENTICATION) => auth_view(b),
        Some(WellKnownMimeType::MESSAGE_RSOCKET_MIMETYPE) => match DataMimeType::decode(b) {
            Ok(m) => View::Mimes(vec![m.0.to_string()]),
            Err(e) => View::Invalid {
                why: e.to_string(),
                raw: b.clone(),
            },
        },
        Some(WellKnownMimeType::MESSAGE_RSOCKET_ACCEPT_MIMETYPES) => {
            match AcceptMimeTypes::decode(b) {
                Ok(m) => View::Mimes(m.iter().map(ToString::to_string).collect()),
                Err(e) => View::Invalid {
                    why: e.to_string(),
                    raw: b.clone(),
                },
            }
        }
        _ => text_or_binary(b),
    }
}

fn entries_view(c: &CompositeMetadata) -> Vec<EntryView> {
    c.iter()
        .map(|e| {
            let mime = e.mime().to_string();
            let value = match e.mime().as_str() {
                Some(m) if m != COMPOSITE => view_as(e.content(), m),
                _ => text_or_binary(e.content()),
            };
            EntryView {
                mime,
                len: e.content().len(),
                value,
            }
        })
        .collect()
}

/// Reads metadata: by its MIME type when known, else composite if it looks like composite
/// metadata (every entry's type is a named well-known type or a printable custom string), else
/// text or binary.
fn metadata_view(b: &Bytes, mime: Option<&str>) -> View {
    if let Some(m) = mime {
        return view_as(b, m);
    }
    if let Ok(c) = CompositeMetadata::decode(b) {
        let plausible = !c.is_empty()
            && c.iter().all(|e| match e.mime() {
                MimeType::WellKnown(w) => w.as_str().is_some(),
                MimeType::Custom(s) => s.as_str().chars().all(|ch| ch.is_ascii_graphic()),
            });
        if plausible {
            return View::Composite(entries_view(&c));
        }
    }
    text_or_binary(b)
}

fn preview_text(s: &str) -> String {
    if s.len() <= TEXT_PREVIEW {
        return format!("{s:?}");
    }
    let mut end = TEXT_PREVIEW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} more bytes)", &s[..end], s.len() - end)
}

fn preview_hex(b: &[u8]) -> String {
    if b.len() <= HEX_PREVIEW {
        format!("hex {}", to_hex(b))
    } else {
        format!(
            "hex {}… ({} more bytes)",
            to_hex(&b[..HEX_PREVIEW]),
            b.len() - HEX_PREVIEW
        )
    }
}

fn view_inline(v: &View) -> String {
    match v {
        View::Composite(entries) => format!("composite, {} entries", entries.len()),
        View::Routing(tags) => match tags.as_slice() {
            [one] => format!("route {one:?}"),
            _ => format!("routes {tags:?}"),
        },
        View::Auth(AuthView::Simple {
            username,
            password_len,
        }) => format!("simple auth, user {username:?}, password <{password_len} bytes redacted>"),
        View::Auth(AuthView::Bearer { token_len }) => {
            format!("bearer auth, token <{token_len} bytes redacted>")
        }
        View::Auth(AuthView::Other { auth_type, len }) => {
            format!("{auth_type} auth, <{len} bytes redacted>")
        }
        View::Mimes(m) => m.join(", "),
        View::Text(s) => preview_text(s),
        View::Binary(b) => preview_hex(b),
        View::Invalid { why, raw } => format!("invalid ({why}): {}", preview_hex(raw)),
    }
}

fn view_lines(label: &str, b: &Bytes, v: &View, indent: &str, out: &mut String) {
    match v {
        View::Composite(entries) => {
            let _ = writeln!(
                out,
                "{indent}{label} ({} bytes, composite, {} entries):",
                b.len(),
                entries.len()
            );
            for e in entries {
                let _ = writeln!(
                    out,
                    "{indent}  - {} ({} bytes): {}",
                    e.mime,
                    e.len,
                    view_inline(&e.value)
                );
            }
        }
        other => {
            let _ = writeln!(
                out,
                "{indent}{label} ({} bytes): {}",
                b.len(),
                view_inline(other)
            );
        }
    }
}

fn view_json(v: &View) -> Value {
    match v {
        View::Composite(entries) => json!({
            "composite": entries.iter().map(|e| {
                let mut m = Map::new();
                m.insert("mime".into(), Value::String(e.mime.clone()));
                m.insert("length".into(), json!(e.len));
                if let Value::Object(inner) = view_json(&e.value) {
                    m.extend(inner);
                }
                Value::Object(m)
            }).collect::<Vec<_>>()
        }),
        View::Routing(tags) => json!({ "routes": tags }),
        View::Auth(AuthView::Simple {
            username,
            password_len,
        }) => json!({
            "auth": { "type": "simple", "username": username, "password_length": password_len }
        }),
        View::Auth(AuthView::Bearer { token_len }) => {
            json!({ "auth": { "type": "bearer", "token_length": token_len } })
        }
        View::Auth(AuthView::Other { auth_type, len }) => {
            json!({ "auth": { "type": auth_type, "length": len } })
        }
        View::Mimes(m) => json!({ "mime_types": m }),
        View::Text(s) => json!({ "text": s }),
        View::Binary(b) => json!({ "hex": to_hex(b) }),
        View::Invalid { why, raw } => json!({ "invalid": why, "hex": to_hex(raw) }),
    }
}

/// JSON view of metadata read as `mime` (or recognised by shape when `None`): `{"composite":
/// [{"mime", "length", "routes" | "auth" | "text" | "hex" ...}]}`, `{"routes": [...]}`,
/// `{"text": ...}` or `{"hex": ...}`.
pub fn metadata_json(metadata: &Bytes, mime: Option<&str>) -> Value {
    view_json(&metadata_view(metadata, mime))
}

/// JSON view of data: `{"text": ...}` when it is printable UTF-8, else `{"hex": ...}`.
pub fn data_json(data: &Bytes) -> Value {
    view_json(&text_or_binary(data))
}

/// Formats frames; remembers the MIME types of the connection from its SETUP.
#[derive(Clone, Debug, Default)]
pub struct FramePrinter {
    metadata_mime: Option<String>,
    data_mime: Option<String>,
    fixed_mime: bool,
    hexdump: bool,
}

impl FramePrinter {
    /// A printer; `hexdump` adds a hex dump of every frame to the text form.
    pub fn new(hexdump: bool) -> Self {
        FramePrinter {
            hexdump,
            ..Default::default()
        }
    }

    /// Reads metadata as `mime` whatever a SETUP says.
    pub fn with_metadata_mime(mut self, mime: Option<String>) -> Self {
        self.fixed_mime = mime.is_some();
        self.metadata_mime = mime;
        self
    }

    fn learn(&mut self, frame: &Frame) {
        if let Frame::Setup(s) = frame {
            if !self.fixed_mime {
                self.metadata_mime = Some(s.metadata_mime_type.clone());
            }
            self.data_mime = Some(s.data_mime_type.clone());
        }
    }

    /// The text form of one encoded frame (without length prefix), ending with a newline.
    /// Undecodable input gives a line saying why, and the hex dump.
    pub fn text(&mut self, raw: &Bytes) -> String {
        let mut out = String::new();
        match Frame::decode(raw.clone()) {
            Ok(frame) => {
                self.learn(&frame);
                self.write_text(&frame, raw.len(), &mut out);
                if self.hexdump {
                    for line in hexdump(raw).lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
            Err(e) => {
                let _ = write!(out, "undecodable frame ({} bytes): {e}", raw.len());
                if let Some(h) = Header::peek(raw) {
                    let _ = write!(
                        out,
                        " [header: {} stream={} flags=0x{:03x}]",
                        h.frame_type,
                        h.stream_id,
                        h.flags.bits()
                    );
                }
                out.push('\n');
                for line in hexdump(raw).lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        out
    }

    /// The JSON form of one encoded frame (without length prefix). Undecodable input gives
    /// `{"error": ..., "length": ..., "hex": ...}`.
    pub fn json(&mut self, raw: &Bytes) -> Value {
        match Frame::decode(raw.clone()) {
            Ok(frame) => {
                self.learn(&frame);
                self.frame_json(&frame, raw.len())
            }
            Err(e) => json!({
                "error": e.to_string(),
                "length": raw.len(),
                "hex": to_hex(raw),
            }),
        }
    }

    fn md_view(&self, m: &Bytes) -> View {
        metadata_view(m, self.metadata_mime.as_deref())
    }

    fn payload_text(&self, p: &Payload, out: &mut String) {
        if let Some(m) = &p.metadata {
            view_lines("metadata", m, &self.md_view(m), "    ", out);
        }
        if !p.data.is_empty() || p.metadata.is_none() {
            view_lines("data", &p.data, &text_or_binary(&p.data), "    ", out);
        }
    }

    fn write_text(&self, frame: &Frame, len: usize, out: &mut String) {
        let h = frame.header();
        let names = flag_names(h.frame_type, h.flags);
        let flags = if names.is_empty() {
            format!("0x{:03x}", h.flags.bits())
        } else {
            format!("0x{:03x} [{}]", h.flags.bits(), names.join(" "))
        };
        let ty = match frame {
            Frame::Payload(p) => {
                let kind = match (p.next, p.complete) {
                    (true, true) => "NEXT_COMPLETE",
                    (true, false) => "NEXT",
                    (false, true) => "COMPLETE",
                    (false, false) => "EMPTY",
                };
                format!("PAYLOAD({kind})")
            }
            Frame::Unknown(u) => format!("UNKNOWN(0x{:02x})", u.frame_type.get()),
            _ => h.frame_type.to_string(),
        };
        let _ = write!(
            out,
            "{ty} stream={} flags={flags} length={len}",
            h.stream_id
        );
        match frame {
            Frame::Setup(s) => {
                let _ = writeln!(
                    out,
                    " version={} keepalive={}ms lifetime={}ms lease={} resume-token={}",
                    s.version,
                    s.keepalive_interval_ms,
                    s.max_lifetime_ms,
                    s.lease,
                    s.resume_token.as_ref().map_or("none".into(), |t| to_hex(t))
                );
                let _ = writeln!(
                    out,
                    "    metadata-mime={} data-mime={}",
                    s.metadata_mime_type, s.data_mime_type
                );
                // SETUP metadata follows the connection's metadata MIME type, just learned.
                self.payload_text(&s.payload, out);
            }
            Frame::Lease(l) => {
                let _ = writeln!(out, " ttl={}ms requests={}", l.ttl_ms, l.number_of_requests);
                if let Some(m) = &l.metadata {
                    view_lines("metadata", m, &self.md_view(m), "    ", out);
                }
            }
            Frame::Keepalive(k) => {
                let _ = writeln!(
                    out,
                    " respond={} position={} data-length={}",
                    k.respond,
                    k.last_received_position,
                    k.data.len()
                );
            }
            Frame::RequestResponse(r) => {
                out.push('\n');
                self.payload_text(&r.payload, out);
            }
            Frame::RequestFnf(r) => {
                out.push('\n');
                self.payload_text(&r.payload, out);
            }
            Frame::RequestStream(r) => {
                let _ = writeln!(out, " request-n={}", n_text(r.initial_n));
                self.payload_text(&r.payload, out);
            }
            Frame::RequestChannel(r) => {
                let _ = writeln!(
                    out,
                    " request-n={} complete={}",
                    n_text(r.initial_n),
                    r.complete
                );
                self.payload_text(&r.payload, out);
            }
            Frame::RequestN(r) => {
                let _ = writeln!(out, " request-n={}", n_text(r.n));
            }
            Frame::Cancel(_) => out.push('\n'),
            Frame::Payload(p) => {
                out.push('\n');
                if p.next || !p.payload.is_empty() {
                    self.payload_text(&p.payload, out);
                }
            }
            Frame::Error(e) => {
                let _ = writeln!(
                    out,
                    " code={} message={:?}",
                    error_code_text(e.code),
                    e.message()
                );
            }
            Frame::MetadataPush(m) => {
                out.push('\n');
                view_lines(
                    "metadata",
                    &m.metadata,
                    &self.md_view(&m.metadata),
                    "    ",
                    out,
                );
            }
            Frame::Resume(r) => {
                let _ = writeln!(
                    out,
                    " version={} token={} last-received-server-position={} first-available-client-position={}",
                    r.version,
                    to_hex(&r.token),
                    r.last_received_server_position,
                    r.first_available_client_position
                );
            }
            Frame::ResumeOk(r) => {
                let _ = writeln!(
                    out,
                    " last-received-client-position={}",
                    r.last_received_client_position
                );
            }
            Frame::Ext(x) => {
                let _ = writeln!(
                    out,
                    " extended-type=0x{:08x} ignore={}",
                    x.extended_type, x.ignore
                );
                self.payload_text(&x.payload, out);
            }
            Frame::Unknown(u) => {
                let _ = writeln!(out, " ignorable={}", u.ignorable());
                view_lines("body", &u.body, &View::Binary(u.body.clone()), "    ", out);
            }
        }
    }

    fn payload_json(&self, p: &Payload, obj: &mut Map<String, Value>) {
        if let Some(m) = &p.metadata {
            let mut v = match view_json(&self.md_view(m)) {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            v.insert("length".into(), json!(m.len()));
            obj.insert("metadata".into(), Value::Object(v));
        }
        let mut d = match data_json(&p.data) {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        d.insert("length".into(), json!(p.data.len()));
        obj.insert("data".into(), Value::Object(d));
    }

    fn frame_json(&self, frame: &Frame, len: usize) -> Value {
        let h = frame.header();
        let mut o = Map::new();
        o.insert(
            "type".into(),
            Value::String(
                h.frame_type
                    .name()
                    .map_or_else(|| format!("0x{:02x}", h.frame_type.get()), str::to_string),
            ),
        );
        o.insert("stream_id".into(), json!(h.stream_id.get()));
        o.insert("flags".into(), json!(h.flags.bits()));
        o.insert(
            "flag_names".into(),
            json!(flag_names(h.frame_type, h.flags)),
        );
        o.insert("length".into(), json!(len));
        match frame {
            Frame::Setup(s) => {
                o.insert("version".into(), json!(s.version.to_string()));
                o.insert("keepalive_ms".into(), json!(s.keepalive_interval_ms));
                o.insert("lifetime_ms".into(), json!(s.max_lifetime_ms));
                o.insert("lease".into(), json!(s.lease));
                o.insert(
                    "resume_token".into(),
                    s.resume_token
                        .as_ref()
                        .map_or(Value::Null, |t| json!(to_hex(t))),
                );
                o.insert("metadata_mime".into(), json!(s.metadata_mime_type));
                o.insert("data_mime".into(), json!(s.data_mime_type));
                self.payload_json(&s.payload, &mut o);
            }
            Frame::Lease(l) => {
                o.insert("ttl_ms".into(), json!(l.ttl_ms));
                o.insert("requests".into(), json!(l.number_of_requests));
                if let Some(m) = &l.metadata {
                    o.insert("metadata".into(), view_json(&self.md_view(m)));
                }
            }
            Frame::Keepalive(k) => {
                o.insert("respond".into(), json!(k.respond));
                o.insert("position".into(), json!(k.last_received_position));
                o.insert("data".into(), data_json(&k.data));
            }
            Frame::RequestResponse(r) => {
                o.insert("follows".into(), json!(r.follows));
                self.payload_json(&r.payload, &mut o);
            }
            Frame::RequestFnf(r) => {
                o.insert("follows".into(), json!(r.follows));
                self.payload_json(&r.payload, &mut o);
            }
            Frame::RequestStream(r) => {
                o.insert("follows".into(), json!(r.follows));
                o.insert("request_n".into(), json!(r.initial_n));
                self.payload_json(&r.payload, &mut o);
            }
            Frame::RequestChannel(r) => {
                o.insert("follows".into(), json!(r.follows));
                o.insert("complete".into(), json!(r.complete));
                o.insert("request_n".into(), json!(r.initial_n));
                self.payload_json(&r.payload, &mut o);
            }
            Frame::RequestN(r) => {
                o.insert("request_n".into(), json!(r.n));
            }
            Frame::Cancel(_) => {}
            Frame::Payload(p) => {
                o.insert("follows".into(), json!(p.follows));
                o.insert("complete".into(), json!(p.complete));
                o.insert("next".into(), json!(p.next));
                self.payload_json(&p.payload, &mut o);
            }
            Frame::Error(e) => {
                o.insert("code".into(), json!(e.code.0));
                o.insert(
                    "code_name".into(),
                    e.code.name().map_or(Value::Null, |n| json!(n)),
                );
                o.insert("message".into(), json!(e.message()));
            }
            Frame::MetadataPush(m) => {
                let mut v = match view_json(&self.md_view(&m.metadata)) {
                    Value::Object(o) => o,
                    _ => Map::new(),
                };
                v.insert("length".into(), json!(m.metadata.len()));
                o.insert("metadata".into(), Value::Object(v));
            }
            Frame::Resume(r) => {
                o.insert("version".into(), json!(r.version.to_string()));
                o.insert("token".into(), json!(to_hex(&r.token)));
                o.insert(
                    "last_received_server_position".into(),
                    json!(r.last_received_server_position),
                );
                o.insert(
                    "first_available_client_position".into(),
                    json!(r.first_available_client_position),
                );
            }
            Frame::ResumeOk(r) => {
                o.insert(
                    "last_received_client_position".into(),
                    json!(r.last_received_client_position),
                );
            }
            Frame::Ext(x) => {
                o.insert("extended_type".into(), json!(x.extended_type));
                o.insert("ignore".into(), json!(x.ignore));
                self.payload_json(&x.payload, &mut o);
            }
            Frame::Unknown(u) => {
                o.insert("body".into(), json!({ "hex": to_hex(&u.body) }));
            }
        }
        Value::Object(o)
    }
}

fn n_text(n: u32) -> String {
    if n >= 0x7FFF_FFFF {
        format!("{n} (unbounded)")
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rsocket_proto::StreamId;
    use rsocket_proto::frame::RequestResponse;

    #[test]
    fn hex_round_trip() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&b), "0001abff");
        assert_eq!(from_hex("0x00 01:ab-FF").unwrap(), b);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }

    #[test]
    fn hexdump_shape() {
        let d = hexdump(b"hello, world! 0123456789");
        assert!(d.starts_with("00000000  68 65 6c 6c 6f"));
        assert!(d.contains("|hello, world! 01|"));
        assert_eq!(d.lines().count(), 2);
    }

    #[test]
    fn composite_route_and_auth_are_shown() {
        let mut c = CompositeMetadata::new();
        c.push_routing(&RoutingMetadata::from_route("echo").unwrap())
            .unwrap()
            .push_authentication(&Authentication::simple("user", "secret"))
            .unwrap();
        let f = Frame::RequestResponse(RequestResponse {
            stream_id: StreamId::new(1),
            follows: false,
            payload: Payload::from("hi").with_metadata(c.to_bytes()),
        });
        let mut buf = BytesMut::new();
        f.encode(&mut buf).unwrap();
        let raw = buf.freeze();
        let text = FramePrinter::new(false).text(&raw);
        assert!(text.starts_with("REQUEST_RESPONSE stream=1 flags=0x100 [M]"));
        assert!(text.contains("route \"echo\""), "{text}");
        assert!(text.contains("user \"user\""), "{text}");
        assert!(!text.contains("secret"), "{text}");
        let j = FramePrinter::new(false).json(&raw);
        assert_eq!(j["metadata"]["composite"][0]["routes"][0], "echo");
        assert_eq!(j["metadata"]["composite"][1]["auth"]["username"], "user");
        assert_eq!(j["data"]["text"], "hi");
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut p = FramePrinter::new(true);
        for raw in [
            &b""[..],
            &[0, 0, 0, 1, 0x10],
            &[0, 0, 0, 1, 0x11, 0, 0xff, 0xff, 0xff],
        ] {
            let raw = Bytes::copy_from_slice(raw);
            let _ = p.text(&raw);
            let _ = p.json(&raw);
        }
    }
}
