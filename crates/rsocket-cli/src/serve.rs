//! `rsocket serve`: RSocket over TCP and WebSocket plus the WAMP router, in one process.
//!
//! With no arguments it listens on
//! * `127.0.0.1:7878`: RSocket over TCP;
//! * `ws://127.0.0.1:7879/rsocket`: RSocket over WebSocket;
//! * `ws://127.0.0.1:8080/ws`: WAMP over WebSocket (`wamp.2.json`, `wamp.2.msgpack`,
//!   `wamp.2.cbor`), realm `realm1`;
//! * `127.0.0.1:8081`: WAMP RawSocket, realm `realm1`;
//!
//! and serves the [`demo`](crate::demo) service until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rsocket::lease::FixedLease;
use rsocket::{Error, RSocket, ResumeConfig, Server, SetupInfo};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::demo::{Counters, Demo};

/// A listen address, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    /// Listen here.
    On(SocketAddr),
    /// Disabled.
    Off,
}

impl std::str::FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        s.parse()
            .map(Listen::On)
            .map_err(|_| format!("expected host:port (such as 127.0.0.1:7878) or 'off', got {s:?}"))
    }
}

/// Options of `rsocket serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// RSocket over TCP: address, or `off`.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub tcp: Listen,
    /// RSocket over WebSocket (path /rsocket): address, or `off`.
    #[arg(long, default_value = "127.0.0.1:7879")]
    pub ws: Listen,
    /// WAMP over WebSocket (path /ws): address, or `off`.
    #[arg(long = "wamp-ws", default_value = "127.0.0.1:8080")]
    pub wamp_ws: Listen,
    /// WAMP RawSocket: address, or `off`.
    #[arg(long = "wamp-rawsocket", default_value = "127.0.0.1:8081")]
    pub wamp_rawsocket: Listen,
    /// Fragment outbound RSocket frames larger than this many bytes (at least 64).
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<usize>,
    /// Accept clients that ask for lease, and grant them leases.
    #[arg(long)]
    pub lease: bool,
    /// With --lease: requests granted per lease (at least 1: the spec requires N > 0).
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=0x7FFF_FFFF))]
    pub lease_requests: u32,
    /// With --lease: lease time-to-live in milliseconds (renewed at half of it).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub lease_ttl_ms: u64,
    /// Accept clients that ask for resumption: their sessions survive a lost transport for
    /// 60 s and continue when they reconnect with RESUME.
    #[arg(long)]
    pub resume: bool,
    /// RSocket connections served at once (TCP and WebSocket together);
    /// more are closed as soon as they are accepted.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// RSocket connections served at once from one IP address; more from it are closed as
    /// soon as they are accepted. Behind a proxy, raise it to --max-connections.
    #[arg(long, value_name = "N", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: u32,
    /// Log every decoded frame.
    #[arg(long)]
    pub debug: bool,
}

fn init_logging(debug: bool) {
    let default = if debug {
        "info,rsocket=debug,rsocket::frames=trace,wamp=debug"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn bind(what: &str, listen: Listen) -> Result<Option<TcpListener>, String> {
    match listen {
        Listen::Off => Ok(None),
        Listen::On(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| format!("cannot listen for {what} on {addr}: {e}")),
    }
}

/// The RSocket server serving the demo service with the given options.
pub fn rsocket_server(args: &ServeArgs) -> Server {
    let counters = Arc::new(Counters::default());
    let mut builder = Server::builder().acceptor(move |setup: SetupInfo, _requester: RSocket| {
        let checked = check_mime("data", &setup.data_mime_type)
            .and_then(|()| check_mime("metadata", &setup.metadata_mime_type))
            .map(|()| Demo::new(&setup.metadata_mime_type, counters.clone()));
        async move { checked }
    });
    if args.lease {
        // A lease of N requests valid for the TTL, renewed at half of it (the fixed policy
        // grants each interval a lease valid for two intervals).
        let ttl = Duration::from_millis(args.lease_ttl_ms.max(2));
        builder = builder.lease_policy(FixedLease::new(args.lease_requests, ttl / 2));
    }
    if args.resume {
        builder = builder.resume(ResumeConfig::default());
    }
    if let Some(mtu) = args.mtu {
        builder = builder.mtu(mtu);
    }
    builder
        .max_connections(args.max_connections as usize)
        .max_connections_per_ip(args.max_connections_per_ip as usize)
        .build()
}

/// Refuses a SETUP MIME type that is not `type/subtype` (RFC 6838 names, optional
/// `;parameters`) with UNSUPPORTED_SETUP: the demo service takes any data, but not a type it
/// cannot even name.
fn check_mime(which: &str, mime: &str) -> Result<(), Error> {
    fn name(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.len() <= 127
            && chars.all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    }
    let essence = mime.split(';').next().unwrap_or_default().trim();
    let valid = essence
        .split_once('/')
        .is_some_and(|(ty, sub)| name(ty) && name(sub));
    if valid {
        Ok(())
    } else {
        Err(Error::from_code(
            rsocket::proto::ErrorCode::UNSUPPORTED_SETUP,
            format!("{which} MIME type {mime:?} is not a type/subtype"),
        ))
    }
}

/// Runs `rsocket serve` until Ctrl-C.
pub async fn run(args: ServeArgs) -> ExitCode {
    init_logging(args.debug);
    if args.resume {
        tracing::info!("session resumption on: sessions outlive their transport for 60 s");
    }
    let listeners = async {
        Ok::<_, String>((
            bind("RSocket/TCP", args.tcp).await?,
            bind("RSocket/WebSocket", args.ws).await?,
            bind("WAMP/WebSocket", args.wamp_ws).await?,
            bind("WAMP/RawSocket", args.wamp_rawsocket).await?,
        ))
    };
    let (tcp, ws, wamp_ws, wamp_raw) = match listeners.await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rsocket serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = rsocket_server(&args);
    let router = wamp::Router::new(wamp::RouterConfig::default());
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(l) = tcp {
        tracing::info!(
            "RSocket over TCP on tcp://{}",
            l.local_addr().map_or(String::new(), |a| a.to_string())
        );
        let s = server.clone();
        tasks.spawn(async move { s.serve_tcp(l).await });
    }
    if let Some(l) = ws {
        tracing::info!(
            "RSocket over WebSocket on ws://{}/rsocket",
            l.local_addr().map_or(String::new(), |a| a.to_string())
        );
        let s = server.clone();
        tasks.spawn(async move { s.serve_ws(l, "/rsocket").await });
    }
    if let Some(l) = wamp_ws {
        tracing::info!(
            "WAMP over WebSocket on ws://{}/ws (realm realm1)",
            l.local_addr().map_or(String::new(), |a| a.to_string())
        );
        let r = router.clone();
        tasks.spawn(async move { r.serve_websocket(l, "/ws").await });
    }
    if let Some(l) = wamp_raw {
        tracing::info!(
            "WAMP RawSocket on tcp://{} (realm realm1)",
            l.local_addr().map_or(String::new(), |a| a.to_string())
        );
        let r = router.clone();
        tasks.spawn(async move { r.serve_rawsocket(l).await });
    }
    if tasks.is_empty() {
        eprintln!("rsocket serve: every listener is off; nothing to serve");
        return ExitCode::FAILURE;
    }
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            }
            tracing::info!("shutting down");
        }
        Some(r) = tasks.join_next() => {
            if let Ok(Err(e)) = r {
                eprintln!("rsocket serve: a listener failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(12), server.shutdown()).await;
    tasks.abort_all();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::check_mime;

    #[test]
    fn mime_types_must_be_type_slash_subtype() {
        for ok in [
            "application/json",
            "message/x.rsocket.composite-metadata.v0",
            "application/vnd.api+json; charset=utf-8",
            "text/plain",
        ] {
            assert!(check_mime("data", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "json",
            "/json",
            "application/",
            "a b/c",
            "text/plain/x",
            "é/x",
        ] {
            let e = check_mime("data", bad).unwrap_err();
            assert_eq!(
                e.code(),
                Some(rsocket::proto::ErrorCode::UNSUPPORTED_SETUP),
                "{bad}"
            );
        }
    }
}
