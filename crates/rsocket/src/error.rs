//! The one error type of the runtime.

use std::fmt;

use rsocket_proto::{CloseReason, CommandError, ErrorCode};

/// What went wrong, in broad terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The responder's application failed the request (APPLICATION_ERROR or a custom code in
    /// 0x301..=0xFFFFFFFE).
    Application,
    /// The responder rejected the request without processing it (REJECTED), for example
    /// beyond its lease or its concurrency limit.
    Rejected,
    /// The request was canceled (CANCELED), or this side dropped it.
    Canceled,
    /// The request was invalid (INVALID), or the peer broke a stream's rules.
    Invalid,
    /// The server refused the SETUP (INVALID_SETUP, UNSUPPORTED_SETUP, REJECTED_SETUP) or the
    /// RESUME (REJECTED_RESUME).
    Setup,
    /// The connection closed (locally, by the peer, or by keepalive timeout).
    ConnectionClosed,
    /// No valid lease to send a request.
    NoLease,
    /// The transport failed (IO error, WebSocket close, connection refused).
    Transport,
    /// A local misuse, such as a bad URI or an invalid request-n.
    Usage,
}

/// An RSocket error: a [`ErrorKind`], the wire error code when there is one, and a message.
///
/// Handlers return it to answer with an ERROR frame; requesters receive it when the peer
/// answers with one.
///
/// ```
/// use rsocket::{Error, ErrorKind};
/// let e = Error::custom(0x301, "out of stock");
/// assert_eq!(e.kind(), ErrorKind::Application);
/// assert_eq!(e.code().map(|c| c.0), Some(0x301));
/// assert_eq!(e.message(), "out of stock");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    code: Option<ErrorCode>,
    message: String,
}

impl Error {
    /// An error with a kind and message, no wire code.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// APPLICATION_ERROR (0x201).
    pub fn application(message: impl Into<String>) -> Self {
        Error::from_code(ErrorCode::APPLICATION_ERROR, message)
    }

    /// A custom application error code (0x301..=0xFFFFFFFE; other values become
    /// APPLICATION_ERROR when sent on a stream).
    pub fn custom(code: u32, message: impl Into<String>) -> Self {
        Error::from_code(ErrorCode(code), message)
    }

    /// REJECTED (0x202): the request was not processed.
    pub fn rejected(message: impl Into<String>) -> Self {
        Error::from_code(ErrorCode::REJECTED, message)
    }

    /// CANCELED (0x203).
    pub fn canceled(message: impl Into<String>) -> Self {
        Error::from_code(ErrorCode::CANCELED, message)
    }

    /// INVALID (0x204).
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::from_code(ErrorCode::INVALID, message)
    }

    /// REJECTED_SETUP (0x003), for acceptors refusing a connection.
    pub fn rejected_setup(message: impl Into<String>) -> Self {
        Error::from_code(ErrorCode::REJECTED_SETUP, message)
    }

    /// An error carrying a wire code; the kind follows from the code.
    pub fn from_code(code: ErrorCode, message: impl Into<String>) -> Self {
        let kind = match code {
            ErrorCode::REJECTED => ErrorKind::Rejected,
            ErrorCode::CANCELED => ErrorKind::Canceled,
            ErrorCode::INVALID => ErrorKind::Invalid,
            c if c.is_setup_rejection() => ErrorKind::Setup,
            ErrorCode::CONNECTION_ERROR | ErrorCode::CONNECTION_CLOSE => {
                ErrorKind::ConnectionClosed
            }
            _ => ErrorKind::Application,
        };
        Error {
            kind,
            code: Some(code),
            message: message.into(),
        }
    }

    /// A transport failure.
    pub fn transport(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Transport, message)
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The wire error code, if the error came from or goes to an ERROR frame.
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }

    /// The message (the ERROR frame's data).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The code to put in an ERROR frame on a stream.
    pub(crate) fn stream_code(&self) -> ErrorCode {
        match self.code {
            Some(c) if !c.is_connection_level() && c.0 != 0 => c,
            _ => match self.kind {
                ErrorKind::Rejected => ErrorCode::REJECTED,
                ErrorKind::Canceled => ErrorCode::CANCELED,
                ErrorKind::Invalid => ErrorCode::INVALID,
                _ => ErrorCode::APPLICATION_ERROR,
            },
        }
    }

    pub(crate) fn closed(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::Peer { code, message } if code.is_setup_rejection() => {
                Error::from_code(*code, message.clone())
            }
            CloseReason::Peer { code, message } | CloseReason::Local { code, message } => Error {
                kind: ErrorKind::ConnectionClosed,
                code: Some(*code),
                message: message.clone(),
            },
            other => Error::new(ErrorKind::ConnectionClosed, other.to_string()),
        }
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        let kind = match e {
            CommandError::Closed | CommandError::Draining => ErrorKind::ConnectionClosed,
            CommandError::NoLease(_) => ErrorKind::NoLease,
            _ => ErrorKind::Usage,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::transport(e.to_string())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(c) => write!(f, "{:?} error {c}: {}", self.kind, self.message),
            None => write!(f, "{:?} error: {}", self.kind, self.message),
        }
    }
}

impl std::error::Error for Error {}
