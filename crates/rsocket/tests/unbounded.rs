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

/// A peer that pipelines requests for large answers and never reads: the server makes answers
/// only while less than 16 MiB waits to be written (plus what the sockets' buffers took), not
/// one per request it read; once the peer reads, every answer arrives, whole and in order.
#[tokio::test]
async fn pipelined_requests_for_large_answers_wait_for_a_peer_that_does_not_read() {
    use rsocket::proto::frame::RequestResponse;
    use rsocket::proto::{Frame, StreamId};
    const REQUESTS: u32 = 96; // 1 MiB answers: 96 MiB if every answer were made at once
    deadline(async {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let answer = Bytes::from(vec![7u8; 1 << 20]);
        let handler = RequestHandler::new().request_response_sync(move |_req| {
            m.fetch_add(1, Ordering::Relaxed);
            Ok(Payload::from(answer.clone()))
        });
        let mut raw =
            common::RawClient::connect(Server::builder().responder(handler).build()).await;
        for i in 0..REQUESTS {
            raw.send(Frame::RequestResponse(RequestResponse {
                stream_id: StreamId::new(2 * i + 1),
                follows: false,
                payload: Payload::from("big"),
            }))
            .await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let ahead = made.load(Ordering::Relaxed);
        assert!(
            ahead <= 48,
            "{ahead} answers of 1 MiB made for a peer that reads nothing"
        );
        for i in 0..REQUESTS {
            match raw.next().await {
                Frame::Payload(p) => {
                    assert_eq!(p.stream_id, StreamId::new(2 * i + 1));
                    assert_eq!(p.payload.data.len(), 1 << 20);
                    assert!(p.complete);
                }
                other => panic!("expected answer {i}, got {other:?}"),
            }
        }
        assert_eq!(made.load(Ordering::Relaxed), REQUESTS as usize);
    })
    .await;
}
