//! The state of one stream, seen from this side of the connection.
//!
//! Each stream has two halves: what we may still send (`send_open`) and what the peer may
//! still send (`recv_open`). The stream is forgotten once both are closed. Per interaction
//! model (Protocol.md "Stream Sequences and Lifetimes"):
//!
//! | model | requester sends | responder sends |
//! |---|---|---|
//! | request-response | the request; CANCEL | one PAYLOAD(N+C), PAYLOAD(C) or ERROR |
//! | request-stream | the request; REQUEST_N; CANCEL | PAYLOAD(N)* within credit, then PAYLOAD(C) or ERROR |
//! | request-channel | the request, PAYLOAD(N)* within credit, PAYLOAD(C), ERROR; REQUEST_N; CANCEL | PAYLOAD(N)* within credit, PAYLOAD(C), ERROR; REQUEST_N; CANCEL |
//!
//! An ERROR from either side ends both halves. A requester's CANCEL ends both halves; a
//! channel responder's CANCEL ends only the requester's sending half.

use crate::credit::Credit;

use super::fragment::Reassembly;

/// The interaction model of a live stream (fire-and-forget keeps no state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Response,
    Stream,
    Channel,
}

#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) kind: StreamKind,
    /// We are the requester.
    pub(crate) local: bool,
    /// We may still send values or completion.
    pub(crate) send_open: bool,
    /// The peer may still send values or completion.
    pub(crate) recv_open: bool,
    /// PAYLOADs we may still send.
    pub(crate) send_credit: Credit,
    /// PAYLOADs we allowed the peer and it has not sent yet.
    pub(crate) recv_credit: Credit,
    /// A fragmented inbound payload in progress (boxed: rare, and the stream table's
    /// entries stay small).
    pub(crate) reassembly: Option<Box<Reassembly>>,
    /// We sent something on it (responder): used by the rapid-cancel guard.
    pub(crate) responded: bool,
}

impl StreamState {
    pub(crate) fn new(kind: StreamKind, local: bool) -> Self {
        StreamState {
            kind,
            local,
            send_open: true,
            recv_open: true,
            send_credit: Credit::ZERO,
            recv_credit: Credit::ZERO,
            reassembly: None,
            responded: false,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        !self.send_open && !self.recv_open
    }
}
