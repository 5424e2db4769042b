//! The `rsocket` command.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use rsocket_cli::{client, frames, serve};

/// RSocket from the command line: a client compatible with rsc, a server, and a frame decoder.
#[derive(Parser, Debug)]
#[command(
    name = "rsocket",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    client: client::ClientArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the RSocket server (TCP and WebSocket) and the WAMP router with the demo service.
    Serve(serve::ServeArgs),
    /// Decode RSocket frames from hex or a binary capture.
    Frames(frames::FramesArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rsocket",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Some(Cmd::Frames(args)) => frames::run(args),
        Some(Cmd::Serve(args)) => runtime().block_on(serve::run(args)),
        None => runtime().block_on(client::run(cli.client)),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rsocket: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}
