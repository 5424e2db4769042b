//! Rough in-process throughput check over TCP loopback (the real numbers come from the
//! `rsocket-bench` harness, which runs client and server as separate processes).
//!
//! Run: `cargo run --release -p rsocket --example perf`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rsocket::{Client, Payload, RequestHandler, Server};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handler = RequestHandler::new()
        .request_response(|p: Payload| async move { Ok(p) })
        .fire_and_forget(|_p| async {})
        .request_stream(|_p| {
            futures::stream::iter(0..1_000_000u32)
                .map(|_| Ok(Payload::from(&b"0123456789abcdef"[..])))
        });
    let server = Server::builder().responder(handler).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { server.serve_tcp(listener).await });
    let rs = Client::builder().connect(&format!("tcp://{addr}")).await?;
    let p = Payload::from(&b"0123456789abcdef"[..]);

    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_secs(2) {
        rs.request_response(p.clone()).await?;
        n += 1;
    }
    println!(
        "rr1: {:.0} round trips/s",
        n as f64 / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let total = 200_000u64;
    let results: Vec<_> = futures::stream::iter(0..total)
        .map(|_| rs.request_response(p.clone()))
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));
    println!(
        "rr64: {:.0} msgs/s",
        total as f64 / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let count = rs.request_stream(p.clone()).count().await;
    println!(
        "stream: {:.0} msgs/s ({count} items)",
        count as f64 / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    for _ in 0..1_000_000u32 {
        rs.fire_and_forget(p.clone()).await?;
    }
    rs.request_response(p.clone()).await?;
    println!("fnf: {:.0} msgs/s (sent)", 1e6 / t.elapsed().as_secs_f64());
    Ok(())
}
