//! The transmit queue: frames waiting to be written, as frames or already encoded.

use super::Connection;
use crate::Frame;
use crate::codec::EncodedFrames;
use crate::frame::EncodeError;

impl Connection {
    /// From now on, encodes every frame to send straight into a buffer for a byte-stream
    /// transport (each with its length prefix; payload data of `zero_copy_min` bytes or more
    /// is kept uncopied, see [`EncodedFrames`]) instead of queueing it for
    /// [`Connection::poll_transmit`]: frames already queued are encoded first. Saves moving
    /// each frame through a queue and encoding it later; take the bytes with
    /// [`Connection::encoded_transmit`]. There is no way back.
    pub fn encode_transmit(&mut self, zero_copy_min: usize) {
        if self.encoded.is_some() {
            return;
        }
        self.encoded = Some(EncodedFrames::new(zero_copy_min));
        let queued = std::mem::take(&mut self.transmit);
        self.transmit_bytes = 0;
        for (frame, len) in queued {
            self.push_transmit(frame, len);
        }
    }

    /// The frames waiting to be written, encoded (`None` unless
    /// [`Connection::encode_transmit`] was called). Write from the front and
    /// [`EncodedFrames::consume`] what was written, or move it all to the transport with
    /// [`EncodedFrames::append`].
    pub fn encoded_transmit(&mut self) -> Option<&mut EncodedFrames> {
        self.encoded.as_mut()
    }

    /// Why the last frame that could not be encoded (and was dropped) failed, once. Only with
    /// [`Connection::encode_transmit`]; frames from [`Connection::poll_transmit`] fail when the
    /// application encodes them.
    pub fn take_encode_error(&mut self) -> Option<EncodeError> {
        self.encode_error.take()
    }

    /// Queues a frame of `len` encoded bytes (without length prefix).
    pub(super) fn push_transmit(&mut self, frame: Frame, len: usize) {
        match &mut self.encoded {
            Some(e) => {
                if let Err(err) = e.push_sized(&frame, len) {
                    self.encode_error = Some(err);
                }
            }
            None => {
                self.transmit_bytes += len;
                self.transmit.push_back((frame, len));
            }
        }
    }

    /// Drops every frame waiting (the transport is gone or replaced).
    pub(super) fn clear_transmit(&mut self) {
        self.transmit.clear();
        self.transmit_bytes = 0;
        if let Some(e) = &mut self.encoded {
            e.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::time::Instant;

    use bytes::{Bytes, BytesMut};

    use crate::{Config, Connection, Payload, SetupParams};

    /// The same requests from a connection that queues frames and from one that encodes them.
    fn run(now: Instant, mtu: Option<usize>, encode: Option<usize>) -> (Vec<u8>, usize) {
        let config = Config {
            mtu,
            ..Config::default()
        };
        let mut c = Connection::client(now, config, SetupParams::default());
        if let Some(min) = encode {
            c.encode_transmit(min); // the SETUP already queued is encoded first
        }
        c.fire_and_forget(now, Payload::from("small")).unwrap();
        c.request_response(now, Payload::new(vec![7u8; 5000]).with_metadata("m"))
            .unwrap();
        c.metadata_push(Bytes::from_static(b"push")).unwrap();
        c.request_stream(now, Payload::new(vec![9u8; 20_000]), 8)
            .unwrap();
        c.fire_and_forget(now, Payload::from("after")).unwrap();
        let pending = c.pending_transmit_bytes();
        let mut out = BytesMut::new();
        while let Some(f) = c.poll_transmit() {
            f.encode_length_prefixed(&mut out).unwrap();
        }
        if let Some(e) = c.encoded_transmit() {
            for _ in 0..100 {
                let mut iov = [IoSlice::new(&[]); 3];
                let k = e.io_slices(&mut iov);
                if k == 0 {
                    break;
                }
                let n: usize = iov[..k].iter().map(|s| s.len()).sum();
                for s in &iov[..k] {
                    out.extend_from_slice(s);
                }
                e.consume(n);
            }
            assert!(e.is_empty());
        }
        assert!(c.take_encode_error().is_none());
        (out.to_vec(), pending)
    }

    #[test]
    fn encoded_transmit_gives_the_bytes_of_the_queued_frames() {
        let now = Instant::now();
        for mtu in [None, Some(1000)] {
            let (frames, _) = run(now, mtu, None);
            for min in [8 * 1024, usize::MAX] {
                let (encoded, pending) = run(now, mtu, Some(min));
                assert!(encoded == frames, "mtu {mtu:?}, zero-copy from {min}");
                assert_eq!(pending, encoded.len());
            }
        }
    }
}
