//! Opening the client's transport, and the frame tap behind `--debug`.
//!
//! The runtime's `ClientBuilder::connect` hides the transport, so the client builds it here
//! (TCP, WebSocket, Unix socket) and wraps it in a [`TapIo`] before handing it to
//! `ClientBuilder::connect_with`. The tap prints every frame with [`FramePrinter`] when asked
//! to, and tells the client when the transport is finished with, so frames queued before a
//! close (a fire-and-forget, the CONNECTION_CLOSE) are written before the process exits.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use rsocket::transport::{FrameIo, Inbound, LengthPrefixed, TransportUri};
use rsocket_proto::Frame;
use tokio::sync::Notify;

use super::Failure;
use crate::pretty::FramePrinter;

/// How long establishing the TCP, Unix or WebSocket connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The message for URIs that need TLS.
pub(crate) const TLS_UNSUPPORTED: &str = "TLS (wss://, tcp+tls://) is not supported yet";

/// True for URIs whose scheme needs TLS.
pub(crate) fn needs_tls(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    ["wss://", "tcp+tls://", "tls://", "tcps://"]
        .iter()
        .any(|s| lower.starts_with(s))
}

/// Signals when the transport has been closed or dropped by the connection's driver.
#[derive(Clone, Debug, Default)]
pub(crate) struct Finished {
    done: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Finished {
    fn set(&self) {
        self.done.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Waits until the transport is closed or dropped.
    pub(crate) async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.done.load(Ordering::Acquire) {
                return;
            }
            n.await;
        }
    }
}

/// A transport wrapper that prints frames (with `--debug`) and reports the end of the
/// transport.
pub(crate) struct TapIo<T> {
    inner: T,
    printer: Option<FramePrinter>,
    finished: Finished,
}

impl<T> TapIo<T> {
    fn print(&mut self, dir: &str, raw: &bytes::Bytes) {
        if let Some(p) = &mut self.printer {
            let text = p.text(raw);
            eprint!("{dir} {text}");
        }
    }
}

impl<T> Drop for TapIo<T> {
    fn drop(&mut self) {
        self.finished.set();
    }
}

impl<T: FrameIo> FrameIo for TapIo<T> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Inbound>>> {
        let r = self.inner.poll_recv(cx);
        if self.printer.is_some() {
            if let Poll::Ready(Ok(Some(Inbound::Encoded(raw)))) = &r {
                let raw = raw.clone();
                self.print("recv", &raw);
            }
        }
        r
    }

    fn queue(&mut self, frame: &Frame) -> io::Result<()> {
        if self.printer.is_some() {
            let mut buf = BytesMut::with_capacity(frame.encoded_len());
            if frame.encode(&mut buf).is_ok() {
                self.print("sent", &buf.freeze());
            }
        }
        self.inner.queue(frame)
    }

    fn backlog(&self) -> usize {
        self.inner.backlog()
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_flush(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = self.inner.poll_close(cx);
        if r.is_ready() {
            self.finished.set();
        }
        r
    }
}

fn tap<T: FrameIo>(io: T, debug: bool, finished: &Finished) -> Box<dyn FrameIo> {
    Box::new(TapIo {
        inner: io,
        printer: debug.then(|| FramePrinter::new(true)),
        finished: finished.clone(),
    })
}

/// Connects to `uri`. Errors: usage (exit 2) for bad URIs and TLS, connection (exit 3) for
/// everything that fails on the network.
pub(crate) async fn open(
    uri: &str,
    ws_headers: &[(String, String)],
    debug: bool,
    finished: &Finished,
) -> Result<Box<dyn FrameIo>, Failure> {
    if needs_tls(uri) {
        return Err(Failure::usage(TLS_UNSUPPORTED));
    }
    let parsed: TransportUri = uri
        .parse()
        .map_err(|e: rsocket::Error| Failure::usage(e.message().to_string()))?;
    let max = rsocket_proto::Config::default().limits.max_frame_size;
    let timed_out = || Failure::connect(format!("cannot connect to {parsed}: timed out"));
    match &parsed {
        TransportUri::Tcp(addr) => {
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| Failure::connect(format!("cannot connect to {parsed}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            Ok(tap(LengthPrefixed::new(tcp, max), debug, finished))
        }
        #[cfg(unix)]
        TransportUri::Unix(path) => {
            let s = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| Failure::connect(format!("cannot connect to {parsed}: {e}")))?;
            Ok(tap(LengthPrefixed::new(s, max), debug, finished))
        }
        #[cfg(not(unix))]
        TransportUri::Unix(_) => Err(Failure::usage(
            "Unix sockets are not available on this platform",
        )),
        TransportUri::WebSocket(url) => {
            let ws = tokio::time::timeout(
                CONNECT_TIMEOUT,
                rsocket::transport::ws::connect(url, ws_headers),
            )
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| match e.kind() {
                rsocket::ErrorKind::Usage => Failure::usage(e.message().to_string()),
                _ => Failure::connect(e.message().to_string()),
            })?;
            Ok(tap(ws, debug, finished))
        }
        // TLS variants (and any the runtime adds later).
        #[allow(unreachable_patterns)]
        _ => Err(Failure::usage(TLS_UNSUPPORTED)),
    }
}
