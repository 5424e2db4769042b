//! Heap allocations per operation (counted with dhat's allocator; no timing here):
//! frame encode/decode per type, composite metadata parsing, and per message over the
//! in-memory transport (client and server together).
//!
//! Run: `cargo bench -p rsocket-bench --bench allocs`.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use rsocket::transport::memory_pair;
use rsocket::{Client, Payload, RequestHandler, Server};
use rsocket_messaging::metadata::CompositeMetadata;
use rsocket_proto::Frame;

mod common;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Allocations per call of `f`, over `n` calls.
fn per_op(n: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm up buffers
    let before = blocks();
    for _ in 0..n {
        f();
    }
    (blocks() - before) as f64 / n as f64
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    println!("| operation | allocations per op |\n|---|---|");
    for (name, frame) in common::frames(16) {
        let mut buf = BytesMut::with_capacity(1024);
        let enc = per_op(10_000, || {
            buf.clear();
            frame.encode(&mut buf).expect("encodable");
        });
        let mut b = BytesMut::new();
        frame.encode(&mut b).expect("encodable");
        let bytes = b.freeze();
        let dec = per_op(10_000, || {
            std::hint::black_box(Frame::decode(bytes.clone()).expect("decodable"));
        });
        println!("| encode {name} | {enc:.2} |\n| decode {name} | {dec:.2} |");
    }
    let meta = common::composite();
    let comp = per_op(10_000, || {
        std::hint::black_box(CompositeMetadata::decode(&meta).expect("valid"));
    });
    println!("| composite metadata decode (2 entries) | {comp:.2} |");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rs = rt.block_on(async {
        let item = Payload::from(Bytes::from(vec![b'y'; 16]));
        let handler = RequestHandler::new()
            .request_response(|p: Payload| async move { Ok(p) })
            .fire_and_forget(|_p| async {})
            .request_stream(move |_p| {
                let item = item.clone();
                futures::stream::repeat_with(move || Ok(item.clone()))
            });
        let server = Server::builder().responder(handler).build();
        let (c, s) = memory_pair(256 * 1024);
        tokio::spawn(server.serve_connection(s));
        Client::builder().connect_with(c)
    });
    let p = Payload::from(Bytes::from(vec![b'x'; 16]));
    let rr1 = per_op(10_000, || {
        rt.block_on(rs.request_response(p.clone())).expect("answer");
    });
    println!("| memory transport rr1 (per round trip) | {rr1:.2} |");
    let n = 100_000u64;
    let before = blocks();
    rt.block_on(async {
        let got = futures::stream::iter(0..n)
            .map(|_| rs.request_response(p.clone()))
            .buffer_unordered(64)
            .count()
            .await;
        assert_eq!(got as u64, n);
    });
    println!(
        "| memory transport rr64 (per request) | {:.2} |",
        (blocks() - before) as f64 / n as f64
    );
    let before = blocks();
    rt.block_on(async {
        let got = rs.request_stream(p.clone()).take(n as usize).count().await;
        assert_eq!(got as u64, n);
    });
    println!(
        "| memory transport stream (per item) | {:.2} |",
        (blocks() - before) as f64 / n as f64
    );
    let before = blocks();
    rt.block_on(async {
        for _ in 0..n {
            rs.fire_and_forget(p.clone()).await.expect("sent");
        }
        rs.request_response(p.clone()).await.expect("answer");
    });
    println!(
        "| memory transport fnf (per message) | {:.2} |",
        (blocks() - before) as f64 / n as f64
    );
}
