//! Micro-benchmarks of the sans-IO layer: frame encode and decode per type, composite
//! metadata parsing. Allocations per operation: `cargo bench -p rsocket-bench --bench allocs`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rsocket_messaging::metadata::CompositeMetadata;
use rsocket_proto::Frame;

mod common;

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in common::frames(16) {
        let mut buf = BytesMut::with_capacity(1024);
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| {
                buf.clear();
                frame.encode(&mut buf).expect("encodable");
                std::hint::black_box(buf.len())
            })
        });
        let mut enc = BytesMut::new();
        frame.encode(&mut enc).expect("encodable");
        let bytes = enc.freeze();
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| Frame::decode(std::hint::black_box(bytes.clone())).expect("decodable"))
        });
    }
    g.finish();
}

fn composite(c: &mut Criterion) {
    let meta = common::composite();
    let mut g = c.benchmark_group("composite_metadata");
    g.throughput(Throughput::Bytes(meta.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| CompositeMetadata::decode(std::hint::black_box(&meta)).expect("valid"))
    });
    g.finish();
}

criterion_group!(benches, frames, composite);
criterion_main!(benches);
