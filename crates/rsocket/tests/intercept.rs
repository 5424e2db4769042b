//! Responder layers, requester interceptors, and the Unix socket transport.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use futures::future::BoxFuture;
use rsocket::intercept::{Forward, Interaction};
use rsocket::{Client, Error, ErrorKind, Payload, Responder};

/// Counts request-responses and refuses those without metadata.
struct Guarded(Forward, Arc<AtomicUsize>);

impl Responder for Guarded {
    fn request_response(&self, p: Payload) -> BoxFuture<'static, Result<Payload, Error>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        if p.metadata.is_none() {
            return Box::pin(async { Err(Error::rejected("no credentials")) });
        }
        self.0.request_response(p)
    }
}

#[tokio::test]
async fn layer_wraps_and_interceptor_rewrites() {
    deadline(async {
        let count = Arc::new(AtomicUsize::new(0));
        let c2 = count.clone();
        let server = rsocket::Server::builder()
            .responder(handler(Arc::new(Seen::default())))
            .layer(tower_layer::layer_fn(move |inner| {
                Guarded(Forward(inner), c2.clone())
            }))
            .build();
        let addr = tcp_server(server).await;

        let plain = Client::builder().connect(&addr).await.unwrap();
        let e = plain
            .request_response(Payload::from("x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert_eq!(e.message(), "no credentials");

        let with_token = Client::builder()
            .interceptor(|i: Interaction, p: &mut Payload| {
                if i == Interaction::RequestResponse {
                    p.metadata = Some(bytes::Bytes::from_static(b"token"));
                }
                Ok(())
            })
            .connect(&addr)
            .await
            .unwrap();
        let r = with_token
            .request_response(Payload::from("y"))
            .await
            .unwrap();
        assert_eq!(r.metadata.as_deref(), Some(&b"token"[..]));
        assert_eq!(count.load(Ordering::SeqCst), 2);

        let refusing = Client::builder()
            .interceptor(|_: Interaction, _: &mut Payload| Err(Error::invalid("not allowed here")))
            .connect(&addr)
            .await
            .unwrap();
        let e = refusing
            .request_response(Payload::from("z"))
            .await
            .unwrap_err();
        assert_eq!(e.message(), "not allowed here");
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "refused requests are never sent"
        );
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_round_trip() {
    deadline(async {
        let dir = std::env::temp_dir().join(format!("rsocket-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        let server = server(Arc::new(Seen::default()));
        tokio::spawn(async move { server.serve_unix(l).await });
        let rs = Client::builder()
            .connect(&format!("unix:{}", path.display()))
            .await
            .unwrap();
        let r = rs
            .request_response(Payload::from("over unix"))
            .await
            .unwrap();
        assert_eq!(r.data_utf8(), Some("over unix"));
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// Handlers registered without a future answer at once; a layer that overrides the
/// asynchronous method is still in the way (the synchronous path does not bypass it).
#[tokio::test]
async fn sync_handlers_answer_and_layers_still_apply() {
    deadline(async {
        let fnfs = Arc::new(AtomicUsize::new(0));
        let f2 = fnfs.clone();
        let sync_handler = move || {
            let f2 = f2.clone();
            rsocket::RequestHandler::new()
                .request_response_sync(|p: Payload| {
                    if p.data.as_ref() == b"fail" {
                        return Err(Error::application("asked to fail"));
                    }
                    let mut data = b"sync:".to_vec();
                    data.extend_from_slice(&p.data);
                    Ok(Payload::new(data))
                })
                .fire_and_forget_sync(move |_p| {
                    f2.fetch_add(1, Ordering::SeqCst);
                })
        };

        let plain = rsocket::Server::builder().responder(sync_handler()).build();
        let addr = tcp_server(plain).await;
        let client = Client::builder().connect(&addr).await.unwrap();
        for i in 0..3 {
            let r = client
                .request_response(Payload::from(format!("x{i}")))
                .await
                .unwrap();
            assert_eq!(r.data.as_ref(), format!("sync:x{i}").as_bytes());
        }
        let e = client
            .request_response(Payload::from("fail"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Application);
        assert_eq!(e.message(), "asked to fail");
        for _ in 0..5 {
            client.fire_and_forget(Payload::from("f")).await.unwrap();
        }
        for _ in 0..200 {
            if fnfs.load(Ordering::SeqCst) == 5 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(fnfs.load(Ordering::SeqCst), 5);

        let count = Arc::new(AtomicUsize::new(0));
        let c2 = count.clone();
        let guarded = rsocket::Server::builder()
            .responder(sync_handler())
            .layer(tower_layer::layer_fn(move |inner| {
                Guarded(Forward(inner), c2.clone())
            }))
            .build();
        let addr = tcp_server(guarded).await;
        let client = Client::builder().connect(&addr).await.unwrap();
        let e = client
            .request_response(Payload::from("x"))
            .await
            .unwrap_err();
        assert_eq!(e.message(), "no credentials");
        let r = client
            .request_response(Payload::from("y").with_metadata("token"))
            .await
            .unwrap();
        assert_eq!(r.data.as_ref(), b"sync:y");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    })
    .await;
}
