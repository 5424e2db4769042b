//! A standalone WAMP router for manual tests and interop runs.
//!
//! ```text
//! cargo run -p wamp --example wamp_router -- [--ws 127.0.0.1:8080] [--rawsocket 127.0.0.1:8081]
//! ```
//! Serves realm `realm1` at `ws://ADDR/ws` and RawSocket, anonymous access, plus the test
//! principals `joe` (ticket `secret1`) and `peter` (WAMP-CRA secret `secret2`).
//! Logs with `RUST_LOG` (e.g. `RUST_LOG=wamp=debug`).

use wamp::router::Credential;
use wamp::{Router, RouterConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut ws = "127.0.0.1:8080".to_owned();
    let mut raw = "127.0.0.1:8081".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ws" => ws = args.next().unwrap_or(ws),
            "--rawsocket" => raw = args.next().unwrap_or(raw),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let mut config = RouterConfig::default();
    config
        .auth
        .tickets
        .insert("joe".into(), Credential::new("secret1", "user"));
    config
        .auth
        .wampcra
        .insert("peter".into(), Credential::new("secret2", "user"));
    let router = Router::new(config);
    let ws_l = tokio::net::TcpListener::bind(&ws).await?;
    let raw_l = tokio::net::TcpListener::bind(&raw).await?;
    println!(
        "wamp router: ws://{}/ws rawsocket {}",
        ws_l.local_addr()?,
        raw_l.local_addr()?
    );
    tokio::select! {
        r = router.serve_websocket(ws_l, "/ws") => r,
        r = router.serve_rawsocket(raw_l) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
