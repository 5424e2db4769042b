//! Memory under load: a 10,000,000-item stream read slowly, and a fire-and-forget flood, over
//! TCP loopback in one process. Prints the RSS growth of the process (client and server
//! together); the runtime keeps both flat because every queue is bounded by request-n credit
//! and the 512 KiB send high-water mark.
//!
//! Run: `cargo run --release -p rsocket --example memory` (Linux: reads /proc/self/status).

use std::time::{Duration, Instant};

use futures::StreamExt;
use rsocket::{Client, Payload, RequestHandler, Server};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let items: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let handler = RequestHandler::new()
        .fire_and_forget(|_p| async {})
        .request_response(|p: Payload| async move { Ok(p) })
        .request_stream(move |_p| {
            futures::stream::iter(0..items).map(|_| Ok(Payload::from(&b"0123456789abcdef"[..])))
        });
    let server = Server::builder().responder(handler).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { server.serve_tcp(listener).await });
    let rs = Client::builder().connect(&format!("tcp://{addr}")).await?;
    rs.request_response(Payload::from("warm up")).await?;

    let base = rss_kib();
    let mut peak = base;
    let t = Instant::now();
    let mut stream = rs.request_stream(Payload::from("go"));
    let mut n = 0u64;
    while let Some(item) = stream.next().await {
        item?;
        n += 1;
        if n % 100_000 == 0 {
            peak = peak.max(rss_kib());
            // A slow reader: pause now and then so the producer has to wait.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    println!(
        "stream: {n} items in {:.1} s, RSS {base} KiB -> peak {peak} KiB (growth {} KiB)",
        t.elapsed().as_secs_f64(),
        peak - base
    );

    let base = rss_kib();
    let mut peak = base;
    let t = Instant::now();
    for i in 0..items {
        rs.fire_and_forget(Payload::from(&b"0123456789abcdef"[..]))
            .await?;
        if i % 100_000 == 0 {
            peak = peak.max(rss_kib());
        }
    }
    rs.request_response(Payload::from("sync")).await?;
    peak = peak.max(rss_kib());
    println!(
        "fnf flood: {items} in {:.1} s, RSS {base} KiB -> peak {peak} KiB (growth {} KiB)",
        t.elapsed().as_secs_f64(),
        peak - base
    );
    Ok(())
}
