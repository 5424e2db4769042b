//! Helpers for the end-to-end tests: a router served over TCP on 127.0.0.1:0, and a time
//! bound for every test.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rsocket::Server;
use rsocket_messaging::{Requester, RequesterBuilder, Router};

/// How long any one test may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a test body with a time bound.
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test timed out");
}

/// A server for `router`, accepting TCP on an ephemeral port.
pub async fn serve(router: Router) -> (Server, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder().acceptor(router.into_acceptor()).build();
    let s = server.clone();
    tokio::spawn(async move { s.serve_tcp(listener).await });
    (server, addr)
}

/// Connects a requester built by `builder` to `addr`.
pub async fn connect(builder: RequesterBuilder, addr: SocketAddr) -> Requester {
    builder
        .connect(&format!("tcp://{addr}"))
        .await
        .expect("connect")
}
