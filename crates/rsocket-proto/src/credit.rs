//! Request-N credit.

use std::fmt;

/// Cumulative request-n credit of one stream direction.
///
/// Credits add up and never wrap: the counter is 64-bit and saturating. A grant of
/// 2^31-1 ([`Credit::UNBOUNDED_GRANT`]) makes the credit unbounded, as Java peers (which send it
/// for `Long.MAX_VALUE` demand) expect; an unbounded credit is never consumed.
///
/// ```
/// use rsocket_proto::Credit;
/// let mut c = Credit::ZERO;
/// c.grant(3);
/// c.grant(2);
/// assert_eq!(c.get(), Some(5));
/// assert!(c.take());
/// assert_eq!(c.get(), Some(4));
/// c.grant(Credit::UNBOUNDED_GRANT);
/// assert!(c.is_unbounded());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Credit(u64);

impl Credit {
    /// No credit.
    pub const ZERO: Credit = Credit(0);
    /// Unlimited credit.
    pub const UNBOUNDED: Credit = Credit(u64::MAX);
    /// The grant that means "unbounded": 2^31-1.
    pub const UNBOUNDED_GRANT: u32 = 0x7FFF_FFFF;

    /// A credit of `n` (2^31-1 or more is unbounded).
    pub fn new(n: u32) -> Credit {
        let mut c = Credit::ZERO;
        c.grant(n);
        c
    }

    /// Adds `n` more credits.
    pub fn grant(&mut self, n: u32) {
        if n >= Self::UNBOUNDED_GRANT {
            self.0 = u64::MAX;
        } else {
            self.0 = self.0.saturating_add(u64::from(n));
        }
    }

    /// Consumes one credit; false when there is none.
    pub fn take(&mut self) -> bool {
        match self.0 {
            0 => false,
            u64::MAX => true,
            _ => {
                self.0 -= 1;
                true
            }
        }
    }

    /// True when at least one credit is available.
    pub fn available(&self) -> bool {
        self.0 > 0
    }

    /// True when unbounded.
    pub fn is_unbounded(&self) -> bool {
        self.0 == u64::MAX
    }

    /// The remaining count, or `None` when unbounded.
    pub fn get(&self) -> Option<u64> {
        (!self.is_unbounded()).then_some(self.0)
    }
}

impl fmt::Debug for Credit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(n) => write!(f, "Credit({n})"),
            None => f.write_str("Credit(unbounded)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_and_never_wraps() {
        let mut c = Credit::ZERO;
        for _ in 0..10 {
            c.grant(0x7FFF_FFFE);
        }
        assert_eq!(c.get(), Some(10 * 0x7FFF_FFFE));
        c.0 = u64::MAX - 1;
        c.grant(5);
        assert!(c.is_unbounded());
        assert!(c.take());
        assert!(c.is_unbounded());
    }

    #[test]
    fn zero_cannot_be_taken() {
        let mut c = Credit::new(1);
        assert!(c.take());
        assert!(!c.take());
        assert!(!c.available());
    }
}
