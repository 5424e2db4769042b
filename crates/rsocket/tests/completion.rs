//! The end of a responder's stream needs no credit (Protocol.md: REQUEST_N counts payloads,
//! not the COMPLETE or ERROR that ends a stream). A stream whose last value used the last
//! credit must still complete at once, and a channel responder that stops reading its inbound
//! must still be able to answer. Checked on the wire with a raw-frame client.

mod common;

use std::time::Duration;

use common::RawClient;
use futures::StreamExt;
use rsocket::proto::frame::{RequestChannel, RequestN, RequestStream};
use rsocket::proto::{ErrorCode, Frame, StreamId};
use rsocket::{Client, Error, Payload, RequestHandler, Server};

/// Request-stream answers `n` items ("a" … ) for a request "n", then completes; "n!" ends
/// with an application error instead; "forever" never ends. Request-channel: "drop" drops
/// its inbound and answers one error; "drop-then-two" drops it and answers two items.
fn server() -> Server {
    let handler = RequestHandler::new()
        .request_stream(|req: Payload| {
            let text = req.data_utf8().unwrap_or_default().to_string();
            let (n, fail) = match text.strip_suffix('!') {
                Some(n) => (n.parse::<usize>().unwrap_or(0), true),
                None => (text.parse::<usize>().unwrap_or(usize::MAX), false),
            };
            let items = futures::stream::iter((0..n).map(|i| Ok(Payload::from(format!("{i}")))));
            let end = fail.then(|| Err(Error::application("the end")));
            items.chain(futures::stream::iter(end)).boxed()
        })
        .request_channel(|first: Payload, inbound| {
            drop(inbound);
            match first.data_utf8() {
                Some("drop-then-two") => {
                    futures::stream::iter([Ok(Payload::from("x")), Ok(Payload::from("y"))]).boxed()
                }
                _ => futures::stream::once(async { Err(Error::application("no thanks")) }).boxed(),
            }
        });
    Server::builder().responder(handler).build()
}

fn request_stream(id: u32, n: u32, data: &str) -> Frame {
    Frame::RequestStream(RequestStream {
        stream_id: StreamId::new(id),
        follows: false,
        initial_n: n,
        payload: Payload::from(data.to_string()),
    })
}

/// Reads frames on stream 1 until its end or `max` frames; returns (values, how it ended).
async fn read_stream(raw: &mut RawClient, max: usize) -> (Vec<String>, Option<Frame>) {
    let mut values = Vec::new();
    for _ in 0..max {
        let Some(f) = raw.next_within(Duration::from_millis(500)).await else {
            return (values, None);
        };
        match &f {
            Frame::Payload(p) if p.stream_id == StreamId::new(1) => {
                if p.next {
                    values.push(p.payload.data_utf8().unwrap_or_default().to_string());
                }
                if p.complete {
                    return (values, Some(f));
                }
            }
            Frame::Error(e) if e.stream_id == StreamId::new(1) => return (values, Some(f)),
            _ => {}
        }
    }
    (values, None)
}

#[tokio::test]
async fn a_stream_completes_when_its_last_value_used_the_last_credit() {
    common::deadline(async {
        let mut raw = RawClient::connect(server()).await;
        raw.send(request_stream(1, 5, "5")).await;
        let (values, end) = read_stream(&mut raw, 10).await;
        assert_eq!(values, ["0", "1", "2", "3", "4"]);
        assert!(
            matches!(&end, Some(Frame::Payload(p)) if p.complete),
            "no COMPLETE without more credit: {end:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_stream_error_after_the_last_credited_value_goes_out() {
    common::deadline(async {
        let mut raw = RawClient::connect(server()).await;
        raw.send(request_stream(1, 3, "3!")).await;
        let (values, end) = read_stream(&mut raw, 10).await;
        assert_eq!(values, ["0", "1", "2"]);
        assert!(
            matches!(&end, Some(Frame::Error(e)) if e.code == ErrorCode::APPLICATION_ERROR),
            "no ERROR without more credit: {end:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_endless_stream_sends_exactly_its_credit() {
    common::deadline(async {
        let mut raw = RawClient::connect(server()).await;
        raw.send(request_stream(1, 3, "forever")).await;
        let (values, end) = read_stream(&mut raw, 10).await;
        assert_eq!(values, ["0", "1", "2"], "one value ahead is held, not sent");
        assert!(end.is_none());
        raw.send(Frame::RequestN(RequestN {
            stream_id: StreamId::new(1),
            n: 2,
        }))
        .await;
        let (values, end) = read_stream(&mut raw, 10).await;
        assert_eq!(values, ["3", "4"]);
        assert!(end.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_channel_responder_that_drops_its_inbound_still_answers() {
    common::deadline(async {
        let mut raw = RawClient::connect(server()).await;
        raw.send(Frame::RequestChannel(RequestChannel {
            stream_id: StreamId::new(1),
            follows: false,
            complete: false,
            initial_n: 5,
            payload: Payload::from("drop"),
        }))
        .await;
        let mut saw_cancel = false;
        let mut error = None;
        while let Some(f) = raw.next_within(Duration::from_millis(500)).await {
            match f {
                Frame::Cancel(c) if c.stream_id == StreamId::new(1) => saw_cancel = true,
                Frame::Error(e) if e.stream_id == StreamId::new(1) => {
                    error = Some(e.code);
                    break;
                }
                _ => {}
            }
        }
        assert!(
            saw_cancel,
            "dropping the inbound half-closes it with CANCEL"
        );
        assert_eq!(error, Some(ErrorCode::APPLICATION_ERROR));

        // The same through our own requester, and with values instead of an error.
        let uri = common::tcp_server(server()).await;
        let client = Client::builder().connect(&uri).await.unwrap();
        let outbound = futures::stream::iter([Payload::from("drop"), Payload::from("more")])
            .chain(futures::stream::pending());
        let mut answers = client.request_channel(outbound);
        let err = answers.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::APPLICATION_ERROR));
        let outbound = futures::stream::iter([Payload::from("drop-then-two")])
            .chain(futures::stream::pending());
        let got: Vec<_> = client
            .request_channel(outbound)
            .map(|r| r.unwrap().data_utf8().unwrap_or_default().to_string())
            .collect()
            .await;
        assert_eq!(got, ["x", "y"]);
    })
    .await;
}
