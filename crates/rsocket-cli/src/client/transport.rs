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
use rsocket::transport::{ConnectOptions, FrameIo, Inbound, TransportUri};
use rsocket_proto::Frame;
use tokio::sync::Notify;

use super::Failure;
use crate::pretty::FramePrinter;

/// How long establishing the TCP, Unix or WebSocket connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Signals when the transport has been closed or dropped by the connection's driver.
#[derive(Clone, Debug, Default)]
pub(crate) struct Finished {
    done: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Finished {
    /// Marks the transport finished (when the runtime owns the transport).
    pub(crate) fn set_done(&self) {
        self.set();
    }

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

/// Connects to `uri` (`tcp://`, `tcp+tls://`, `ws://`, `wss://`, `unix:`). Errors: usage
/// (exit 2) for bad URIs and options, connection (exit 3) for everything that fails on the
/// network, TLS handshakes included.
pub(crate) async fn open(
    uri: &str,
    opts: &ConnectOptions,
    debug: bool,
    finished: &Finished,
) -> Result<Box<dyn FrameIo>, Failure> {
    let parsed: TransportUri = uri
        .parse()
        .map_err(|e: rsocket::Error| Failure::usage(e.message().to_string()))?;
    let io = tokio::time::timeout(CONNECT_TIMEOUT, rsocket::transport::connect(&parsed, opts))
        .await
        .map_err(|_| Failure::connect(format!("cannot connect to {parsed}: timed out")))?
        .map_err(|e| match e.kind() {
            rsocket::ErrorKind::Usage => Failure::usage(e.message().to_string()),
            _ => Failure::connect(e.message().to_string()),
        })?;
    Ok(tap(io, debug, finished))
}
