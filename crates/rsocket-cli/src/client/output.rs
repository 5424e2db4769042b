//! Writing received payloads to stdout.

use std::io::Write;

use indicatif::ProgressBar;
use rsocket::Payload;
use serde_json::{Map, Value, json};

use super::{Failure, OutputFormat};
use crate::pretty;

/// Where and how payloads are written.
pub(crate) struct Output {
    format: OutputFormat,
    quiet: bool,
    data_mime: String,
    metadata_mime: String,
    progress: Option<ProgressBar>,
}

impl Output {
    pub(crate) fn new(
        format: OutputFormat,
        quiet: bool,
        data_mime: String,
        metadata_mime: String,
    ) -> Self {
        Output {
            format,
            quiet,
            data_mime,
            metadata_mime,
            progress: None,
        }
    }

    /// Draws output around this progress bar.
    pub(crate) fn set_progress(&mut self, pb: Option<ProgressBar>) {
        self.progress = pb;
    }

    /// The JSON form of a payload: data (text, or `dataHex`), metadata as read by the
    /// connection's metadata MIME type, and both MIME types.
    pub(crate) fn json(&self, p: &Payload) -> Value {
        let mut o = Map::new();
        match std::str::from_utf8(&p.data) {
            Ok(s) => o.insert("data".into(), json!(s)),
            Err(_) => o.insert("dataHex".into(), json!(pretty::to_hex(&p.data))),
        };
        o.insert(
            "metadata".into(),
            p.metadata.as_ref().map_or(Value::Null, |m| {
                pretty::metadata_json(m, Some(&self.metadata_mime))
            }),
        );
        o.insert("dataMimeType".into(), json!(self.data_mime));
        o.insert("metadataMimeType".into(), json!(self.metadata_mime));
        Value::Object(o)
    }

    /// Writes one payload: its data and a newline, or one JSON object per line.
    pub(crate) fn emit(&self, p: &Payload) -> Result<(), Failure> {
        if self.quiet {
            return Ok(());
        }
        let mut line = match self.format {
            OutputFormat::Text => p.data.to_vec(),
            OutputFormat::Json => self.json(p).to_string().into_bytes(),
        };
        line.push(b'\n');
        let write = || {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(&line).and_then(|()| out.flush())
        };
        let r = match &self.progress {
            Some(pb) => pb.suspend(write),
            None => write(),
        };
        r.map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Failure::stdout_closed()
            } else {
                Failure::other(format!("cannot write to stdout: {e}"))
            }
        })
    }
}
