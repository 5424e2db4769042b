//! The protocol's full cost without system calls: client and server over the in-memory
//! transport (`memory_pair`), on one current-thread runtime.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use rsocket::transport::memory_pair;
use rsocket::{Client, Payload, RSocket, RequestHandler, Server};

fn pair(rt: &tokio::runtime::Runtime) -> RSocket {
    rt.block_on(async {
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
    })
}

fn memory(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rs = pair(&rt);
    let p = Payload::from(Bytes::from(vec![b'x'; 16]));
    let mut g = c.benchmark_group("memory");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rr1", |b| {
        b.iter(|| rt.block_on(rs.request_response(p.clone())).expect("answer"))
    });
    g.bench_function("rr64", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                let n = futures::stream::iter(0..iters)
                    .map(|_| rs.request_response(p.clone()))
                    .buffer_unordered(64)
                    .count()
                    .await;
                assert_eq!(n as u64, iters);
                t.elapsed()
            })
        })
    });
    g.bench_function("stream", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                let n = rs
                    .request_stream(p.clone())
                    .take(iters as usize)
                    .count()
                    .await;
                assert_eq!(n as u64, iters);
                t.elapsed()
            })
        })
    });
    g.bench_function("fnf", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    rs.fire_and_forget(p.clone()).await.expect("sent");
                }
                // Count the time for them to be processed as well.
                rs.request_response(p.clone()).await.expect("answer");
                t.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = memory
}
criterion_main!(benches);
