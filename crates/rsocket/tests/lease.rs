//! Lease (Protocol.md "Lease Semantics"), for every interaction model, with a missing, an
//! expired, a depleted and a valid lease: on the requester (our client refuses to send, or
//! waits when asked to) and on the responder (a peer that ignores the lease gets
//! ERROR\[REJECTED\] and the handler is never called). Plus the lease policies.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rsocket::lease::{FixedLease, LeaseGrant, lease_fn};
use rsocket::proto::frame::{RequestChannel, RequestFnf, RequestResponse, RequestStream};
use rsocket::proto::{ErrorCode, Frame, StreamId};
use rsocket::{Client, Error, ErrorKind, Payload, RSocket, RequestHandler, Server, SetupInfo};
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    Response,
    Fnf,
    Stream,
    Channel,
}

const MODELS: [Model; 4] = [Model::Response, Model::Fnf, Model::Stream, Model::Channel];

/// Handler invocations.
#[derive(Default)]
struct Calls(AtomicUsize);

fn handler(calls: Arc<Calls>) -> RequestHandler {
    let (c1, c2, c3, c4) = (calls.clone(), calls.clone(), calls.clone(), calls);
    RequestHandler::new()
        .request_response(move |p: Payload| {
            c1.0.fetch_add(1, Ordering::SeqCst);
            async move { Ok(p) }
        })
        .fire_and_forget(move |_p| {
            c2.0.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .request_stream(move |p: Payload| {
            c3.0.fetch_add(1, Ordering::SeqCst);
            futures::stream::iter([Ok(p)])
        })
        .request_channel(move |first: Payload, inbound| {
            c4.0.fetch_add(1, Ordering::SeqCst);
            futures::stream::once(async move { Ok(first) }).chain(inbound)
        })
}

/// Sends one request of the model and waits for its outcome.
async fn request(c: &RSocket, m: Model) -> Result<(), Error> {
    match m {
        Model::Response => c.request_response(Payload::from("x")).await.map(drop),
        Model::Fnf => c.fire_and_forget(Payload::from("x")).await,
        Model::Stream => {
            let items: Vec<_> = c.request_stream(Payload::from("x")).collect().await;
            items.into_iter().collect::<Result<Vec<_>, _>>().map(drop)
        }
        Model::Channel => {
            let out = futures::stream::iter([Payload::from("x")]);
            let items: Vec<_> = c.request_channel(out).collect().await;
            items.into_iter().collect::<Result<Vec<_>, _>>().map(drop)
        }
    }
}

/// A client with lease over an in-memory pipe, and the server's requester for that client
/// (to grant leases by hand).
async fn leased_pair(wait: Option<Duration>) -> (RSocket, RSocket, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = handler(calls.clone());
    let server = Server::builder()
        .lease(true)
        .acceptor(move |_s: SetupInfo, requester: RSocket| {
            let _ = tx.send(requester);
            let h = h.clone();
            async move { Ok::<_, Error>(h) }
        })
        .build();
    let (c, s) = rsocket::transport::memory_pair(64 * 1024);
    tokio::spawn(server.serve_connection(s));
    let mut b = Client::builder().lease(true);
    if let Some(w) = wait {
        b = b.wait_for_lease(w);
    }
    let client = b.connect_with(c);
    // Any frame makes the server accept the SETUP; a metadata push needs no lease.
    client
        .metadata_push(Bytes::from_static(b"hi"))
        .await
        .unwrap();
    let granter = rx.recv().await.unwrap();
    (client, granter, calls)
}

async fn until_available(c: &RSocket) {
    let t = Instant::now();
    while c.availability() < 1.0 {
        assert!(t.elapsed() < Duration::from_secs(5), "no lease arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn assert_no_lease(r: Result<(), Error>, m: Model, why: &str) {
    let e = r.expect_err(&format!("{m:?} without a valid lease ({why}) must fail"));
    assert_eq!(e.kind(), ErrorKind::NoLease, "{m:?} ({why}): {e}");
}

#[tokio::test]
async fn requester_sends_nothing_without_a_valid_lease() {
    common::deadline(async {
        for m in MODELS {
            let (client, granter, calls) = leased_pair(None).await;
            // Missing: before the first LEASE, fails at once.
            let t = Instant::now();
            assert_no_lease(request(&client, m).await, m, "missing");
            assert!(t.elapsed() < Duration::from_millis(500), "fails at once");
            assert_eq!(client.availability(), 0.0);
            // Valid, then depleted.
            granter
                .send_lease(Duration::from_secs(60), 1, None)
                .unwrap();
            until_available(&client).await;
            request(&client, m).await.unwrap();
            assert_no_lease(request(&client, m).await, m, "depleted");
            // Expired.
            granter
                .send_lease(Duration::from_millis(100), 5, None)
                .unwrap();
            until_available(&client).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert_eq!(client.availability(), 0.0);
            assert_no_lease(request(&client, m).await, m, "expired");
            // Valid again.
            granter
                .send_lease(Duration::from_secs(60), 5, None)
                .unwrap();
            until_available(&client).await;
            request(&client, m).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(
                calls.0.load(Ordering::SeqCst),
                2,
                "{m:?}: only leased requests ran"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn requester_can_wait_for_the_next_lease() {
    common::deadline(async {
        for m in MODELS {
            let (client, granter, _calls) = leased_pair(Some(Duration::from_secs(5))).await;
            // Waits for the first LEASE.
            let g = granter.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                g.send_lease(Duration::from_secs(60), 1, None).unwrap();
            });
            let t = Instant::now();
            request(&client, m).await.unwrap();
            assert!(t.elapsed() >= Duration::from_millis(90), "{m:?} waited");
            // Depleted: waits for the next one.
            let g = granter.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                g.send_lease(Duration::from_secs(60), 1, None).unwrap();
            });
            request(&client, m).await.unwrap();
        }
        // The wait is bounded.
        let (client, _granter, _calls) = leased_pair(Some(Duration::from_millis(100))).await;
        for m in MODELS {
            let t = Instant::now();
            assert_no_lease(request(&client, m).await, m, "none within the wait");
            assert!(t.elapsed() >= Duration::from_millis(90));
            assert!(t.elapsed() < Duration::from_secs(2));
        }
    })
    .await;
}

#[tokio::test]
async fn fixed_lease_policy_grants_a_budget_per_interval() {
    common::deadline(async {
        let calls = Arc::new(Calls::default());
        let server = Server::builder()
            .lease_policy(FixedLease::new(3, Duration::from_millis(300)))
            .responder(handler(calls.clone()))
            .build();
        let (c, s) = rsocket::transport::memory_pair(64 * 1024);
        tokio::spawn(server.serve_connection(s));
        let client = Client::builder()
            .lease(true)
            .wait_for_lease(Duration::from_secs(5))
            .connect_with(c);
        let t = Instant::now();
        for _ in 0..7 {
            request(&client, Model::Response).await.unwrap();
        }
        // 3 in the first grant, 3 in the second, the 7th in the third: two renewals.
        assert!(
            t.elapsed() >= Duration::from_millis(550),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(calls.0.load(Ordering::SeqCst), 7);
    })
    .await;
}

#[tokio::test]
async fn lease_fn_lets_the_application_decide() {
    common::deadline(async {
        let asked = Arc::new(AtomicUsize::new(0));
        let a = asked.clone();
        let policy = lease_fn(Duration::from_millis(50), move |_ctx| {
            // Grant only from the third time asked on ("warming up").
            (a.fetch_add(1, Ordering::SeqCst) >= 2).then(|| LeaseGrant {
                ttl: Duration::from_secs(10),
                requests: 100,
                metadata: None,
            })
        });
        let server = Server::builder()
            .lease_policy(policy)
            .responder(handler(Arc::default()))
            .build();
        let (c, s) = rsocket::transport::memory_pair(64 * 1024);
        tokio::spawn(server.serve_connection(s));
        let client = Client::builder().lease(true).connect_with(c);
        client
            .metadata_push(Bytes::from_static(b"hi"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_no_lease(
            request(&client, Model::Response).await,
            Model::Response,
            "not yet",
        );
        until_available(&client).await;
        request(&client, Model::Response).await.unwrap();
    })
    .await;
}

// ---- the responder enforces the lease against a peer that ignores it ----------------------

/// The raw client of `common`, with lease requested in its SETUP.
type Raw = common::RawClient;

impl common::RawClient {
    /// Sends a request of the model on stream `id`; for all but fire-and-forget, returns
    /// whether it was answered (Ok) or rejected (the ERROR code).
    async fn request(&mut self, m: Model, id: u32) -> Option<Result<(), ErrorCode>> {
        let stream_id = StreamId::new(id);
        let payload = Payload::from("x");
        let f = match m {
            Model::Response => Frame::RequestResponse(RequestResponse {
                stream_id,
                follows: false,
                payload,
            }),
            Model::Fnf => Frame::RequestFnf(RequestFnf {
                stream_id,
                follows: false,
                payload,
            }),
            Model::Stream => Frame::RequestStream(RequestStream {
                stream_id,
                follows: false,
                initial_n: 10,
                payload,
            }),
            Model::Channel => Frame::RequestChannel(RequestChannel {
                stream_id,
                follows: false,
                complete: true,
                initial_n: 10,
                payload,
            }),
        };
        self.send(f).await;
        if m == Model::Fnf {
            return None;
        }
        loop {
            match self.next().await {
                Frame::Payload(p) if p.stream_id == stream_id => return Some(Ok(())),
                Frame::Error(e) if e.stream_id == stream_id => return Some(Err(e.code)),
                Frame::Lease(_) | Frame::Payload(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn check(m: Model, got: Option<Result<(), ErrorCode>>, want_ok: bool, why: &str) {
    if m == Model::Fnf {
        return; // no answer: the handler count tells
    }
    let want = if want_ok {
        Ok(())
    } else {
        Err(ErrorCode::REJECTED)
    };
    assert_eq!(got, Some(want), "{m:?} with a {why} lease");
}

#[tokio::test]
async fn responder_rejects_requests_beyond_the_lease() {
    common::deadline(async {
        for m in MODELS {
            // Missing: the server grants nothing by itself.
            let calls = Arc::new(Calls::default());
            let server = Server::builder()
                .lease(true)
                .responder(handler(calls.clone()))
                .build();
            let mut raw = Raw::connect_lease(server).await;
            let got = raw.request(m, 1).await;
            check(m, got, false, "missing");

            // Valid, depleted, expired: one lease of 2 requests for 300 ms.
            let calls2 = Arc::new(Calls::default());
            let policy = lease_fn(Duration::from_secs(3600), |_ctx| {
                Some(LeaseGrant {
                    ttl: Duration::from_millis(300),
                    requests: 2,
                    metadata: None,
                })
            });
            let server = Server::builder()
                .lease_policy(policy)
                .responder(handler(calls2.clone()))
                .build();
            let mut raw = Raw::connect_lease(server).await;
            assert!(matches!(raw.next().await, Frame::Lease(l) if l.number_of_requests == 2));
            for (i, ok) in [(1, true), (3, true), (5, false)] {
                let got = raw.request(m, i).await;
                check(m, got, ok, if ok { "valid" } else { "depleted" });
            }
            tokio::time::sleep(Duration::from_millis(350)).await;
            let got = raw.request(m, 7).await;
            check(m, got, false, "expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                calls.0.load(Ordering::SeqCst),
                0,
                "{m:?}: no lease, no call"
            );
            assert_eq!(
                calls2.0.load(Ordering::SeqCst),
                2,
                "{m:?}: only leased calls"
            );
        }
    })
    .await;
}
