//! Load benchmark for a WAMP router: many sessions, RPC throughput and latency, pub/sub fan-out.
//!
//! ```text
//! cargo run --release -p wamp --example wamp_load -- [OPTIONS]
//! ```
//!
//! Against **our router** by default: the program starts itself again as a separate router
//! process (`--serve`) on 127.0.0.1 and measures that child's memory and CPU from `/proc`.
//! `--in-process` runs the router inside this process instead (its RSS then includes the
//! clients). `--url` targets another router (e.g. Crossbar.io, see `interop/wamp/crossbar.sh`);
//! `--router-pid` names its process so its memory (the whole process tree) can be read.
//!
//! Phases (`--phases`, default `join,rpc,pubsub`; `check` is an interop smoke test):
//! * `join`: `--sessions` (1000) sessions connect and join at once; join time, per-session
//!   join latency, `wamp.session.count`, router RSS before and after, then all leave.
//! * `rpc`: one callee registers `bench.echo`; `--callers` (4) callers each keep
//!   `--in-flight` (100) calls outstanding for `--rpc-secs` (5) after a 1 s warm-up; calls/s
//!   and round-trip p50/p99 (hdrhistogram).
//! * `pubsub`: `--subscribers` (100) sessions subscribe to `bench.fanout`; one publisher sends
//!   `--rate` (10 000) events/s for `--pubsub-secs` (3); delivered events/s, loss, delivery
//!   latency p50/p99, subscribers the router disconnected.
//! * `check`: call with args/kwargs, application error, `no_such_procedure`, acknowledged
//!   publish with `exclude_me=false`, with JSON, MessagePack and CBOR over WebSocket, and over
//!   RawSocket too when `--rawsocket HOST:PORT` is given (or the router is ours).
//!
//! Other options: `--serializer json|msgpack|cbor` (default msgpack), `--label NAME` (printed
//! in results), `--json` (one JSON object per phase on stdout, lines starting with `{`).
//! Every loop is bounded in count and in time; a watchdog ends the program after `--max-secs`
//! (default 600). Only 127.0.0.1 (or another loopback address) is accepted as a target.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use wamp::client::{Args, ClientError, CloseReason};
use wamp::{ClientConfig, Dict, Router, RouterConfig, Serializer, Session, Value};

/// Upper bound of any single call, join or leave before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// RPC warm-up before measuring.
const WARMUP: Duration = Duration::from_secs(1);
/// Most calls one in-flight slot makes (a bound besides time).
const MAX_CALLS_PER_SLOT: u64 = 10_000_000;
/// How long subscribers may keep receiving after the publisher stops.
const DRAIN_MAX: Duration = Duration::from_secs(20);
/// Drain ends early once no event arrived for this long (after the publisher stopped).
const DRAIN_QUIET: Duration = Duration::from_secs(3);
/// Accept backlog of the router we start (the same as Crossbar's in `crossbar.sh`).
const LISTEN_BACKLOG: u32 = 2048;
/// Largest latency the histograms hold (2 minutes, in µs).
const LATENCY_MAX_US: u64 = 120_000_000;

#[derive(Debug, Clone)]
struct Opts {
    url: Option<String>,
    rawsocket: Option<String>,
    router_pid: Option<u32>,
    in_process: bool,
    serializer: Serializer,
    sessions: usize,
    callers: usize,
    in_flight: usize,
    rpc_secs: f64,
    subscribers: usize,
    rate: u64,
    pubsub_secs: f64,
    phases: Vec<String>,
    label: String,
    json: bool,
    max_secs: u64,
    serve: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            url: None,
            rawsocket: None,
            router_pid: None,
            in_process: false,
            serializer: Serializer::MsgPack,
            sessions: 1000,
            callers: 4,
            in_flight: 100,
            rpc_secs: 5.0,
            subscribers: 100,
            rate: 10_000,
            pubsub_secs: 3.0,
            phases: vec!["join".into(), "rpc".into(), "pubsub".into()],
            label: "ours".into(),
            json: false,
            max_secs: 600,
            serve: None,
        }
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("wamp_load: {msg}");
    eprintln!(
        "usage: wamp_load [--url ws://127.0.0.1:PORT/ws] [--rawsocket 127.0.0.1:PORT] \
         [--router-pid PID] [--in-process] [--serializer json|msgpack|cbor] [--sessions N] \
         [--callers N] [--in-flight N] [--rpc-secs S] [--subscribers N] [--rate R] \
         [--pubsub-secs S] [--phases join,rpc,pubsub,check] [--label NAME] [--json] \
         [--max-secs S]"
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name}: value")))
        };
        fn num<T: std::str::FromStr>(name: &str, v: String) -> T {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name}: bad number {v}")))
        }
        match a.as_str() {
            "--url" => o.url = Some(val("--url")),
            "--rawsocket" => o.rawsocket = Some(val("--rawsocket")),
            "--router-pid" => o.router_pid = Some(num("--router-pid", val("--router-pid"))),
            "--in-process" => o.in_process = true,
            "--serializer" => {
                let v = val("--serializer");
                o.serializer = match v.as_str() {
                    "json" => Serializer::Json,
                    "msgpack" => Serializer::MsgPack,
                    "cbor" => Serializer::Cbor,
                    _ => usage("--serializer: json, msgpack or cbor"),
                }
            }
            "--sessions" => o.sessions = num("--sessions", val("--sessions")),
            "--callers" => o.callers = num("--callers", val("--callers")),
            "--in-flight" => o.in_flight = num("--in-flight", val("--in-flight")),
            "--rpc-secs" => o.rpc_secs = num("--rpc-secs", val("--rpc-secs")),
            "--subscribers" => o.subscribers = num("--subscribers", val("--subscribers")),
            "--rate" => o.rate = num("--rate", val("--rate")),
            "--pubsub-secs" => o.pubsub_secs = num("--pubsub-secs", val("--pubsub-secs")),
            "--phases" => {
                o.phases = val("--phases")
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .collect()
            }
            "--label" => o.label = val("--label"),
            "--json" => o.json = true,
            "--max-secs" => o.max_secs = num("--max-secs", val("--max-secs")),
            "--serve" => o.serve = Some(val("--serve")),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    // Bounds that keep every loop finite and the machine usable.
    if o.sessions > 20_000 || o.callers > 1000 || o.in_flight > 10_000 || o.subscribers > 5000 {
        usage(
            "counts too large (sessions ≤ 20000, callers ≤ 1000, in-flight ≤ 10000, subscribers ≤ 5000)",
        );
    }
    if !(0.1..=600.0).contains(&o.rpc_secs) || !(0.1..=600.0).contains(&o.pubsub_secs) {
        usage("durations must be within 0.1..600 s");
    }
    if o.rate == 0 || o.rate > 1_000_000 {
        usage("--rate must be within 1..1000000");
    }
    for target in o.url.iter().chain(o.rawsocket.iter()).chain(o.serve.iter()) {
        if !is_loopback_target(target) {
            usage(&format!(
                "{target}: only loopback targets (127.0.0.0/8, localhost, [::1])"
            ));
        }
    }
    o
}

/// Whether `target` (`ws://host:port/…`, `rs://host:port`, `host:port`) names a loopback host.
fn is_loopback_target(target: &str) -> bool {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(h) = authority.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Memory and CPU of a process tree (the router), read from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
struct ProcStats {
    rss_kib: u64,
    hwm_kib: u64,
    cpu_ticks: u64,
    procs: usize,
}

/// The router process whose stats we read, if any.
#[derive(Debug, Clone, Copy)]
enum Watched {
    SelfProcess,
    Tree(u32),
    Nothing,
}

fn read_status(pid: &str) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// (ppid, utime + stime in clock ticks) of a process.
fn read_stat(pid: &str) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may contain spaces.
    let after = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // after[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((ppid, ticks))
}

/// The pid and all its descendants (bounded by the number of processes on the machine).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten().take(100_000) {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, _)) = read_stat(&pid.to_string()) {
                parent.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() && out.len() < 10_000 {
        if let Some(kids) = parent.get(&out[i]) {
            out.extend(kids.iter().copied());
        }
        i += 1;
    }
    out
}

fn proc_stats(w: Watched) -> Option<ProcStats> {
    let pids: Vec<String> = match w {
        Watched::SelfProcess => vec!["self".into()],
        Watched::Tree(pid) => process_tree(pid).iter().map(u32::to_string).collect(),
        Watched::Nothing => return None,
    };
    let mut st = ProcStats::default();
    for p in &pids {
        if let (Some((rss, hwm)), Some((_, ticks))) = (read_status(p), read_stat(p)) {
            st.rss_kib += rss;
            st.hwm_kib += hwm;
            st.cpu_ticks += ticks;
            st.procs += 1;
        }
    }
    (st.procs > 0).then_some(st)
}

/// Linux reports CPU times in USER_HZ, 100 per second on every mainstream configuration.
const TICKS_PER_SEC: f64 = 100.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples the router's RSS every 100 ms while a phase runs; returns the largest value seen.
struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(w: Watched) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let task = tokio::task::spawn_blocking(move || {
            // Bounded: at most an hour of samples.
            for _ in 0..36_000 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(st) = proc_stats(w) {
                    m.fetch_max(st.rss_kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler { stop, max, task }
    }
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.max.load(Ordering::Relaxed)
    }
}

/// Where the router is.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    rawsocket: Option<String>,
}

async fn connect(t: &Target, ser: Serializer) -> Result<Session, ClientError> {
    connect_url(&t.url, ser).await
}

async fn connect_url(url: &str, ser: Serializer) -> Result<Session, ClientError> {
    let mut cfg = ClientConfig::new("realm1");
    cfg.connect_timeout = OP_TIMEOUT;
    cfg.max_message_size = 16 << 20;
    if let Some(addr) = url.strip_prefix("rs://") {
        Session::connect_rawsocket(addr, ser, cfg).await
    } else {
        Session::connect_websocket(url, ser, cfg).await
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid histogram bounds")
}

/// One result line: printed for people, and as JSON with `--json`.
struct Report {
    fields: Vec<(&'static str, String)>,
}

impl Report {
    fn new(label: &str, phase: &str) -> Report {
        Report {
            fields: vec![
                ("router", format!("\"{label}\"")),
                ("phase", format!("\"{phase}\"")),
            ],
        }
    }
    fn num(&mut self, k: &'static str, v: impl Into<f64>) -> &mut Self {
        let v: f64 = v.into();
        let s = if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v:.2}")
        };
        self.fields.push((k, s));
        self
    }
    fn text(&mut self, k: &'static str, v: &str) -> &mut Self {
        self.fields
            .push((k, format!("\"{}\"", v.replace('"', "'"))));
        self
    }
    fn stats(&mut self, prefix: &'static str, st: Option<ProcStats>) -> &mut Self {
        if let Some(st) = st {
            let (rss, hwm): (&'static str, &'static str) = match prefix {
                "before" => ("router_rss_before_kib", "router_hwm_before_kib"),
                _ => ("router_rss_after_kib", "router_hwm_after_kib"),
            };
            self.num(rss, st.rss_kib as f64);
            self.num(hwm, st.hwm_kib as f64);
        }
        self
    }
    fn emit(&self, json: bool) {
        if json {
            let body: Vec<String> = self
                .fields
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            println!("{{{}}}", body.join(","));
        } else {
            let body: Vec<String> = self
                .fields
                .iter()
                .map(|(k, v)| format!("{k}={}", v.trim_matches('"')))
                .collect();
            println!("  {}", body.join(" "));
        }
    }
}

fn cpu_secs(before: Option<ProcStats>, after: Option<ProcStats>) -> Option<f64> {
    Some((after?.cpu_ticks.saturating_sub(before?.cpu_ticks)) as f64 / TICKS_PER_SEC)
}

// ---------------------------------------------------------------------------------------------
// Phase: join.

async fn phase_join(o: &Opts, t: &Target, w: Watched) {
    eprintln!("[{}] join: {} sessions at once", o.label, o.sessions);
    let before = proc_stats(w);
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..o.sessions {
        let t = t.clone();
        let ser = o.serializer;
        set.spawn(async move {
            let t0 = Instant::now();
            let r = connect(&t, ser).await;
            (r, t0.elapsed())
        });
    }
    let mut sessions = Vec::with_capacity(o.sessions);
    let mut hist = histogram();
    let mut errors: HashMap<String, usize> = HashMap::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok((Ok(s), d)) => {
                let _ = hist.record(d.as_micros().max(1) as u64);
                sessions.push(s);
            }
            Ok((Err(e), _)) => *errors.entry(e.to_string()).or_default() += 1,
            Err(e) => *errors.entry(e.to_string()).or_default() += 1,
        }
    }
    let join_time = start.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let joined = proc_stats(w);
    // The router's own count, through the session meta API.
    let count = match sessions.first() {
        Some(s) => {
            match tokio::time::timeout(
                OP_TIMEOUT,
                s.call("wamp.session.count", vec![], Dict::new()),
            )
            .await
            {
                Ok(Ok(a)) => a.args.first().and_then(Value::as_u64).map(|c| c as f64),
                _ => None,
            }
        }
        None => None,
    };
    // Everyone leaves (bounded by OP_TIMEOUT each, all at once).
    let leave_start = Instant::now();
    let mut set = JoinSet::new();
    for s in sessions.drain(..) {
        set.spawn(async move { tokio::time::timeout(OP_TIMEOUT, s.leave()).await });
    }
    let mut leave_failed = 0;
    while let Some(r) = set.join_next().await {
        if !matches!(r, Ok(Ok(Ok(())))) {
            leave_failed += 1;
        }
    }
    let leave_time = leave_start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = proc_stats(w);

    let mut r = Report::new(&o.label, "join");
    r.num("sessions", o.sessions as f64)
        .num("joined", hist.len() as f64)
        .num("failed", errors.values().sum::<usize>() as f64)
        .num("join_ms", join_time.as_secs_f64() * 1e3)
        .num("join_p50_ms", hist.value_at_quantile(0.5) as f64 / 1e3)
        .num("join_p99_ms", hist.value_at_quantile(0.99) as f64 / 1e3)
        .num("leave_ms", leave_time.as_secs_f64() * 1e3)
        .num("leave_failed", leave_failed as f64);
    if let Some(c) = count {
        r.num("router_session_count", c);
    }
    r.stats("before", before);
    if let (Some(b), Some(j)) = (before, joined) {
        r.num("router_rss_joined_kib", j.rss_kib as f64);
        let per = (j.rss_kib as f64 - b.rss_kib as f64) / hist.len().max(1) as f64;
        r.num("router_kib_per_session", per);
    }
    r.stats("after", after);
    if let Some(c) = cpu_secs(before, after) {
        r.num("router_cpu_s", c);
    }
    if let Some((e, n)) = errors.iter().max_by_key(|(_, n)| **n) {
        r.text("first_error", &format!("{n}x {e}"));
    }
    r.emit(o.json);
}

/// All sessions leave at once, each given at most 5 s (a router still busy with a backlog may
/// not answer GOODBYE in time; the connection closes when the session is dropped anyway).
async fn leave_all(sessions: Vec<Session>) {
    let mut set = JoinSet::new();
    for s in sessions {
        set.spawn(async move { tokio::time::timeout(Duration::from_secs(5), s.leave()).await });
    }
    while set.join_next().await.is_some() {}
}

// ---------------------------------------------------------------------------------------------
// Phase: rpc.

async fn phase_rpc(o: &Opts, t: &Target, w: Watched) {
    eprintln!(
        "[{}] rpc: {} callers x {} in flight, {} s",
        o.label, o.callers, o.in_flight, o.rpc_secs
    );
    let callee = match connect(t, o.serializer).await {
        Ok(s) => s,
        Err(e) => return eprintln!("rpc: callee cannot join: {e}"),
    };
    let reg = callee
        .register("bench.echo", Dict::new(), |a: Args| async move {
            Ok((a.args, Dict::new()))
        })
        .await;
    if let Err(e) = reg {
        return eprintln!("rpc: register failed: {e}");
    }
    let mut callers = Vec::new();
    for _ in 0..o.callers {
        match connect(t, o.serializer).await {
            Ok(s) => callers.push(s),
            Err(e) => return eprintln!("rpc: caller cannot join: {e}"),
        }
    }
    let before_all = proc_stats(w);
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let deadline = measure_from + Duration::from_secs_f64(o.rpc_secs);
    let sampler = RssSampler::start(w);
    let stats_at_measure = Arc::new(std::sync::Mutex::new(None));
    {
        let s = stats_at_measure.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            *s.lock().unwrap_or_else(|e| e.into_inner()) = proc_stats(w);
        });
    }
    let mut set = JoinSet::new();
    for (ci, caller) in callers.iter().enumerate() {
        for slot in 0..o.in_flight {
            let caller = caller.clone();
            set.spawn(async move {
                let mut hist = histogram();
                let (mut ok, mut failed) = (0u64, 0u64);
                let mut first_error = None;
                for i in 0..MAX_CALLS_PER_SLOT {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    let arg = Value::UInt((ci * 1_000_000 + slot) as u64 * 1000 + i);
                    let r = tokio::time::timeout(
                        OP_TIMEOUT,
                        caller.call("bench.echo", vec![arg.clone()], Dict::new()),
                    )
                    .await;
                    let done = Instant::now();
                    let good = matches!(&r, Ok(Ok(a)) if a.args.first() == Some(&arg));
                    if now >= measure_from && done <= deadline {
                        if good {
                            ok += 1;
                            let _ = hist.record((done - now).as_micros().max(1) as u64);
                        } else {
                            failed += 1;
                        }
                    }
                    if !good {
                        if first_error.is_none() {
                            first_error = Some(match r {
                                Ok(Ok(a)) => format!("wrong result {:?}", a.args),
                                Ok(Err(e)) => e.to_string(),
                                Err(_) => "timed out".into(),
                            });
                        }
                        if caller.close_reason() != CloseReason::Open {
                            break;
                        }
                    }
                }
                (hist, ok, failed, first_error)
            });
        }
    }
    let mut hist = histogram();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut first_error = None;
    while let Some(r) = set.join_next().await {
        if let Ok((h, o_, f, e)) = r {
            let _ = hist.add(&h);
            ok += o_;
            failed += f;
            if first_error.is_none() {
                first_error = e;
            }
        }
    }
    let peak = sampler.finish().await;
    let before = stats_at_measure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let after = proc_stats(w);
    let secs = o.rpc_secs;
    let mut r = Report::new(&o.label, "rpc");
    r.num("callers", o.callers as f64)
        .num("in_flight_per_caller", o.in_flight as f64)
        .num("secs", secs)
        .num("calls", ok as f64)
        .num("failed", failed as f64)
        .num("calls_per_s", (ok as f64 / secs).round())
        .num("p50_us", hist.value_at_quantile(0.5) as f64)
        .num("p99_us", hist.value_at_quantile(0.99) as f64)
        .num("max_us", hist.max() as f64);
    r.stats("before", before_all);
    r.num("router_rss_peak_kib", peak as f64);
    r.stats("after", after);
    if let Some(c) = cpu_secs(before, after) {
        r.num("router_cpu_s", c);
        if ok > 0 {
            r.num("router_cpu_us_per_call", c * 1e6 / ok as f64);
        }
    }
    if let Some(e) = first_error {
        r.text("first_error", &e);
    }
    r.emit(o.json);
    callers.push(callee);
    leave_all(callers).await;
}

// ---------------------------------------------------------------------------------------------
// Phase: pubsub.

struct SubResult {
    received: u64,
    gaps: u64,
    hist: Histogram<u64>,
    closed: bool,
}

async fn phase_pubsub(o: &Opts, t: &Target, w: Watched) {
    eprintln!(
        "[{}] pubsub: {} events/s to {} subscribers for {} s",
        o.label, o.rate, o.subscribers, o.pubsub_secs
    );
    let origin = Instant::now();
    let last_event = Arc::new(AtomicU64::new(0)); // µs since origin of the latest delivery
    let delivered = Arc::new(AtomicU64::new(0)); // events received by all subscribers
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut subs = JoinSet::new();
    let mut sessions = Vec::new();
    for _ in 0..o.subscribers {
        let s = match connect(t, o.serializer).await {
            Ok(s) => s,
            Err(e) => return eprintln!("pubsub: subscriber cannot join: {e}"),
        };
        let mut sub = match s.subscribe("bench.fanout", Dict::new()).await {
            Ok(sub) => sub,
            Err(e) => return eprintln!("pubsub: subscribe failed: {e}"),
        };
        let (last_event, stop, session) = (last_event.clone(), stop.clone(), s.clone());
        let delivered = delivered.clone();
        subs.spawn(async move {
            let mut res = SubResult {
                received: 0,
                gaps: 0,
                hist: histogram(),
                closed: false,
            };
            let mut next_seq = 0u64;
            let stopped = stop.notified();
            tokio::pin!(stopped);
            loop {
                let ev = tokio::select! {
                    ev = sub.next() => ev,
                    _ = &mut stopped => break,
                };
                let Some(ev) = ev else {
                    res.closed = true;
                    break;
                };
                let now_us = origin.elapsed().as_micros() as u64;
                let seq = ev.args.first().and_then(Value::as_u64).unwrap_or(0);
                let sent_us = ev.args.get(1).and_then(Value::as_u64).unwrap_or(now_us);
                if seq != next_seq {
                    res.gaps += 1;
                }
                next_seq = seq + 1;
                res.received += 1;
                delivered.fetch_add(1, Ordering::Relaxed);
                let _ = res.hist.record(now_us.saturating_sub(sent_us).max(1));
                last_event.fetch_max(now_us, Ordering::Relaxed);
            }
            if session.close_reason() != CloseReason::Open {
                res.closed = true;
            }
            res
        });
        sessions.push(s);
    }
    let publisher = match connect(t, o.serializer).await {
        Ok(s) => s,
        Err(e) => return eprintln!("pubsub: publisher cannot join: {e}"),
    };
    // Every SUBSCRIBED reply has arrived, so the subscriptions are in place router-side.
    let before = proc_stats(w);
    let client_before = proc_stats(Watched::SelfProcess);
    let sampler = RssSampler::start(w);
    let start = Instant::now();
    let dur = Duration::from_secs_f64(o.pubsub_secs);
    let total = (o.rate as f64 * o.pubsub_secs).round() as u64;
    let mut sent = 0u64;
    let mut publish_errors = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Bounded by `total` events and by twice the planned duration.
    while sent < total && start.elapsed() < dur * 2 {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * o.rate as f64) as u64).min(total);
        while sent < due {
            let now_us = origin.elapsed().as_micros() as u64;
            let args = vec![Value::UInt(sent), Value::UInt(now_us)];
            match publisher
                .publish("bench.fanout", args, Dict::new(), false)
                .await
            {
                Ok(_) => {}
                Err(_) => publish_errors += 1,
            }
            sent += 1;
            if publisher.close_reason() != CloseReason::Open {
                break;
            }
        }
        if publisher.close_reason() != CloseReason::Open {
            break;
        }
    }
    let publish_time = start.elapsed();
    // Drain: wait until deliveries stop (bounded).
    let expected = sent * o.subscribers as u64;
    let drain_start = Instant::now();
    let publish_end = drain_start - origin;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = Duration::from_micros(last_event.load(Ordering::Relaxed)).max(publish_end);
        let quiet = origin.elapsed().saturating_sub(last);
        if delivered.load(Ordering::Relaxed) >= expected
            || quiet >= DRAIN_QUIET
            || drain_start.elapsed() >= DRAIN_MAX
        {
            break;
        }
    }
    let drain_time = drain_start.elapsed();
    stop.notify_waiters();
    let mut hist = histogram();
    let (mut received, mut gaps, mut closed) = (0u64, 0u64, 0u64);
    while let Some(r) = subs.join_next().await {
        if let Ok(r) = r {
            received += r.received;
            gaps += r.gaps;
            closed += u64::from(r.closed);
            let _ = hist.add(&r.hist);
        }
    }
    let peak = sampler.finish().await;
    let after = proc_stats(w);
    let last = Duration::from_micros(last_event.load(Ordering::Relaxed));
    let delivery_window = last.saturating_sub(start - origin).max(publish_time);
    let mut r = Report::new(&o.label, "pubsub");
    r.num("subscribers", o.subscribers as f64)
        .num("rate", o.rate as f64)
        .num("published", sent as f64)
        .num("publish_s", publish_time.as_secs_f64())
        .num("publish_errors", publish_errors as f64)
        .num("drain_s", drain_time.as_secs_f64())
        .num("expected", expected as f64)
        .num("delivered", received as f64)
        .num(
            "delivered_per_s",
            (received as f64 / delivery_window.as_secs_f64()).round(),
        )
        .num(
            "loss_pct",
            if expected == 0 {
                0.0
            } else {
                100.0 * (expected.saturating_sub(received)) as f64 / expected as f64
            },
        )
        .num("gaps", gaps as f64)
        .num("subscribers_disconnected", closed as f64)
        .num("latency_p50_us", hist.value_at_quantile(0.5) as f64)
        .num("latency_p99_us", hist.value_at_quantile(0.99) as f64);
    r.stats("before", before);
    r.num("router_rss_peak_kib", peak as f64);
    r.stats("after", after);
    if let Some(c) = cpu_secs(before, after) {
        r.num("router_cpu_s", c);
    }
    // The clients (publisher and subscribers, this process) share the machine with the router.
    if let Some(c) = cpu_secs(client_before, proc_stats(Watched::SelfProcess)) {
        r.num("client_cpu_s", c);
    }
    r.emit(o.json);
    sessions.push(publisher);
    leave_all(sessions).await;
}

// ---------------------------------------------------------------------------------------------
// Phase: check (interop smoke test).

async fn check_one(url: &str, ser: Serializer) -> Result<(), String> {
    let e = |what: &str, err: ClientError| format!("{what}: {err}");
    let callee = connect_url(url, ser)
        .await
        .map_err(|x| e("callee join", x))?;
    let caller = connect_url(url, ser)
        .await
        .map_err(|x| e("caller join", x))?;
    let suffix = format!("{}.{}", ser.name(), callee.id().get());
    let add = format!("bench.check.add.{suffix}");
    let fail = format!("bench.check.fail.{suffix}");
    let topic = format!("bench.check.topic.{suffix}");
    callee
        .register(&add, Dict::new(), |a: Args| async move {
            let sum: i64 = a.args.iter().filter_map(Value::as_i64).sum();
            let mut kw = Dict::new();
            kw.insert("echo", a.kwargs.get("x").cloned().unwrap_or_default());
            Ok((vec![Value::from(sum)], kw))
        })
        .await
        .map_err(|x| e("register", x))?;
    callee
        .register(&fail, Dict::new(), |_a: Args| async move {
            Err(wamp::client::WampError::new("com.example.oops")
                .with_args(vec![Value::from("bad"), Value::Bytes(vec![0, 255])]))
        })
        .await
        .map_err(|x| e("register", x))?;
    let kwargs = Dict::new().with("x", Value::Bytes(vec![1, 2, 3]));
    let res = caller
        .call(&add, vec![2.into(), 3.into(), Value::from(-1)], kwargs)
        .await
        .map_err(|x| e("call", x))?;
    if res.args != vec![Value::from(4)]
        || res.kwargs.get("echo") != Some(&Value::Bytes(vec![1, 2, 3]))
    {
        return Err(format!("call: unexpected result {res:?}"));
    }
    match caller.call(&fail, vec![], Dict::new()).await {
        Err(ClientError::Wamp(w))
            if w.uri == "com.example.oops"
                && w.args == vec![Value::from("bad"), Value::Bytes(vec![0, 255])] => {}
        other => return Err(format!("error call: unexpected {other:?}")),
    }
    match caller
        .call("bench.check.nowhere", vec![], Dict::new())
        .await
    {
        Err(ClientError::Wamp(w)) if w.uri == "wamp.error.no_such_procedure" => {}
        other => return Err(format!("no_such_procedure: unexpected {other:?}")),
    }
    let mut sub = caller
        .subscribe(&topic, Dict::new())
        .await
        .map_err(|x| e("subscribe", x))?;
    let mut own = callee
        .subscribe(&topic, Dict::new())
        .await
        .map_err(|x| e("subscribe", x))?;
    let opts = Dict::new()
        .with("acknowledge", true)
        .with("exclude_me", false);
    let pubid = callee
        .publish_with(&topic, vec!["hello".into()], Dict::new(), opts)
        .await
        .map_err(|x| e("publish", x))?;
    if pubid.is_none() {
        return Err("publish: no publication id".into());
    }
    for (who, s) in [
        ("subscriber", &mut sub),
        ("publisher (exclude_me=false)", &mut own),
    ] {
        match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
            Ok(Some(ev)) if ev.args == vec![Value::from("hello")] => {}
            other => return Err(format!("event to {who}: unexpected {other:?}")),
        }
    }
    sub.unsubscribe().await.map_err(|x| e("unsubscribe", x))?;
    caller.leave().await.map_err(|x| e("leave", x))?;
    callee.leave().await.map_err(|x| e("leave", x))?;
    Ok(())
}

async fn phase_check(o: &Opts, t: &Target) -> bool {
    let mut urls = vec![t.url.clone()];
    if let Some(raw) = &t.rawsocket {
        urls.push(format!("rs://{raw}"));
    }
    let (mut passed, mut failed) = (0, 0);
    for url in &urls {
        for ser in [Serializer::Json, Serializer::MsgPack, Serializer::Cbor] {
            let r = tokio::time::timeout(Duration::from_secs(60), check_one(url, ser)).await;
            let r = r.unwrap_or_else(|_| Err("timed out".into()));
            match &r {
                Ok(()) => passed += 1,
                Err(_) => failed += 1,
            }
            let transport = if url.starts_with("rs://") {
                "rawsocket"
            } else {
                "websocket"
            };
            let mut rep = Report::new(&o.label, "check");
            rep.text("transport", transport)
                .text("serializer", ser.name())
                .text("result", if r.is_ok() { "ok" } else { "FAILED" });
            if let Err(e) = r {
                rep.text("error", &e);
            }
            rep.emit(o.json);
        }
    }
    println!("{passed} passed, {failed} failed");
    failed == 0
}

// ---------------------------------------------------------------------------------------------
// Router: in-process, or as a child process of ourselves.

async fn serve(addr: &str) -> std::io::Result<()> {
    let router = Router::new(RouterConfig::default());
    let ws = listen(addr.parse().map_err(std::io::Error::other)?)?;
    let raw = listen((ws.local_addr()?.ip(), 0).into())?;
    println!("ws://{}/ws {}", ws.local_addr()?, raw.local_addr()?);
    // Exit when the parent closes our stdin (also when it dies).
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    });
    tokio::select! {
        r = router.serve_websocket(ws, "/ws") => r,
        r = router.serve_rawsocket(raw) => r,
        _ = stdin_closed => Ok(()),
    }
}

/// A listener with the same accept backlog `crossbar.sh` gives Crossbar (tokio's `bind` uses
/// 1024, and 1,000 connections at once then see SYN retransmits).
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

fn spawn_router_child() -> std::io::Result<(Child, Target)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--serve", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(url), Some(raw)) => Ok((
            child,
            Target {
                url: url.to_owned(),
                rawsocket: Some(raw.to_owned()),
            },
        )),
        _ => {
            let _ = child.kill();
            Err(std::io::Error::other(format!("router child said {line:?}")))
        }
    }
}

fn main() {
    let o = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(addr) = &o.serve {
        if let Err(e) = rt.block_on(serve(addr)) {
            eprintln!("wamp_load --serve: {e}");
            std::process::exit(1);
        }
        return;
    }
    // Watchdog: every phase is bounded, this bounds the whole run too.
    let max = Duration::from_secs(o.max_secs);
    std::thread::spawn(move || {
        std::thread::sleep(max);
        eprintln!("wamp_load: --max-secs reached, exiting");
        std::process::exit(3);
    });
    let code = rt.block_on(run(o));
    std::process::exit(code);
}

async fn run(o: Opts) -> i32 {
    let mut child = None;
    let (target, watched) = match (&o.url, o.in_process) {
        (Some(url), _) => (
            Target {
                url: url.clone(),
                rawsocket: o.rawsocket.clone(),
            },
            o.router_pid.map_or(Watched::Nothing, Watched::Tree),
        ),
        (None, true) => {
            let router = Router::new(RouterConfig::default());
            let ws = match listen(([127, 0, 0, 1], 0).into()) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("bind: {e}");
                    return 1;
                }
            };
            let url = format!("ws://{}/ws", ws.local_addr().expect("bound"));
            tokio::spawn(async move { router.serve_websocket(ws, "/ws").await });
            (
                Target {
                    url,
                    rawsocket: None,
                },
                Watched::SelfProcess,
            )
        }
        (None, false) => match spawn_router_child() {
            Ok((c, t)) => {
                let pid = c.id();
                child = Some(c);
                (t, Watched::Tree(pid))
            }
            Err(e) => {
                eprintln!("cannot start the router: {e}");
                return 1;
            }
        },
    };
    eprintln!(
        "[{}] router {} (serializer {}, memory of {})",
        o.label,
        target.url,
        o.serializer.name(),
        match watched {
            Watched::SelfProcess => "this process (router and clients)".to_owned(),
            Watched::Tree(p) => format!("pid {p} and its children"),
            Watched::Nothing => "nothing (no --router-pid)".to_owned(),
        }
    );
    let mut ok = true;
    for phase in o.phases.clone() {
        match phase.as_str() {
            "join" => phase_join(&o, &target, watched).await,
            "rpc" => phase_rpc(&o, &target, watched).await,
            "pubsub" => phase_pubsub(&o, &target, watched).await,
            "check" => ok &= phase_check(&o, &target).await,
            "" => {}
            other => eprintln!("unknown phase {other}"),
        }
        // Let the router settle between phases.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Some(st) = proc_stats(watched) {
        let mut r = Report::new(&o.label, "end");
        r.num("router_rss_kib", st.rss_kib as f64)
            .num("router_hwm_kib", st.hwm_kib as f64)
            .num("router_cpu_s", st.cpu_ticks as f64 / TICKS_PER_SEC)
            .num("router_procs", st.procs as f64);
        r.emit(o.json);
        eprintln!(
            "[{}] router at the end: RSS {:.1} MiB, peak (VmHWM) {:.1} MiB",
            o.label,
            mib(st.rss_kib),
            mib(st.hwm_kib)
        );
    }
    if let Some(mut c) = child {
        drop(c.stdin.take());
        for _ in 0..50 {
            if matches!(c.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    if ok { 0 } else { 1 }
}
