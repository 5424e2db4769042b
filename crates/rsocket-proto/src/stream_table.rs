//! [`StreamTable`]: per-stream state found by stream ID in a few instructions.
//!
//! Both sides of a connection hand out stream IDs in order (a client 1, 3, 5, ..., a server
//! 2, 4, 6, ...), and most streams are short: the live IDs of each side form a window that
//! slides forward. A direct-mapped array indexed by `id / 2` modulo its length holds such a
//! window without collisions, so looking a stream up, adding and removing it each take an
//! index and one comparison instead of a hash-table probe (≈15 instructions against ≈90).
//! IDs that collide with a live stream (a long-lived stream the window has wrapped around, or
//! a peer picking IDs on purpose) go to a keyed [`StreamMap`]: the worst case is the cost of a
//! hash map, never worse.

use crate::StreamId;
use crate::stream_map::{StreamMap, stream_map};

/// Entries of the direct-mapped part when the first stream arrives.
const FIRST_DIRECT: usize = 16;

/// A map from [`StreamId`] to `V`: a direct-mapped array for IDs handed out in order, with a
/// keyed hash map for the rest (see the [module docs](self)).
///
/// The array starts empty and doubles, up to the table's `max_direct` entries, when a new ID
/// collides with a live one while at least half of the array is in use. It does not shrink
/// until [`StreamTable::clear`]: a table costs at most `max_direct` entries of
/// `size_of::<Option<(StreamId, V)>>()` bytes besides its hash map.
///
/// ```
/// use rsocket_proto::StreamId;
/// use rsocket_proto::stream_table::StreamTable;
///
/// let mut t = StreamTable::new(64);
/// for id in (1..200u32).step_by(2) {
///     t.insert(StreamId::new(id), id);
/// }
/// assert_eq!(t.len(), 100);
/// assert_eq!(t.get(&StreamId::new(41)), Some(&41));
/// assert_eq!(t.remove(&StreamId::new(41)), Some(41));
/// assert!(!t.contains_key(&StreamId::new(41)));
/// ```
#[derive(Debug)]
pub struct StreamTable<V> {
    /// Entry `(id / 2) % len`, or `None`; the length is 0 or a power of two.
    direct: Vec<Option<(StreamId, V)>>,
    /// Entries in `direct`.
    in_direct: usize,
    /// The most entries `direct` may have.
    max_direct: usize,
    /// Every ID that is not in `direct`.
    overflow: StreamMap<V>,
}

impl<V> StreamTable<V> {
    /// An empty table whose direct-mapped part grows to at most `max_direct` entries
    /// (rounded up to a power of two, at least 16).
    pub fn new(max_direct: usize) -> Self {
        StreamTable {
            direct: Vec::new(),
            in_direct: 0,
            max_direct: max_direct.max(FIRST_DIRECT).next_power_of_two(),
            overflow: stream_map(),
        }
    }

    #[inline]
    fn index(&self, id: StreamId) -> usize {
        (id.get() >> 1) as usize & (self.direct.len() - 1)
    }

    /// Streams in the table.
    pub fn len(&self) -> usize {
        self.in_direct + self.overflow.len()
    }

    /// True when the table holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of stream `id`.
    #[inline]
    pub fn get(&self, id: &StreamId) -> Option<&V> {
        if !self.direct.is_empty() {
            if let Some((k, v)) = &self.direct[self.index(*id)] {
                if k == id {
                    return Some(v);
                }
            }
        }
        if self.overflow.is_empty() {
            None
        } else {
            self.overflow.get(id)
        }
    }

    /// The value of stream `id`, to change.
    #[inline]
    pub fn get_mut(&mut self, id: &StreamId) -> Option<&mut V> {
        if !self.direct.is_empty() {
            let i = self.index(*id);
            if matches!(&self.direct[i], Some((k, _)) if k == id) {
                return self.direct[i].as_mut().map(|(_, v)| v);
            }
        }
        if self.overflow.is_empty() {
            None
        } else {
            self.overflow.get_mut(id)
        }
    }

    /// True when stream `id` is in the table.
    #[inline]
    pub fn contains_key(&self, id: &StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Sets the value of stream `id`; returns the one it replaces.
    ///
    /// The common case (a free entry, nothing in the hash map) is inlined into the caller, so
    /// the value is written into its entry where it is built instead of being passed on.
    #[inline(always)]
    pub fn insert(&mut self, id: StreamId, value: V) -> Option<V> {
        if !self.direct.is_empty() && self.overflow.is_empty() {
            let i = self.index(id);
            if let free @ None = &mut self.direct[i] {
                *free = Some((id, value));
                self.in_direct += 1;
                return None;
            }
        }
        self.insert_slow(id, value)
    }

    /// [`StreamTable::insert`] of everything but the common case.
    #[cold]
    #[inline(never)]
    fn insert_slow(&mut self, id: StreamId, value: V) -> Option<V> {
        if self.direct.is_empty() {
            self.grow();
        }
        let i = self.index(id);
        match &mut self.direct[i] {
            Some((k, old)) if *k == id => return Some(std::mem::replace(old, value)),
            Some(_) => {}
            free @ None => {
                // An ID that went to the hash map while this entry was taken stays there.
                if self.overflow.is_empty() || !self.overflow.contains_key(&id) {
                    *free = Some((id, value));
                    self.in_direct += 1;
                    return None;
                }
                return self.overflow.insert(id, value);
            }
        }
        // The entry holds another live stream.
        if self.direct.len() < self.max_direct && self.len() >= self.direct.len() / 2 {
            self.grow();
            return self.insert_slow(id, value);
        }
        self.overflow.insert(id, value)
    }

    /// Removes stream `id`; returns its value.
    #[inline]
    pub fn remove(&mut self, id: &StreamId) -> Option<V> {
        if !self.direct.is_empty() {
            let i = self.index(*id);
            if matches!(&self.direct[i], Some((k, _)) if k == id) {
                self.in_direct -= 1;
                return self.direct[i].take().map(|(_, v)| v);
            }
        }
        if self.overflow.is_empty() {
            None
        } else {
            self.overflow.remove(id)
        }
    }

    /// Removes every stream and gives the memory of the direct-mapped part back.
    pub fn clear(&mut self) {
        self.direct = Vec::new();
        self.in_direct = 0;
        self.overflow.clear();
    }

    /// Every value, in no particular order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.direct
            .iter_mut()
            .filter_map(|e| e.as_mut().map(|(_, v)| v))
            .chain(self.overflow.values_mut())
    }

    /// Doubles the direct-mapped part (to [`FIRST_DIRECT`] from empty) and places every
    /// entry again: hash-map entries move into it where they now fit.
    #[cold]
    fn grow(&mut self) {
        let len = (self.direct.len() * 2).clamp(FIRST_DIRECT, self.max_direct);
        let old = std::mem::take(&mut self.direct);
        self.direct.resize_with(len, || None);
        self.in_direct = 0;
        let moved: Vec<(StreamId, V)> = self.overflow.drain().collect();
        for (id, v) in old.into_iter().flatten().chain(moved) {
            let i = self.index(id);
            if self.direct[i].is_none() {
                self.direct[i] = Some((id, v));
                self.in_direct += 1;
            } else {
                self.overflow.insert(id, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32, u32),
        Remove(u32),
        Get(u32),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        // IDs from a small range (collisions, re-insertion) or anywhere.
        let id = prop_oneof![0u32..200, any::<u32>()];
        prop_oneof![
            8 => (id.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            5 => id.clone().prop_map(Op::Remove),
            5 => id.prop_map(Op::Get),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// The table behaves as a hash map under any sequence of operations.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec(op(), 0..400), max in 0usize..80) {
            let mut t = StreamTable::new(max);
            let mut m: HashMap<StreamId, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = StreamId::new(k);
                        prop_assert_eq!(t.insert(k, v), m.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = StreamId::new(k);
                        prop_assert_eq!(t.remove(&k), m.remove(&k));
                    }
                    Op::Get(k) => {
                        let k = StreamId::new(k);
                        prop_assert_eq!(t.get(&k), m.get(&k));
                        prop_assert_eq!(t.contains_key(&k), m.contains_key(&k));
                        if let Some(v) = t.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                        if let Some(v) = m.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                    }
                    Op::Clear => {
                        t.clear();
                        m.clear();
                    }
                }
                prop_assert_eq!(t.len(), m.len());
                prop_assert!(t.direct.len() <= t.max_direct);
            }
            let mut all: Vec<u32> = t.values_mut().map(|v| *v).collect();
            let mut want: Vec<u32> = m.values().copied().collect();
            all.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }

    #[test]
    fn a_sliding_window_of_ids_stays_direct() {
        let mut t = StreamTable::new(1024);
        // 64 requests in flight, answered in order, for a long while.
        for id in (1..20_000u32).step_by(2) {
            t.insert(StreamId::new(id), ());
            if id > 128 {
                assert!(t.remove(&StreamId::new(id - 128)).is_some());
            }
        }
        assert!(
            t.overflow.is_empty(),
            "{} in the hash map",
            t.overflow.len()
        );
        assert!(t.direct.len() <= 128, "grew to {}", t.direct.len());
    }

    #[test]
    fn colliding_ids_go_to_the_hash_map_within_the_bound() {
        let mut t = StreamTable::new(64);
        // Every ID lands on entry 0 of any array up to 2^20 entries.
        for k in 1..=500u32 {
            t.insert(StreamId::new(k << 21), k);
        }
        assert_eq!(t.len(), 500);
        assert!(t.direct.len() <= 64);
        assert_eq!(t.in_direct, 1);
        assert_eq!(t.get(&StreamId::new(7 << 21)), Some(&7));
    }
}
