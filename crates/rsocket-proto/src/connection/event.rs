//! What the connection reports to the application.

use std::time::Duration;

use bytes::Bytes;

use crate::Payload;
use crate::frame::{ErrorCode, Lease, Setup, StreamId};

/// The interaction model of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// REQUEST_RESPONSE.
    Response,
    /// REQUEST_FNF.
    FireAndForget,
    /// REQUEST_STREAM with the requester's initial credit.
    Stream {
        /// Initial request-n.
        initial_n: u32,
    },
    /// REQUEST_CHANNEL with the requester's initial credit.
    Channel {
        /// Initial request-n.
        initial_n: u32,
        /// The requester sent its only payload (C flag).
        complete: bool,
    },
}

/// An event for the application, taken with [`super::Connection::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Server: the client's SETUP passed the protocol's checks. The connection is established;
    /// the application may still refuse it with [`super::Connection::reject_setup`] before it
    /// feeds the next frame.
    Setup(Box<Setup>),
    /// The peer opened a stream (or fired and forgot).
    Request {
        /// The stream.
        stream_id: StreamId,
        /// The interaction model.
        kind: RequestKind,
        /// The (reassembled) request payload.
        payload: Payload,
    },
    /// A value arrived on a stream; `complete` when it is the last.
    Next {
        /// The stream.
        stream_id: StreamId,
        /// The (reassembled) value.
        payload: Payload,
        /// The peer's side is complete too.
        complete: bool,
    },
    /// The peer completed its side of the stream without a value.
    Complete {
        /// The stream.
        stream_id: StreamId,
    },
    /// The peer granted `n` more credit; [`super::Connection::send_credit`] has the total.
    RequestN {
        /// The stream.
        stream_id: StreamId,
        /// Added credit.
        n: u32,
    },
    /// The peer canceled: stop sending on this stream. When we are the responder the whole
    /// stream is over; when we requested a channel, only our sending side is.
    Cancel {
        /// The stream.
        stream_id: StreamId,
    },
    /// The stream ended with an error: one the peer sent, or a violation we detected (then an
    /// ERROR or CANCEL has been sent to the peer already).
    Error {
        /// The stream.
        stream_id: StreamId,
        /// The code.
        code: ErrorCode,
        /// The message.
        message: String,
    },
    /// METADATA_PUSH from the peer.
    MetadataPush(Bytes),
    /// Client or server requester: the peer granted a lease.
    Lease(Lease),
    /// Server: the first frame of this connection is RESUME. The session it names lives in
    /// another connection: find it by token and call [`super::Connection::handle_resume`] on it
    /// with this frame, moving the transport there; this connection is then dropped. If there
    /// is no such session, answer with [`super::Connection::close_with_error`]
    /// (REJECTED_RESUME).
    Resume(crate::frame::Resume),
    /// The transport was lost but the session lives on (resumption enabled): streams are kept,
    /// new frames are stored for retransmission. A client should reconnect and call
    /// [`super::Connection::start_resume`]; a server waits for the client's RESUME. The
    /// session expires after [`super::ResumeConfig::session_timeout`].
    Disconnected,
    /// The session resumed on a new transport; retransmission is queued. Lease restarts: a
    /// responder should send a new LEASE.
    Resumed,
    /// The connection is over. Every stream still open has ended; the application should
    /// flush [`super::Connection::poll_transmit`] and close the transport.
    Closed(CloseReason),
}

/// Why a connection closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer sent ERROR on stream 0.
    #[error("peer closed the connection: {code}: {message}")]
    Peer {
        /// The code.
        code: ErrorCode,
        /// The message.
        message: String,
    },
    /// We closed it with an ERROR on stream 0 (protocol violation, local decision).
    #[error("connection closed: {code}: {message}")]
    Local {
        /// The code sent.
        code: ErrorCode,
        /// The message sent.
        message: String,
    },
    /// Nothing was heard from the peer for the max lifetime.
    #[error("no frame from the peer within the max lifetime of {0:?}")]
    KeepaliveTimeout(Duration),
    /// The transport ended.
    #[error("transport closed")]
    TransportClosed,
    /// A graceful close finished: every stream ended.
    #[error("connection closed gracefully")]
    Graceful,
    /// A resumable session found no new transport within its timeout.
    #[error("the session expired after {0:?} without a transport")]
    SessionExpired(Duration),
}
