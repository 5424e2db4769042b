//! Connections per peer address: one address cannot take every connection slot of a server.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Live connections counted by the peer's IP address, up to `max` each. The map holds only
/// addresses with a live connection, so its size is bounded by the connections being served.
#[derive(Debug)]
pub(crate) struct PerIp {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection of an address; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct IpPermit {
    owner: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(PerIp {
            max: max.max(1),
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `ip` (IPv4-mapped IPv6 counts as its IPv4
    /// address), or `None` when that address already has `max`.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        let ip = ip.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpPermit {
            owner: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.counts.lock().unwrap().len()
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut counts = self
            .owner
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_limit_and_places_come_back() {
        let per_ip = PerIp::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = per_ip.try_acquire(a).unwrap();
        let _a2 = per_ip.try_acquire(a).unwrap();
        assert!(per_ip.try_acquire(a).is_none(), "a third from one address");
        let _b1 = per_ip
            .try_acquire(b)
            .expect("another address is not limited by the first");
        drop(a1);
        assert!(per_ip.try_acquire(a).is_some(), "a freed place is reusable");
    }

    #[test]
    fn mapped_ipv6_counts_as_its_ipv4_address() {
        let per_ip = PerIp::new(1);
        let _v4 = per_ip.try_acquire("127.0.0.1".parse().unwrap()).unwrap();
        assert!(
            per_ip
                .try_acquire("::ffff:127.0.0.1".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn the_map_forgets_addresses_without_connections() {
        let per_ip = PerIp::new(4);
        let permits: Vec<_> = (0..100u8)
            .map(|i| per_ip.try_acquire(IpAddr::from([10, 0, 0, i])).unwrap())
            .collect();
        assert_eq!(per_ip.tracked(), 100);
        drop(permits);
        assert_eq!(per_ip.tracked(), 0);
    }
}
