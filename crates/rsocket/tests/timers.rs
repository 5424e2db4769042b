//! Connection deadlines through the runtime (the process-wide alarm thread): KEEPALIVE goes
//! out at the interval, a silent peer is dropped after the max lifetime and not before, on
//! many connections at once and on either runtime flavour.

use std::time::{Duration, Instant};

use rsocket::Client;
use rsocket::proto::Frame;
use rsocket::proto::codec::LengthCodec;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A peer that reads and never writes: what it received, with arrival times, until EOF or
/// `for_at_most`.
async fn silent_peer(mut s: TcpStream, for_at_most: Duration) -> (Vec<(Instant, Frame)>, bool) {
    let codec = LengthCodec::default();
    let mut buf = bytes::BytesMut::new();
    let mut frames = Vec::new();
    let until = tokio::time::Instant::now() + for_at_most;
    loop {
        while let Some(f) = codec.split(&mut buf).expect("well-formed length prefix") {
            frames.push((
                Instant::now(),
                Frame::decode(f).expect("a frame that decodes"),
            ));
        }
        match tokio::time::timeout_at(until, s.read_buf(&mut buf)).await {
            Err(_) => return (frames, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (frames, true),
            Ok(Ok(_)) => {}
        }
    }
}

/// Connects a client with `interval` / `lifetime` to a silent peer; returns when the peer
/// saw each keepalive and when the client's connection ended (both measured from just before
/// `connect`, so never later than the client's own start of the connection), and whether
/// the peer saw EOF.
///
/// Arrival times at the peer are no earlier than the sending, so "keepalive `i` arrived
/// at least `(i + 1) × interval` after the start" holds for a correct client however late the
/// peer's task runs. (Measuring from the SETUP's arrival did not: on a loaded 2-core CI
/// machine the peer read the SETUP 15 ms after it was sent.)
async fn run_one(interval: Duration, lifetime: Duration) -> (Vec<Duration>, Duration, bool) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("tcp://{}", l.local_addr().unwrap());
    let peer = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        silent_peer(s, Duration::from_secs(10)).await
    });
    // The lifetime runs from the connection's start, before `connect` returns.
    let start = Instant::now();
    let client = Client::builder()
        .keepalive(interval, lifetime)
        .connect(&uri)
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), client.closed())
        .await
        .expect("the connection ends within 10 s");
    let ended = start.elapsed();
    assert!(
        err.to_string().contains("keepalive") || err.to_string().contains("lifetime"),
        "closed for the missing keepalives: {err}"
    );
    let (frames, eof) = peer.await.unwrap();
    assert!(
        matches!(frames.first(), Some((_, Frame::Setup(_)))),
        "SETUP first, got {:?}",
        frames.first()
    );
    let keepalives = frames
        .iter()
        .filter_map(|(t, f)| match f {
            Frame::Keepalive(k) if k.respond => Some(t.duration_since(start)),
            _ => None,
        })
        .collect();
    (keepalives, ended, eof)
}

fn check(
    keepalives: &[Duration],
    ended: Duration,
    eof: bool,
    interval: Duration,
    lifetime: Duration,
) {
    // KEEPALIVE every interval (late at worst, on a loaded machine), never early.
    assert!(
        keepalives.len() >= 3,
        "at least 3 keepalives within the lifetime: {keepalives:?}"
    );
    for (i, t) in keepalives.iter().enumerate() {
        let due = interval * (i as u32 + 1);
        assert!(*t >= due, "keepalive {i} early: {t:?} < {due:?}");
    }
    assert!(ended >= lifetime, "closed before the lifetime: {ended:?}");
    assert!(
        ended < lifetime + Duration::from_secs(2),
        "closed late: {ended:?}"
    );
    assert!(eof, "the peer saw the connection close");
}

#[tokio::test]
async fn keepalives_go_out_and_a_silent_peer_is_dropped_after_the_lifetime() {
    let (interval, lifetime) = (Duration::from_millis(60), Duration::from_millis(500));
    let (k, ended, eof) = run_one(interval, lifetime).await;
    check(&k, ended, eof, interval, lifetime);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_connections_keep_their_own_deadlines_on_a_multi_thread_runtime() {
    let runs = (0..20u64).map(|i| {
        // Different intervals, so the alarm thread keeps deadlines of every order.
        let interval = Duration::from_millis(40 + 5 * i);
        let lifetime = interval * 6;
        tokio::spawn(async move { (interval, lifetime, run_one(interval, lifetime).await) })
    });
    for r in futures::future::join_all(runs).await {
        let (interval, lifetime, (k, ended, eof)) = r.unwrap();
        check(&k, ended, eof, interval, lifetime);
    }
}
