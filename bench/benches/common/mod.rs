//! Frames and payloads shared by the micro-benchmarks.

use bytes::Bytes;
use rsocket::Payload;
use rsocket_messaging::metadata::{CompositeMetadata, RoutingMetadata, WellKnownMimeType};
use rsocket_proto::frame::{
    Cancel, ErrorCode, ErrorFrame, Keepalive, PayloadFrame, RequestChannel, RequestFnf, RequestN,
    RequestResponse, RequestStream,
};
use rsocket_proto::{Frame, StreamId};

/// A 16-byte payload with a small routing metadata, the typical request.
pub fn payload(data: usize) -> Payload {
    Payload::from(Bytes::from(vec![b'x'; data])).with_metadata(composite())
}

/// Composite metadata with a route and a MIME entry, as rsocket-messaging sends.
pub fn composite() -> Bytes {
    let mut c = CompositeMetadata::new();
    c.push_routing(&RoutingMetadata::from_route("orders.by-id").expect("route"))
        .expect("routing entry");
    c.push(
        WellKnownMimeType::APPLICATION_JSON,
        Bytes::from_static(b"{}"),
    )
    .expect("mime entry");
    c.to_bytes()
}

/// One frame of each type the data path uses, by name.
pub fn frames(data: usize) -> Vec<(&'static str, Frame)> {
    let id = StreamId::new(1);
    let p = payload(data);
    vec![
        (
            "request_response",
            Frame::RequestResponse(RequestResponse {
                stream_id: id,
                follows: false,
                payload: p.clone(),
            }),
        ),
        (
            "request_fnf",
            Frame::RequestFnf(RequestFnf {
                stream_id: id,
                follows: false,
                payload: p.clone(),
            }),
        ),
        (
            "request_stream",
            Frame::RequestStream(RequestStream {
                stream_id: id,
                follows: false,
                initial_n: 64,
                payload: p.clone(),
            }),
        ),
        (
            "request_channel",
            Frame::RequestChannel(RequestChannel {
                stream_id: id,
                follows: false,
                complete: false,
                initial_n: 64,
                payload: p.clone(),
            }),
        ),
        (
            "payload",
            Frame::Payload(PayloadFrame {
                stream_id: id,
                follows: false,
                complete: false,
                next: true,
                payload: p,
            }),
        ),
        (
            "request_n",
            Frame::RequestN(RequestN {
                stream_id: id,
                n: 32,
            }),
        ),
        ("cancel", Frame::Cancel(Cancel { stream_id: id })),
        (
            "keepalive",
            Frame::Keepalive(Keepalive {
                respond: true,
                last_received_position: 0,
                data: Bytes::new(),
            }),
        ),
        (
            "error",
            Frame::Error(ErrorFrame::new(id, ErrorCode::APPLICATION_ERROR, "boom")),
        ),
    ]
}
