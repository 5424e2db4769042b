//! `rsocket-bench suite`: one server and one client process per cell, pinned, measured.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::spec::{ClientOut, Impl, ServerOut, Transport, Workload, parse_size};

/// Where the two processes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pin {
    /// Both on one CPU (`--cpu`): the least noisy on a small machine.
    Same,
    /// Server on CPU 0, client on CPU 1.
    Split,
    /// No pinning.
    None,
}

/// A payload size, optionally with fragmentation: `16`, `1k`, `64k`, `1m`, `1m/64k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeSpec {
    pub size: usize,
    pub mtu: Option<usize>,
}

fn parse_size_spec(s: &str) -> Result<SizeSpec, String> {
    match s.split_once('/') {
        Some((a, b)) => Ok(SizeSpec {
            size: parse_size(a)?,
            mtu: Some(parse_size(b)?),
        }),
        None => Ok(SizeSpec {
            size: parse_size(s)?,
            mtu: None,
        }),
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct SuiteArgs {
    /// Implementations, run in alternating order within each repetition.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "raw,ours,rsocket-rust"
    )]
    pub impls: Vec<Impl>,
    /// Transports.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "tcp")]
    pub transports: Vec<Transport>,
    /// Workloads.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rr1,rr64,rr1024,stream,stream-rn,fnf,channel,streams1k,conns100"
    )]
    pub workloads: Vec<Workload>,
    /// Payload sizes (`16`, `1k`, `64k`, `1m`; `1m/64k` fragments at a 64 KiB MTU).
    #[arg(long, value_delimiter = ',', value_parser = parse_size_spec, default_value = "16")]
    pub sizes: Vec<SizeSpec>,
    /// Repetitions of the whole matrix.
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Seconds per timed measurement.
    #[arg(long, default_value_t = 2.0)]
    pub duration: f64,
    /// A client gives up after this many seconds (its result is marked truncated).
    #[arg(long, default_value_t = 20.0)]
    pub max_secs: f64,
    /// Stream length; by default calibrated so the raw run lasts `duration`.
    #[arg(long)]
    pub stream_items: Option<u64>,
    /// Upper bound of a calibrated stream length (a peer that ignores request-n buffers it).
    #[arg(long, default_value_t = 10_000_000)]
    pub max_stream_items: u64,
    /// CPU placement of the two processes.
    #[arg(long, value_enum, default_value = "same")]
    pub pin: Pin,
    /// The CPU used by `--pin same` (default: the last one).
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Output file (JSON lines).
    #[arg(long, short, default_value = "bench-results.jsonl")]
    pub out: PathBuf,
    /// TCP, 16 B, rr1/rr64/stream/fnf, 1 repetition of 1 s (what CI may run).
    #[arg(long)]
    pub quick: bool,
}

/// One measurement as written to the JSONL file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Record {
    #[serde(rename = "impl")]
    pub imp: String,
    pub transport: String,
    pub workload: String,
    pub size: usize,
    #[serde(default)]
    pub mtu: Option<usize>,
    pub rep: u32,
    #[serde(default)]
    pub msgs: u64,
    #[serde(default)]
    pub secs: f64,
    #[serde(default)]
    pub msgs_per_s: f64,
    #[serde(default)]
    pub mb_per_s: f64,
    #[serde(default)]
    pub p50_us: Option<f64>,
    #[serde(default)]
    pub p99_us: Option<f64>,
    #[serde(default)]
    pub cpu_us_per_msg: Option<f64>,
    #[serde(default)]
    pub cli_cpu_us: u64,
    #[serde(default)]
    pub srv_cpu_us: u64,
    #[serde(default)]
    pub cli_rss_peak_kib: u64,
    #[serde(default)]
    pub srv_rss_peak_kib: u64,
    #[serde(default)]
    pub pin: String,
    #[serde(default)]
    pub items: Option<u64>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

struct Cell {
    imp: Impl,
    transport: Transport,
    workload: Workload,
    size: SizeSpec,
    items: u64,
}

pub fn run(args: &SuiteArgs) -> Result<()> {
    let mut args = args.clone();
    if args.quick {
        args.transports = vec![Transport::Tcp];
        args.sizes = vec![SizeSpec {
            size: 16,
            mtu: None,
        }];
        args.workloads = vec![
            Workload::Rr1,
            Workload::Rr64,
            Workload::Stream,
            Workload::Fnf,
        ];
        args.reps = 1;
        args.duration = 1.0;
        args.max_secs = args.max_secs.min(8.0);
    }
    if args.pin != Pin::None && Command::new("taskset").arg("-V").output().is_err() {
        bail!("taskset (util-linux) not found; use --pin none");
    }
    let exe = std::env::current_exe()?;
    let mut out = File::create(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let started = Instant::now();

    // Stream lengths: calibrated once per (transport, size, workload) on raw.
    let mut lengths = Vec::new();
    for &t in &args.transports {
        for &s in &args.sizes {
            for &w in args.workloads.iter().filter(|w| w.is_stream()) {
                let items = match args.stream_items {
                    Some(n) => n,
                    None => calibrate(&exe, &args, t, s, w)?,
                };
                eprintln!("{} {} {}: {items} items", t.name(), w.name(), size_label(s));
                lengths.push(((t, s, w), items));
            }
        }
    }
    let items_of = |t, s, w| {
        lengths
            .iter()
            .find(|(k, _)| *k == (t, s, w))
            .map_or(0, |(_, n)| *n)
    };

    for rep in 0..args.reps {
        for &t in &args.transports {
            for &s in &args.sizes {
                for &w in &args.workloads {
                    // Alternate the order of implementations from one repetition to the next.
                    let k = args.impls.len();
                    for i in 0..k {
                        let imp = args.impls[(i + rep as usize) % k];
                        let cell = Cell {
                            imp,
                            transport: t,
                            workload: w,
                            size: s,
                            items: items_of(t, s, w),
                        };
                        let rec = measure(&exe, &args, &cell, rep);
                        eprintln!("{}", summary(&rec));
                        writeln!(out, "{}", serde_json::to_string(&rec)?)?;
                        out.flush()?;
                    }
                }
            }
        }
    }
    eprintln!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn size_label(s: SizeSpec) -> String {
    match s.mtu {
        Some(m) => format!("{}/{}", s.size, m),
        None => s.size.to_string(),
    }
}

fn summary(r: &Record) -> String {
    if let Some(e) = &r.error {
        return format!(
            "{:<12} {:<3} {:<9} {:>8} rep {}: ERROR {e}",
            r.imp, r.transport, r.workload, r.size, r.rep
        );
    }
    format!(
        "{:<12} {:<3} {:<9} {:>8} rep {}: {:>11.0} msgs/s {:>8.1} MB/s p50 {:>7} p99 {:>7} cpu {:>6.2} us/msg rss {}/{} KiB{}",
        r.imp,
        r.transport,
        r.workload,
        r.size,
        r.rep,
        r.msgs_per_s,
        r.mb_per_s,
        r.p50_us.map_or("-".into(), |v| format!("{v:.1}")),
        r.p99_us.map_or("-".into(), |v| format!("{v:.1}")),
        r.cpu_us_per_msg.unwrap_or(0.0),
        r.cli_rss_peak_kib,
        r.srv_rss_peak_kib,
        if r.truncated { " TRUNCATED" } else { "" }
    )
}

/// Runs raw once on a guessed length and scales it to last `duration`.
fn calibrate(
    exe: &PathBuf,
    args: &SuiteArgs,
    t: Transport,
    s: SizeSpec,
    w: Workload,
) -> Result<u64> {
    let cap = args
        .max_stream_items
        .min(((1u64 << 30) / s.size.max(1) as u64).max(1000));
    if !args.impls.contains(&Impl::Raw) {
        return Ok(cap.min(1_000_000));
    }
    let guess = cap.min(((256u64 << 20) / s.size.max(1) as u64).max(1000));
    let cell = Cell {
        imp: Impl::Raw,
        transport: t,
        workload: w,
        size: s,
        items: guess,
    };
    let rec = measure(exe, args, &cell, u32::MAX);
    if let Some(e) = rec.error {
        bail!("calibration of {} failed: {e}", w.name());
    }
    let want = (rec.msgs_per_s * args.duration * 1.1) as u64;
    let round = 1000 * w.streams();
    Ok((want.clamp(round, cap) / round) * round)
}

fn cpu_args(args: &SuiteArgs, server: bool) -> Vec<String> {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    match args.pin {
        Pin::None => Vec::new(),
        Pin::Same => {
            let cpu = args.cpu.unwrap_or(ncpu - 1);
            vec!["taskset".into(), "-c".into(), cpu.to_string()]
        }
        Pin::Split => {
            let cpu = if server { 0 } else { 1 % ncpu };
            vec!["taskset".into(), "-c".into(), cpu.to_string()]
        }
    }
}

fn command(prefix: &[String], exe: &PathBuf) -> Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

fn free_port() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

fn measure(exe: &PathBuf, args: &SuiteArgs, cell: &Cell, rep: u32) -> Record {
    let mut rec = Record {
        imp: cell.imp.name().into(),
        transport: cell.transport.name().into(),
        workload: cell.workload.name().into(),
        size: cell.size.size,
        mtu: cell.size.mtu,
        rep,
        pin: format!("{:?}", args.pin).to_lowercase(),
        items: cell.workload.is_stream().then_some(cell.items),
        ..Record::default()
    };
    if let Err(e) = measure_into(exe, args, cell, &mut rec) {
        rec.error = Some(format!("{e:#}"));
    }
    rec
}

fn measure_into(exe: &PathBuf, args: &SuiteArgs, cell: &Cell, rec: &mut Record) -> Result<()> {
    let addr = free_port()?;
    let mut common = vec![
        "--impl".to_string(),
        cell.imp.name().into(),
        "--transport".into(),
        cell.transport.name().into(),
        "--workload".into(),
        cell.workload.name().into(),
        "--size".into(),
        cell.size.size.to_string(),
        "--addr".into(),
        addr.to_string(),
        "--duration".into(),
        args.duration.to_string(),
        "--items".into(),
        cell.items.max(1).to_string(),
        "--max-secs".into(),
        args.max_secs.to_string(),
    ];
    if let Some(m) = cell.size.mtu {
        common.extend(["--mtu".into(), m.to_string()]);
    }
    let mut server = command(&cpu_args(args, true), exe)
        .arg("server")
        .args(&common)
        .arg("--until-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning the server")?;
    let result = run_client(exe, args, &common, &mut server);
    // Stop the server: end of stdin makes it print its usage and exit.
    drop(server.stdin.take());
    let srv = server_usage(&mut server);
    let cli = result?;
    let srv = srv?;
    rec.msgs = cli.msgs;
    rec.secs = cli.secs;
    rec.msgs_per_s = if cli.secs > 0.0 {
        cli.msgs as f64 / cli.secs
    } else {
        0.0
    };
    rec.mb_per_s = rec.msgs_per_s * cell.size.size as f64 / 1e6;
    rec.p50_us = cli.p50_us;
    rec.p99_us = cli.p99_us;
    rec.cli_cpu_us = cli.cpu_us;
    rec.srv_cpu_us = srv.cpu_us;
    rec.cpu_us_per_msg = (cli.msgs > 0).then(|| (cli.cpu_us + srv.cpu_us) as f64 / cli.msgs as f64);
    rec.cli_rss_peak_kib = cli.rss_peak_kib;
    rec.srv_rss_peak_kib = srv.rss_peak_kib;
    rec.truncated = cli.truncated;
    rec.note = cli.note;
    Ok(())
}

fn run_client(
    exe: &PathBuf,
    args: &SuiteArgs,
    common: &[String],
    server: &mut Child,
) -> Result<ClientOut> {
    let stdout = server.stdout.as_mut().ok_or_else(|| anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "ready" {
        bail!("server did not start (said {line:?})");
    }
    let mut client = command(&cpu_args(args, false), exe)
        .arg("client")
        .args(common)
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning the client")?;
    let limit = Instant::now() + Duration::from_secs_f64(args.max_secs + 30.0);
    loop {
        if client.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > limit {
            let _ = client.kill();
            let _ = client.wait();
            bail!("client hung; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = client.wait_with_output()?;
    if !output.status.success() {
        bail!("client failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("client printed {last:?}"))
}

fn server_usage(server: &mut Child) -> Result<ServerOut> {
    let limit = Instant::now() + Duration::from_secs(10);
    loop {
        if server.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > limit {
            let _ = server.kill();
            let _ = server.wait();
            bail!("server did not stop; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut rest = String::new();
    if let Some(mut s) = server.stdout.take() {
        std::io::Read::read_to_string(&mut s, &mut rest)?;
    }
    let last = rest
        .lines()
        .rfind(|l| l.starts_with('{'))
        .unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("server printed {rest:?}"))
}
