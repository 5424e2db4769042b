//! `rsocket-bench report FILE`: medians, ratios and goals.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::suite::Record;

#[derive(Clone, Debug, clap::Args)]
pub struct ReportArgs {
    /// A JSONL file written by `suite`.
    pub file: PathBuf,
    /// Goals to check (default: `goals.toml` next to this package's manifest).
    #[arg(long)]
    pub goals: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Goals {
    #[serde(default)]
    goal: Vec<Goal>,
    #[serde(default)]
    rss: Option<RssGoal>,
}

#[derive(Debug, Deserialize)]
struct Goal {
    workload: String,
    #[serde(default = "tcp")]
    transport: String,
    #[serde(default = "sixteen")]
    size: usize,
    vs_raw: Option<f64>,
    vs_rsocket_rust: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RssGoal {
    /// Peak RSS of either of our processes, KiB.
    max_kib: u64,
    /// Applies to the workloads of this payload size.
    size: usize,
}

fn tcp() -> String {
    "tcp".into()
}

fn sixteen() -> usize {
    16
}

type Key = (String, String, usize, Option<usize>);

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per-implementation summary of one cell.
#[derive(Default)]
struct Summary {
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu: Vec<f64>,
    rss_cli: u64,
    rss_srv: u64,
    truncated: bool,
    by_rep: BTreeMap<u32, f64>,
}

impl Summary {
    fn median_rate(&self) -> f64 {
        median(&mut self.rate.clone())
    }
}

fn fmt_rate(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_size(size: usize, mtu: Option<usize>) -> String {
    let s = |b: usize| {
        if b >= 1 << 20 && b % (1 << 20) == 0 {
            format!("{}MiB", b >> 20)
        } else if b >= 1024 && b % 1024 == 0 {
            format!("{}KiB", b >> 10)
        } else {
            format!("{b}B")
        }
    };
    match mtu {
        Some(m) => format!("{} (mtu {})", s(size), s(m)),
        None => s(size),
    }
}

/// Median ratio a/b of medians, and the min–max of the per-repetition ratios.
fn ratio(a: &Summary, b: &Summary) -> Option<(f64, f64, f64)> {
    let (ma, mb) = (a.median_rate(), b.median_rate());
    if a.rate.is_empty() || b.rate.is_empty() || mb <= 0.0 {
        return None;
    }
    let per_rep: Vec<f64> = a
        .by_rep
        .iter()
        .filter_map(|(rep, ra)| b.by_rep.get(rep).filter(|rb| **rb > 0.0).map(|rb| ra / rb))
        .collect();
    let lo = per_rep.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per_rep.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((ma / mb, lo, hi))
}

fn fmt_ratio(r: Option<(f64, f64, f64)>) -> String {
    match r {
        None => "–".into(),
        Some((m, lo, hi)) if lo.is_finite() && hi.is_finite() && lo != hi => {
            format!("{m:.2} ({lo:.2}–{hi:.2})")
        }
        Some((m, _, _)) => format!("{m:.2}"),
    }
}

/// What a ÷rsocket-rust goal of `want` asks of us in this run, given how far raw TCP itself
/// is ahead of rsocket-rust (`raw_vs_peer`): the share of raw's rate it takes, or that raw
/// itself does not reach it (the peer's speed moves with the machine, raw is the limit).
fn vs_peer_context(raw_vs_peer: Option<f64>, want: f64) -> String {
    match raw_vs_peer {
        None => String::new(),
        Some(r) if r < want => format!("raw is {r:.2}× rsocket-rust: beyond raw TCP here"),
        Some(r) => format!("= {:.2} of raw (raw is {r:.2}× rsocket-rust)", want / r),
    }
}

pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let mut cells: BTreeMap<Key, BTreeMap<String, Summary>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(line)
            .with_context(|| format!("line {} is not a record", i + 1))?;
        if let Some(e) = &r.error {
            errors.push(format!(
                "{} {} {} {} rep {}: {e}",
                r.imp, r.transport, r.workload, r.size, r.rep
            ));
            continue;
        }
        let key = (r.transport.clone(), r.workload.clone(), r.size, r.mtu);
        let s = cells
            .entry(key)
            .or_default()
            .entry(r.imp.clone())
            .or_default();
        s.rate.push(r.msgs_per_s);
        s.by_rep.insert(r.rep, r.msgs_per_s);
        if let Some(v) = r.p50_us {
            s.p50.push(v);
        }
        if let Some(v) = r.p99_us {
            s.p99.push(v);
        }
        if let Some(v) = r.cpu_us_per_msg {
            s.cpu.push(v);
        }
        s.rss_cli = s.rss_cli.max(r.cli_rss_peak_kib);
        s.rss_srv = s.rss_srv.max(r.srv_rss_peak_kib);
        s.truncated |= r.truncated;
    }

    // The report is built in memory and written once: a reader that stops early (`| head`)
    // must not make printing panic.
    let mut o = String::new();
    macro_rules! out {
        ($($t:tt)*) => {{
            use std::fmt::Write as _;
            let _ = writeln!(o, $($t)*);
        }};
    }
    out!(
        "| transport | workload | size | raw msgs/s | ours msgs/s (min–max) | rsocket-rust msgs/s | ours÷raw | ours÷rsocket-rust | ours p50 / p99 µs | rsocket-rust p50 / p99 µs | CPU µs/msg ours / rsocket-rust | peak RSS MiB cli/srv ours | rsocket-rust |"
    );
    out!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let empty = Summary::default();
    for ((t, w, size, mtu), impls) in &cells {
        let raw = impls.get("raw").unwrap_or(&empty);
        let ours = impls.get("ours").unwrap_or(&empty);
        let theirs = impls.get("rsocket-rust").unwrap_or(&empty);
        let range = |s: &Summary| {
            if s.rate.is_empty() {
                return "–".to_string();
            }
            let lo = s.rate.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = s.rate.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let m = fmt_rate(s.median_rate());
            let t = if s.truncated { " (truncated)" } else { "" };
            if s.rate.len() > 1 {
                format!("{m} ({}–{}){t}", fmt_rate(lo), fmt_rate(hi))
            } else {
                format!("{m}{t}")
            }
        };
        let lat = |s: &Summary| {
            if s.p50.is_empty() {
                "–".to_string()
            } else {
                format!(
                    "{:.1} / {:.1}",
                    median(&mut s.p50.clone()),
                    median(&mut s.p99.clone())
                )
            }
        };
        let cpu = |s: &Summary| {
            if s.cpu.is_empty() {
                "–".to_string()
            } else {
                format!("{:.2}", median(&mut s.cpu.clone()))
            }
        };
        let rss = |s: &Summary| {
            if s.rate.is_empty() {
                "–".to_string()
            } else {
                format!(
                    "{:.1} / {:.1}",
                    s.rss_cli as f64 / 1024.0,
                    s.rss_srv as f64 / 1024.0
                )
            }
        };
        out!(
            "| {t} | {w} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |",
            fmt_size(*size, *mtu),
            range(raw),
            range(ours),
            range(theirs),
            fmt_ratio(ratio(ours, raw)),
            fmt_ratio(ratio(ours, theirs)),
            lat(ours),
            lat(theirs),
            cpu(ours),
            cpu(theirs),
            rss(ours),
            rss(theirs),
        );
    }
    if !errors.is_empty() {
        out!("\nFailed measurements:\n");
        for e in &errors {
            out!("- {e}");
        }
    }

    let goals_path = args
        .goals
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goals.toml"));
    let goals: Goals = toml::from_str(
        &std::fs::read_to_string(&goals_path)
            .with_context(|| format!("reading {}", goals_path.display()))?,
    )
    .with_context(|| format!("parsing {}", goals_path.display()))?;
    out!("\n## Goals ({})\n", goals_path.display());
    out!("| goal | measured | target | | same run |\n|---|---|---|---|---|");
    let mut failed = 0;
    let mut check =
        |name: String, got: Option<f64>, want: f64, at_least: bool, context: String| match got {
            None => out!("| {name} | no data | {want} | – | {context} |"),
            Some(g) => {
                let ok = if at_least { g >= want } else { g <= want };
                if !ok {
                    failed += 1;
                }
                let op = if at_least { "≥" } else { "≤" };
                let verdict = if ok { "pass" } else { "**FAIL**" };
                out!("| {name} | {g:.2} | {op} {want} | {verdict} | {context} |");
            }
        };
    for g in &goals.goal {
        let key = (g.transport.clone(), g.workload.clone(), g.size, None);
        let impls = cells.get(&key);
        let get = |name: &str| impls.and_then(|m| m.get(name));
        let r_of = |a: &str, b: &str| {
            get(a)
                .zip(get(b))
                .and_then(|(a, b)| ratio(a, b))
                .map(|x| x.0)
        };
        let r = |other: &str| r_of("ours", other);
        if let Some(want) = g.vs_raw {
            check(
                format!("{} {} {} B ours÷raw", g.transport, g.workload, g.size),
                r("raw"),
                want,
                true,
                String::new(),
            );
        }
        if let Some(want) = g.vs_rsocket_rust {
            check(
                format!(
                    "{} {} {} B ours÷rsocket-rust",
                    g.transport, g.workload, g.size
                ),
                r("rsocket-rust"),
                want,
                true,
                vs_peer_context(r_of("raw", "rsocket-rust"), want),
            );
        }
    }
    if let Some(rss) = &goals.rss {
        let peak = cells
            .iter()
            .filter(|(k, _)| k.2 == rss.size)
            .filter_map(|(_, m)| m.get("ours"))
            .filter(|s| !s.rate.is_empty())
            .map(|s| s.rss_cli.max(s.rss_srv))
            .max();
        check(
            format!("ours peak RSS (KiB), every {} B workload", rss.size),
            peak.map(|p| p as f64),
            rss.max_kib as f64,
            false,
            String::new(),
        );
    }
    if failed > 0 {
        out!("\n{failed} goal(s) failed");
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        // A closed pipe is the reader's choice, not an error worth a panic.
        let _ = stdout.write_all(o.as_bytes()).and_then(|()| stdout.flush());
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::vs_peer_context;

    #[test]
    fn a_peer_goal_is_put_in_terms_of_raw() {
        assert_eq!(vs_peer_context(None, 10.0), "");
        assert_eq!(
            vs_peer_context(Some(20.0), 10.0),
            "= 0.50 of raw (raw is 20.00× rsocket-rust)"
        );
        assert_eq!(
            vs_peer_context(Some(1.2), 1.3),
            "raw is 1.20× rsocket-rust: beyond raw TCP here"
        );
    }
}
