//! End-to-end tests of the `rsocket` binary: the client against `rsocket serve`, the frame
//! decoder, and `serve`'s own errors. Every command runs under a deadline.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rsocket_messaging::metadata::{Authentication, CompositeMetadata, RoutingMetadata};
use rsocket_proto::frame::{
    Cancel, ErrorFrame, PayloadFrame, RequestN, RequestStream, Setup, Version,
};
use rsocket_proto::{ErrorCode, Frame, Payload, StreamId};
use serde_json::Value;
use support::{Server, TempFile, free_addr, rsocket, rsocket_with_stdin};

const COMPOSITE: &str = "message/x.rsocket.composite-metadata.v0";
const ROUTING: &str = "message/x.rsocket.routing.v0";

fn assert_ok(r: &support::Run) {
    assert_eq!(r.code, 0, "exit code; stderr: {}", r.stderr);
}

// ---- interaction models ---------------------------------------------------------------------

#[test]
fn request_response_echo_over_tcp_and_websocket() {
    let s = Server::start();
    for uri in [s.tcp_uri(), s.ws_uri()] {
        let r = rsocket(&[&uri, "-r", "echo", "-d", "hello"]);
        assert_ok(&r);
        assert_eq!(r.stdout, "hello\n", "{uri}");
    }
    // No route: the demo echoes too; --request and --im are the same as the default.
    let r = rsocket(&[&s.tcp_uri(), "--request", "-d", "plain"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "plain\n");
    let r = rsocket(&[&s.tcp_uri(), "--im", "request_response", "-d", "im"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "im\n");
}

#[test]
fn request_stream_emits_n_values() {
    let s = Server::start();
    let r = rsocket(&[&s.tcp_uri(), "--stream", "-r", "stream.5"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "0\n1\n2\n3\n4\n");
    let r = rsocket(&[&s.ws_uri(), "--im", "REQUEST_STREAM", "-r", "stream.3"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "0\n1\n2\n");
}

#[test]
fn take_on_an_infinite_stream_ends_promptly_and_cancels() {
    let s = Server::start();
    let r = rsocket(&[
        &s.tcp_uri(),
        "--stream",
        "-r",
        "stream.infinite",
        "--take",
        "5",
        "--debug",
    ]);
    assert_ok(&r);
    assert_eq!(r.stdout, "0\n1\n2\n3\n4\n");
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    // Only what --take needs is requested, then the stream is cancelled.
    assert!(
        r.stderr
            .contains("sent REQUEST_STREAM stream=1 flags=0x100 [M] length=33 request-n=5"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("sent REQUEST_N"), "{}", r.stderr);
    assert!(r.stderr.contains("sent CANCEL stream=1"), "{}", r.stderr);
}

#[test]
fn limit_rate_requests_in_batches() {
    let s = Server::start();
    let r = rsocket(&[
        &s.tcp_uri(),
        "--stream",
        "-r",
        "stream.10",
        "--limitRate",
        "4",
        "--delayElements",
        "1",
        "--debug",
    ]);
    assert_ok(&r);
    assert_eq!(r.stdout.lines().count(), 10);
    assert!(r.stderr.contains("request-n=4"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("sent REQUEST_N stream=1 flags=0x000 length=10 request-n=3"),
        "{}",
        r.stderr
    );
}

#[test]
fn channel_sends_each_stdin_line() {
    let s = Server::start();
    for uri in [s.tcp_uri(), s.ws_uri()] {
        let r = rsocket_with_stdin(&[&uri, "--channel", "-r", "echo"], b"one\ntwo\r\nthree\n");
        assert_ok(&r);
        assert_eq!(r.stdout, "one\ntwo\nthree\n", "{uri}");
    }
    // -d VALUE: a one-payload channel.
    let r = rsocket(&[&s.tcp_uri(), "--im", "REQUEST_CHANNEL", "-d", "solo"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "solo\n");
}

#[test]
fn channel_with_take_cancels_while_stdin_is_still_open() {
    let s = Server::start();
    let input: Vec<u8> = (0..1000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let r = rsocket_with_stdin(
        &[&s.tcp_uri(), "--channel", "-r", "echo", "--take", "2"],
        &input,
    );
    assert_ok(&r);
    assert_eq!(r.stdout, "0\n1\n");
}

#[test]
fn fire_and_forget_and_metadata_push_reach_the_server() {
    let s = Server::start();
    assert_ok(&rsocket(&[&s.tcp_uri(), "--fnf", "-d", "x"]));
    assert_ok(&rsocket(&[
        &s.ws_uri(),
        "--im",
        "FIRE_AND_FORGET",
        "-d",
        "y",
    ]));
    assert_ok(&rsocket(&[
        &s.tcp_uri(),
        "--metadata-push",
        "-r",
        "anything",
    ]));
    let r = rsocket(&[&s.tcp_uri(), "-r", "fnf.count"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "fnf=2 push=1\n");
}

#[test]
fn repeat_prints_a_throughput_summary() {
    let s = Server::start();
    let r = rsocket(&[&s.tcp_uri(), "-r", "echo", "-d", "x", "--repeat", "50"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "x\n".repeat(50));
    assert!(r.stderr.contains("50 requests in "), "{}", r.stderr);
    assert!(r.stderr.contains(" req/s"), "{}", r.stderr);
    let r = rsocket(&[&s.tcp_uri(), "--fnf", "-d", "x", "--repeat", "20", "-q"]);
    assert_ok(&r);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("20 requests in "), "{}", r.stderr);
}

// ---- data, metadata, setup --------------------------------------------------------------------

#[test]
fn composite_metadata_with_auth_is_sent_and_decoded_in_json_output() {
    let s = Server::start();
    let r = rsocket(&[
        &s.tcp_uri(),
        "-r",
        "echo",
        "-u",
        "user:s3cret",
        "--bearer",
        "tok",
        "--mmt",
        "text/plain",
        "-m",
        "note",
        "--output",
        "json",
        "-d",
        "hi",
    ]);
    assert_ok(&r);
    assert!(!r.stdout.contains("s3cret"), "secrets are not printed");
    let v: Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(v["data"], "hi");
    assert_eq!(v["dataMimeType"], "application/json");
    assert_eq!(v["metadataMimeType"], COMPOSITE);
    let entries = v["metadata"]["composite"]
        .as_array()
        .expect("composite entries");
    assert_eq!(entries.len(), 4, "{v}");
    assert_eq!(entries[0]["mime"], ROUTING);
    assert_eq!(entries[0]["routes"][0], "echo");
    assert_eq!(entries[1]["auth"]["type"], "simple");
    assert_eq!(entries[1]["auth"]["username"], "user");
    assert_eq!(entries[2]["auth"]["type"], "bearer");
    assert_eq!(entries[3]["mime"], "text/plain");
    assert_eq!(entries[3]["text"], "note");
}

/// The bytes of the first frame `--debug` printed after a line starting with `header`,
/// read back from its hex dump.
fn dumped_frame(stderr: &str, header: &str) -> Bytes {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "no {header:?} in {stderr}");
    let mut bytes = Vec::new();
    for line in lines {
        let t = line.trim_start();
        let is_dump =
            t.len() > 10 && t[..8].bytes().all(|b| b.is_ascii_hexdigit()) && &t[8..10] == "  ";
        if !is_dump {
            if bytes.is_empty() {
                continue; // decoded detail lines come before the dump
            }
            break;
        }
        let hex = &t[10..t.len().min(59)];
        bytes.extend(
            hex.split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).unwrap()),
        );
    }
    Bytes::from(bytes)
}

#[test]
fn composite_metadata_bytes_on_the_wire() {
    let s = Server::start();
    let r = rsocket(&[
        &s.tcp_uri(),
        "-r",
        "echo",
        "--authSimple",
        "u:p",
        "--debug",
        "-q",
    ]);
    assert_ok(&r);
    let mut c = CompositeMetadata::new();
    c.push_routing(&RoutingMetadata::from_route("echo").unwrap())
        .unwrap()
        .push_authentication(&Authentication::simple("u", "p"))
        .unwrap();
    let raw = dumped_frame(&r.stderr, "sent REQUEST_RESPONSE");
    let Frame::RequestResponse(req) = Frame::decode(raw).expect("a frame") else {
        panic!("not a REQUEST_RESPONSE");
    };
    assert_eq!(req.payload.metadata, Some(c.to_bytes()));
    assert!(r.stderr.contains("simple auth, user \"u\""), "{}", r.stderr);
}

#[test]
fn plain_routing_metadata_with_a_lone_routing_mmt() {
    let s = Server::start();
    let r = rsocket(&[
        &s.tcp_uri(),
        "--mmt",
        ROUTING,
        "-r",
        "stream.2",
        "--stream",
        "--debug",
    ]);
    assert_ok(&r);
    assert_eq!(r.stdout, "0\n1\n");
    assert!(
        r.stderr.contains(&format!("metadata-mime={ROUTING}")),
        "{}",
        r.stderr
    );
    // rsc's enum names work too.
    let r = rsocket(&[
        &s.tcp_uri(),
        "--metadataMimeType",
        "MESSAGE_RSOCKET_ROUTING",
        "-r",
        "stream.1",
        "--stream",
    ]);
    assert_ok(&r);
    assert_eq!(r.stdout, "0\n");
}

#[test]
fn data_from_a_file_and_from_stdin() {
    let s = Server::start();
    let f = TempFile::new("data.bin");
    std::fs::write(&f.0, b"from a file").unwrap();
    let at = format!("@{}", f.path());
    let r = rsocket(&[&s.tcp_uri(), "-d", &at]);
    assert_ok(&r);
    assert_eq!(r.stdout, "from a file\n");
    let r = rsocket(&[&s.tcp_uri(), "-l", &f.path()]);
    assert_ok(&r);
    assert_eq!(r.stdout, "from a file\n");
    let r = rsocket_with_stdin(&[&s.tcp_uri(), "-d", "-"], b"line one\nline two\n");
    assert_ok(&r);
    assert_eq!(r.stdout, "line one\nline two\n");
    let r = rsocket(&[&s.tcp_uri(), "-d", "@/nonexistent/rsocket-cli-test"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
}

#[test]
fn setup_payload_route_and_mtu() {
    let s = Server::start();
    let big = "x".repeat(1000);
    let r = rsocket(&[
        &s.tcp_uri(),
        "--sd",
        "hello",
        "--setupMetadata",
        "simple:u:p",
        "--smmt",
        "MESSAGE_RSOCKET_AUTHENTICATION",
        "--setup-route",
        "connect",
        "--mtu",
        "64",
        "--keepalive",
        "5s",
        "--lifetime",
        "30s",
        "-r",
        "echo",
        "-d",
        &big,
        "--debug",
    ]);
    assert_ok(&r);
    assert_eq!(
        r.stdout.trim_end(),
        big,
        "fragmented request reassembled and echoed"
    );
    assert!(
        r.stderr.contains("keepalive=5000ms lifetime=30000ms"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("route \"connect\""), "{}", r.stderr);
    assert!(r.stderr.contains("simple auth, user \"u\""), "{}", r.stderr);
    assert!(
        r.stderr.contains("data (5 bytes): \"hello\""),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("[M F]"),
        "fragments carry F: {}",
        r.stderr
    );
}

// ---- errors and exit codes ---------------------------------------------------------------------

#[test]
fn server_errors_exit_1_with_code_and_message() {
    let s = Server::start();
    let r = rsocket(&[&s.tcp_uri(), "-r", "error.0x301"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert_eq!(
        r.stderr.trim_end(),
        "rsocket: the server answered ERROR 0x00000301 (application-defined): demo error"
    );
    let r = rsocket(&[&s.ws_uri(), "--stream", "-r", "error.0x202"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("REJECTED (0x00000202): demo error"),
        "{}",
        r.stderr
    );
    let r = rsocket(&[&s.tcp_uri(), "-r", "no.such.route"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("APPLICATION_ERROR (0x00000201)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no.such.route"), "{}", r.stderr);
}

#[test]
fn setup_rejection_exits_4() {
    let s = Server::start();
    for extra in [&["-r", "echo"][..], &["--fnf", "-d", "x"][..]] {
        let mut args = vec![s.tcp_uri(), "--resume".to_string()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = rsocket(&args);
        assert_eq!(r.code, 4, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains("REJECTED_SETUP"), "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    }
}

#[test]
fn connection_failure_exits_3() {
    let addr = free_addr(); // nothing listens there any more
    let r = rsocket(&[&format!("tcp://{addr}"), "-r", "echo"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("rsocket: cannot connect to tcp://"),
        "{}",
        r.stderr
    );
    let r = rsocket(&[&format!("ws://{addr}/rsocket")]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let r = rsocket(&["unix:/nonexistent/rsocket-cli-test.sock"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["ftp://x"],
        &["tcp://127.0.0.1:1", "--stream", "--channel"],
        &["tcp://127.0.0.1:1", "-u", "no-colon"],
        &[
            "tcp://127.0.0.1:1",
            "--mmt",
            "a/b",
            "--mmt",
            "c/d",
            "-m",
            "x",
        ],
        &["tcp://127.0.0.1:1", "--metadata-push"],
        &["tcp://127.0.0.1:1", "--mtu", "10"],
        &["tcp://127.0.0.1:1", "--take", "x"],
        &["tcp://127.0.0.1:1", "--im", "NOPE"],
    ];
    for args in cases {
        let r = rsocket(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.is_empty());
    }
}

#[test]
fn serve_rejects_a_taken_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = rsocket(&[
        "serve",
        "--tcp",
        &addr,
        "--ws",
        "off",
        "--wamp-ws",
        "off",
        "--wamp-rawsocket",
        "off",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains(&format!("cannot listen for RSocket/TCP on {addr}")),
        "{}",
        r.stderr
    );
    drop(taken);
}

#[test]
fn completions_and_help() {
    let r = rsocket(&["completions", "bash"]);
    assert_ok(&r);
    assert!(r.stdout.contains("rsocket"));
    let r = rsocket(&["--help"]);
    assert_ok(&r);
    assert!(r.stdout.contains("Exit codes:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("--dataMimeType"),
        "camelCase aliases shown"
    );
}

// ---- rsocket frames ----------------------------------------------------------------------------

fn encode(frames: &[Frame]) -> (Vec<Bytes>, Vec<u8>) {
    let mut bare = Vec::new();
    let mut stream = BytesMut::new();
    for f in frames {
        let mut b = BytesMut::new();
        f.encode(&mut b).unwrap();
        bare.push(b.freeze());
        f.encode_length_prefixed(&mut stream).unwrap();
    }
    (bare, stream.to_vec())
}

fn capture() -> Vec<Frame> {
    let mut md = CompositeMetadata::new();
    md.push_routing(&RoutingMetadata::from_route("stream.3").unwrap())
        .unwrap()
        .push_authentication(&Authentication::bearer("t0ken"))
        .unwrap();
    vec![
        Frame::Setup(Box::new(Setup {
            version: Version::V1_0,
            keepalive_interval_ms: 20_000,
            max_lifetime_ms: 90_000,
            resume_token: None,
            lease: false,
            metadata_mime_type: COMPOSITE.into(),
            data_mime_type: "text/plain".into(),
            payload: Payload::from("setup-data"),
        })),
        Frame::RequestStream(RequestStream {
            stream_id: StreamId::new(1),
            follows: false,
            initial_n: 2,
            payload: Payload::from("go").with_metadata(md.to_bytes()),
        }),
        Frame::Payload(PayloadFrame {
            stream_id: StreamId::new(1),
            follows: false,
            complete: false,
            next: true,
            payload: Payload::new(Bytes::from_static(&[0, 1, 2, 0xff])),
        }),
        Frame::RequestN(RequestN {
            stream_id: StreamId::new(1),
            n: 0x7FFF_FFFF,
        }),
        Frame::Cancel(Cancel {
            stream_id: StreamId::new(1),
        }),
        Frame::Error(ErrorFrame::new(
            StreamId::new(3),
            ErrorCode(0x301),
            "demo error",
        )),
    ]
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn frames_decodes_a_binary_capture_and_round_trips_through_hex() {
    let frames = capture();
    let (bare, stream) = encode(&frames);
    let f = TempFile::new("capture.bin");
    std::fs::write(&f.0, &stream).unwrap();

    let r = rsocket(&["frames", "-f", &f.path(), "--output", "json"]);
    assert_ok(&r);
    let decoded = json_lines(&r.stdout);
    assert_eq!(decoded.len(), frames.len());
    assert_eq!(decoded[0]["type"], "SETUP");
    assert_eq!(decoded[0]["metadata_mime"], COMPOSITE);
    assert_eq!(decoded[0]["data"]["text"], "setup-data");
    assert_eq!(decoded[1]["type"], "REQUEST_STREAM");
    assert_eq!(decoded[1]["stream_id"], 1);
    assert_eq!(decoded[1]["request_n"], 2);
    assert_eq!(
        decoded[1]["metadata"]["composite"][0]["routes"][0],
        "stream.3"
    );
    assert_eq!(
        decoded[1]["metadata"]["composite"][1]["auth"]["type"],
        "bearer"
    );
    assert_eq!(decoded[2]["type"], "PAYLOAD");
    assert_eq!(decoded[2]["data"]["hex"], "000102ff");
    assert_eq!(decoded[3]["request_n"], 0x7FFF_FFFFu32);
    assert_eq!(decoded[4]["type"], "CANCEL");
    assert_eq!(decoded[5]["code"], 0x301);
    assert_eq!(decoded[5]["message"], "demo error");
    for (i, d) in decoded.iter().enumerate() {
        assert_eq!(d["length"], bare[i].len(), "frame {i}");
    }
    assert!(!r.stdout.contains("t0ken"), "secrets are not printed");

    // Binary → hex lines, byte for byte the frames that were encoded.
    let r = rsocket(&["frames", "-f", &f.path(), "-o", "hex"]);
    assert_ok(&r);
    let hex: Vec<&str> = r.stdout.lines().collect();
    let expected: Vec<String> = bare
        .iter()
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .collect();
    assert_eq!(hex, expected);

    // Hex on stdin (with a comment) decodes to the same JSON; re-encoding gives the same bytes.
    let input = format!("# capture\n{}\n", r.stdout);
    let again = rsocket_with_stdin(&["frames", "--output", "json"], input.as_bytes());
    assert_ok(&again);
    assert_eq!(json_lines(&again.stdout), decoded);
    for (i, (d, frame)) in decoded.iter().zip(&frames).enumerate() {
        let raw = Bytes::from(
            (0..expected[i].len() / 2)
                .map(|j| u8::from_str_radix(&expected[i][2 * j..2 * j + 2], 16).unwrap())
                .collect::<Vec<u8>>(),
        );
        assert_eq!(&Frame::decode(raw).unwrap(), frame, "{d}");
    }

    // Text, as a person reads it.
    let r = rsocket(&["frames", "-f", &f.path()]);
    assert_ok(&r);
    assert!(r.stdout.contains("#1 SETUP stream=0"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("#2 REQUEST_STREAM stream=1 flags=0x100 [M]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("route \"stream.3\""), "{}", r.stdout);
    assert!(
        r.stdout.contains("bearer auth, token <5 bytes redacted>"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("request-n=2147483647 (unbounded)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("code=0x00000301 (application-defined) message=\"demo error\""),
        "{}",
        r.stdout
    );
}

#[test]
fn frames_from_hex_arguments_with_or_without_prefix() {
    let r = rsocket(&[
        "frames",
        "000000012400",
        "000006 00000003 2400",
        "--hexdump",
    ]);
    assert_ok(&r);
    assert!(r.stdout.contains("#1 CANCEL stream=1"), "{}", r.stdout);
    assert!(r.stdout.contains("#2 CANCEL stream=3"), "{}", r.stdout);
    assert!(
        r.stdout.contains("00000000  00 00 00 03 24 00"),
        "{}",
        r.stdout
    );
}

#[test]
fn frames_reports_bad_input() {
    // Truncated frame: decoded as far as possible, exit 1.
    let r = rsocket(&["frames", "0000000119000000000300001400"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("undecodable frame"), "{}", r.stdout);
    // A capture cut inside a frame.
    let f = TempFile::new("cut.bin");
    std::fs::write(&f.0, [0u8, 0, 6, 0, 0, 0, 1, 0x24, 0, 0, 0, 9, 1]).unwrap();
    let r = rsocket(&["frames", "-f", &f.path(), "--input", "binary"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("#1 CANCEL stream=1"), "{}", r.stdout);
    assert!(r.stderr.contains("announces 9 bytes"), "{}", r.stderr);
    // Not hex, no input, missing file: exit 2.
    assert_eq!(rsocket(&["frames", "xyz"]).code, 2);
    assert_eq!(rsocket_with_stdin(&["frames"], b"").code, 2);
    assert_eq!(rsocket(&["frames", "-f", "/nonexistent/capture"]).code, 2);
}

#[test]
fn debug_output_decodes_frames_both_ways() {
    let s = Server::start();
    let r = rsocket(&[&s.ws_uri(), "-r", "echo", "-d", "ping", "--debug"]);
    assert_ok(&r);
    assert_eq!(r.stdout, "ping\n");
    for needle in [
        "sent SETUP stream=0",
        "sent REQUEST_RESPONSE stream=1 flags=0x100 [M]",
        "route \"echo\"",
        "recv PAYLOAD(NEXT_COMPLETE) stream=1",
        "data (4 bytes): \"ping\"",
        "ping|",
    ] {
        assert!(
            r.stderr.contains(needle),
            "{needle:?} missing: {}",
            r.stderr
        );
    }
}

/// A TLS echo server (TCP and WebSocket) with a fresh self-signed certificate for
/// `localhost`; returns the ports and the certificate PEM file.
fn tls_server() -> (u16, u16, std::path::PathBuf, std::thread::JoinHandle<()>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let dir = std::env::temp_dir().join(format!("rsocket-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert_pem).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tls =
                rsocket::transport::tls::server_config(cert_pem.as_bytes(), key_pem.as_bytes())
                    .unwrap();
            let server = rsocket::Server::builder()
                .responder(
                    rsocket::RequestHandler::new()
                        .request_response(|p: rsocket::Payload| async move { Ok(p) }),
                )
                .build();
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send((
                tcp.local_addr().unwrap().port(),
                ws.local_addr().unwrap().port(),
            ))
            .unwrap();
            let (s2, t2) = (server.clone(), tls.clone());
            let a = tokio::spawn(async move { s2.serve_tls(tcp, t2).await });
            let b = tokio::spawn(async move { server.serve_wss(ws, "/rsocket", tls).await });
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), async {
                let _ = tokio::join!(a, b);
            })
            .await;
        });
    });
    let (tcp, ws) = rx.recv().unwrap();
    (tcp, ws, ca, handle)
}

#[test]
fn tls_and_wss_with_ca_cert_or_insecure() {
    let (tcp, ws, ca, _server) = tls_server();
    let ca = ca.to_str().unwrap();
    for uri in [
        format!("tcp+tls://localhost:{tcp}"),
        format!("wss://localhost:{ws}/rsocket"),
    ] {
        let r = rsocket(&[&uri, "-d", "secure", "--ca-cert", ca]);
        assert_eq!(r.code, 0, "{uri}: {}", r.stderr);
        assert_eq!(r.stdout.trim_end(), "secure");
        let r = rsocket(&[&uri, "-d", "x"]);
        assert_eq!(
            r.code, 3,
            "an untrusted certificate must fail: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("TLS handshake") || r.stderr.contains("certificate"),
            "{}",
            r.stderr
        );
        let r = rsocket(&[&uri, "-d", "insecure", "-k"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout.trim_end(), "insecure");
    }
}

#[test]
fn resume_against_a_resuming_server_and_a_refusing_one() {
    let resuming = Server::start_with(&["--resume"]);
    for uri in [resuming.tcp_uri(), resuming.ws_uri()] {
        let r = rsocket(&[&uri, "--resume", "-r", "echo", "-d", "kept"]);
        assert_eq!(r.code, 0, "{uri}: {}", r.stderr);
        assert_eq!(r.stdout.trim_end(), "kept");
    }
    let plain = Server::start();
    let r = rsocket(&[&plain.tcp_uri(), "--resume", "-r", "echo", "-d", "x"]);
    assert_eq!(
        r.code, 4,
        "a server without resumption rejects the SETUP: {}",
        r.stderr
    );
}
