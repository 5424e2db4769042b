//! A server under bad input: every misbehaving connection gets an ERROR or is closed, and an
//! honest client on another connection keeps being served.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use rsocket::proto::{Config, Limits};
use rsocket::{Client, Payload, RSocket, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn frame(sid: u32, ftype: u8, flags: u16, body: &[u8]) -> Vec<u8> {
    let len = 6 + body.len();
    let mut v = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8];
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(&((u16::from(ftype) << 10) | flags).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn setup() -> Vec<u8> {
    let mut b = vec![0, 1, 0, 0];
    b.extend_from_slice(&20_000u32.to_be_bytes());
    b.extend_from_slice(&90_000u32.to_be_bytes());
    b.push(0);
    b.push(0);
    frame(0, 0x01, 0, &b)
}

/// Reads until EOF (or the deadline); returns everything received.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    out
}

/// The first frame's (stream id, type, error code) in a received byte stream.
fn first_error(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let f = rest.get(3..3 + len)?;
        let sid = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
        if f[4] >> 2 == 0x0B {
            return Some((sid, u32::from_be_bytes([f[6], f[7], f[8], f[9]])));
        }
        rest = &rest[3 + len..];
    }
    None
}

async fn honest_check(rs: &RSocket) {
    let r = rs
        .request_response(Payload::from("still here"))
        .await
        .unwrap();
    assert_eq!(r.data_utf8(), Some("still here"));
    let n = rs.request_stream(Payload::from("50")).count().await;
    assert_eq!(n, 50);
}

fn strict_server() -> Server {
    let limits = Limits {
        setup_timeout: Duration::from_millis(300),
        max_cancels_per_window: 500,
        max_payload_size: 1 << 20,
        max_frame_size: 2 << 20,
        frame_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    Server::builder()
        .responder(handler(Arc::new(Seen::default())))
        .config(Config {
            limits,
            ..Config::default()
        })
        .build()
}

#[tokio::test]
async fn attackers_are_closed_and_honest_clients_keep_going() {
    deadline(async {
        let addr = tcp_server(strict_server()).await;
        let host = addr.trim_start_matches("tcp://").to_string();
        let honest = Client::builder().connect(&addr).await.unwrap();
        honest_check(&honest).await;

        // Garbage after a valid SETUP: a frame too short for its header.
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        s.write_all(&[0, 0, 3, 1, 2, 3]).await.unwrap();
        let got = read_to_close(&mut s).await;
        assert_eq!(
            first_error(&got),
            Some((0, 0x101)),
            "garbage → CONNECTION_ERROR"
        );
        honest_check(&honest).await;

        // A partial frame, then EOF.
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        s.write_all(&[0, 0, 10, 0, 0, 0, 1]).await.unwrap();
        s.shutdown().await.unwrap();
        let _ = read_to_close(&mut s).await;
        honest_check(&honest).await;

        // A frame over the configured maximum (2 MiB) announced in its prefix: refused at once.
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        s.write_all(&[0xFF, 0xFF, 0xFF, 0]).await.unwrap();
        let got = read_to_close(&mut s).await;
        assert_eq!(
            first_error(&got),
            Some((0, 0x101)),
            "oversized frame → CONNECTION_ERROR"
        );
        honest_check(&honest).await;

        // A frame within the limit that never completes (slowloris): closed after the frame
        // read timeout (500 ms here).
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        s.write_all(&[0x10, 0, 0, 0]).await.unwrap();
        let t = std::time::Instant::now();
        let got = read_to_close(&mut s).await;
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(
            first_error(&got),
            Some((0, 0x101)),
            "trickled frame → CONNECTION_ERROR"
        );
        honest_check(&honest).await;

        // Endless fragments of one request: refused at the payload cap (1 MiB here).
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        let chunk = vec![b'x'; 60_000];
        s.write_all(&frame(1, 0x04, 0x80, &chunk)).await.unwrap();
        let mut rejected = false;
        for _ in 0..40 {
            if s.write_all(&frame(1, 0x0A, 0xA0, &chunk)).await.is_err() {
                break;
            }
        }
        s.shutdown().await.ok();
        let got = read_to_close(&mut s).await;
        if let Some((sid, code)) = first_error(&got) {
            rejected = (sid, code) == (1, 0x202) || (sid, code) == (0, 0x101);
        }
        assert!(rejected, "endless fragments must be refused");
        honest_check(&honest).await;

        // REQUEST_STREAM + CANCEL flood: closed by the rapid-cancel guard.
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        let mut burst = Vec::new();
        for i in 0..2_000u32 {
            let id = 2 * i + 1;
            let mut body = 1u32.to_be_bytes().to_vec();
            body.extend_from_slice(b"inf");
            burst.extend(frame(id, 0x06, 0, &body));
            burst.extend(frame(id, 0x09, 0, &[]));
        }
        let _ = s.write_all(&burst).await;
        let got = read_to_close(&mut s).await;
        assert!(
            got.windows(10)
                .any(|w| w[3..7] == [0, 0, 0, 0] && w[7] >> 2 == 0x0B),
            "rapid cancel must end in an ERROR on stream 0"
        );
        honest_check(&honest).await;

        // Nothing at all after connecting: closed after the setup timeout.
        let mut s = TcpStream::connect(&host).await.unwrap();
        let got = read_to_close(&mut s).await;
        assert_eq!(
            first_error(&got),
            Some((0, 0x1)),
            "setup timeout → INVALID_SETUP"
        );
        honest_check(&honest).await;
    })
    .await;
}

#[tokio::test]
async fn slow_reader_does_not_grow_the_server() {
    deadline(async {
        let addr = tcp_server(strict_server()).await;
        let host = addr.trim_start_matches("tcp://").to_string();
        // Ask for an unbounded infinite stream, then never read.
        let mut s = TcpStream::connect(&host).await.unwrap();
        s.write_all(&setup()).await.unwrap();
        let mut body = 0x7FFF_FFFFu32.to_be_bytes().to_vec();
        body.extend_from_slice(b"inf");
        s.write_all(&frame(1, 0x06, 0, &body)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The server stops producing once its buffer is full; other clients are served.
        let honest = Client::builder().connect(&addr).await.unwrap();
        honest_check(&honest).await;
        // The stalled connection still answers once we read: drain some and see items.
        let mut buf = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
    })
    .await;
}

/// A TCP connection to `host` from the loopback source address `src` (any of 127/8).
async fn connect_from(src: [u8; 4], host: &str) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind((std::net::Ipv4Addr::from(src), 0).into())
        .unwrap();
    sock.connect(host.parse().unwrap()).await.unwrap()
}

/// One address holding its share of connections (idle, before SETUP) cannot keep another
/// address out: its next connection is closed at once, another address is served, and a
/// place freed is taken again.
#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    deadline(async {
        let server = Server::builder()
            .responder(handler(Arc::new(Seen::default())))
            .max_connections_per_ip(3)
            .build();
        let addr = tcp_server(server).await;
        let host = addr.trim_start_matches("tcp://").to_string();
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(connect_from([127, 0, 0, 1], &host).await);
        }
        let mut over = connect_from([127, 0, 0, 1], &host).await;
        let started = std::time::Instant::now();
        assert!(read_to_close(&mut over).await.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the connection over the limit was not closed at once"
        );
        // Another address is served while the first one is at its limit.
        let mut other = connect_from([127, 0, 0, 2], &host).await;
        other.write_all(&setup()).await.unwrap();
        other.write_all(&frame(1, 0x04, 0, b"hi")).await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), other.read(&mut buf))
            .await
            .expect("an answer for another address")
            .unwrap();
        assert!(n > 0, "another address was refused");
        // A place the first address frees is its again.
        drop(idle.pop());
        let mut again = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut s = connect_from([127, 0, 0, 1], &host).await;
            s.write_all(&setup()).await.unwrap();
            s.write_all(&frame(1, 0x04, 0, b"hi")).await.unwrap();
            let mut buf = vec![0u8; 64];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await
                && n > 0
            {
                again = Some(s);
                break;
            }
        }
        assert!(again.is_some(), "a freed place was not given back");
    })
    .await;
}
