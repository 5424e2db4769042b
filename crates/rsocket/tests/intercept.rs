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
