//! The client side of every workload, written once over [`Requester`] for the two RSocket
//! implementations (the raw implementation has its own loops in `raw.rs`).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::spec::{ClientOut, Latency, Params, Workload, parse_count};

/// Producers yield to the runtime every this many fire-and-forgets, like a cooperative
/// application loop (otherwise a requester whose send never waits starves its own writer).
const FNF_YIELD: u64 = 256;

/// The requester side of an RSocket implementation.
pub(crate) trait Requester: Sized {
    async fn connect(p: &Params) -> Result<Self>;
    async fn rr(&self, data: Bytes) -> Result<Bytes>;
    async fn fnf(&self, data: Bytes) -> Result<()>;
    /// A request-stream whose consumer asks for `request_n` items at first and tops the
    /// credit up by half of that whenever half was consumed.
    fn stream(&self, data: Bytes, request_n: u32) -> BoxStream<'static, Result<Bytes>>;
    fn channel(&self, out: BoxStream<'static, Bytes>) -> BoxStream<'static, Result<Bytes>>;
}

/// Runs the workload of `p` and measures it.
pub(crate) async fn run<R: Requester>(p: &Params) -> Result<ClientOut> {
    let data = Bytes::from(vec![b'x'; p.size]);
    let mut out = ClientOut::default();
    match p.workload {
        Workload::Rr1 | Workload::Rr64 | Workload::Rr1024 => {
            let r = R::connect(p).await?;
            let n = p.workload.in_flight().unwrap_or(1);
            let start = Instant::now();
            let lat = Mutex::new(Latency::new());
            out.msgs = rr_loop(&r, &data, n, p.deadline(start), &lat).await?;
            out.secs = start.elapsed().as_secs_f64();
            (out.p50_us, out.p99_us) = lock(&lat).percentiles();
        }
        Workload::Conns100 => {
            let mut conns = Vec::new();
            for _ in 0..p.workload.connections() {
                conns.push(R::connect(p).await?);
            }
            let start = Instant::now();
            let deadline = p.deadline(start);
            // One histogram for all connections (one each would weigh on the peak RSS).
            let lat = Mutex::new(Latency::new());
            let runs = conns.iter().map(|r| rr_loop(r, &data, 1, deadline, &lat));
            let results = futures::future::join_all(runs).await;
            out.secs = start.elapsed().as_secs_f64();
            for n in results {
                out.msgs += n?;
            }
            (out.p50_us, out.p99_us) = lock(&lat).percentiles();
        }
        Workload::Stream | Workload::StreamRn | Workload::Streams1k => {
            let r = R::connect(p).await?;
            // As raw and rsocket-rust: `stream` and `streams1k` ask for everything
            // (2^31-1), `stream-rn` for 256 refilled at half.
            let request_n = if p.workload == Workload::StreamRn {
                256
            } else {
                0x7FFF_FFFF
            };
            let each = p.items_per_stream();
            let start = Instant::now();
            let give_up = p.give_up(start);
            let mut all = if p.workload.streams() == 1 {
                r.stream(Bytes::from(each.to_string()), request_n)
            } else {
                let streams = (0..p.workload.streams())
                    .map(|_| r.stream(Bytes::from(each.to_string()), request_n));
                futures::stream::select_all(streams).boxed()
            };
            while let Some(item) = all.next().await {
                item?;
                out.msgs += 1;
                if (out.msgs % 4096 == 0 || p.size >= 4096) && Instant::now() > give_up {
                    out.truncated = true;
                    break;
                }
            }
            out.secs = start.elapsed().as_secs_f64();
            let expected = each * p.workload.streams();
            if !out.truncated && out.msgs != expected {
                bail!("stream ended after {} of {expected} items", out.msgs);
            }
        }
        Workload::Fnf => {
            let r = R::connect(p).await?;
            // Warm the connection so the server has accepted it before the clock starts.
            r.rr(Bytes::from_static(b"count")).await?;
            let start = Instant::now();
            let deadline = p.deadline(start);
            let give_up = p.give_up(start);
            let mut sent = 0u64;
            // Check the clock every 256 messages, or every MiB of payload if that comes first.
            let batch = FNF_YIELD.min((1 << 20) / p.size.max(1) as u64).max(1);
            while Instant::now() < deadline {
                for _ in 0..batch {
                    r.fnf(data.clone()).await?;
                }
                sent += batch;
                tokio::task::yield_now().await;
            }
            loop {
                // A peer that never answers fails the cell instead of hanging it.
                let Ok(answer) =
                    tokio::time::timeout_at(give_up.into(), r.rr(Bytes::from_static(b"count")))
                        .await
                else {
                    bail!("no answer to the count request within --max-secs (sent {sent})");
                };
                let got = parse_count(&answer?);
                if got >= sent {
                    out.msgs = got;
                    break;
                }
                if Instant::now() > give_up {
                    out.msgs = got;
                    out.truncated = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_micros(500)).await;
            }
            out.secs = start.elapsed().as_secs_f64();
            out.note = Some(format!("sent {sent}"));
        }
        Workload::Channel => {
            let r = R::connect(p).await?;
            let start = Instant::now();
            let deadline = p.deadline(start);
            let give_up = p.give_up(start);
            let d = data.clone();
            let outbound = futures::stream::unfold(0u64, move |i| {
                let d = d.clone();
                async move {
                    if i % 64 == 0 && Instant::now() >= deadline {
                        None
                    } else {
                        Some((d, i + 1))
                    }
                }
            })
            .boxed();
            let mut inbound = r.channel(outbound);
            while let Some(item) = inbound.next().await {
                item.context("channel")?;
                out.msgs += 1;
                if (out.msgs % 4096 == 0 || p.size >= 4096) && Instant::now() > give_up {
                    out.truncated = true;
                    break;
                }
            }
            out.secs = start.elapsed().as_secs_f64();
        }
    }
    Ok(out)
}

/// Keeps `n` request-responses in flight until `deadline`; returns the answers received.
///
/// `n` concurrent loops each send a request as soon as their previous answer arrives, all in
/// one task (like `n` independent callers): no allocation per request in the harness itself.
async fn rr_loop<R: Requester>(
    r: &R,
    data: &Bytes,
    n: usize,
    deadline: Instant,
    lat: &Mutex<Latency>,
) -> Result<u64> {
    let done = AtomicU64::new(0);
    let one_loop = || async {
        // One clock read per answer, as raw: the next request goes out right after it.
        let mut t = Instant::now();
        loop {
            let answer = r.rr(data.clone()).await?;
            let now = Instant::now();
            lock(lat).record(now - t);
            check_len(&answer, data.len())?;
            done.fetch_add(1, Ordering::Relaxed);
            if now >= deadline {
                return Ok::<_, anyhow::Error>(());
            }
            t = now;
        }
    };
    futures::future::try_join_all((0..n).map(|_| one_loop())).await?;
    Ok(done.into_inner())
}

fn lock(lat: &Mutex<Latency>) -> std::sync::MutexGuard<'_, Latency> {
    lat.lock().unwrap_or_else(|p| p.into_inner())
}

fn check_len(answer: &Bytes, want: usize) -> Result<()> {
    if answer.len() != want {
        bail!("answer of {} bytes, expected {want}", answer.len());
    }
    Ok(())
}
