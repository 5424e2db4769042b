//! `rsocket-bench`: our RSocket runtime against rsocket-rust and raw TCP/WebSocket.
//!
//! ```text
//!   suite ──spawns, pins, times──► server --impl X ...   (one process)
//!     │                            client --impl X ...   (another; prints one JSON line)
//!     └──► JSONL ──► report FILE ──► Markdown table, goals from bench/goals.toml
//! ```
//!
//! See `bench/README.md`.

mod client;
mod ours;
mod raw;
mod report;
mod rsrust;
mod spec;
mod suite;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::spec::{Impl, Params};

#[derive(Parser)]
#[command(name = "rsocket-bench", about = "RSocket benchmark harness", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a benchmark server (prints `ready` once listening).
    Server {
        #[command(flatten)]
        params: Params,
        /// Exit at end of standard input, printing this process's CPU time and peak RSS as
        /// JSON (how `suite` stops servers).
        #[arg(long)]
        until_stdin_eof: bool,
    },
    /// Runs one measurement against a running server and prints one JSON line.
    Client {
        #[command(flatten)]
        params: Params,
    },
    /// Runs a matrix of measurements, each with its own server and client processes.
    Suite(suite::SuiteArgs),
    /// Prints a Markdown table of a suite's JSONL and checks the goals.
    Report(report::ReportArgs),
}

/// Tells the parent the server is listening.
pub(crate) fn ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Server {
            params,
            until_stdin_eof,
        } => run_server(&params, until_stdin_eof).map(|()| ExitCode::SUCCESS),
        Cmd::Client { params } => run_client(&params).map(|()| ExitCode::SUCCESS),
        Cmd::Suite(args) => suite::run(&args).map(|()| ExitCode::SUCCESS),
        Cmd::Report(args) => report::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rsocket-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(p: &Params, until_stdin_eof: bool) -> Result<()> {
    if until_stdin_eof {
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            let (cpu_us, rss_peak_kib) = spec::self_usage();
            let line = serde_json::to_string(&spec::ServerOut {
                cpu_us,
                rss_peak_kib,
            })
            .unwrap_or_default();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            std::process::exit(0);
        });
    }
    let rt = runtime()?;
    rt.block_on(async {
        match p.imp {
            Impl::Ours => ours::serve(p).await,
            Impl::RsocketRust => rsrust::serve(p).await,
            Impl::Raw => raw::serve(p).await,
        }
    })
}

fn run_client(p: &Params) -> Result<()> {
    let rt = runtime()?;
    // The workload runs in a spawned task, as application code usually does: waking the
    // runtime's `block_on` future costs every implementation an extra `epoll_wait`.
    let params = p.clone();
    let task = rt.spawn(async move {
        let p = &params;
        match p.imp {
            Impl::Ours => client::run::<ours::Ours>(p).await,
            Impl::RsocketRust => client::run::<rsrust::Theirs>(p).await,
            Impl::Raw => raw::client(p).await,
        }
    });
    let mut out = rt.block_on(task)??;
    (out.cpu_us, out.rss_peak_kib) = spec::self_usage();
    // Leave the runtime (and its connections) behind: the measurement is done.
    std::mem::forget(rt);
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
