//! The rsc-compatible client (`rsocket URI [options]`).

use std::process::ExitCode;

/// Client options.
#[derive(clap::Args, Debug, Default)]
pub struct ClientArgs {
    /// Server URI: tcp://host:port, ws://host:port/path, unix:/path.
    pub uri: Option<String>,
}

/// Runs the client.
pub async fn run(args: ClientArgs) -> ExitCode {
    let _ = args;
    eprintln!("rsocket: the client is not built yet");
    ExitCode::from(2)
}
