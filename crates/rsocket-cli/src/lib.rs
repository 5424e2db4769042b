//! # rsocket-cli
//!
//! The library behind the `rsocket` command:
//!
//! * [`serve`]: `rsocket serve`, which runs RSocket over TCP and WebSocket and the WAMP router
//!   in one process, serving the [`demo`] service;
//! * [`demo`]: the public demo service (echo, streams, blobs, errors, slow answers, counters),
//!   routed by routing metadata;
//! * [`client`]: the rsc-compatible client;
//! * [`frames`]: the frame decoder (`rsocket frames`);
//! * [`pretty`]: readable and JSON views of frames, shared by `rsocket frames` and the
//!   client's `--debug`.

#![forbid(unsafe_code)]

pub mod client;
pub mod demo;
pub mod frames;
pub mod pretty;
pub mod serve;
