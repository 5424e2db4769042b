//! Buffers for reassembled payloads that come back when the application drops the payload.
//!
//! A payload of [`POOLED_MIN`] bytes or more that arrives in fragments is put together in a
//! `Vec<u8>` taken from the connection's pool, and handed to the application as [`Bytes`] that
//! give the buffer back to the pool when the last reference goes. The next large payload reuses
//! it: no allocation, and above all no fresh pages. With the system allocator, large buffers are
//! mapped and unmapped for every payload: receiving 1 MiB payloads in 64 KiB fragments spent
//! more time in page faults than in copying.
//!
//! Bounded: a connection's pool keeps at most [`POOL_MAX_BYTES`] of capacity (a buffer that
//! would take it over is freed), and only while it is in use: each KEEPALIVE the connection
//! receives frees what is kept if no buffer was taken since the one before (so a connection
//! that stops receiving large payloads gives the memory back within two keepalive intervals),
//! a resumable session that loses its transport frees it, and once the connection is closed
//! (or gone) buffers coming back are freed.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;

/// Reassembled payload data of at least this many bytes goes into a pooled buffer; smaller
/// payloads are reassembled as before (the allocator recycles small buffers well).
pub(crate) const POOLED_MIN: usize = 128 * 1024;

/// Capacity a connection's pool keeps for reuse, at most.
pub(crate) const POOL_MAX_BYTES: usize = 4 << 20;

/// A connection's pool of reassembly buffers (cheap to clone: a shared handle).
#[derive(Clone, Debug, Default)]
pub(crate) struct BufferPool(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    bufs: Vec<Vec<u8>>,
    /// Capacity of `bufs` together.
    bytes: usize,
    /// A buffer was taken since the last [`BufferPool::trim_if_unused`].
    taken: bool,
    /// The connection is closed: buffers coming back are freed.
    closed: bool,
}

impl std::fmt::Debug for Kept {
    // Not the buffers: they hold earlier payloads' bytes until taken again.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("buffers", &self.bufs.len())
            .field("bytes", &self.bytes)
            .field("closed", &self.closed)
            .finish()
    }
}

fn lock(m: &Mutex<Kept>) -> MutexGuard<'_, Kept> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BufferPool {
    /// An empty buffer with room for at least `need` bytes: the largest one kept, or a new one.
    pub(crate) fn take(&self, need: usize) -> Vec<u8> {
        let kept = {
            let mut k = lock(&self.0);
            k.taken = true;
            let largest = (0..k.bufs.len()).max_by_key(|&i| k.bufs[i].capacity());
            largest.map(|i| {
                let v = k.bufs.swap_remove(i);
                k.bytes -= v.capacity();
                v
            })
        };
        match kept {
            Some(mut v) => {
                v.clear();
                v.reserve(need);
                v
            }
            None => Vec::with_capacity(need),
        }
    }

    /// `data` as [`Bytes`] that give the buffer back to this pool once dropped.
    pub(crate) fn wrap(&self, data: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            data,
            pool: Arc::downgrade(&self.0),
        })
    }

    /// Frees the kept buffers unless one was taken since the last call.
    pub(crate) fn trim_if_unused(&self) {
        let freed = {
            let mut k = lock(&self.0);
            if std::mem::take(&mut k.taken) {
                return;
            }
            k.bytes = 0;
            std::mem::take(&mut k.bufs)
        };
        drop(freed); // outside the lock
    }

    /// Frees the kept buffers; with `for_good`, buffers that come back later are freed too
    /// (the connection is closed).
    pub(crate) fn clear(&self, for_good: bool) {
        let freed = {
            let mut k = lock(&self.0);
            k.closed |= for_good;
            k.bytes = 0;
            std::mem::take(&mut k.bufs)
        };
        drop(freed);
    }

    /// Capacity kept for reuse.
    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        lock(&self.0).bytes
    }
}

/// A pooled buffer lent to the application.
struct Pooled {
    data: Vec<u8>,
    pool: Weak<Mutex<Kept>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let data = std::mem::take(&mut self.data);
        let mut k = lock(&pool);
        if !k.closed && k.bytes + data.capacity() <= POOL_MAX_BYTES {
            k.bytes += data.capacity();
            k.bufs.push(data);
        }
        drop(k);
        // A buffer not kept is freed here, after the lock.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_payload_gives_its_buffer_back_for_the_next() {
        let pool = BufferPool::default();
        let mut v = pool.take(300_000);
        v.extend(std::iter::repeat_n(7u8, 300_000));
        let ptr = v.as_ptr();
        let b = pool.wrap(v);
        assert_eq!(b.len(), 300_000);
        assert!(b.iter().all(|&x| x == 7));
        let clone = b.clone();
        drop(b);
        assert_eq!(pool.kept_bytes(), 0, "still referenced");
        drop(clone);
        assert!(pool.kept_bytes() >= 300_000);
        let again = pool.take(200_000);
        assert_eq!(again.as_ptr(), ptr, "the same buffer");
        assert!(again.is_empty());
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound() {
        let pool = BufferPool::default();
        let payloads: Vec<Bytes> = (0..10)
            .map(|_| {
                let mut v = pool.take(1 << 20);
                v.resize(1 << 20, 1);
                pool.wrap(v)
            })
            .collect();
        drop(payloads);
        assert!(pool.kept_bytes() <= POOL_MAX_BYTES);
        assert!(pool.kept_bytes() >= POOL_MAX_BYTES / 2);
        // Taking the largest leaves the rest.
        let v = pool.take(10);
        assert!(v.capacity() >= 1 << 20);
    }

    #[test]
    fn an_unused_pool_is_emptied_at_the_second_check() {
        let pool = BufferPool::default();
        let mut v = pool.take(1 << 18);
        v.resize(1 << 18, 3);
        drop(pool.wrap(v));
        assert!(pool.kept_bytes() >= 1 << 18);
        pool.trim_if_unused(); // a buffer was taken since the last check
        assert!(pool.kept_bytes() >= 1 << 18);
        pool.trim_if_unused();
        assert_eq!(pool.kept_bytes(), 0);
    }

    /// A client receives large fragmented answers, then only keepalives: the buffers it kept
    /// go at the second KEEPALIVE.
    #[test]
    fn a_connection_frees_its_kept_buffers_when_large_payloads_stop() {
        use crate::frame::{Frame, Keepalive};
        use crate::{Config, Connection, Event, Payload, SetupParams};
        let now = std::time::Instant::now();
        let config = Config {
            mtu: Some(16 * 1024),
            ..Config::default()
        };
        let mut client = Connection::client(now, config.clone(), SetupParams::default());
        let mut server = Connection::server(now, config);
        let pump = |from: &mut Connection, to: &mut Connection| {
            while let Some(f) = from.poll_transmit() {
                to.handle_frame(now, f);
            }
        };
        for i in 0..3u8 {
            let id = client.request_response(now, Payload::from("big?")).unwrap();
            pump(&mut client, &mut server);
            let stream_id = loop {
                match server.poll_event() {
                    Some(Event::Request { stream_id, .. }) => break stream_id,
                    Some(_) => {}
                    None => panic!("no request"),
                }
            };
            server
                .send_next(stream_id, Payload::new(vec![i; 300_000]), true)
                .unwrap();
            pump(&mut server, &mut client);
            let answer = loop {
                match client.poll_event() {
                    Some(Event::Next {
                        stream_id, payload, ..
                    }) if stream_id == id => break payload,
                    Some(_) => {}
                    None => panic!("no answer"),
                }
            };
            assert_eq!(answer.data.len(), 300_000);
            assert!(answer.data.iter().all(|&b| b == i));
        }
        assert!(client.buffers.kept_bytes() >= 300_000);
        let keepalive = || {
            Frame::Keepalive(Keepalive {
                respond: false,
                last_received_position: 0,
                data: bytes::Bytes::new(),
            })
        };
        client.handle_frame(now, keepalive());
        assert!(
            client.buffers.kept_bytes() >= 300_000,
            "used since the last check"
        );
        client.handle_frame(now, keepalive());
        assert_eq!(client.buffers.kept_bytes(), 0);
    }

    #[test]
    fn a_closed_pool_keeps_nothing() {
        let pool = BufferPool::default();
        let mut v = pool.take(1 << 18);
        v.resize(1 << 18, 3);
        let held = pool.wrap(v);
        let mut v = pool.take(1 << 18);
        v.resize(1 << 18, 4);
        drop(pool.wrap(v));
        assert!(pool.kept_bytes() >= 1 << 18);
        pool.clear(true);
        assert_eq!(pool.kept_bytes(), 0);
        drop(held);
        assert_eq!(
            pool.kept_bytes(),
            0,
            "a buffer back after the close is freed"
        );
        // Without `for_good` (a disconnected session), buffers are kept again afterwards.
        let pool = BufferPool::default();
        let v = pool.take(1 << 18);
        pool.clear(false);
        drop(pool.wrap(v));
        assert!(pool.kept_bytes() >= 1 << 18);
    }

    #[test]
    fn payloads_outliving_their_connection_free_their_buffers() {
        let pool = BufferPool::default();
        let mut v = pool.take(1 << 18);
        v.resize(1 << 18, 3);
        let b = pool.wrap(v);
        drop(pool);
        assert_eq!(b[0], 3);
        drop(b);
    }
}
