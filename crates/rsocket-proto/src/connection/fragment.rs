//! Fragmentation of outbound payloads and reassembly of inbound ones (Protocol.md
//! "Fragmentation And Reassembly").
//!
//! * Metadata is sent completely before data; a fragment may end the metadata and start the
//!   data.
//! * A fragmented REQUEST_* is the request frame with F set followed by PAYLOAD frames (N set),
//!   the last without F; a fragmented channel request that completes the requester's side
//!   carries C on its last fragment.
//! * A fragmented payload counts as one request-n credit and one lease request.

use bytes::{BufMut, Bytes, BytesMut};

use super::pool::{BufferPool, POOLED_MIN};
use crate::Payload;
use crate::frame::{
    Flags, Frame, FrameType, HEADER_LEN, MAX_FRAME_LEN, METADATA_LEN_PREFIX, PayloadFrame,
    RequestChannel, RequestFnf, RequestResponse, RequestStream, StreamId,
};

/// Frames up to this many bytes (with their length prefix) are assembled on the stack and
/// copied into the transmit buffer at once by [`Head::put_whole`].
const SMALL_FRAME: usize = 64;
const _: () = assert!(SMALL_FRAME >= 3 + HEADER_LEN + 4 + METADATA_LEN_PREFIX);

/// The first frame of a possibly fragmented payload.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Head {
    RequestResponse,
    RequestFnf,
    RequestStream { initial_n: u32 },
    RequestChannel { initial_n: u32, complete: bool },
    Payload { complete: bool, next: bool },
}

impl Head {
    fn extra_len(self) -> usize {
        match self {
            Head::RequestStream { .. } | Head::RequestChannel { .. } => 4,
            _ => 0,
        }
    }

    /// The encoded length (without length prefix) of the one frame that carries all of
    /// `payload`, when it is not fragmented.
    pub(crate) fn whole_len(self, payload: &Payload) -> usize {
        HEADER_LEN + self.extra_len() + crate::frame::payload_len(payload)
    }

    /// Writes `self.frame(id, true, true, payload)` (the one frame that carries all of
    /// `payload`) with its 24-bit length prefix, without building the frame: every request
    /// and answer that fits in one frame goes this way. `len` is
    /// [`Head::whole_len`]`(payload)`, at most [`MAX_FRAME_LEN`].
    pub(crate) fn put_whole(self, id: StreamId, payload: &Payload, len: usize, dst: &mut BytesMut) {
        debug_assert!(len <= MAX_FRAME_LEN);
        debug_assert_eq!(len, self.whole_len(payload));
        let (frame_type, flags, initial_n) = match self {
            Head::RequestResponse => (FrameType::REQUEST_RESPONSE, Flags::EMPTY, None),
            Head::RequestFnf => (FrameType::REQUEST_FNF, Flags::EMPTY, None),
            Head::RequestStream { initial_n } => {
                (FrameType::REQUEST_STREAM, Flags::EMPTY, Some(initial_n))
            }
            Head::RequestChannel {
                initial_n,
                complete,
            } => (
                FrameType::REQUEST_CHANNEL,
                Flags::EMPTY.with(Flags::COMPLETE, complete),
                Some(initial_n),
            ),
            Head::Payload { complete, next } => (
                FrameType::PAYLOAD,
                Flags::EMPTY
                    .with(Flags::COMPLETE, complete)
                    .with(Flags::NEXT, next),
                None,
            ),
        };
        let flags = flags.with(Flags::METADATA, payload.metadata.is_some());
        // Prefix, header, request-n and metadata length in one copy (and, for a small frame,
        // the metadata and data too).
        let mut head = [0u8; SMALL_FRAME];
        head[..3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        head[3..7].copy_from_slice(&id.get().to_be_bytes());
        let type_and_flags = (u16::from(frame_type.get()) << 10) | flags.bits();
        head[7..9].copy_from_slice(&type_and_flags.to_be_bytes());
        let mut at = 9;
        if let Some(n) = initial_n {
            head[at..at + 4].copy_from_slice(&n.to_be_bytes());
            at += 4;
        }
        if let Some(m) = &payload.metadata {
            head[at..at + 3].copy_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
            at += 3;
        }
        if 3 + len <= SMALL_FRAME {
            if let Some(m) = &payload.metadata {
                head[at..at + m.len()].copy_from_slice(m);
                at += m.len();
            }
            head[at..at + payload.data.len()].copy_from_slice(&payload.data);
            at += payload.data.len();
            dst.extend_from_slice(&head[..at]);
            return;
        }
        dst.reserve(3 + len);
        dst.put_slice(&head[..at]);
        if let Some(m) = &payload.metadata {
            dst.put_slice(m);
        }
        dst.put_slice(&payload.data);
    }

    /// The frame for one fragment. `first` and `last` tell its place in the sequence.
    fn frame(self, id: StreamId, first: bool, last: bool, payload: Payload) -> Frame {
        let follows = !last;
        if !first {
            // Continuation fragments are PAYLOAD frames with N set; the last one carries the
            // completion of the sequence's head, if any.
            let complete = last
                && matches!(
                    self,
                    Head::RequestChannel { complete: true, .. }
                        | Head::Payload { complete: true, .. }
                );
            return Frame::Payload(PayloadFrame {
                stream_id: id,
                follows,
                complete,
                next: true,
                payload,
            });
        }
        match self {
            Head::RequestResponse => Frame::RequestResponse(RequestResponse {
                stream_id: id,
                follows,
                payload,
            }),
            Head::RequestFnf => Frame::RequestFnf(RequestFnf {
                stream_id: id,
                follows,
                payload,
            }),
            Head::RequestStream { initial_n } => Frame::RequestStream(RequestStream {
                stream_id: id,
                follows,
                initial_n,
                payload,
            }),
            Head::RequestChannel {
                initial_n,
                complete,
            } => Frame::RequestChannel(RequestChannel {
                stream_id: id,
                follows,
                complete: complete && last,
                initial_n,
                payload,
            }),
            Head::Payload { complete, next } => Frame::Payload(PayloadFrame {
                stream_id: id,
                follows,
                complete: complete && last,
                next: next || follows,
                payload,
            }),
        }
    }
}

/// Splits `payload` into frames of at most `mtu` bytes each (without length prefix) and hands
/// them to `push` in order. `mtu` must be at least [`super::MIN_MTU`].
pub(crate) fn fragment(
    id: StreamId,
    head: Head,
    payload: Payload,
    mtu: usize,
    mut push: impl FnMut(Frame),
) {
    if head.whole_len(&payload) <= mtu {
        push(head.frame(id, true, true, payload));
        return;
    }
    let Payload { mut data, metadata } = payload;
    let mut metadata: Option<Bytes> = metadata;
    let mut first = true;
    loop {
        let mut room = mtu - HEADER_LEN - if first { head.extra_len() } else { 0 };
        let piece_meta = metadata.as_mut().map(|m| {
            room -= METADATA_LEN_PREFIX;
            let take = m.len().min(room);
            room -= take;
            m.split_to(take)
        });
        if metadata.as_ref().is_some_and(Bytes::is_empty) {
            metadata = None;
        }
        let piece_data = if metadata.is_none() {
            data.split_to(data.len().min(room))
        } else {
            Bytes::new()
        };
        let last = metadata.is_none() && data.is_empty();
        push(head.frame(
            id,
            first,
            last,
            Payload {
                data: piece_data,
                metadata: piece_meta,
            },
        ));
        if last {
            return;
        }
        first = false;
    }
}

/// A payload being put back together from fragments.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    metadata: Option<BytesMut>,
    data: Gathered,
}

/// Reassembled data: in a buffer of its own while small, in one of the connection's pooled
/// buffers once it reaches [`POOLED_MIN`] bytes (see [`super::pool`]).
#[derive(Debug)]
enum Gathered {
    Small(BytesMut),
    Pooled(Vec<u8>),
}

impl Default for Gathered {
    fn default() -> Self {
        Gathered::Small(BytesMut::new())
    }
}

impl Gathered {
    fn len(&self) -> usize {
        match self {
            Gathered::Small(b) => b.len(),
            Gathered::Pooled(v) => v.len(),
        }
    }
}

/// Why a fragment could not be added.
#[derive(Debug)]
pub(crate) enum ReassemblyError {
    /// Metadata arrived after data had started.
    MetadataAfterData,
    /// The payload would exceed the per-payload limit.
    TooLarge,
}

impl Reassembly {
    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.data.len() + self.metadata.as_ref().map_or(0, BytesMut::len)
    }

    /// Adds one fragment; data that grows to [`POOLED_MIN`] bytes moves to a buffer of `pool`.
    pub(crate) fn push(
        &mut self,
        p: &Payload,
        max: usize,
        pool: &BufferPool,
    ) -> Result<(), ReassemblyError> {
        if self.len() + p.len() > max {
            return Err(ReassemblyError::TooLarge);
        }
        if let Some(m) = &p.metadata {
            if self.data.len() > 0 && !m.is_empty() {
                return Err(ReassemblyError::MetadataAfterData);
            }
            self.metadata
                .get_or_insert_with(BytesMut::new)
                .extend_from_slice(m);
        }
        match &mut self.data {
            Gathered::Small(b) if b.len() + p.data.len() >= POOLED_MIN => {
                // Room for what there is (a kept buffer is usually as large as the last
                // payload); the vector doubles as more arrives.
                let mut v = pool.take(b.len() + p.data.len());
                v.extend_from_slice(b);
                v.extend_from_slice(&p.data);
                self.data = Gathered::Pooled(v);
            }
            Gathered::Small(b) => b.extend_from_slice(&p.data),
            Gathered::Pooled(v) => v.extend_from_slice(&p.data),
        }
        Ok(())
    }

    /// The whole payload (pooled data goes back to `pool` when the application drops it).
    pub(crate) fn finish(self, pool: &BufferPool) -> Payload {
        let data = match self.data {
            Gathered::Small(b) => b.freeze(),
            Gathered::Pooled(v) => pool.wrap(v),
        };
        Payload {
            data,
            metadata: self.metadata.map(BytesMut::freeze),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(head: Head, p: Payload, mtu: usize) -> Vec<Frame> {
        let mut v = Vec::new();
        fragment(StreamId::new(1), head, p, mtu, |f| v.push(f));
        v
    }

    #[test]
    fn put_whole_writes_the_frame_it_stands_for() {
        let heads = [
            Head::RequestResponse,
            Head::RequestFnf,
            Head::RequestStream { initial_n: 7 },
            Head::RequestStream {
                initial_n: 0x7FFF_FFFF,
            },
            Head::RequestChannel {
                initial_n: 3,
                complete: false,
            },
            Head::RequestChannel {
                initial_n: 1,
                complete: true,
            },
            Head::Payload {
                complete: false,
                next: true,
            },
            Head::Payload {
                complete: true,
                next: true,
            },
            Head::Payload {
                complete: true,
                next: false,
            },
        ];
        let mut payloads = vec![
            Payload::from(""),
            Payload::from("data"),
            Payload::from("data").with_metadata(""),
            Payload::from("").with_metadata("meta"),
            Payload::new(vec![5u8; 70_000]).with_metadata(vec![6u8; 300]),
        ];
        // Around the size assembled on the stack (SMALL_FRAME), with and without metadata.
        for n in 30..=62 {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            payloads.push(Payload::new(data.clone()));
            payloads.push(Payload::new(data).with_metadata(vec![0xEE; 3]));
        }
        for head in heads {
            for p in &payloads {
                let id = StreamId::new(0x0102_0305);
                let frame = head.frame(id, true, true, p.clone());
                let mut want = BytesMut::new();
                frame.encode_length_prefixed(&mut want).unwrap();
                let len = head.whole_len(p);
                assert_eq!(len, frame.encoded_len());
                let mut got = BytesMut::from(&b"before"[..]);
                head.put_whole(id, p, len, &mut got);
                assert_eq!(&got[..6], b"before");
                assert!(got[6..] == want[..], "{head:?} {p:?}");
            }
        }
    }

    #[test]
    fn small_payload_is_one_frame() {
        let f = split(Head::RequestResponse, Payload::from("hi"), 64);
        assert_eq!(f.len(), 1);
        assert!(matches!(&f[0], Frame::RequestResponse(r) if !r.follows));
    }

    #[test]
    fn metadata_before_data_and_sizes_bounded() {
        let p = Payload::new(vec![1u8; 300]).with_metadata(vec![2u8; 200]);
        let frames = split(Head::RequestStream { initial_n: 5 }, p.clone(), 100);
        let mut re = Reassembly::default();
        let mut seen_data = false;
        for (i, f) in frames.iter().enumerate() {
            assert!(f.encoded_len() <= 100, "fragment {i} too big");
            let pl = f.payload().unwrap();
            if seen_data {
                assert!(pl.metadata.is_none());
            }
            seen_data |= !pl.data.is_empty();
            re.push(pl, usize::MAX, &BufferPool::default()).unwrap();
        }
        assert!(matches!(&frames[0], Frame::RequestStream(r) if r.follows && r.initial_n == 5));
        assert!(matches!(frames.last().unwrap(), Frame::Payload(p) if !p.follows && p.next));
        assert_eq!(re.finish(&BufferPool::default()), p);
    }

    #[test]
    fn channel_complete_goes_on_last_fragment() {
        let p = Payload::new(vec![7u8; 500]);
        let frames = split(
            Head::RequestChannel {
                initial_n: 1,
                complete: true,
            },
            p,
            64,
        );
        assert!(matches!(&frames[0], Frame::RequestChannel(r) if r.follows && !r.complete));
        assert!(matches!(frames.last().unwrap(), Frame::Payload(p) if p.complete && !p.follows));
    }

    #[test]
    fn reassembly_rejects_metadata_after_data_and_oversize() {
        let pool = BufferPool::default();
        let mut re = Reassembly::default();
        re.push(&Payload::from("d"), 10, &pool).unwrap();
        assert!(matches!(
            re.push(&Payload::from("x").with_metadata("m"), 10, &pool),
            Err(ReassemblyError::MetadataAfterData)
        ));
        assert!(matches!(
            re.push(&Payload::new(vec![0u8; 10]), 10, &pool),
            Err(ReassemblyError::TooLarge)
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Payloads small and large (pooled from [`POOLED_MIN`] bytes), one after the other on
        /// one connection's pool, each dropped or kept before the next: each comes out whole,
        /// also when it reuses the buffer of one before it, and those still held stay intact.
        #[test]
        fn reassembled_payloads_are_whole_pooled_or_not(
            specs in proptest::collection::vec(
                (
                    proptest::prop_oneof![0usize..300, 100_000usize..300_000],
                    proptest::option::of(0usize..200),
                    proptest::prop_oneof![64usize..300, 16_000usize..70_000],
                    proptest::prelude::any::<bool>(),
                ),
                1..5,
            ),
        ) {
            let pool = BufferPool::default();
            let mut kept = Vec::new();
            for (i, (len, meta, mtu, keep)) in specs.into_iter().enumerate() {
                let data: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
                let mut p = Payload::new(data);
                if let Some(m) = meta {
                    p = p.with_metadata(vec![i as u8; m]);
                }
                let mut re = Reassembly::default();
                for f in split(Head::RequestResponse, p.clone(), mtu) {
                    re.push(f.payload().unwrap(), usize::MAX, &pool).unwrap();
                }
                proptest::prop_assert_eq!(re.len(), p.len());
                let got = re.finish(&pool);
                proptest::prop_assert!(got == p, "payload {} differs", i);
                if keep {
                    kept.push((got, p));
                }
            }
            // A payload still held never had its buffer reused under it.
            for (i, (got, want)) in kept.iter().enumerate() {
                proptest::prop_assert!(got == want, "kept payload {} changed", i);
            }
        }
    }
}
