//! Connection deadlines kept by one process-wide thread instead of tokio's timer.
//!
//! ```text
//!  driver ── Alarm::set(at) ──► [ rsocket-alarm thread: heap of (at, entry) ] ── at ≤ now ──► waker.wake()
//!  driver ── Alarm::poll ◄──────────── fired flag ───────────────────────────────────────────┘
//! ```
//!
//! Every connection has a deadline at all times (the next KEEPALIVE, the peer's max lifetime).
//! Kept in tokio's timer, that deadline turns every park of the runtime into a timed
//! `epoll_wait`, and the kernel arms and cancels a high-resolution timer for each one: on this
//! project's 2-core VM that cost 0.5–1 µs of system time per park on each side, 5–10 % of a
//! request-response round trip with one request in flight (raw TCP with one idle tokio sleep
//! armed lost 10 %). Connection deadlines are seconds away and move rarely, so one thread
//! that sleeps until the earliest of them and wakes the drivers that are due costs almost
//! nothing, and the runtime parks without a timeout.
//!
//! Limits: the heap holds at most one entry per [`Alarm::set`] that moved a deadline earlier,
//! and is compacted (entries of dropped alarms and superseded deadlines removed) whenever it
//! grows past twice the live alarms plus 64. An alarm fires at or shortly after its deadline
//! (the thread's wake-up latency), never before. tokio's paused test clock does not drive it.
//!
//! When the thread cannot be started, [`Alarm::new`] returns `None` and the driver uses
//! tokio's timer as before.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Heap entries kept beyond twice the live alarms before the heap is compacted.
const COMPACT_SLACK: usize = 64;

/// One connection's deadline, woken by the alarm thread.
///
/// Cheap to poll: [`Alarm::poll`] reads one atomic flag unless the waker must be stored.
pub(crate) struct Alarm {
    entry: Arc<Entry>,
    clock: &'static Clock,
}

/// What the alarm thread and the owning driver share.
struct Entry {
    /// Set by the thread when the deadline passed; cleared by [`Alarm::poll`].
    fired: AtomicBool,
    /// Guarded by the clock's lock (always taken first): never contended.
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    /// The deadline to fire at (`None`: disarmed or fired).
    deadline: Option<Instant>,
    /// The earliest heap item for this entry. Invariant: `deadline.is_some()` implies
    /// `queued.is_some_and(|q| q <= deadline)` with an item at `queued` in the heap.
    queued: Option<Instant>,
    waker: Option<Waker>,
}

/// The thread's state: a min-heap of deadlines.
struct Clock {
    state: Mutex<Heap>,
    changed: Condvar,
}

struct Heap {
    items: BinaryHeap<Reverse<Item>>,
    /// Alarms alive (for the compaction bound).
    live: usize,
    /// Tie-breaker that keeps the heap's order total without comparing entries.
    seq: u64,
}

struct Item {
    at: Instant,
    seq: u64,
    entry: Weak<Entry>,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No invariant spans a panic here (user code never runs under these locks).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The process's alarm thread, started at first use (`None` if it could not be started).
fn clock() -> Option<&'static Clock> {
    static CLOCK: OnceLock<Option<&'static Clock>> = OnceLock::new();
    *CLOCK.get_or_init(|| {
        let clock: &'static Clock = Box::leak(Box::new(Clock {
            state: Mutex::new(Heap {
                items: BinaryHeap::new(),
                live: 0,
                seq: 0,
            }),
            changed: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("rsocket-alarm".into())
            .spawn(move || clock.run())
        {
            Ok(_) => Some(clock),
            Err(e) => {
                tracing::warn!(error = %e, "could not start the alarm thread; using tokio's timer");
                None
            }
        }
    })
}

impl Clock {
    /// The thread's loop: sleeps until the earliest deadline, fires what is due.
    fn run(&self) {
        let mut due = Vec::new();
        let mut heap = lock(&self.state);
        loop {
            let now = Instant::now();
            while heap.items.peek().is_some_and(|Reverse(i)| i.at <= now) {
                let Some(Reverse(item)) = heap.items.pop() else {
                    break;
                };
                let Some(entry) = item.entry.upgrade() else {
                    continue;
                };
                let mut slot = lock(&entry.slot);
                if slot.queued != Some(item.at) {
                    continue; // superseded: the item at `queued` covers the deadline
                }
                slot.queued = None;
                match slot.deadline {
                    Some(d) if d <= now => {
                        slot.deadline = None;
                        entry.fired.store(true, Ordering::Release);
                        if let Some(w) = slot.waker.take() {
                            due.push(w);
                        }
                    }
                    Some(d) => {
                        slot.queued = Some(d);
                        drop(slot);
                        heap.push(d, &entry);
                    }
                    None => {}
                }
            }
            if !due.is_empty() {
                drop(heap);
                for w in due.drain(..) {
                    w.wake();
                }
                heap = lock(&self.state);
                continue; // time passed while waking
            }
            heap = match heap.items.peek() {
                Some(Reverse(next)) => {
                    let wait = next.at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(heap, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.changed.wait(heap).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

impl Heap {
    fn push(&mut self, at: Instant, entry: &Arc<Entry>) {
        self.seq += 1;
        self.items.push(Reverse(Item {
            at,
            seq: self.seq,
            entry: Arc::downgrade(entry),
        }));
        if self.items.len() > 2 * self.live + COMPACT_SLACK {
            self.compact();
        }
    }

    /// Keeps only the items that stand for a live alarm's earliest queued deadline.
    fn compact(&mut self) {
        let items = std::mem::take(&mut self.items).into_vec();
        self.items = items
            .into_iter()
            .filter(|Reverse(i)| {
                i.entry
                    .upgrade()
                    .is_some_and(|e| lock(&e.slot).queued == Some(i.at))
            })
            .collect();
    }
}

impl Alarm {
    /// A disarmed alarm, or `None` when the alarm thread is not available.
    pub(crate) fn new() -> Option<Alarm> {
        let clock = clock()?;
        lock(&clock.state).live += 1;
        Some(Alarm {
            entry: Arc::new(Entry {
                fired: AtomicBool::new(false),
                slot: Mutex::new(Slot::default()),
            }),
            clock,
        })
    }

    /// Fires at `at` (replacing the deadline set before), waking `waker`.
    pub(crate) fn set(&self, at: Instant, waker: &Waker) {
        let mut heap = lock(&self.clock.state);
        let mut slot = lock(&self.entry.slot);
        // Under the lock: the thread cannot be firing the deadline replaced here.
        self.entry.fired.store(false, Ordering::Relaxed);
        slot.deadline = Some(at);
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            slot.waker = Some(waker.clone());
        }
        if slot.queued.is_none_or(|q| at < q) {
            slot.queued = Some(at);
            drop(slot);
            let earliest = heap.items.peek().is_none_or(|Reverse(i)| at < i.at);
            heap.push(at, &self.entry);
            if earliest {
                self.clock.changed.notify_one();
            }
        }
    }

    /// Ready once the deadline passed (then disarmed until the next [`Alarm::set`]); else
    /// makes sure `cx`'s waker is the one woken.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.entry.fired.swap(false, Ordering::Acquire) {
            return Poll::Ready(());
        }
        let _heap = lock(&self.clock.state);
        let mut slot = lock(&self.entry.slot);
        if slot.deadline.is_none() {
            // Fired between the swap and the lock, or never set.
            return if self.entry.fired.swap(false, Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// True once the deadline passed and [`Alarm::poll`] has not reported it yet.
    pub(crate) fn is_elapsed(&self) -> bool {
        self.entry.fired.load(Ordering::Acquire)
    }
}

/// A driver's timer: the alarm thread when it runs, else tokio's.
pub(crate) enum Timer {
    Alarm(Alarm),
    Tokio(std::pin::Pin<Box<tokio::time::Sleep>>),
}

impl Timer {
    /// A timer that is not set.
    pub(crate) fn new() -> Timer {
        match Alarm::new() {
            Some(a) => Timer::Alarm(a),
            None => Timer::Tokio(Box::pin(tokio::time::sleep(
                std::time::Duration::from_secs(3600),
            ))),
        }
    }

    /// Sets the deadline; `waker` is woken at it (for tokio's timer, the waker of the next
    /// [`Timer::poll`]).
    pub(crate) fn reset(&mut self, at: Instant, waker: &Waker) {
        match self {
            Timer::Alarm(a) => a.set(at, waker),
            Timer::Tokio(s) => s.as_mut().reset(at.into()),
        }
    }

    /// True once the deadline passed (and, for the alarm, was not reported by a poll yet).
    pub(crate) fn is_elapsed(&self) -> bool {
        match self {
            Timer::Alarm(a) => a.is_elapsed(),
            Timer::Tokio(s) => s.is_elapsed(),
        }
    }

    /// Ready once the deadline passed; registers `cx`'s waker otherwise.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Timer::Alarm(a) => a.poll(cx),
            Timer::Tokio(s) => s.as_mut().poll(cx),
        }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        let mut heap = lock(&self.clock.state);
        heap.live = heap.live.saturating_sub(1);
        // Its heap items are skipped when they come up (the entry is gone).
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;
    use std::time::Duration;

    /// Counts its wake-ups.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    /// Polls until ready or 5 s have passed; returns when it became ready.
    fn wait_ready(a: &Alarm, w: &Waker) -> Option<Instant> {
        let mut cx = Context::from_waker(w);
        let give_up = Instant::now() + Duration::from_secs(5);
        while Instant::now() < give_up {
            if a.poll(&mut cx).is_ready() {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }

    #[test]
    fn fires_at_its_deadline_not_before_and_wakes() {
        let a = Alarm::new().expect("alarm thread");
        let (count, w) = waker();
        let start = Instant::now();
        a.set(start + Duration::from_millis(30), &w);
        let mut cx = Context::from_waker(&w);
        assert!(a.poll(&mut cx).is_pending());
        let at = wait_ready(&a, &w).expect("fired");
        assert!(at >= start + Duration::from_millis(30));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // Disarmed after firing: nothing more comes.
        std::thread::sleep(Duration::from_millis(20));
        assert!(a.poll(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_later_deadline_replaces_an_earlier_one_without_firing_early() {
        let a = Alarm::new().expect("alarm thread");
        let (count, w) = waker();
        let start = Instant::now();
        a.set(start + Duration::from_millis(10), &w);
        a.set(start + Duration::from_millis(400), &w);
        std::thread::sleep(Duration::from_millis(35));
        // The 10 ms item came up and was re-queued for 400 ms: no wake-up yet. (Read before
        // the clock: a sleep that overran on a loaded machine may have seen it fire on time.)
        let fired = count.0.load(Ordering::SeqCst) != 0 || a.is_elapsed();
        assert!(
            !fired || start.elapsed() >= Duration::from_millis(400),
            "fired before its deadline"
        );
        let at = wait_ready(&a, &w).expect("fired");
        assert!(at >= start + Duration::from_millis(400));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_earlier_deadline_fires_first() {
        let a = Alarm::new().expect("alarm thread");
        let (_count, w) = waker();
        let start = Instant::now();
        a.set(start + Duration::from_secs(3600), &w);
        a.set(start + Duration::from_millis(20), &w);
        let at = wait_ready(&a, &w).expect("fired");
        assert!(at >= start + Duration::from_millis(20));
        assert!(at < start + Duration::from_secs(5));
    }

    #[test]
    fn the_latest_waker_is_woken() {
        let a = Alarm::new().expect("alarm thread");
        let (old, w1) = waker();
        let (new, w2) = waker();
        a.set(Instant::now() + Duration::from_millis(20), &w1);
        assert!(a.poll(&mut Context::from_waker(&w2)).is_pending());
        wait_ready(&a, &w2).expect("fired");
        assert_eq!(old.0.load(Ordering::SeqCst), 0);
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_heap_stays_bounded_by_live_alarms() {
        let (_c, w) = waker();
        let far = Instant::now() + Duration::from_secs(3600);
        // Alarms that move their deadline earlier again and again, and alarms dropped while
        // armed, leave superseded items behind: compaction keeps the heap bounded.
        let kept: Vec<Alarm> = (0..10).map(|_| Alarm::new().expect("alarm")).collect();
        for i in 0..2_000u32 {
            let a = &kept[i as usize % kept.len()];
            a.set(far - Duration::from_millis(u64::from(i)), &w);
            let dropped = Alarm::new().expect("alarm");
            dropped.set(far, &w);
        }
        let clock = clock().expect("alarm thread");
        let heap = lock(&clock.state);
        // Other tests' alarms may be alive at the same time; all of them count in `live`.
        assert!(
            heap.items.len() <= 2 * heap.live + COMPACT_SLACK,
            "{} items for {} live alarms",
            heap.items.len(),
            heap.live
        );
    }
}
