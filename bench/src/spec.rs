//! What one measurement is: implementation, transport, workload, sizes; and what it reports.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The implementation under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
pub enum Impl {
    /// This workspace's `rsocket` crate.
    #[value(name = "ours")]
    #[serde(rename = "ours")]
    Ours,
    /// rsocket_rust 0.7.5 with its 0.7.4 transports.
    #[value(name = "rsocket-rust")]
    #[serde(rename = "rsocket-rust")]
    RsocketRust,
    /// The physical limit: length-prefixed frames of the same wire size over plain tokio.
    #[value(name = "raw")]
    #[serde(rename = "raw")]
    Raw,
}

impl Impl {
    pub fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::RsocketRust => "rsocket-rust",
            Impl::Raw => "raw",
        }
    }
}

/// The transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
pub enum Transport {
    #[value(name = "tcp")]
    #[serde(rename = "tcp")]
    Tcp,
    #[value(name = "ws")]
    #[serde(rename = "ws")]
    Ws,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ws => "ws",
        }
    }
}

/// The workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
pub enum Workload {
    /// Request-response, one in flight.
    #[value(name = "rr1")]
    #[serde(rename = "rr1")]
    Rr1,
    /// Request-response, 64 in flight on one connection.
    #[value(name = "rr64")]
    #[serde(rename = "rr64")]
    Rr64,
    /// Request-response, 1,024 in flight on one connection.
    #[value(name = "rr1024")]
    #[serde(rename = "rr1024")]
    Rr1024,
    /// One request-stream of `items` payloads whose consumer asks for all of them (request-n
    /// 2^31-1), as raw and rsocket-rust do.
    #[value(name = "stream")]
    #[serde(rename = "stream")]
    Stream,
    /// One request-stream with request-n 256, refilled at half.
    #[value(name = "stream-rn")]
    #[serde(rename = "stream-rn")]
    StreamRn,
    /// Fire-and-forget for `duration`, then wait until the server has counted every one.
    #[value(name = "fnf")]
    #[serde(rename = "fnf")]
    Fnf,
    /// One request-channel, echoed by the server, for `duration`.
    #[value(name = "channel")]
    #[serde(rename = "channel")]
    Channel,
    /// 1,000 concurrent request-streams on one connection, `items` payloads in total.
    #[value(name = "streams1k")]
    #[serde(rename = "streams1k")]
    Streams1k,
    /// 100 connections, each running request-response with one in flight.
    #[value(name = "conns100")]
    #[serde(rename = "conns100")]
    Conns100,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Rr1 => "rr1",
            Workload::Rr64 => "rr64",
            Workload::Rr1024 => "rr1024",
            Workload::Stream => "stream",
            Workload::StreamRn => "stream-rn",
            Workload::Fnf => "fnf",
            Workload::Channel => "channel",
            Workload::Streams1k => "streams1k",
            Workload::Conns100 => "conns100",
        }
    }

    /// Request-responses in flight per connection, for the request-response workloads.
    pub fn in_flight(self) -> Option<usize> {
        match self {
            Workload::Rr1 | Workload::Conns100 => Some(1),
            Workload::Rr64 => Some(64),
            Workload::Rr1024 => Some(1024),
            _ => None,
        }
    }

    /// Workloads whose length is a number of items rather than a duration.
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Workload::Stream | Workload::StreamRn | Workload::Streams1k
        )
    }

    /// Concurrent streams of the stream workloads.
    pub fn streams(self) -> u64 {
        if self == Workload::Streams1k { 1000 } else { 1 }
    }

    /// Connections used.
    pub fn connections(self) -> usize {
        if self == Workload::Conns100 { 100 } else { 1 }
    }
}

/// Parses `16`, `1k`, `64k`, `1m` (binary multiples) into bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("kib").or_else(|| t.strip_suffix('k')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("mib").or_else(|| t.strip_suffix('m')) {
        (n, 1024 * 1024)
    } else {
        (t.as_str(), 1)
    };
    num.parse::<usize>()
        .map(|n| n * mult)
        .map_err(|e| format!("bad size {s:?}: {e}"))
}

/// The parameters shared by `server` and `client`: both sides must get the same ones.
#[derive(Clone, Debug, clap::Args, Serialize)]
pub struct Params {
    /// Implementation.
    #[arg(long = "impl", value_enum)]
    pub imp: Impl,
    /// Transport.
    #[arg(long, value_enum, default_value = "tcp")]
    pub transport: Transport,
    /// Workload.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Payload data size in bytes (suffixes k, m).
    #[arg(long, default_value = "16", value_parser = parse_size)]
    pub size: usize,
    /// Fragment frames larger than this (both sides).
    #[arg(long, value_parser = parse_size)]
    pub mtu: Option<usize>,
    /// Address the server listens on and the client connects to.
    #[arg(long, default_value = "127.0.0.1:7900")]
    pub addr: SocketAddr,
    /// Seconds the timed workloads (rr*, fnf, channel, conns100) send for.
    #[arg(long, default_value_t = 1.0)]
    pub duration: f64,
    /// Items of the stream workloads (in total, over all streams).
    #[arg(long, default_value_t = 1_000_000)]
    pub items: u64,
    /// The client gives up (and reports what it got, marked truncated) after this many seconds.
    #[arg(long, default_value_t = 20.0)]
    pub max_secs: f64,
}

impl Params {
    pub fn deadline(&self, start: Instant) -> Instant {
        start + Duration::from_secs_f64(self.duration)
    }

    pub fn give_up(&self, start: Instant) -> Instant {
        start + Duration::from_secs_f64(self.max_secs)
    }

    /// Items per stream.
    pub fn items_per_stream(&self) -> u64 {
        (self.items / self.workload.streams()).max(1)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/rsocket", self.addr)
    }
}

/// What a client measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientOut {
    /// Messages delivered (responses, stream items, fire-and-forgets counted by the server).
    pub msgs: u64,
    /// Wall-clock seconds from the first request to the last delivery.
    pub secs: f64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// The run hit `max_secs` before finishing.
    pub truncated: bool,
    /// CPU time of the client process (all threads), microseconds.
    pub cpu_us: u64,
    /// Peak resident set of the client process, KiB.
    pub rss_peak_kib: u64,
    pub note: Option<String>,
}

/// What a server reports when told to stop.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerOut {
    pub cpu_us: u64,
    pub rss_peak_kib: u64,
}

/// CPU time (all live threads, from the scheduler's accounting) and peak RSS of this process.
pub fn self_usage() -> (u64, u64) {
    let mut cpu_ns = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                cpu_ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    (cpu_ns / 1000, rss)
}

/// Latency recorder (nanoseconds, 2 significant digits: 1 % resolution in 30 KiB; 3 digits
/// took 250 KiB, which `conns100` paid 100 times in every implementation's peak RSS).
pub struct Latency(hdrhistogram::Histogram<u64>);

impl Latency {
    pub fn new() -> Self {
        Latency(
            hdrhistogram::Histogram::new_with_bounds(1, 600_000_000_000, 2)
                .expect("valid histogram bounds"),
        )
    }

    pub fn record(&mut self, d: Duration) {
        self.0
            .saturating_record(d.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    pub fn merge(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    /// p50 and p99 in microseconds, when anything was recorded.
    pub fn percentiles(&self) -> (Option<f64>, Option<f64>) {
        if self.0.is_empty() {
            return (None, None);
        }
        let q = |q: f64| Some(self.0.value_at_quantile(q) as f64 / 1000.0);
        (q(0.5), q(0.99))
    }
}

/// Decimal count carried in a payload (stream length requests, fnf count answers).
pub fn parse_count(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
