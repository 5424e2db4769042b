//! Connection configuration and limits, with their defaults.

use std::time::Duration;

use bytes::Bytes;

use crate::Payload;
use crate::frame::MAX_FRAME_LEN;

/// Smallest MTU (and smallest non-final inbound fragment) accepted: 64 bytes, as rsocket-java's
/// `MIN_MTU_SIZE`. Smaller fragments are only a way to burn the receiver's CPU.
pub const MIN_MTU: usize = 64;

/// Connection settings shared by both roles.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client: interval between KEEPALIVE frames, announced in SETUP. Default 20 s (as
    /// rsocket-java). The server uses the value from the client's SETUP instead.
    pub keepalive_interval: Duration,
    /// Client: time without hearing from the server after which the connection is considered
    /// dead, announced in SETUP. Default 90 s. The server uses the client's value.
    pub max_lifetime: Duration,
    /// Fragment outbound frames larger than this many bytes (frame without its length prefix).
    /// `None` (the default) sends whole frames, but still splits payloads that would exceed the
    /// protocol's 16,777,215-byte frame limit. Values below [`MIN_MTU`] are raised to it.
    pub mtu: Option<usize>,
    /// Lease: a client asks for it in SETUP; a server accepts SETUPs with the L flag only when
    /// this is set (otherwise it answers UNSUPPORTED_SETUP). Default off.
    pub lease: bool,
    /// Session resumption. A client enables it by giving a resume token in
    /// [`SetupParams::resume_token`] (these settings, or the defaults, then apply); a server
    /// accepts SETUPs asking for it only when this is set (otherwise REJECTED_SETUP).
    /// Default off.
    pub resume: Option<super::ResumeConfig>,
    /// Resource limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keepalive_interval: Duration::from_secs(20),
            max_lifetime: Duration::from_secs(90),
            mtu: None,
            lease: false,
            resume: None,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The MTU in force: [`Config::mtu`] clamped to [[`MIN_MTU`], [`MAX_FRAME_LEN`]].
    pub fn effective_mtu(&self) -> usize {
        self.mtu
            .unwrap_or(MAX_FRAME_LEN)
            .clamp(MIN_MTU, MAX_FRAME_LEN)
    }
}

/// Limits that protect a connection from its peer. Every one is enforced by the state machine.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest inbound frame (without length prefix). Default and maximum: 16,777,215 bytes.
    pub max_frame_size: usize,
    /// Largest payload (data plus metadata) after reassembly of fragments. Default 64 MiB;
    /// a larger request is refused with ERROR\[REJECTED\], a larger response ends its stream.
    pub max_payload_size: usize,
    /// Bytes of all partially reassembled payloads of one connection together. Default
    /// 128 MiB; going over it is a connection error.
    pub max_reassembly_bytes: usize,
    /// Smallest non-final inbound fragment (frame length). Default [`MIN_MTU`]; a smaller one
    /// is a connection error (the "empty fragment flood").
    pub min_fragment_size: usize,
    /// Streams the peer may have open at once (its requests in progress). Default 100,000;
    /// a request over the limit gets ERROR\[REJECTED\] and is never processed.
    pub max_concurrent_streams: usize,
    /// Largest KEEPALIVE data echoed. Default 64 KiB; a larger echo request is a connection
    /// error, so a peer cannot use us to amplify.
    pub max_keepalive_data: usize,
    /// Time allowed from connection start to a valid SETUP (server). Default 10 s.
    pub setup_timeout: Duration,
    /// Time allowed to receive one frame once its first byte arrived. Default 30 s; a peer
    /// that announces a large frame and then trickles it (or never sends it) is disconnected.
    /// Enforced by the transport driver, which sees partial frames.
    pub frame_read_timeout: Duration,
    /// Window of the rapid-cancel guard. Default 1 s.
    pub cancel_window: Duration,
    /// Requests the peer may cancel (or end with ERROR) before any response within one window.
    /// Default 10,000; above it the connection is closed with CONNECTION_ERROR (HTTP/2 "Rapid
    /// Reset"). Requests abandoned while their fragments were still arriving do not count: no
    /// handler was started for them, and the spec allows it.
    pub max_cancels_per_window: u32,
    /// Frames the spec says to ignore (unknown streams, I-flag frames, ...) accepted per
    /// window before the connection is closed. Default 100,000 per `cancel_window`.
    pub max_ignored_per_window: u32,
    /// Bytes of frames queued for transmission that the application may add to before sends
    /// are refused ([`super::Connection::can_send`] turns false). Default 16 MiB. Frames the
    /// protocol itself must send (errors, keepalive answers) are always queued.
    pub max_pending_transmit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: MAX_FRAME_LEN,
            max_payload_size: 64 << 20,
            max_reassembly_bytes: 128 << 20,
            min_fragment_size: MIN_MTU,
            max_concurrent_streams: 100_000,
            max_keepalive_data: 64 << 10,
            setup_timeout: Duration::from_secs(10),
            frame_read_timeout: Duration::from_secs(30),
            cancel_window: Duration::from_secs(1),
            max_cancels_per_window: 10_000,
            max_ignored_per_window: 100_000,
            max_pending_transmit: 16 << 20,
        }
    }
}

/// What a client announces in its SETUP frame besides timing.
#[derive(Clone, Debug)]
pub struct SetupParams {
    /// MIME type of metadata. Default `message/x.rsocket.composite-metadata.v0`.
    pub metadata_mime_type: String,
    /// MIME type of data. Default `application/octet-stream`.
    pub data_mime_type: String,
    /// The setup payload.
    pub payload: Payload,
    /// Resume token; `Some` asks the server for resumption.
    pub resume_token: Option<Bytes>,
}

impl Default for SetupParams {
    fn default() -> Self {
        SetupParams {
            metadata_mime_type: "message/x.rsocket.composite-metadata.v0".into(),
            data_mime_type: "application/octet-stream".into(),
            payload: Payload::default(),
            resume_token: None,
        }
    }
}
