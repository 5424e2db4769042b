//! TLS over TCP and WebSocket with a self-signed certificate made for the test.

mod common;

use std::sync::Arc;

use common::*;
use rsocket::transport::tls::server_config;
use rsocket::{Client, ErrorKind, Payload};

fn self_signed() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

#[tokio::test]
async fn tcp_tls_and_wss_with_a_trusted_ca() {
    deadline(async {
        let (cert, key) = self_signed();
        let tls = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        let server = server(Arc::new(Seen::default()));

        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (s, t) = (server.clone(), tls.clone());
        tokio::spawn(async move { s.serve_tls(l, t).await });
        let rs = Client::builder()
            .tls_ca_pem(cert.as_bytes())
            .connect(&format!("tcp+tls://localhost:{port}"))
            .await
            .unwrap();
        let r = rs.request_response(Payload::from("secret")).await.unwrap();
        assert_eq!(r.data_utf8(), Some("secret"));

        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (s, t) = (server.clone(), tls.clone());
        tokio::spawn(async move { s.serve_wss(l, "/rsocket", t).await });
        let rs = Client::builder()
            .tls_ca_pem(cert.as_bytes())
            .connect(&format!("wss://localhost:{port}/rsocket"))
            .await
            .unwrap();
        let r = rs
            .request_response(Payload::from("over wss"))
            .await
            .unwrap();
        assert_eq!(r.data_utf8(), Some("over wss"));
    })
    .await;
}

#[tokio::test]
async fn untrusted_certificate_is_refused_unless_insecure() {
    deadline(async {
        let (cert, key) = self_signed();
        let tls = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        let server = server(Arc::new(Seen::default()));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { server.serve_tls(l, tls).await });
        let uri = format!("tcp+tls://localhost:{port}");
        let e = Client::builder().connect(&uri).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.message().contains("TLS handshake"), "{e}");
        let rs = Client::builder()
            .tls_insecure(true)
            .connect(&uri)
            .await
            .unwrap();
        rs.request_response(Payload::from("x")).await.unwrap();
    })
    .await;
}
