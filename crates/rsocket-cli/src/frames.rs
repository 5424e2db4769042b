//! `rsocket frames`: decodes frames for debugging.

use std::process::ExitCode;

/// Frame decoder options.
#[derive(clap::Args, Debug)]
pub struct FramesArgs {}

/// Runs the decoder.
pub fn run(args: FramesArgs) -> ExitCode {
    let _ = args;
    ExitCode::from(2)
}
