//! The driver's part in resumption: registering a resumable session, handing a RESUME's
//! transport to its session, and taking a new transport on (see [`crate::resume`]).

use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt;
use rsocket_proto::ErrorCode;
use rsocket_proto::frame::{Resume, Setup};

use super::Driver;
use crate::resume::{DriverIo, Handoff, Resumption, reject};

impl<T: DriverIo> Driver<T> {
    /// Server: registers the session of an accepted SETUP that carries a resume token.
    /// Returns false when the SETUP was refused (token in use, too many sessions).
    pub(super) fn register_session(&mut self, setup: &Setup) -> bool {
        let Some(Resumption::Server { registry, session }) = self.resume.as_deref_mut() else {
            return true;
        };
        let Some(token) = &setup.resume_token else {
            return true;
        };
        match registry.register(token) {
            Ok(registration) => {
                *session = Some(registration);
                true
            }
            Err(why) => {
                tracing::debug!(why, "resumable SETUP refused");
                self.inner
                    .lock()
                    .conn
                    .reject_setup(ErrorCode::REJECTED_SETUP, why);
                false
            }
        }
    }

    /// Server: this connection's first frame was RESUME. Its transport goes to the session the
    /// token names, and this driver ends without closing it; without such a session the
    /// connection is refused with ERROR\[REJECTED_RESUME\].
    pub(super) fn hand_off(&mut self, resume: Resume) {
        let Some(Resumption::Server { registry, .. }) = self.resume.as_deref() else {
            return;
        };
        let registry = registry.clone();
        let Some(io) = self.io.detach() else {
            return;
        };
        match registry.hand_off(Handoff { io, resume }) {
            Ok(()) => {
                // The transport belongs to the session now: end quietly.
                self.closing = true;
                self.eof = true;
            }
            Err((h, why)) => {
                tracing::debug!(why, "RESUME refused");
                self.io.attach(h.io);
                self.inner
                    .lock()
                    .conn
                    .close_with_error(ErrorCode::REJECTED_RESUME, why);
            }
        }
    }

    /// Takes a new transport on: the client's reconnection, or a transport the registry
    /// handed to this server session. Returns true when something happened.
    pub(super) fn poll_resume(&mut self, cx: &mut Context<'_>) -> bool {
        match self.resume.as_deref_mut() {
            Some(Resumption::Client { reconnecting, .. }) => {
                let Some(fut) = reconnecting else {
                    return false;
                };
                let Poll::Ready(io) = fut.poll_unpin(cx) else {
                    return false;
                };
                *reconnecting = None;
                let started = self.inner.lock().conn.start_resume(Instant::now());
                match started {
                    Ok(()) => self.io.attach(io),
                    Err(e) => tracing::debug!(error = %e, "not resuming"),
                }
                true
            }
            Some(Resumption::Server {
                session: Some(registration),
                ..
            }) => {
                let mut progress = false;
                while let Poll::Ready(Some(h)) = registration.rx.poll_recv(cx) {
                    progress = true;
                    let r = self
                        .inner
                        .lock()
                        .conn
                        .handle_resume(Instant::now(), &h.resume);
                    match r {
                        Ok(()) => {
                            // A transport we still hold is half-open or stale: replace it.
                            drop(self.io.detach());
                            self.io.attach(h.io);
                            self.eof = false;
                            self.stalled_since = None;
                            self.partial_since = None;
                            self.transport_error = None;
                        }
                        Err(msg) => reject(h.io, msg),
                    }
                }
                progress
            }
            _ => false,
        }
    }
}
