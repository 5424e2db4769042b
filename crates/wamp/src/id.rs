//! WAMP identifiers: integers in `1..=2^53`.

use std::fmt;

use rand::Rng as _;

/// A WAMP ID (session, publication, subscription, registration or request).
///
/// The spec restricts IDs to `1..=2^53` ([`Id::MAX`]) so they survive IEEE-754 doubles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(u64);

impl Id {
    /// The largest valid ID, 2^53.
    pub const MAX: u64 = 1 << 53;

    /// An ID from `v`, if it is in `1..=2^53`.
    pub const fn new(v: u64) -> Option<Id> {
        if v >= 1 && v <= Self::MAX {
            Some(Id(v))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A random ID, uniform over `1..=2^53` (global scope: sessions, publications).
    pub fn random() -> Id {
        Id(rand::rng().random_range(1..=Self::MAX))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Session-scope ID sequence: 1, 2, 3, … wrapping to 1 after 2^53.
#[derive(Debug, Clone, Default)]
pub struct IdSequence {
    last: u64,
}

impl IdSequence {
    /// A sequence whose first ID is 1.
    pub fn new() -> Self {
        IdSequence { last: 0 }
    }

    /// The next ID.
    pub fn next_id(&mut self) -> Id {
        self.last = if self.last >= Id::MAX {
            1
        } else {
            self.last + 1
        };
        Id(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_enforced() {
        assert!(Id::new(0).is_none());
        assert!(Id::new(1).is_some());
        assert!(Id::new(Id::MAX).is_some());
        assert!(Id::new(Id::MAX + 1).is_none());
    }

    #[test]
    fn sequence_wraps_to_one() {
        let mut s = IdSequence { last: Id::MAX - 1 };
        assert_eq!(s.next_id().get(), Id::MAX);
        assert_eq!(s.next_id().get(), 1);
    }

    #[test]
    fn random_in_range() {
        for _ in 0..1000 {
            let id = Id::random().get();
            assert!((1..=Id::MAX).contains(&id));
        }
    }
}
