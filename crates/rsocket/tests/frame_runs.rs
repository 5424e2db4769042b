//! A TCP connection reads every complete frame of a read at once (a frame run) and feeds them
//! to the connection over several passes: frames that arrive together with SETUP wait for the
//! acceptor, and a run longer than one pass's batch is finished in the next passes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rsocket::proto::Frame;
use rsocket::proto::codec::LengthCodec;
use rsocket::{Payload, RequestHandler, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Frames after SETUP: `RR` request-responses, the rest fire-and-forgets.
const FRAMES: usize = 1000;
const RR: usize = 300;
const FNF: usize = FRAMES - RR;

#[tokio::test]
async fn frames_written_with_setup_in_one_go_are_all_handled_in_order() {
    common::deadline(async {
        let fnf = Arc::new(AtomicUsize::new(0));
        let counted = fnf.clone();
        let server = Server::builder()
            .acceptor(move |_setup, _requester| {
                let counted = counted.clone();
                async move {
                    // Accept late: everything below has arrived and waits in the run.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(RequestHandler::new()
                        .fire_and_forget_sync(move |_p| {
                            counted.fetch_add(1, Ordering::SeqCst);
                        })
                        .request_response_sync(|p: Payload| {
                            Ok(Payload::from(format!("re:{}", p.data_utf8().unwrap_or(""))))
                        }))
                }
            })
            .build();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { server.serve_tcp(l).await });

        // SETUP, then fire-and-forgets and request-responses interleaved, in one write: far
        // more frames than one pass of the connection's task takes.
        let mut bytes = setup();
        let mut want = Vec::new();
        let mut id = 1u32;
        for i in 0..FRAMES {
            if i % 3 == 0 && want.len() < RR {
                bytes.extend(frame(id, 0x04, 0, id.to_string().as_bytes()));
                want.push(id);
            } else {
                bytes.extend(frame(id, 0x05, 0, b"f"));
            }
            id += 2;
        }
        assert_eq!(want.len(), RR);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();

        // Every request-response is answered, with its own payload, in the order sent (the
        // handler answers at once, so answers leave in request order).
        let codec = LengthCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        while got.len() < want.len() {
            while let Some(f) = codec.split(&mut buf).unwrap() {
                match Frame::decode(f).unwrap() {
                    Frame::Payload(p) => {
                        let sid = p.stream_id.get();
                        assert_eq!(p.payload.data_utf8(), Some(format!("re:{sid}").as_str()));
                        got.push(sid);
                    }
                    Frame::Keepalive(_) => {}
                    other => panic!("unexpected frame {other:?}"),
                }
            }
            if got.len() >= want.len() {
                break;
            }
            let n = tokio::time::timeout(Duration::from_secs(5), s.read_buf(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{} of {} answers, then nothing for 5 s", got.len(), RR))
                .unwrap();
            assert!(n > 0, "the server closed the connection");
        }
        assert_eq!(got, want);
        for _ in 0..100 {
            if fnf.load(Ordering::SeqCst) == FNF {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(fnf.load(Ordering::SeqCst), FNF);
    })
    .await;
}
