//! A client and a server state machine talking to each other in memory, with a virtual clock:
//! every interaction model in both directions, credit, cancellation, errors, stream IDs,
//! fragmentation, keepalive, setup timeout, graceful close and lease.

mod support;

use std::time::Duration;

use bytes::Bytes;
use rsocket_proto::frame::Keepalive;
use rsocket_proto::{
    CloseReason, CommandError, Config, Credit, ErrorCode, Event, Frame, Payload, RequestKind,
    StreamId,
};
use support::{Pair, Rng, ScriptedPeer, Side, config_with_mtu, pattern_payload, raw};

fn requester_parity_ok(side: Side, id: StreamId) {
    assert!(!id.is_connection());
    assert_eq!(
        id.is_client_initiated(),
        side == Side::Client,
        "{side:?} used {id}"
    );
}

/// Frames one side sent on one stream.
fn frames_on(p: &Pair, side: Side, id: StreamId) -> Vec<Frame> {
    p.sent(side)
        .iter()
        .filter(|f| f.stream_id() == id)
        .cloned()
        .collect()
}

// ---- interaction models, both directions ------------------------------------------------------

#[test]
fn request_response_both_directions() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let req = Payload::from("ping").with_metadata("route");
        let id = p.conn(rq).request_response(now, req.clone()).unwrap();
        requester_parity_ok(rq, id);
        p.pump();
        let (sid, kind, payload) = p.expect_request(rs);
        assert_eq!((sid, kind, &payload), (id, RequestKind::Response, &req));
        // A request-response responder always completes, even when not asked to.
        p.conn(rs)
            .send_next(id, Payload::from("pong").with_metadata("m"), false)
            .unwrap();
        p.pump();
        assert_eq!(
            p.expect_next(rq),
            (id, Payload::from("pong").with_metadata("m"), true)
        );
        p.assert_no_events(rq);
        p.assert_no_events(rs);
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
        // Nothing more can be sent on the finished stream.
        assert_eq!(
            p.conn(rs).send_next(id, Payload::from("x"), true),
            Err(CommandError::UnknownStream(id))
        );
    }
}

#[test]
fn request_response_empty_completion() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_response(now, Payload::from("q"))
            .unwrap();
        p.pump();
        p.expect_request(rs);
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.conn(rq).stream_count(), 0);
        assert_eq!(p.conn(rs).stream_count(), 0);
    }
}

#[test]
fn fire_and_forget_both_directions() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        p.clear_logs();
        let now = p.now();
        let id = p
            .conn(rq)
            .fire_and_forget(now, Payload::from("fnf").with_metadata("md"))
            .unwrap();
        requester_parity_ok(rq, id);
        p.pump();
        let (sid, kind, payload) = p.expect_request(rs);
        assert_eq!(sid, id);
        assert_eq!(kind, RequestKind::FireAndForget);
        assert_eq!(payload, Payload::from("fnf").with_metadata("md"));
        assert!(p.sent(rs).is_empty(), "fire-and-forget got an answer");
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

#[test]
fn request_stream_both_directions() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_stream(now, Payload::from("s"), 5)
            .unwrap();
        requester_parity_ok(rq, id);
        p.pump();
        assert_eq!(
            p.expect_request(rs),
            (id, RequestKind::Stream { initial_n: 5 }, Payload::from("s"))
        );
        for i in 0..3u8 {
            p.conn(rs)
                .send_next(id, Payload::new(vec![i]), false)
                .unwrap();
        }
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        for i in 0..3u8 {
            assert_eq!(p.expect_next(rq), (id, Payload::new(vec![i]), false));
        }
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);

        // The last value may carry the completion.
        let now = p.now();
        let id = p
            .conn(rq)
            .request_stream(now, Payload::from("s"), 1)
            .unwrap();
        p.pump();
        p.expect_request(rs);
        p.conn(rs)
            .send_next(id, Payload::from("only"), true)
            .unwrap();
        p.pump();
        assert_eq!(p.expect_next(rq), (id, Payload::from("only"), true));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

#[test]
fn request_channel_both_directions() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, Payload::from("first"), 2, false)
            .unwrap();
        requester_parity_ok(rq, id);
        p.pump();
        assert_eq!(
            p.expect_request(rs),
            (
                id,
                RequestKind::Channel {
                    initial_n: 2,
                    complete: false
                },
                Payload::from("first")
            )
        );
        // The requester needs credit from the responder for further payloads.
        assert_eq!(
            p.conn(rq).send_next(id, Payload::from("x"), false),
            Err(CommandError::NoCredit(id))
        );
        p.conn(rs).request_n(id, 3).unwrap();
        p.pump();
        assert_eq!(
            p.next_event(rq),
            Some(Event::RequestN {
                stream_id: id,
                n: 3
            })
        );
        for i in 0..3u8 {
            p.conn(rq)
                .send_next(id, Payload::new(vec![i]), false)
                .unwrap();
        }
        assert_eq!(
            p.conn(rq).send_next(id, Payload::from("x"), false),
            Err(CommandError::NoCredit(id))
        );
        for i in 0..2u8 {
            p.conn(rs)
                .send_next(id, Payload::new(vec![10 + i]), false)
                .unwrap();
        }
        assert_eq!(
            p.conn(rs).send_next(id, Payload::from("x"), false),
            Err(CommandError::NoCredit(id))
        );
        p.pump();
        for i in 0..3u8 {
            assert_eq!(p.expect_next(rs), (id, Payload::new(vec![i]), false));
        }
        for i in 0..2u8 {
            assert_eq!(p.expect_next(rq), (id, Payload::new(vec![10 + i]), false));
        }
        p.conn(rq).send_complete(id).unwrap();
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rs), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

#[test]
fn metadata_push_both_directions() {
    let mut p = Pair::new();
    for from in Side::BOTH {
        p.conn(from)
            .metadata_push(Bytes::from_static(b"push!"))
            .unwrap();
        p.pump();
        assert_eq!(
            p.next_event(from.peer()),
            Some(Event::MetadataPush(Bytes::from_static(b"push!")))
        );
        p.assert_no_events(from);
        assert!(matches!(
            p.sent(from).last(),
            Some(Frame::MetadataPush(m)) if m.metadata == "push!"
        ));
    }
}

// ---- credit -----------------------------------------------------------------------------------

#[test]
fn request_n_exactness() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_stream(now, Payload::from("n"), 3)
            .unwrap();
        p.pump();
        p.expect_request(rs);
        assert_eq!(p.conn(rs).send_credit(id), Some(Credit::new(3)));
        let mut sent = 0;
        for i in 0..10u32 {
            match p.conn(rs).send_next(id, Payload::new(i.to_string()), false) {
                Ok(()) => sent += 1,
                Err(e) => {
                    assert_eq!(e, CommandError::NoCredit(id));
                    break;
                }
            }
        }
        assert_eq!(sent, 3);
        p.pump();
        for i in 0..3u32 {
            assert_eq!(p.expect_next(rq), (id, Payload::new(i.to_string()), false));
        }
        p.assert_no_events(rq);

        p.conn(rq).request_n(id, 2).unwrap();
        p.pump();
        assert_eq!(
            p.next_event(rs),
            Some(Event::RequestN {
                stream_id: id,
                n: 2
            })
        );
        assert_eq!(p.conn(rs).send_credit(id), Some(Credit::new(2)));
        let mut more = 0;
        for i in 3..10u32 {
            match p.conn(rs).send_next(id, Payload::new(i.to_string()), false) {
                Ok(()) => more += 1,
                Err(e) => {
                    assert_eq!(e, CommandError::NoCredit(id));
                    break;
                }
            }
        }
        assert_eq!(more, 2);
        p.pump();
        for i in 3..5u32 {
            assert_eq!(p.expect_next(rq), (id, Payload::new(i.to_string()), false));
        }
        p.assert_no_events(rq);
        // Completion needs no credit.
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.conn(rq).stream_count(), 0);
        assert_eq!(p.conn(rs).stream_count(), 0);
    }
}

#[test]
fn request_n_commands_are_validated() {
    let mut p = Pair::new();
    let now = p.now();
    assert_eq!(
        p.client.request_stream(now, Payload::from("x"), 0),
        Err(CommandError::InvalidRequestN(0))
    );
    assert_eq!(
        p.client
            .request_channel(now, Payload::from("x"), 0x8000_0000, false),
        Err(CommandError::InvalidRequestN(0x8000_0000))
    );
    let id = p.client.request_stream(now, Payload::from("x"), 1).unwrap();
    assert_eq!(
        p.client.request_n(id, 0),
        Err(CommandError::InvalidRequestN(0))
    );
    let rr = p.client.request_response(now, Payload::from("x")).unwrap();
    assert!(matches!(
        p.client.request_n(rr, 1),
        Err(CommandError::NotAllowed(_))
    ));
    p.pump();
    // Nothing invalid went out.
    assert!(
        p.c2s
            .iter()
            .all(|f| !matches!(f, Frame::RequestN(r) if r.n == 0))
    );
}

#[test]
fn unbounded_credit_is_never_consumed() {
    let mut p = Pair::new();
    let now = p.now();
    let id = p
        .client
        .request_stream(now, Payload::from("inf"), Credit::UNBOUNDED_GRANT)
        .unwrap();
    p.pump();
    p.expect_request(Side::Server);
    for i in 0..1000u32 {
        p.server
            .send_next(id, Payload::new(i.to_string()), false)
            .unwrap();
    }
    assert!(p.server.send_credit(id).unwrap().is_unbounded());
    p.pump();
    assert_eq!(p.take_events(Side::Client).len(), 1000);
}

// ---- channel half-close -----------------------------------------------------------------------

#[test]
fn channel_half_close_requester_first() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, Payload::from("a"), 4, false)
            .unwrap();
        p.pump();
        p.expect_request(rs);
        p.conn(rq).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rs), Some(Event::Complete { stream_id: id }));
        // The requester can no longer send; the responder still can.
        assert_eq!(
            p.conn(rq).send_next(id, Payload::from("late"), false),
            Err(CommandError::SendClosed(id))
        );
        assert_eq!(p.conn(rq).stream_count(), 1);
        assert_eq!(p.conn(rs).stream_count(), 1);
        p.conn(rs)
            .send_next(id, Payload::from("r1"), false)
            .unwrap();
        p.conn(rs).send_next(id, Payload::from("r2"), true).unwrap();
        p.pump();
        assert_eq!(p.expect_next(rq), (id, Payload::from("r1"), false));
        assert_eq!(p.expect_next(rq), (id, Payload::from("r2"), true));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

#[test]
fn channel_half_close_responder_first() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, Payload::from("a"), 4, false)
            .unwrap();
        p.pump();
        p.expect_request(rs);
        p.conn(rs).send_next(id, Payload::from("r"), true).unwrap();
        p.pump();
        assert_eq!(p.expect_next(rq), (id, Payload::from("r"), true));
        assert_eq!(
            p.conn(rs).send_next(id, Payload::from("late"), false),
            Err(CommandError::SendClosed(id))
        );
        assert_eq!(p.conn(rq).stream_count(), 1);
        assert_eq!(p.conn(rs).stream_count(), 1);
        // The requester's half is still open: it sends with the responder's credit.
        p.conn(rs).request_n(id, 1).unwrap();
        p.pump();
        assert_eq!(
            p.next_event(rq),
            Some(Event::RequestN {
                stream_id: id,
                n: 1
            })
        );
        p.conn(rq).send_next(id, Payload::from("q"), true).unwrap();
        p.pump();
        assert_eq!(p.expect_next(rs), (id, Payload::from("q"), true));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

#[test]
fn channel_complete_on_the_request_frame() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, Payload::from("only"), 2, true)
            .unwrap();
        p.pump();
        assert_eq!(
            p.expect_request(rs).1,
            RequestKind::Channel {
                initial_n: 2,
                complete: true
            }
        );
        assert_eq!(
            p.conn(rq).send_next(id, Payload::from("x"), false),
            Err(CommandError::SendClosed(id))
        );
        // A responder cannot grant credit to a finished requester side.
        assert!(matches!(
            p.conn(rs).request_n(id, 1),
            Err(CommandError::NotAllowed(_))
        ));
        p.conn(rs).send_next(id, Payload::from("1"), false).unwrap();
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.expect_next(rq), (id, Payload::from("1"), false));
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

// ---- cancellation -----------------------------------------------------------------------------

#[test]
fn requester_cancel_ends_every_model() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        for model in 0..3 {
            let now = p.now();
            let id = match model {
                0 => p.conn(rq).request_response(now, Payload::from("rr")),
                1 => p.conn(rq).request_stream(now, Payload::from("rs"), 10),
                _ => p
                    .conn(rq)
                    .request_channel(now, Payload::from("rc"), 10, false),
            }
            .unwrap();
            p.pump();
            p.expect_request(rs);
            if model > 0 {
                p.conn(rs).send_next(id, Payload::from("v"), false).unwrap();
                p.pump();
                p.expect_next(rq);
            }
            p.clear_logs();
            p.conn(rq).cancel(id).unwrap();
            assert_eq!(p.conn(rq).stream_count(), 0);
            p.pump();
            assert_eq!(p.next_event(rs), Some(Event::Cancel { stream_id: id }));
            assert_eq!(p.conn(rs).stream_count(), 0);
            // The responder can no longer send on it, and sent nothing after the CANCEL.
            assert_eq!(
                p.conn(rs).send_next(id, Payload::from("late"), true),
                Err(CommandError::UnknownStream(id))
            );
            p.pump();
            assert!(
                p.sent(rs).is_empty(),
                "frames after CANCEL: {:?}",
                p.sent(rs)
            );
            assert_eq!(frames_on(&p, rq, id).len(), 1);
            p.assert_no_events(rq);
            p.assert_no_events(rs);
        }
    }
}

#[test]
fn responder_cannot_cancel_a_stream() {
    let mut p = Pair::new();
    let now = p.now();
    let id = p.client.request_stream(now, Payload::from("s"), 1).unwrap();
    p.pump();
    p.expect_request(Side::Server);
    assert!(matches!(
        p.server.cancel(id),
        Err(CommandError::NotAllowed(_))
    ));
}

#[test]
fn channel_responder_cancel() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, Payload::from("c"), 5, false)
            .unwrap();
        p.pump();
        p.expect_request(rs);
        p.conn(rs).request_n(id, 5).unwrap();
        p.pump();
        assert!(matches!(p.next_event(rq), Some(Event::RequestN { .. })));
        // The responder cancels the requester's input; its own output continues.
        p.conn(rs).cancel(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rq), Some(Event::Cancel { stream_id: id }));
        assert_eq!(
            p.conn(rq).send_next(id, Payload::from("x"), false),
            Err(CommandError::SendClosed(id))
        );
        p.conn(rs)
            .send_next(id, Payload::from("out"), false)
            .unwrap();
        p.pump();
        assert_eq!(p.expect_next(rq), (id, Payload::from("out"), false));
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

// ---- errors -----------------------------------------------------------------------------------

#[test]
fn errors_with_standard_and_custom_codes() {
    let codes = [
        ErrorCode::APPLICATION_ERROR,
        ErrorCode::REJECTED,
        ErrorCode::CANCELED,
        ErrorCode::INVALID,
        ErrorCode(0x301),
        ErrorCode(0xDEAD),
        ErrorCode(0xFFFF_FFFE),
    ];
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        for (i, code) in codes.into_iter().enumerate() {
            let now = p.now();
            let id = if i % 2 == 0 {
                p.conn(rq).request_response(now, Payload::from("e"))
            } else {
                p.conn(rq).request_stream(now, Payload::from("e"), 3)
            }
            .unwrap();
            p.pump();
            p.expect_request(rs);
            let msg = format!("failure {i}: ünïcode");
            p.conn(rs).send_error(id, code, msg.clone()).unwrap();
            p.pump();
            assert_eq!(
                p.next_event(rq),
                Some(Event::Error {
                    stream_id: id,
                    code,
                    message: msg.clone()
                })
            );
            match p.sent(rs).last() {
                Some(Frame::Error(e)) => {
                    assert_eq!((e.stream_id, e.code), (id, code));
                    assert_eq!(&e.data[..], msg.as_bytes(), "data is the bare message");
                }
                other => panic!("expected ERROR, got {other:?}"),
            }
            assert_eq!(p.client.stream_count(), 0);
            assert_eq!(p.server.stream_count(), 0);
        }
    }
}

#[test]
fn connection_codes_on_a_stream_become_application_error() {
    let mut p = Pair::new();
    let now = p.now();
    let id = p.client.request_response(now, Payload::from("e")).unwrap();
    p.pump();
    p.expect_request(Side::Server);
    p.server
        .send_error(id, ErrorCode::CONNECTION_ERROR, "oops")
        .unwrap();
    p.pump();
    assert_eq!(
        p.next_event(Side::Client),
        Some(Event::Error {
            stream_id: id,
            code: ErrorCode::APPLICATION_ERROR,
            message: "oops".into()
        })
    );
    assert!(p.client.is_established() && p.server.is_established());
}

#[test]
fn channel_requester_error_ends_both_sides() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, Payload::from("c"), 5, false)
            .unwrap();
        p.pump();
        p.expect_request(rs);
        p.conn(rq)
            .send_error(id, ErrorCode(0x301), "requester gave up")
            .unwrap();
        p.pump();
        assert_eq!(
            p.next_event(rs),
            Some(Event::Error {
                stream_id: id,
                code: ErrorCode(0x301),
                message: "requester gave up".into()
            })
        );
        assert_eq!(
            p.conn(rs).send_next(id, Payload::from("x"), false),
            Err(CommandError::UnknownStream(id))
        );
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

// ---- stream IDs -------------------------------------------------------------------------------

#[test]
fn stream_ids_client_odd_from_1_server_even_from_2() {
    let mut p = Pair::new();
    let now = p.now();
    let client: Vec<u32> = (0..5)
        .map(|_| {
            p.client
                .fire_and_forget(now, Payload::from("c"))
                .unwrap()
                .get()
        })
        .collect();
    let server: Vec<u32> = (0..5)
        .map(|_| {
            p.server
                .fire_and_forget(now, Payload::from("s"))
                .unwrap()
                .get()
        })
        .collect();
    assert_eq!(client, [1, 3, 5, 7, 9]);
    assert_eq!(server, [2, 4, 6, 8, 10]);
    p.pump();
    assert_eq!(p.take_events(Side::Server).len(), 5);
    assert_eq!(p.take_events(Side::Client).len(), 5);
}

#[test]
fn stream_id_wraparound_skips_live_ids() {
    let mut p = Pair::new();
    for rq in Side::BOTH {
        let rs = rq.peer();
        let now = p.now();
        // Two live streams at the bottom of the ID space.
        let a = p
            .conn(rq)
            .request_stream(now, Payload::from("a"), 1)
            .unwrap();
        let b = p
            .conn(rq)
            .request_stream(now, Payload::from("b"), 1)
            .unwrap();
        let (first, top) = match rq {
            Side::Client => (1, StreamId::MAX.get()),
            Side::Server => (2, StreamId::MAX.get() - 1),
        };
        assert_eq!((a.get(), b.get()), (first, first + 2));
        p.conn(rq)
            .set_next_stream_id_for_test(StreamId::new(top - 2));
        let ids: Vec<u32> = (0..3)
            .map(|_| {
                p.conn(rq)
                    .fire_and_forget(now, Payload::from("f"))
                    .unwrap()
                    .get()
            })
            .collect();
        // The top two, then wrap to the start, skipping the two live IDs.
        assert_eq!(ids, [top - 2, top, first + 4]);
        p.pump();
        let got: Vec<u32> = p
            .take_events(rs)
            .into_iter()
            .filter_map(|e| match e {
                Event::Request {
                    stream_id,
                    kind: RequestKind::FireAndForget,
                    ..
                } => Some(stream_id.get()),
                _ => None,
            })
            .collect();
        assert_eq!(
            got, ids,
            "the responder accepts IDs near the top and reused ones"
        );

        // Once the live streams end, their IDs are reused.
        for id in [a, b] {
            p.conn(rs)
                .send_next(id, Payload::from("done"), true)
                .unwrap();
        }
        p.pump();
        assert_eq!(p.conn(rq).stream_count(), 0);
        p.conn(rq).set_next_stream_id_for_test(StreamId::new(top));
        let now = p.now();
        let ids: Vec<u32> = (0..2)
            .map(|_| {
                p.conn(rq)
                    .request_response(now, Payload::from("r"))
                    .unwrap()
                    .get()
            })
            .collect();
        assert_eq!(ids, [top, first]);
        p.pump();
        for id in ids {
            let (sid, ..) = p.expect_request(rs);
            assert_eq!(sid.get(), id);
            p.conn(rs).send_complete(sid).unwrap();
        }
        p.pump();
        p.take_events(rq);
        p.take_events(rs);
    }
}

// ---- fragmentation ----------------------------------------------------------------------------

/// True when a fragmentable frame says more fragments follow.
fn follows(f: &Frame) -> bool {
    match f {
        Frame::RequestResponse(r) => r.follows,
        Frame::RequestFnf(r) => r.follows,
        Frame::RequestStream(r) => r.follows,
        Frame::RequestChannel(r) => r.follows,
        Frame::Payload(p) => p.follows && !p.complete,
        _ => false,
    }
}

/// Checks the fragment sequences one side sent: metadata is complete before data starts, and
/// counts how many logical payloads went out per stream.
fn check_fragment_order(frames: &[Frame]) -> usize {
    let mut seen_data = std::collections::HashMap::new();
    let mut logical = 0;
    for f in frames {
        let Some(pl) = f.payload() else { continue };
        let id = f.stream_id();
        let data_started = seen_data.entry(id).or_insert(false);
        if *data_started {
            assert!(
                pl.metadata.as_ref().is_none_or(Bytes::is_empty),
                "metadata after data on stream {id}"
            );
        }
        *data_started |= !pl.data.is_empty();
        if !follows(f) {
            seen_data.remove(&id);
            logical += 1;
        }
    }
    logical
}

fn random_payload(rng: &mut Rng, max: usize) -> Payload {
    // Log-uniform sizes: many small payloads, some up to `max`.
    let cap = (1usize << rng.range(0, 19)).min(max);
    let data = rng.range(0, cap + 1);
    let mut p = Payload::new(rng.bytes(data));
    if !rng.one_in(3) {
        let cap = (1usize << rng.range(0, 19)).min(max - data);
        let len = rng.range(0, cap + 1);
        p = p.with_metadata(rng.bytes(len));
    }
    p
}

/// Runs every interaction model once in each direction with payloads from `next_payload`.
fn exchange_all_models(p: &mut Pair, mut next_payload: impl FnMut() -> Payload) {
    for rq in Side::BOTH {
        let rs = rq.peer();

        // Request-response.
        let (q, a) = (next_payload(), next_payload());
        let now = p.now();
        let id = p.conn(rq).request_response(now, q.clone()).unwrap();
        p.pump();
        assert_eq!(p.expect_request(rs), (id, RequestKind::Response, q));
        p.conn(rs).send_next(id, a.clone(), true).unwrap();
        p.pump();
        assert_eq!(p.expect_next(rq), (id, a, true));

        // Fire-and-forget.
        let q = next_payload();
        let now = p.now();
        let id = p.conn(rq).fire_and_forget(now, q.clone()).unwrap();
        p.pump();
        assert_eq!(p.expect_request(rs), (id, RequestKind::FireAndForget, q));

        // Request-stream: one credit per (fragmented) payload.
        let q = next_payload();
        let items = [next_payload(), next_payload()];
        let now = p.now();
        let id = p.conn(rq).request_stream(now, q.clone(), 2).unwrap();
        p.pump();
        assert_eq!(
            p.expect_request(rs),
            (id, RequestKind::Stream { initial_n: 2 }, q)
        );
        for (i, item) in items.iter().enumerate() {
            p.conn(rs).send_next(id, item.clone(), false).unwrap();
            assert_eq!(
                p.conn(rs).send_credit(id),
                Some(Credit::new(1 - i as u32)),
                "a fragmented payload costs exactly one credit"
            );
        }
        assert_eq!(
            p.conn(rs).send_next(id, Payload::from("x"), false),
            Err(CommandError::NoCredit(id))
        );
        p.pump();
        for item in items {
            assert_eq!(p.expect_next(rq), (id, item, false));
        }
        p.conn(rs).send_complete(id).unwrap();
        p.pump();
        assert_eq!(p.next_event(rq), Some(Event::Complete { stream_id: id }));

        // Request-channel, completing with the last (fragmented) payload of each side.
        let (q, q2, a) = (next_payload(), next_payload(), next_payload());
        let now = p.now();
        let id = p
            .conn(rq)
            .request_channel(now, q.clone(), 1, false)
            .unwrap();
        p.pump();
        assert_eq!(
            p.expect_request(rs),
            (
                id,
                RequestKind::Channel {
                    initial_n: 1,
                    complete: false
                },
                q
            )
        );
        p.conn(rs).request_n(id, 1).unwrap();
        p.pump();
        assert_eq!(
            p.next_event(rq),
            Some(Event::RequestN {
                stream_id: id,
                n: 1
            })
        );
        p.conn(rq).send_next(id, q2.clone(), true).unwrap();
        p.conn(rs).send_next(id, a.clone(), true).unwrap();
        p.pump();
        assert_eq!(p.expect_next(rs), (id, q2, true));
        assert_eq!(p.expect_next(rq), (id, a, true));

        p.assert_no_events(rq);
        p.assert_no_events(rs);
        assert_eq!(p.client.stream_count(), 0);
        assert_eq!(p.server.stream_count(), 0);
    }
}

#[test]
fn fragmentation_with_random_mtus() {
    let mut rng = Rng::new(0x5EED_F4A6);
    let mut fragmented_frames = 0;
    for round in 0..24 {
        let mtu = rng.range(64, 4097);
        let mut p = Pair::with_configs(config_with_mtu(mtu), config_with_mtu(mtu));
        let mut r = rng.clone();
        exchange_all_models(&mut p, || random_payload(&mut r, 200_000));
        rng.next_u64();
        // Every frame fit the MTU (checked by the pump); metadata always came first; each
        // fragment sequence was one logical payload.
        for side in Side::BOTH {
            let frames = p.sent(side);
            fragmented_frames += frames.iter().filter(|f| follows(f)).count();
            let logical = check_fragment_order(frames);
            assert!(
                logical >= 9,
                "round {round}: {logical} payloads from {side:?}"
            );
        }
    }
    assert!(fragmented_frames > 100, "the test never fragmented");
}

#[test]
fn fragmentation_worst_case_smallest_mtu_largest_payload() {
    let mut p = Pair::with_configs(config_with_mtu(64), config_with_mtu(64));
    let mut seed = 0u8;
    exchange_all_models(&mut p, || {
        seed = seed.wrapping_add(1);
        pattern_payload(seed, 100_000, Some(100_000))
    });
    for side in Side::BOTH {
        assert!(p.sent(side).len() > 20_000);
        check_fragment_order(p.sent(side));
    }
}

#[test]
fn fragmentation_of_metadata_only_and_empty_payloads() {
    let mut p = Pair::with_configs(config_with_mtu(64), config_with_mtu(64));
    let payloads = [
        Payload::default(),
        Payload::default().with_metadata(Bytes::new()),
        pattern_payload(1, 0, Some(500)),
        pattern_payload(2, 500, Some(0)),
        pattern_payload(3, 51, None),
        pattern_payload(4, 52, None),
    ];
    let mut i = 0;
    exchange_all_models(&mut p, || {
        i += 1;
        payloads[i % payloads.len()].clone()
    });
}

// ---- keepalive and timeouts -------------------------------------------------------------------

fn keepalive_config(interval_ms: u64, lifetime_ms: u64) -> Config {
    Config {
        keepalive_interval: Duration::from_millis(interval_ms),
        max_lifetime: Duration::from_millis(lifetime_ms),
        ..Config::default()
    }
}

#[test]
fn client_sends_keepalive_every_interval_and_server_answers() {
    let mut p = Pair::with_configs(keepalive_config(1000, 5000), Config::default());
    let setup = p.server.setup().unwrap().clone();
    assert_eq!(
        (setup.keepalive_interval_ms, setup.max_lifetime_ms),
        (1000, 5000)
    );
    p.advance(Duration::from_millis(10_500));
    let sent: Vec<&Keepalive> = p
        .c2s
        .iter()
        .filter_map(|f| match f {
            Frame::Keepalive(k) => Some(k),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 10, "one KEEPALIVE per second");
    assert!(sent.iter().all(|k| k.respond));
    let answers: Vec<&Keepalive> = p
        .s2c
        .iter()
        .filter_map(|f| match f {
            Frame::Keepalive(k) => Some(k),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 10);
    for (q, a) in sent.iter().zip(&answers) {
        assert!(!a.respond);
        assert_eq!(q.data, a.data);
    }
    // Kept alive far past the max lifetime.
    assert!(p.client.is_established() && p.server.is_established());
    p.assert_no_events(Side::Client);
    p.assert_no_events(Side::Server);
}

#[test]
fn server_closes_after_max_lifetime_of_silence() {
    let mut p = Pair::with_configs(keepalive_config(1000, 3000), Config::default());
    p.cut_c2s = true;
    p.advance(Duration::from_millis(2999));
    assert!(p.server.is_established(), "closed before the max lifetime");
    p.advance(Duration::from_millis(1));
    assert!(p.server.is_closed());
    assert_eq!(
        p.take_events(Side::Server),
        [Event::Closed(CloseReason::KeepaliveTimeout(
            Duration::from_millis(3000)
        ))]
    );
    match p.s2c.last() {
        Some(Frame::Error(e)) => {
            assert!(e.stream_id.is_connection());
            assert_eq!(e.code, ErrorCode::CONNECTION_ERROR);
        }
        other => panic!("expected ERROR[CONNECTION_ERROR], got {other:?}"),
    }
    // The client heard nothing either (its keepalives were lost): it is closed too.
    assert!(p.client.is_closed());
    assert!(matches!(
        p.take_events(Side::Client).last(),
        Some(Event::Closed(_))
    ));
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn client_closes_when_the_server_goes_silent() {
    let mut p = Pair::with_configs(keepalive_config(1000, 3000), Config::default());
    p.cut_s2c = true;
    p.advance(Duration::from_millis(2999));
    assert!(p.client.is_established());
    p.advance(Duration::from_millis(1));
    assert_eq!(
        p.take_events(Side::Client),
        [Event::Closed(CloseReason::KeepaliveTimeout(
            Duration::from_millis(3000)
        ))]
    );
    // The server kept hearing the client's keepalives until the client's final ERROR.
    assert_eq!(
        p.take_events(Side::Server),
        [Event::Closed(CloseReason::Peer {
            code: ErrorCode::CONNECTION_ERROR,
            message: "no KEEPALIVE received within the max lifetime of 3s".into()
        })]
    );
}

#[test]
fn any_frame_keeps_the_connection_alive() {
    // The server never sends KEEPALIVE itself; traffic alone keeps it alive.
    let mut p = Pair::with_configs(keepalive_config(1000, 3000), Config::default());
    let now = p.now();
    let id = p
        .client
        .request_channel(now, Payload::from("c"), 1000, false)
        .unwrap();
    p.pump();
    p.expect_request(Side::Server);
    p.server.request_n(id, 1000).unwrap();
    p.pump();
    p.take_events(Side::Client);
    for i in 0..20u32 {
        p.advance(Duration::from_millis(500));
        p.client
            .send_next(id, Payload::new(i.to_string()), false)
            .unwrap();
        p.server
            .send_next(id, Payload::new(i.to_string()), false)
            .unwrap();
        p.pump();
    }
    assert!(p.client.is_established() && p.server.is_established());
}

#[test]
fn setup_timeout() {
    let config = Config {
        limits: rsocket_proto::Limits {
            setup_timeout: Duration::from_secs(5),
            ..Default::default()
        },
        ..Config::default()
    };
    let mut peer = ScriptedPeer::server(config);
    assert_eq!(
        peer.conn.poll_timeout(),
        Some(peer.now() + Duration::from_secs(5))
    );
    peer.advance(Duration::from_millis(4999));
    assert!(!peer.conn.is_closed());
    peer.expect_silence();
    peer.advance(Duration::from_millis(1));
    peer.expect_closed_with(ErrorCode::INVALID_SETUP);
    // A late SETUP is ignored.
    peer.send_raw(&raw::Setup::default().build());
    peer.expect_silence();
    peer.expect_no_events();
}

// ---- graceful close ---------------------------------------------------------------------------

#[test]
fn graceful_close_waits_for_streams() {
    for closer in Side::BOTH {
        let other = closer.peer();
        let mut p = Pair::new();
        let now = p.now();
        // One stream each way.
        let up = p
            .client
            .request_stream(now, Payload::from("up"), 10)
            .unwrap();
        let down = p
            .server
            .request_response(now, Payload::from("down"))
            .unwrap();
        p.pump();
        p.expect_request(Side::Server);
        p.expect_request(Side::Client);

        p.conn(closer).close();
        p.pump();
        assert!(matches!(
            p.sent(closer).last(),
            Some(Frame::Error(e)) if e.stream_id.is_connection()
                && e.code == ErrorCode::CONNECTION_CLOSE
        ));
        for side in Side::BOTH {
            assert!(
                !p.conn(side).is_closed(),
                "{side:?} closed with streams open"
            );
            // No new requests either way.
            let now = p.now();
            assert_eq!(
                p.conn(side).request_response(now, Payload::from("new")),
                Err(CommandError::Draining)
            );
        }
        // Outstanding streams still work.
        p.server.send_next(up, Payload::from("1"), false).unwrap();
        p.pump();
        assert_eq!(p.expect_next(Side::Client), (up, Payload::from("1"), false));
        p.server.send_complete(up).unwrap();
        p.client
            .send_next(down, Payload::from("answer"), true)
            .unwrap();
        p.pump();
        assert_eq!(
            p.next_event(Side::Client),
            Some(Event::Complete { stream_id: up })
        );
        assert_eq!(
            p.expect_next(Side::Server),
            (down, Payload::from("answer"), true)
        );
        assert_eq!(
            p.take_events(closer),
            [Event::Closed(CloseReason::Graceful)]
        );
        assert!(matches!(
            p.take_events(other).as_slice(),
            [Event::Closed(CloseReason::Peer {
                code: ErrorCode::CONNECTION_CLOSE,
                ..
            })]
        ));
        assert!(p.client.is_closed() && p.server.is_closed());
    }
}

#[test]
fn graceful_close_finishes_when_the_last_stream_ends_by_cancel_or_error() {
    for how in ["cancel", "error"] {
        let mut p = Pair::new();
        let now = p.now();
        let id = p
            .client
            .request_stream(now, Payload::from("s"), 10)
            .unwrap();
        p.pump();
        p.expect_request(Side::Server);
        p.client.close();
        p.pump();
        assert!(!p.client.is_closed() && !p.server.is_closed());
        match how {
            // The closing side ends its last stream itself.
            "cancel" => p.client.cancel(id).unwrap(),
            // The side that was asked to close ends its last stream itself.
            _ => p.server.send_error(id, ErrorCode(0x301), "bye").unwrap(),
        }
        p.pump();
        assert!(p.client.is_closed(), "{how}: client still open");
        assert!(p.server.is_closed(), "{how}: server still open");
        assert!(
            p.take_events(Side::Client)
                .contains(&Event::Closed(CloseReason::Graceful))
        );
    }
}

#[test]
fn graceful_close_without_streams_is_immediate() {
    let mut p = Pair::new();
    p.client.close();
    p.pump();
    assert_eq!(
        p.take_events(Side::Client),
        [Event::Closed(CloseReason::Graceful)]
    );
    assert!(p.server.is_closed());
    // A closed connection ignores input and refuses commands.
    let now = p.now();
    assert_eq!(
        p.client.request_response(now, Payload::from("x")),
        Err(CommandError::Closed)
    );
}

#[test]
fn draining_responder_rejects_new_requests() {
    let mut p = Pair::new();
    let now = p.now();
    let id = p.client.request_stream(now, Payload::from("s"), 1).unwrap();
    p.pump();
    p.expect_request(Side::Server);
    p.server.close();
    p.pump();
    // A request that was already on its way when the close arrived is refused.
    p.inject(Side::Server, &raw::request_response(101, 0, None, b"late"));
    p.assert_no_events(Side::Server);
    assert!(p.s2c.iter().any(|f| matches!(
        f,
        Frame::Error(e) if e.stream_id.get() == 101 && e.code == ErrorCode::REJECTED
    )));
    p.server.send_complete(id).unwrap();
    p.pump();
    assert!(p.server.is_closed() && p.client.is_closed());
}

// ---- lease ------------------------------------------------------------------------------------

fn lease_config() -> Config {
    Config {
        lease: true,
        ..Config::default()
    }
}

#[test]
fn lease_basics() {
    let mut p = Pair::with_configs(lease_config(), lease_config());
    assert!(p.client.lease_enabled() && p.server.lease_enabled());
    let now = p.now();
    for side in Side::BOTH {
        assert!(matches!(
            p.conn(side).request_response(now, Payload::from("x")),
            Err(CommandError::NoLease(_))
        ));
        assert_eq!(p.conn(side).availability(now), 0.0);
    }
    p.pump();
    assert!(
        p.c2s
            .iter()
            .all(|f| !matches!(f, Frame::RequestResponse(_)))
    );

    // Each responder grants its requester two requests for ten seconds.
    for rs in Side::BOTH {
        let rq = rs.peer();
        let now = p.now();
        p.conn(rs)
            .send_lease(now, Duration::from_secs(10), 2, None)
            .unwrap();
        p.pump();
        assert!(matches!(
            p.next_event(rq),
            Some(Event::Lease(l)) if l.ttl_ms == 10_000 && l.number_of_requests == 2
        ));
        assert_eq!(p.conn(rq).availability(now), 1.0);
        let a = p
            .conn(rq)
            .request_response(now, Payload::from("1"))
            .unwrap();
        let b = p.conn(rq).fire_and_forget(now, Payload::from("2")).unwrap();
        assert!(matches!(
            p.conn(rq).request_stream(now, Payload::from("3"), 1),
            Err(CommandError::NoLease(_))
        ));
        p.pump();
        assert_eq!(p.expect_request(rs).0, a);
        assert_eq!(p.expect_request(rs).0, b);
        p.conn(rs).send_complete(a).unwrap();
        p.pump();
        p.take_events(rq);
    }

    // A lease expires with its TTL.
    let now = p.now();
    p.server
        .send_lease(now, Duration::from_secs(1), 100, None)
        .unwrap();
    p.pump();
    p.take_events(Side::Client);
    p.advance(Duration::from_secs(1));
    let now = p.now();
    assert!(matches!(
        p.client.request_response(now, Payload::from("late")),
        Err(CommandError::NoLease(_))
    ));
}

#[test]
fn lease_raw_request_beyond_the_lease_is_rejected() {
    let mut p = Pair::with_configs(lease_config(), lease_config());
    let now = p.now();
    p.server
        .send_lease(now, Duration::from_secs(10), 1, None)
        .unwrap();
    p.pump();
    p.take_events(Side::Client);
    let now = p.now();
    let id = p.client.request_response(now, Payload::from("ok")).unwrap();
    p.pump();
    assert_eq!(p.expect_request(Side::Server).0, id);
    // A requester that ignores the lease.
    p.inject(
        Side::Server,
        &raw::request_response(1001, 0, None, b"greedy"),
    );
    p.assert_no_events(Side::Server);
    match p.s2c.last() {
        Some(Frame::Error(e)) => {
            assert_eq!(e.stream_id.get(), 1001);
            assert_eq!(e.code, ErrorCode::REJECTED);
        }
        other => panic!("expected ERROR[REJECTED], got {other:?}"),
    }
    assert!(p.server.is_established());
}

#[test]
fn lease_not_allowed_without_lease() {
    let mut p = Pair::new();
    let now = p.now();
    assert!(matches!(
        p.server.send_lease(now, Duration::from_secs(1), 1, None),
        Err(CommandError::NotAllowed(_))
    ));
    assert_eq!(p.client.availability(now), 1.0);
}

#[test]
fn lease_requested_from_a_server_without_lease_is_refused() {
    let now = std::time::Instant::now();
    let mut client = rsocket_proto::Connection::client(
        now,
        lease_config(),
        rsocket_proto::SetupParams::default(),
    );
    let mut server = rsocket_proto::Connection::server(now, Config::default());
    while let Some(f) = client.poll_transmit() {
        assert!(matches!(&f, Frame::Setup(s) if s.lease));
        server.handle_frame(now, f);
    }
    assert!(server.is_closed());
    while let Some(f) = server.poll_transmit() {
        client.handle_frame(now, f);
    }
    assert!(client.is_closed());
    assert!(matches!(
        client.poll_event(),
        Some(Event::Closed(CloseReason::Peer {
            code: ErrorCode::UNSUPPORTED_SETUP,
            ..
        }))
    ));
}
