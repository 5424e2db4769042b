//! `rsocket frames`: decodes frames for debugging.
//!
//! Input, in order of precedence:
//! * hex arguments, one frame per argument: `rsocket frames 000000011100...`;
//! * `--file PATH`, or stdin when neither is given: either hex text with one frame (or one
//!   run of length-prefixed frames) per line, `#` comments allowed, or a binary capture of a
//!   TCP byte stream (frames with their 24-bit length prefix).
//!
//! Output: readable text (composite metadata entries, routes, auth with secrets redacted),
//! JSON (one object per line), or hex (one bare frame per line, to round-trip captures).
//!
//! Exit codes: 0 every frame decoded, 1 some input did not decode, 2 the input could not be read.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use rsocket_proto::frame::HEADER_LEN;

use crate::pretty::{self, FramePrinter};

/// What the input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Hex text if the input is only hex digits, separators and `#` comments; else binary.
    Auto,
    /// Hex text, one frame (or one run of length-prefixed frames) per line.
    Hex,
    /// Raw bytes.
    Binary,
}

/// Whether frames carry the 24-bit length prefix of byte-stream transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Framing {
    /// Length-prefixed if the prefixes account for the input exactly; else one bare frame.
    Auto,
    /// A sequence of length-prefixed frames (a TCP or Unix socket capture).
    Prefixed,
    /// One frame without prefix (a WebSocket message).
    Bare,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FramesOutput {
    /// Readable text.
    Text,
    /// One JSON object per frame and line.
    Json,
    /// One frame per line as hex, without length prefix.
    Hex,
}

/// Frame decoder options.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit codes: 0 every frame decoded, 1 some input did not decode, \
                        2 the input could not be read."
)]
pub struct FramesArgs {
    /// Frames as hex, one per argument (with or without the length prefix). Without any,
    /// reads --file, or stdin.
    #[arg(value_name = "HEX")]
    pub hex: Vec<String>,
    /// Read a capture from this file (binary length-prefixed stream, or hex lines).
    #[arg(short = 'f', long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// What the input of --file or stdin is.
    #[arg(long, value_enum, default_value = "auto")]
    pub input: InputFormat,
    /// Whether frames carry the 24-bit length prefix.
    #[arg(long, value_enum, default_value = "auto")]
    pub framing: Framing,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: FramesOutput,
    /// Add a hex dump of each frame to the text output.
    #[arg(long)]
    pub hexdump: bool,
    /// Read metadata as this MIME type (default: as the capture's SETUP says, else composite
    /// metadata when it looks like it, else text or hex).
    #[arg(long = "metadata-mime", visible_alias = "mmt", value_name = "MIME")]
    pub metadata_mime: Option<String>,
}

/// A piece of input that is a frame, or that could not be split into frames.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    Frame(Bytes),
    Bad(String),
}

/// Splits `buf` into length-prefixed frames if the prefixes account for it exactly.
fn split_prefixed_exact(buf: &[u8]) -> Option<Vec<Bytes>> {
    let mut frames = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < 3 {
            return None;
        }
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        if len < HEADER_LEN || rest.len() < 3 + len {
            return None;
        }
        frames.push(Bytes::copy_from_slice(&rest[3..3 + len]));
        rest = &rest[3 + len..];
    }
    (!frames.is_empty()).then_some(frames)
}

/// Splits a length-prefixed stream, reporting a truncated or malformed tail.
fn split_prefixed(buf: &[u8]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut rest = buf;
    let mut offset = 0usize;
    while !rest.is_empty() {
        if rest.len() < 3 {
            out.push(Chunk::Bad(format!(
                "offset {offset}: {} trailing bytes, too short for a length prefix",
                rest.len()
            )));
            break;
        }
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        if rest.len() < 3 + len {
            out.push(Chunk::Bad(format!(
                "offset {offset}: length prefix announces {len} bytes, only {} left",
                rest.len() - 3
            )));
            break;
        }
        out.push(Chunk::Frame(Bytes::copy_from_slice(&rest[3..3 + len])));
        rest = &rest[3 + len..];
        offset += 3 + len;
    }
    out
}

fn split(buf: &[u8], framing: Framing) -> Vec<Chunk> {
    match framing {
        Framing::Bare => vec![Chunk::Frame(Bytes::copy_from_slice(buf))],
        Framing::Prefixed => split_prefixed(buf),
        Framing::Auto => match split_prefixed_exact(buf) {
            Some(frames) => frames.into_iter().map(Chunk::Frame).collect(),
            None => vec![Chunk::Frame(Bytes::copy_from_slice(buf))],
        },
    }
}

/// Hex lines: one frame (or one run of length-prefixed frames) per non-empty, non-comment line.
fn hex_lines(text: &str, framing: Framing) -> Result<Vec<Chunk>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bytes = pretty::from_hex(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        out.extend(split(&bytes, framing));
    }
    Ok(out)
}

fn looks_like_hex(input: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(input) else {
        return false;
    };
    let mut any = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if pretty::from_hex(line).is_err() {
            return false;
        }
        any = true;
    }
    any
}

fn chunks(args: &FramesArgs) -> Result<Vec<Chunk>, String> {
    if !args.hex.is_empty() {
        if args.file.is_some() {
            return Err("give hex arguments or --file, not both".into());
        }
        let mut out = Vec::new();
        for (i, h) in args.hex.iter().enumerate() {
            let bytes = pretty::from_hex(h).map_err(|e| format!("argument {}: {e}", i + 1))?;
            out.extend(split(&bytes, args.framing));
        }
        return Ok(out);
    }
    let input = match &args.file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            buf
        }
    };
    if input.is_empty() {
        return Err("no input: give hex arguments, --file, or frames on stdin".into());
    }
    let hex = match args.input {
        InputFormat::Hex => true,
        InputFormat::Binary => false,
        InputFormat::Auto => looks_like_hex(&input),
    };
    if hex {
        let text = std::str::from_utf8(&input).map_err(|_| "hex input is not UTF-8 text")?;
        hex_lines(text, args.framing)
    } else {
        let framing = match args.framing {
            // A binary capture is a byte stream: prefixed unless asked otherwise.
            Framing::Auto => match split_prefixed_exact(&input) {
                Some(_) => Framing::Prefixed,
                None if input.len() >= 3
                    && u32::from_be_bytes([0, input[0], input[1], input[2]]) as usize
                        >= HEADER_LEN =>
                {
                    Framing::Prefixed
                }
                None => Framing::Bare,
            },
            f => f,
        };
        Ok(split(&input, framing))
    }
}

/// Runs the decoder.
pub fn run(args: FramesArgs) -> ExitCode {
    let chunks = match chunks(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rsocket frames: {e}");
            return ExitCode::from(2);
        }
    };
    let mut printer = FramePrinter::new(args.hexdump).with_metadata_mime(args.metadata_mime);
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, chunk) in chunks.iter().enumerate() {
        let n = i + 1;
        let line = match chunk {
            Chunk::Bad(why) => {
                failed = true;
                match args.output {
                    FramesOutput::Json => {
                        format!("{}\n", serde_json::json!({ "index": n, "error": why }))
                    }
                    _ => {
                        eprintln!("rsocket frames: {why}");
                        continue;
                    }
                }
            }
            Chunk::Frame(raw) => {
                if rsocket_proto::Frame::decode(raw.clone()).is_err() {
                    failed = true;
                }
                match args.output {
                    FramesOutput::Text => format!("#{n} {}", printer.text(raw)),
                    FramesOutput::Json => {
                        let mut v = printer.json(raw);
                        if let Some(o) = v.as_object_mut() {
                            o.insert("index".into(), serde_json::json!(n));
                        }
                        format!("{v}\n")
                    }
                    FramesOutput::Hex => format!("{}\n", pretty::to_hex(raw)),
                }
            }
        };
        if out.write_all(line.as_bytes()).is_err() {
            // Stdout closed (a pager quit): nothing more to do.
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_framing_prefers_exact_prefixes() {
        // A CANCEL on stream 1, bare and prefixed.
        let bare = [0u8, 0, 0, 1, 0x24, 0];
        assert_eq!(
            split(&bare, Framing::Auto),
            vec![Chunk::Frame(Bytes::copy_from_slice(&bare))]
        );
        let mut prefixed = vec![0u8, 0, 6];
        prefixed.extend_from_slice(&bare);
        prefixed.extend_from_slice(&[0, 0, 6]);
        prefixed.extend_from_slice(&bare);
        assert_eq!(split(&prefixed, Framing::Auto).len(), 2);
    }

    #[test]
    fn truncated_stream_is_reported() {
        let c = split_prefixed(&[0, 0, 9, 1, 2]);
        assert!(matches!(&c[0], Chunk::Bad(why) if why.contains("announces 9 bytes")));
    }

    #[test]
    fn hex_detection() {
        assert!(looks_like_hex(b"# capture\n00 00 00 01 24 00\n\n"));
        assert!(!looks_like_hex(b"\x00\x00\x06"));
        assert!(!looks_like_hex(b"# only a comment\n"));
    }
}
