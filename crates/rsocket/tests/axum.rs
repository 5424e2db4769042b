//! RSocket mounted on an axum Router shares the port with plain HTTP routes.

mod common;

use std::sync::Arc;

use common::*;
use rsocket::{Client, Payload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn rsocket_and_http_on_one_port() {
    deadline(async {
        let server = server(Arc::new(Seen::default()));
        let app = axum::Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route("/rsocket", rsocket::transport::axum::route(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let rs = Client::builder()
            .connect(&format!("ws://{addr}/rsocket"))
            .await
            .unwrap();
        let r = rs
            .request_response(Payload::from("via axum"))
            .await
            .unwrap();
        assert_eq!(r.data_utf8(), Some("via axum"));

        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        http.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        http.read_to_string(&mut body).await.unwrap();
        assert!(
            body.starts_with("HTTP/1.1 200") && body.ends_with("ok"),
            "{body}"
        );
    })
    .await;
}
