//! Transport addresses: `tcp://host:port`, `ws://host:port/path`, `unix:/path`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{Error, ErrorKind};

/// Where to connect, parsed from a URI.
///
/// ```
/// use rsocket::transport::TransportUri;
/// let t: TransportUri = "tcp://127.0.0.1:7878".parse().unwrap();
/// assert_eq!(t, TransportUri::Tcp("127.0.0.1:7878".into()));
/// let w: TransportUri = "ws://localhost:7879/rsocket".parse().unwrap();
/// assert!(matches!(w, TransportUri::WebSocket(_)));
/// assert!("ftp://x".parse::<TransportUri>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportUri {
    /// TCP to `host:port`.
    Tcp(String),
    /// TLS over TCP (`tcp+tls://host:port`).
    TcpTls(String),
    /// WebSocket (`ws://` or `wss://`) to the full URL.
    WebSocket(String),
    /// A Unix domain socket path.
    Unix(PathBuf),
}

impl FromStr for TransportUri {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Usage,
                format!("invalid transport URI {s:?}: {why}"),
            )
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            let host = rest.trim_end_matches('/');
            if host.is_empty() || !host.contains(':') {
                return Err(bad("expected tcp://host:port"));
            }
            return Ok(TransportUri::Tcp(host.to_string()));
        }
        if let Some(rest) = s.strip_prefix("tcp+tls://") {
            let host = rest.trim_end_matches('/');
            if host.is_empty() || !host.contains(':') {
                return Err(bad("expected tcp+tls://host:port"));
            }
            return Ok(TransportUri::TcpTls(host.to_string()));
        }
        if s.starts_with("ws://") || s.starts_with("wss://") {
            if s.split("://").nth(1).is_none_or(str::is_empty) {
                return Err(bad("expected ws://host:port/path"));
            }
            return Ok(TransportUri::WebSocket(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("expected unix:/path/to/socket"));
            }
            return Ok(TransportUri::Unix(PathBuf::from(path)));
        }
        Err(bad(
            "supported schemes are tcp://, tcp+tls://, ws://, wss:// and unix:",
        ))
    }
}

impl fmt::Display for TransportUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportUri::Tcp(a) => write!(f, "tcp://{a}"),
            TransportUri::TcpTls(a) => write!(f, "tcp+tls://{a}"),
            TransportUri::WebSocket(u) => f.write_str(u),
            TransportUri::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}
