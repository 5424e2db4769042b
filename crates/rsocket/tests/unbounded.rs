//! A consumer that asks for everything (request-n 2^31-1) but reads slowly: the connection
//! stops reading past 16 MiB of unread payloads, so TCP pushes back on the producer instead
//! of the consumer's memory growing with the stream.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{deadline, tcp_server};
use futures::StreamExt;
use rsocket::{Client, Payload, Prefetch, RequestHandler, Server};

const ITEMS: usize = 200_000; // 1 KiB each: 200 MiB if nothing pushed back

#[tokio::test]
async fn a_slow_unbounded_consumer_pushes_back_on_the_producer() {
    deadline(async {
        let produced = Arc::new(AtomicUsize::new(0));
        let p = produced.clone();
        let handler = RequestHandler::new().request_stream(move |_req| {
            let p = p.clone();
            futures::stream::iter(0..ITEMS).map(move |i| {
                p.fetch_add(1, Ordering::Relaxed);
                let mut data = vec![b'x'; 1024];
                data[..8].copy_from_slice(&(i as u64).to_be_bytes());
                Ok(Payload::from(Bytes::from(data)))
            })
        });
        let addr = tcp_server(Server::builder().responder(handler).build()).await;
        let rs = Client::builder().connect(&addr).await.unwrap();
        let mut stream = rs.request_stream_with(Payload::from("go"), Prefetch::UNBOUNDED);
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(&first.data[..8], &0u64.to_be_bytes());
        // The consumer stalls: the producer runs ahead only by what 16 MiB of unread
        // payloads, the sockets' buffers and the server's 512 KiB send mark hold.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let ahead = produced.load(Ordering::Relaxed);
        assert!(
            ahead < 64_000,
            "the producer ran {ahead} items ahead of a stalled consumer"
        );
        // Nothing is lost: every item arrives, in order.
        let mut next = 1u64;
        while let Some(item) = stream.next().await {
            let item = item.unwrap();
            assert_eq!(&item.data[..8], &next.to_be_bytes());
            next += 1;
        }
        assert_eq!(next as usize, ITEMS);
        // Meanwhile the connection still serves other requests.
        let mut again = rs.request_stream_with(Payload::from("go"), Prefetch::UNBOUNDED);
        assert!(again.next().await.unwrap().is_ok());
    })
    .await;
}

/// While reading is paused for a stalled consumer, a frame left half-read in the buffer is
/// not the peer's delay: the frame-read timeout must not close the connection.
#[tokio::test]
async fn pausing_for_a_stalled_consumer_is_not_a_slow_frame() {
    deadline(async {
        const N: usize = 30_000; // 1,001-byte items (30 MiB): reads end inside frames
        let handler = RequestHandler::new().request_stream(move |_req| {
            let item = Bytes::from(vec![b'z'; 1001]);
            futures::stream::iter(0..N).map(move |_| Ok(Payload::from(item.clone())))
        });
        let addr = tcp_server(Server::builder().responder(handler).build()).await;
        let mut config = rsocket::proto::Config::default();
        config.limits.frame_read_timeout = Duration::from_millis(100);
        let rs = Client::builder()
            .config(config)
            .connect(&addr)
            .await
            .unwrap();
        let mut s = rs.request_stream_with(Payload::from("go"), Prefetch::UNBOUNDED);
        assert!(s.next().await.unwrap().is_ok());
        tokio::time::sleep(Duration::from_millis(600)).await; // 16 MiB arrive, then a pause
        let mut n = 1;
        while let Some(item) = s.next().await {
            assert_eq!(item.unwrap().data.len(), 1001);
            n += 1;
        }
        assert_eq!(n, N);
    })
    .await;
}
