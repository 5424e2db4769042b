//! A fast keyed hash for maps from [`StreamId`] to per-stream state.
//!
//! The standard library's SipHash costs more than the rest of handling a small frame; a
//! connection looks streams up several times per frame. This hasher is a folded 64×64→128-bit
//! multiply of the ID with a per-map random key (the construction of `foldhash`): a few
//! cycles, and a peer that picks stream IDs cannot predict which ones collide without the key.
//! Peers are also bounded in how many streams they may open
//! ([`Limits::max_concurrent_streams`](crate::connection::Limits)).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use crate::StreamId;

/// A map keyed by stream ID with [`StreamIdHash`].
pub type StreamMap<V> = HashMap<StreamId, V, StreamIdHash>;

/// Creates an empty [`StreamMap`] with a fresh random key.
pub fn stream_map<V>() -> StreamMap<V> {
    HashMap::with_hasher(StreamIdHash::new())
}

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Builds [`StreamIdHasher`]s sharing one random key.
#[derive(Clone, Copy, Debug)]
pub struct StreamIdHash {
    key: u64,
}

impl StreamIdHash {
    /// A builder with a random key (taken from the standard library's per-process random
    /// hashing keys).
    pub fn new() -> Self {
        let key = std::collections::hash_map::RandomState::new().hash_one(0x5EED_u64);
        StreamIdHash { key }
    }
}

impl Default for StreamIdHash {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for StreamIdHash {
    type Hasher = StreamIdHasher;

    fn build_hasher(&self) -> StreamIdHasher {
        StreamIdHasher { state: self.key }
    }
}

/// Hashes the `u32` of a stream ID (any other input is folded in 8 bytes at a time).
#[derive(Clone, Copy, Debug)]
pub struct StreamIdHasher {
    state: u64,
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl StreamIdHasher {
    #[inline]
    fn mix(&mut self, v: u64) {
        self.state = fold_mul(self.state ^ v, MULTIPLIER);
    }
}

impl Hasher for StreamIdHasher {
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut a = [0u8; 8];
            a[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(a));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        // One more round so the high bits (hashbrown's tag) depend on every input bit.
        fold_mul(self.state, MULTIPLIER ^ 0xA076_1D64_78BD_642F)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_spread_over_buckets_and_tags() {
        let b = StreamIdHash::new();
        let mut low = std::collections::HashSet::new();
        let mut high = std::collections::HashSet::new();
        for id in (1..16384u32).step_by(2) {
            let h = b.hash_one(StreamId::new(id));
            low.insert(h & 8191);
            high.insert(h >> 57);
        }
        // 8192 odd IDs into 8192 low-bit buckets: a random function fills 1 - 1/e of them
        // (about 5180, standard deviation about 45); all 128 tags are used.
        assert!(low.len() > 4900, "{} distinct low buckets", low.len());
        assert_eq!(high.len(), 128);
    }

    #[test]
    fn keys_differ_between_maps() {
        let (a, b) = (StreamIdHash::new(), StreamIdHash::new());
        assert_ne!(a.hash_one(StreamId::new(1)), b.hash_one(StreamId::new(1)));
    }

    #[test]
    fn map_works() {
        let mut m = stream_map();
        for id in 1..1000u32 {
            m.insert(StreamId::new(id), id);
        }
        assert!((1..1000u32).all(|id| m[&StreamId::new(id)] == id));
    }
}
