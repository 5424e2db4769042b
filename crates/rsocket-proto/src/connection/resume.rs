//! Session resumption (Protocol.md "Resuming Operation"): the frames kept for retransmission.
//!
//! Every resumable frame sent (REQUEST_*, REQUEST_N, CANCEL, ERROR, PAYLOAD, after
//! fragmentation) is kept with its implied position until the peer acknowledges it, by the
//! position in its KEEPALIVE frames or in RESUME / RESUME_OK. After a reconnection the frames
//! past the peer's acknowledged position are sent again, in order.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use crate::frame::Frame;

/// Resumption settings.
#[derive(Clone, Debug)]
pub struct ResumeConfig {
    /// How long a session outlives its transport before it expires. Default 60 s.
    pub session_timeout: Duration,
    /// Bytes of sent, unacknowledged frames kept per session. Default 16 MiB; a session that
    /// would keep more closes with CONNECTION_ERROR rather than grow without bound.
    pub max_store_bytes: usize,
}

impl Default for ResumeConfig {
    fn default() -> Self {
        ResumeConfig {
            session_timeout: Duration::from_secs(60),
            max_store_bytes: 16 << 20,
        }
    }
}

/// Sent frames not yet acknowledged by the peer.
#[derive(Debug, Default)]
pub(crate) struct ResumeStore {
    frames: VecDeque<(Frame, usize)>,
    /// Implied position of the first kept frame.
    first: u64,
    bytes: usize,
}

impl ResumeStore {
    pub(crate) fn push(&mut self, frame: Frame, len: usize) {
        self.bytes += len;
        self.frames.push_back((frame, len));
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Position of the earliest frame still kept.
    pub(crate) fn first_position(&self) -> u64 {
        self.first
    }

    /// Forgets every frame that ends at or before `pos`.
    pub(crate) fn release(&mut self, pos: u64) {
        while let Some((_, len)) = self.frames.front() {
            let end = self.first + *len as u64;
            if end > pos {
                break;
            }
            self.first = end;
            self.bytes -= *len;
            self.frames.pop_front();
        }
    }

    /// The kept frames, oldest first.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &(Frame, usize)> {
        self.frames.iter()
    }
}

/// Resumption state of a connection that has it enabled.
#[derive(Debug)]
pub(crate) struct ResumeState {
    pub(crate) config: ResumeConfig,
    pub(crate) token: Bytes,
    pub(crate) store: ResumeStore,
    /// The received position last acknowledged to the peer.
    pub(crate) acked: u64,
}

impl ResumeState {
    pub(crate) fn new(config: ResumeConfig, token: Bytes) -> Self {
        ResumeState {
            config,
            token,
            store: ResumeStore::default(),
            acked: 0,
        }
    }

    /// Bytes received after which the receiver acknowledges without waiting for the next
    /// KEEPALIVE: a quarter of the store limit, so a busy peer's store never fills between
    /// keepalive intervals.
    pub(crate) fn ack_every(&self) -> u64 {
        (self.config.max_store_bytes as u64 / 4).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Cancel, StreamId};

    fn cancel(id: u32) -> Frame {
        Frame::Cancel(Cancel {
            stream_id: StreamId::new(id),
        })
    }

    #[test]
    fn releases_whole_frames_only() {
        let mut s = ResumeStore::default();
        s.push(cancel(1), 6);
        s.push(cancel(3), 6);
        s.push(cancel(5), 6);
        s.release(7); // inside the second frame: only the first goes
        assert_eq!(s.first_position(), 6);
        assert_eq!(s.bytes(), 12);
        s.release(18);
        assert_eq!(s.first_position(), 18);
        assert_eq!(s.frames().count(), 0);
    }
}
