//! The rsc-compatible client (`rsocket URI [options]`).
//!
//! ```text
//!  options ──► metadata plan (composite / routing / auth) ─┐
//!          ──► data (literal, @file, stdin)                 ├─► one interaction, --repeat times
//!  URI ──► transport (tcp, ws, unix) ──► TapIo (--debug) ──► Client::connect_with
//!                                                               └─► payloads to stdout
//! ```
//!
//! Options keep rsc's names (camelCase spellings are accepted as aliases), so commands from
//! rsc tutorials work unchanged. Defaults: data MIME type `application/json` (as rsc),
//! metadata MIME type composite metadata (`-r` adds a routing entry, `-u`/`--bearer` an
//! authentication entry).
//!
//! ## Metadata rules
//!
//! * The connection's metadata MIME type is composite metadata unless the command asks for
//!   one plain type: `--mmt TYPE` alone (no `-m`; `--mmt message/x.rsocket.routing.v0 -r R`
//!   sends plain routing metadata), or a single `-m` with its `--mmt` and no route or
//!   authentication (sent as is, as rsc does).
//! * Composite entries come in this order: route (`-r`), simple auth (`-u`), bearer
//!   (`--bearer`), then each `-m` with the `--mmt` of the same rank (`-m` without any `--mmt`
//!   is `application/json`, rsc's default).
//! * A value typed `message/x.rsocket.routing.v0` is encoded as a route; one typed
//!   `message/x.rsocket.authentication.v0` may be `simple:USER:PASS` or `bearer:TOKEN`.
//! * SETUP metadata: `--setup-route` and `--sm` (typed by `--smmt`) as composite entries.
//!
//! ## Exit codes
//!
//! 0 success; 1 the server answered ERROR; 2 usage (and TLS URIs); 3 connection failed or
//! lost; 4 SETUP rejected.

mod metadata;
mod output;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rsocket::{Client, ErrorKind, Payload, PayloadStream, Prefetch, RSocket};

use self::output::Output;
use self::transport::Finished;
use crate::pretty::error_code_text;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the server answered ERROR (or the exchange failed otherwise).
pub const EXIT_SERVER_ERROR: u8 = 1;
/// Exit code: bad options, URI or input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the connection failed or was lost.
pub const EXIT_CONNECTION: u8 = 3;
/// Exit code: the server rejected the SETUP.
pub const EXIT_SETUP_REJECTED: u8 = 4;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the server answered ERROR (its code and message are printed), or the exchange failed
  2  usage error: bad option, URI or input file
  3  connection failed or lost (refused, closed, keepalive timeout)
  4  the server rejected the SETUP (INVALID_SETUP, UNSUPPORTED_SETUP, REJECTED_SETUP)

Examples:
  rsocket tcp://127.0.0.1:7878 -r echo -d hello
  rsocket ws://127.0.0.1:7879/rsocket --stream -r stream.infinite --take 5
  rsocket tcp://127.0.0.1:7878 --channel -r echo < lines.txt
  rsocket tcp://127.0.0.1:7878 -r echo -u user:secret --mmt text/plain -m note --output json";

/// Default request-n of streams and channels (the runtime's prefetch).
const DEFAULT_PREFETCH: u32 = 64;
/// How long a fire-and-forget or metadata push waits for a SETUP rejection before closing.
const FIRE_GRACE: Duration = Duration::from_millis(150);
/// How long closing the connection may take before the process exits anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The interaction model (`--im`), named as in rsc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InteractionModel {
    /// One request, one response.
    #[value(name = "REQUEST_RESPONSE", alias = "request-response")]
    RequestResponse,
    /// One request, no response.
    #[value(
        name = "FIRE_AND_FORGET",
        alias = "fire-and-forget",
        alias = "REQUEST_FNF",
        alias = "fnf"
    )]
    FireAndForget,
    /// One request, a stream of responses.
    #[value(name = "REQUEST_STREAM", alias = "request-stream", alias = "stream")]
    RequestStream,
    /// A stream each way (stdin lines out, responses in).
    #[value(name = "REQUEST_CHANNEL", alias = "request-channel", alias = "channel")]
    RequestChannel,
    /// Metadata only, on the connection.
    #[value(name = "METADATA_PUSH", alias = "metadata-push")]
    MetadataPush,
}

/// How payloads are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The data of each payload, one per line.
    #[default]
    Text,
    /// One JSON object per payload: data, metadata (decoded) and MIME types.
    Json,
}

/// Client options.
#[derive(clap::Args, Debug, Default)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct ClientArgs {
    /// Server URI: tcp://host:port, tcp+tls://host:port, ws://host:port/path,
    /// wss://host:port/path, unix:/path/to/socket.
    #[arg(value_name = "URI")]
    pub uri: Option<String>,

    /// Request-response (the default).
    #[arg(long, help_heading = "Interaction")]
    pub request: bool,
    /// Fire-and-forget.
    #[arg(long, help_heading = "Interaction")]
    pub fnf: bool,
    /// Request-stream.
    #[arg(long, help_heading = "Interaction")]
    pub stream: bool,
    /// Request-channel: each stdin line is one payload (or the one -d value); EOF completes
    /// our side.
    #[arg(long, help_heading = "Interaction")]
    pub channel: bool,
    /// Metadata push (the metadata of -m/-r/-u/--bearer, on stream 0).
    #[arg(
        long = "metadata-push",
        alias = "metadataPush",
        help_heading = "Interaction"
    )]
    pub metadata_push: bool,
    /// Interaction model, as in rsc: REQUEST_RESPONSE, FIRE_AND_FORGET, REQUEST_STREAM,
    /// REQUEST_CHANNEL, METADATA_PUSH.
    #[arg(
        long = "im",
        visible_alias = "interactionModel",
        value_name = "MODEL",
        value_enum,
        ignore_case = true,
        hide_possible_values = true,
        help_heading = "Interaction"
    )]
    pub interaction_model: Option<InteractionModel>,

    /// Data: text, @FILE for a file's bytes, or - for stdin (with --channel: one payload per
    /// line).
    #[arg(
        short = 'd',
        long,
        value_name = "DATA",
        help_heading = "Data and metadata"
    )]
    pub data: Option<String>,
    /// Load the data from a file (same as -d @FILE).
    #[arg(
        short = 'l',
        long = "load",
        value_name = "FILE",
        conflicts_with = "data",
        help_heading = "Data and metadata"
    )]
    pub load: Option<PathBuf>,
    /// Metadata (text or @FILE). Repeat with --mmt to build composite metadata.
    #[arg(
        short = 'm',
        long,
        value_name = "METADATA",
        help_heading = "Data and metadata"
    )]
    pub metadata: Vec<String>,
    /// MIME type of the n-th -m (MIME string or rsc's name, such as TEXT_PLAIN). Alone,
    /// without -m, the connection's metadata MIME type (e.g. message/x.rsocket.routing.v0
    /// to send plain routing metadata).
    #[arg(
        long = "mmt",
        visible_alias = "metadataMimeType",
        alias = "metadata-mime-type",
        value_name = "MIME",
        help_heading = "Data and metadata"
    )]
    pub metadata_mime_type: Vec<String>,
    /// Data MIME type announced in SETUP.
    #[arg(
        long = "dmt",
        visible_alias = "dataMimeType",
        alias = "data-mime-type",
        value_name = "MIME",
        default_value = "application/json",
        help_heading = "Data and metadata"
    )]
    pub data_mime_type: String,
    /// Route (routing metadata extension), added to composite metadata.
    #[arg(
        short = 'r',
        long,
        value_name = "ROUTE",
        help_heading = "Data and metadata"
    )]
    pub route: Option<String>,
    /// Simple authentication (authentication extension), added to composite metadata.
    #[arg(
        short = 'u',
        long = "auth-simple",
        visible_alias = "authSimple",
        alias = "as",
        value_name = "USER:PASS",
        help_heading = "Data and metadata"
    )]
    pub auth_simple: Option<String>,
    /// Bearer token authentication, added to composite metadata.
    #[arg(
        long = "bearer",
        visible_alias = "authBearer",
        alias = "ab",
        value_name = "TOKEN",
        help_heading = "Data and metadata"
    )]
    pub bearer: Option<String>,

    /// SETUP data (text or @FILE).
    #[arg(
        long = "sd",
        visible_alias = "setupData",
        alias = "setup-data",
        value_name = "DATA",
        help_heading = "Setup"
    )]
    pub setup_data: Option<String>,
    /// SETUP metadata (text or @FILE); with --smmt message/x.rsocket.authentication.v0 it may
    /// be simple:USER:PASS or bearer:TOKEN.
    #[arg(
        long = "sm",
        visible_alias = "setupMetadata",
        alias = "setup-metadata",
        alias = "smd",
        value_name = "METADATA",
        help_heading = "Setup"
    )]
    pub setup_metadata: Option<String>,
    /// MIME type of --sm (an entry of composite metadata).
    #[arg(
        long = "smmt",
        visible_alias = "setupMetadataMimeType",
        alias = "setup-metadata-mime-type",
        value_name = "MIME",
        default_value = "application/json",
        help_heading = "Setup"
    )]
    pub setup_metadata_mime_type: String,
    /// Route in the SETUP metadata (composite).
    #[arg(
        long = "setup-route",
        alias = "setupRoute",
        value_name = "ROUTE",
        help_heading = "Setup"
    )]
    pub setup_route: Option<String>,

    /// Stop after N payloads (streams, channels), cancelling the rest.
    #[arg(long, value_name = "N", help_heading = "Flow")]
    pub take: Option<u64>,
    /// Request payloads in batches of N (initial request-n N, refilled at 75%).
    #[arg(
        long = "limit-rate",
        alias = "limitRate",
        value_name = "N",
        help_heading = "Flow"
    )]
    pub limit_rate: Option<u32>,
    /// Initial request-n of streams and channels (default 64, or --take if smaller).
    #[arg(
        long = "request-n",
        alias = "requestN",
        value_name = "N",
        help_heading = "Flow"
    )]
    pub request_n: Option<u32>,
    /// Wait this long after each payload (slows the producer through request-n).
    #[arg(
        long = "delay-elements",
        alias = "delayElements",
        value_name = "MS",
        help_heading = "Flow"
    )]
    pub delay_elements: Option<u64>,
    /// Run the interaction N times on one connection, with a progress bar and a throughput
    /// summary on stderr.
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Flow")]
    pub repeat: u64,

    /// KEEPALIVE interval (seconds, or with a unit: 500ms, 20s, 1m). Default 20s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Connection")]
    pub keepalive: Option<Duration>,
    /// Max lifetime without KEEPALIVE from the server (default 90s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Connection")]
    pub lifetime: Option<Duration>,
    /// Resume the session after a lost connection: reconnect with backoff for up to SECONDS
    /// (default 120) and continue where it stopped. The server must support resumption
    /// (`rsocket serve --resume`); others reject the SETUP.
    #[arg(
        long,
        value_name = "SECONDS",
        num_args = 0..=1,
        default_missing_value = "120",
        help_heading = "Connection"
    )]
    pub resume: Option<u64>,
    /// Ask the server for lease (requests wait for a LEASE).
    #[arg(long, help_heading = "Connection")]
    pub lease: bool,
    /// Fragment frames larger than this many bytes (at least 64).
    #[arg(long, value_name = "BYTES", help_heading = "Connection")]
    pub mtu: Option<usize>,
    /// Header for the WebSocket upgrade request (repeatable).
    #[arg(
        long = "ws-header",
        visible_alias = "wsHeader",
        alias = "wsh",
        value_name = "NAME:VALUE",
        help_heading = "Connection"
    )]
    pub ws_header: Vec<String>,
    /// CA certificate (PEM) trusted for tcp+tls:// and wss:// servers, besides the Mozilla
    /// root store.
    #[arg(long = "ca-cert", value_name = "PEM", help_heading = "Connection")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the TLS server's certificate (testing against self-signed servers).
    #[arg(short = 'k', long, help_heading = "Connection")]
    pub insecure: bool,

    /// Output format.
    #[arg(long, value_enum, default_value = "text", help_heading = "Output")]
    pub output: OutputFormat,
    /// Do not print payloads.
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
    /// Print every frame sent and received (decoded, with a hex dump) to stderr.
    #[arg(long, help_heading = "Output")]
    pub debug: bool,
}

/// Parses `20`, `20s`, `500ms`, `2m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a duration such as 20s or 500ms, got {s:?}"))?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m or h)"
            ));
        }
    };
    if d.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(d)
}

/// Why the client stops with a non-zero exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: m.into(),
        }
    }

    pub(crate) fn connect(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_CONNECTION,
            message: m.into(),
        }
    }

    pub(crate) fn other(m: impl Into<String>) -> Self {
        Failure {
            code: EXIT_SERVER_ERROR,
            message: m.into(),
        }
    }

    /// Stdout was closed (the reader quit): stop quietly, successfully.
    pub(crate) fn stdout_closed() -> Self {
        Failure {
            code: EXIT_OK,
            message: String::new(),
        }
    }
}

impl From<rsocket::Error> for Failure {
    fn from(e: rsocket::Error) -> Self {
        let code = e.code().map(error_code_text);
        let with_code = |what: &str| match &code {
            Some(c) => format!("{what} {c}: {}", e.message()),
            None => format!("{what}: {}", e.message()),
        };
        match e.kind() {
            ErrorKind::Setup => Failure {
                code: EXIT_SETUP_REJECTED,
                message: with_code("the server rejected the SETUP with"),
            },
            ErrorKind::Application
            | ErrorKind::Rejected
            | ErrorKind::Canceled
            | ErrorKind::Invalid => Failure {
                code: EXIT_SERVER_ERROR,
                message: with_code("the server answered ERROR"),
            },
            ErrorKind::Usage => Failure::usage(e.message().to_string()),
            ErrorKind::NoLease => Failure::connect(format!("no lease: {}", e.message())),
            ErrorKind::Transport => Failure::connect(format!("connection failed: {}", e.message())),
            _ => Failure::connect(with_code("connection closed")),
        }
    }
}

/// Reads an option value: `@FILE` for a file's bytes, `-` for stdin (where allowed), else the
/// text itself.
pub(crate) fn load_value(v: &str, allow_stdin: bool) -> Result<Bytes, Failure> {
    if allow_stdin && v == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        return Ok(buf.into());
    }
    if let Some(path) = v.strip_prefix('@') {
        return std::fs::read(path)
            .map(Bytes::from)
            .map_err(|e| Failure::usage(format!("cannot read {path}: {e}")));
    }
    Ok(Bytes::copy_from_slice(v.as_bytes()))
}

impl ClientArgs {
    /// The interaction model; at most one may be chosen.
    fn interaction(&self) -> Result<InteractionModel, Failure> {
        let mut chosen: Vec<(&str, InteractionModel)> = Vec::new();
        for (on, name, m) in [
            (self.request, "--request", InteractionModel::RequestResponse),
            (self.fnf, "--fnf", InteractionModel::FireAndForget),
            (self.stream, "--stream", InteractionModel::RequestStream),
            (self.channel, "--channel", InteractionModel::RequestChannel),
            (
                self.metadata_push,
                "--metadata-push",
                InteractionModel::MetadataPush,
            ),
        ] {
            if on {
                chosen.push((name, m));
            }
        }
        if let Some(m) = self.interaction_model {
            chosen.push(("--im", m));
        }
        chosen.dedup_by_key(|(_, m)| *m);
        match chosen.as_slice() {
            [] => Ok(InteractionModel::RequestResponse),
            [(_, m)] => Ok(*m),
            many => Err(Failure::usage(format!(
                "choose one interaction model; got {}",
                many.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Request-n policy: `--request-n`, else `--limit-rate`, else `--take` if smaller than
    /// the default 64; refilled at 75% of `--limit-rate`, else at half, and not at all when
    /// `--take` fits in the first batch.
    fn prefetch(&self) -> Result<Prefetch, Failure> {
        if self.request_n == Some(0) || self.limit_rate == Some(0) {
            return Err(Failure::usage(
                "--request-n and --limit-rate must be at least 1",
            ));
        }
        let take = self
            .take
            .map(|t| u32::try_from(t).unwrap_or(u32::MAX).max(1));
        let initial = self
            .request_n
            .or(self.limit_rate)
            .or(take.map(|t| t.min(DEFAULT_PREFETCH)))
            .unwrap_or(DEFAULT_PREFETCH)
            .min(0x7FFF_FFFF);
        let refill = match (self.limit_rate, take) {
            // --take within the first batch: never ask for more than --take.
            (None, Some(t)) if t <= initial => t.saturating_add(1),
            (Some(n), _) => (n - n / 4).max(1),
            (None, _) => (initial / 2).max(1),
        };
        Ok(Prefetch { initial, refill })
    }

    fn ws_headers(&self) -> Result<Vec<(String, String)>, Failure> {
        self.ws_header
            .iter()
            .map(|h| {
                h.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| {
                        Failure::usage(format!("--ws-header expects NAME:VALUE, got {h:?}"))
                    })
            })
            .collect()
    }
}

/// Where the request data comes from.
enum DataSource {
    /// One value.
    Value(Bytes),
    /// Stdin, one payload per line (channels).
    Lines,
}

fn data_source(args: &ClientArgs, model: InteractionModel) -> Result<DataSource, Failure> {
    if let Some(path) = &args.load {
        return std::fs::read(path)
            .map(|b| DataSource::Value(b.into()))
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())));
    }
    match (args.data.as_deref(), model) {
        (Some("-") | None, InteractionModel::RequestChannel) => Ok(DataSource::Lines),
        (Some(d), _) => load_value(d, true).map(DataSource::Value),
        (None, _) => Ok(DataSource::Value(Bytes::new())),
    }
}

/// Reads stdin lines on a plain thread (a blocked read must not hold the runtime open at
/// exit) and hands them over through a small bounded queue.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    std::thread::spawn(move || {
        use std::io::BufRead;
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if tx.blocking_send(Bytes::copy_from_slice(&line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The outbound side of a channel: the first payload carries the metadata.
async fn channel_outbound(
    source: &DataSource,
    metadata: Option<Bytes>,
) -> BoxStream<'static, Payload> {
    let first = |data: Bytes| Payload {
        data,
        metadata: metadata.clone(),
    };
    match source {
        DataSource::Value(v) => stream::once(futures::future::ready(first(v.clone()))).boxed(),
        DataSource::Lines => {
            let mut rx = stdin_lines();
            // A channel opens with a payload: with empty stdin, an empty one.
            let head = first(rx.recv().await.unwrap_or_default());
            let rest = stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|line| (Payload::new(line), rx))
            });
            stream::once(futures::future::ready(head))
                .chain(rest)
                .boxed()
        }
    }
}

/// Prints a stream's payloads, honouring --take and --delay-elements; dropping the stream
/// early sends CANCEL.
async fn consume(mut s: PayloadStream, args: &ClientArgs, out: &Output) -> Result<(), Failure> {
    let mut seen = 0u64;
    if args.take == Some(0) {
        return Ok(());
    }
    while let Some(item) = s.next().await {
        out.emit(&item?)?;
        seen += 1;
        if args.take.is_some_and(|t| seen >= t) {
            break;
        }
        if let Some(ms) = args.delay_elements {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    drop(s);
    Ok(())
}

struct Session<'a> {
    rs: RSocket,
    args: &'a ClientArgs,
    model: InteractionModel,
    source: DataSource,
    metadata: Option<Bytes>,
    prefetch: Prefetch,
    out: Output,
}

impl Session<'_> {
    fn payload(&self) -> Payload {
        let data = match &self.source {
            DataSource::Value(v) => v.clone(),
            DataSource::Lines => Bytes::new(),
        };
        Payload {
            data,
            metadata: self.metadata.clone(),
        }
    }

    async fn once(&self) -> Result<(), Failure> {
        match self.model {
            InteractionModel::RequestResponse => {
                let p = self.rs.request_response(self.payload()).await?;
                self.out.emit(&p)
            }
            InteractionModel::FireAndForget => Ok(self.rs.fire_and_forget(self.payload()).await?),
            InteractionModel::MetadataPush => Ok(self
                .rs
                .metadata_push(self.metadata.clone().unwrap_or_default())
                .await?),
            InteractionModel::RequestStream => {
                let s = self.rs.request_stream_with(self.payload(), self.prefetch);
                consume(s, self.args, &self.out).await
            }
            InteractionModel::RequestChannel => {
                let outbound = channel_outbound(&self.source, self.metadata.clone()).await;
                let s = self.rs.request_channel(outbound);
                consume(s, self.args, &self.out).await
            }
        }
    }

    async fn run(&mut self) -> Result<(), Failure> {
        let n = self.args.repeat;
        if n <= 1 {
            return self.once().await;
        }
        let pb = ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} elapsed {elapsed}")
        {
            pb.set_style(style);
        }
        self.out.set_progress(Some(pb.clone()));
        let start = Instant::now();
        for _ in 0..n {
            if let Err(e) = self.once().await {
                pb.abandon();
                return Err(e);
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        self.out.set_progress(None);
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{n} requests in {secs:.3} s: {:.1} req/s",
            n as f64 / secs.max(f64::EPSILON)
        );
        Ok(())
    }
}

/// Closes the connection gracefully and waits until its transport is done, so queued frames
/// are written. A SETUP rejection that arrives meanwhile is reported.
async fn finish(rs: &RSocket, finished: &Finished, fire_only: bool) -> Result<(), Failure> {
    if fire_only {
        // Nothing answers a fire-and-forget: give a SETUP rejection a moment to arrive.
        if let Ok(e) = tokio::time::timeout(FIRE_GRACE, rs.closed()).await {
            if e.kind() == ErrorKind::Setup {
                return Err(e.into());
            }
        }
    }
    rs.close();
    let reason = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let e = rs.closed().await;
        finished.wait().await;
        e
    })
    .await;
    match reason {
        Ok(e) if e.kind() == ErrorKind::Setup => Err(e.into()),
        _ => Ok(()),
    }
}

async fn execute(args: &ClientArgs) -> Result<(), Failure> {
    let Some(uri) = args.uri.as_deref() else {
        return Err(Failure::usage(
            "missing the server URI (such as tcp://127.0.0.1:7878); see rsocket --help",
        ));
    };
    let model = args.interaction()?;
    if args.repeat == 0 {
        return Err(Failure::usage("--repeat must be at least 1"));
    }
    let md = metadata::plan(args)?;
    if model == InteractionModel::MetadataPush && md.request.is_none() {
        return Err(Failure::usage(
            "--metadata-push needs metadata: -m, -r, -u or --bearer",
        ));
    }
    let source = data_source(args, model)?;
    if args.repeat > 1 && matches!(source, DataSource::Lines) {
        return Err(Failure::usage(
            "--repeat with --channel needs -d DATA (stdin can be read once)",
        ));
    }
    let data_mime = metadata::resolve_mime(&args.data_mime_type);
    let setup_data = args
        .setup_data
        .as_deref()
        .map(|d| load_value(d, false))
        .transpose()?
        .unwrap_or_default();
    let prefetch = args.prefetch()?;

    let mut builder = Client::builder()
        .data_mime_type(data_mime.clone())
        .metadata_mime_type(md.mime.clone())
        .setup_payload(Payload {
            data: setup_data,
            metadata: md.setup.clone(),
        })
        .prefetch(prefetch)
        .lease(args.lease);
    if args.keepalive.is_some() || args.lifetime.is_some() {
        builder = builder.keepalive(
            args.keepalive.unwrap_or(Duration::from_secs(20)),
            args.lifetime.unwrap_or(Duration::from_secs(90)),
        );
    }
    if let Some(mtu) = args.mtu {
        if mtu < rsocket_proto::connection::MIN_MTU {
            return Err(Failure::usage(format!(
                "--mtu must be at least {} bytes",
                rsocket_proto::connection::MIN_MTU
            )));
        }
        builder = builder.mtu(mtu);
    }

    let finished = Finished::default();
    let ca_pem = match &args.ca_cert {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            Failure::usage(format!("cannot read --ca-cert {}: {e}", path.display()))
        })?),
        None => None,
    };
    let opts = rsocket::transport::ConnectOptions {
        ws_headers: args.ws_headers()?,
        tls: rsocket::transport::tls::TlsOptions {
            ca_pem,
            insecure: args.insecure,
        },
        ..Default::default()
    };
    let rs = if let Some(secs) = args.resume {
        // Resumption reconnects by itself, so the runtime opens (and reopens) the transport.
        if args.debug {
            eprintln!("rsocket: note: --debug frame dumps are not available with --resume");
        }
        let mut b = builder.resume(rsocket::resume::ResumeOptions {
            session_timeout: Duration::from_secs(secs.max(1)),
            ..Default::default()
        });
        for (k, v) in opts.ws_headers {
            b = b.ws_header(k, v);
        }
        if let Some(pem) = opts.tls.ca_pem {
            b = b.tls_ca_pem(pem);
        }
        finished.set_done();
        tokio::time::timeout(
            transport::CONNECT_TIMEOUT,
            b.tls_insecure(opts.tls.insecure).connect(uri),
        )
        .await
        .map_err(|_| Failure::connect(format!("cannot connect to {uri}: timed out")))?
        .map_err(|e| match e.kind() {
            ErrorKind::Usage => Failure::usage(e.message().to_string()),
            _ => Failure::connect(e.message().to_string()),
        })?
    } else {
        let io = transport::open(uri, &opts, args.debug, &finished).await?;
        builder.connect_with(io)
    };
    let mut session = Session {
        rs: rs.clone(),
        args,
        model,
        source,
        metadata: md.request,
        prefetch,
        out: Output::new(args.output, args.quiet, data_mime, md.mime),
    };
    let result = session.run().await;
    let fire_only = matches!(
        model,
        InteractionModel::FireAndForget | InteractionModel::MetadataPush
    );
    let closed = finish(&rs, &finished, fire_only && result.is_ok()).await;
    result.and(closed)
}

/// Runs the client; the exit code says how it went (see `rsocket --help`).
pub async fn run(args: ClientArgs) -> ExitCode {
    match execute(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("rsocket: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn error_mapping() {
        let f: Failure = rsocket::Error::custom(0x301, "demo error").into();
        assert_eq!(f.code, EXIT_SERVER_ERROR);
        assert!(f.message.contains("0x00000301"), "{}", f.message);
        assert!(f.message.contains("demo error"));
        let f: Failure = rsocket::Error::rejected_setup("no").into();
        assert_eq!(f.code, EXIT_SETUP_REJECTED);
        let f: Failure = rsocket::Error::transport("refused").into();
        assert_eq!(f.code, EXIT_CONNECTION);
    }

    #[test]
    fn tls_uris_are_recognised() {}
}
