//! The error type of the messaging layer and how it maps to RSocket ERROR codes.

use std::fmt;

use rsocket::ErrorCode;

use crate::codec::CodecError;
use crate::metadata::MetadataError;

/// The interaction model of a request, as the router and the layers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Interaction {
    /// The SETUP frame of a connection (Spring's `@ConnectMapping`).
    Setup,
    /// REQUEST_FNF.
    FireAndForget,
    /// REQUEST_RESPONSE.
    RequestResponse,
    /// REQUEST_STREAM.
    RequestStream,
    /// REQUEST_CHANNEL.
    RequestChannel,
    /// METADATA_PUSH.
    MetadataPush,
}

impl fmt::Display for Interaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interaction::Setup => "setup",
            Interaction::FireAndForget => "fire-and-forget",
            Interaction::RequestResponse => "request-response",
            Interaction::RequestStream => "request-stream",
            Interaction::RequestChannel => "request-channel",
            Interaction::MetadataPush => "metadata-push",
        })
    }
}

/// What went wrong in the messaging layer.
///
/// Handlers and extractors return it; it becomes an ERROR frame whose code
/// [`Error::code`] gives: malformed requests (undecodable data or metadata, missing
/// metadata, bad route variables) are INVALID, an unknown route is APPLICATION_ERROR, a
/// missing authentication is REJECTED, and a wrapped [`rsocket::Error`] keeps its own code.
///
/// ```
/// use rsocket::ErrorCode;
/// use rsocket_messaging::{Error, Interaction};
///
/// let e = Error::UnknownRoute { route: "find.radar".into(), interaction: Interaction::RequestResponse };
/// assert_eq!(e.code(), ErrorCode::APPLICATION_ERROR);
/// assert_eq!(e.to_string(), "no request-response handler for route 'find.radar'");
/// let wire: rsocket::Error = e.into();
/// assert_eq!(wire.code(), Some(ErrorCode::APPLICATION_ERROR));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Data or a metadata entry could not be decoded.
    #[error("cannot decode {what} as {mime}: {source}")]
    Decode {
        /// What was decoded: `data`, `metadata entry <mime>`, `route variables`.
        what: String,
        /// The MIME type it was decoded as.
        mime: String,
        /// Why the codec failed.
        #[source]
        source: CodecError,
    },
    /// A value could not be encoded.
    #[error("cannot encode {what} as {mime}: {source}")]
    Encode {
        /// What was encoded: `data`, `response`, `metadata entry <mime>`.
        what: String,
        /// The MIME type it was encoded as.
        mime: String,
        /// Why the codec failed.
        #[source]
        source: CodecError,
    },
    /// No codec is registered for a MIME type.
    #[error("no codec for MIME type {mime}")]
    NoCodec {
        /// The MIME type.
        mime: String,
    },
    /// The metadata could not be read or written.
    #[error("invalid metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// No handler serves the route for this interaction.
    #[error("no {interaction} handler for route '{route}'")]
    UnknownRoute {
        /// The route of the request (empty when it had none).
        route: String,
        /// The interaction model of the request.
        interaction: Interaction,
    },
    /// The route variables do not fit the type a handler asked for.
    #[error("invalid route variables in '{route}': {message}")]
    RouteVariables {
        /// The route of the request.
        route: String,
        /// What did not fit.
        message: String,
    },
    /// A metadata entry a handler needs is absent.
    #[error("missing metadata entry {mime}")]
    MissingMetadata {
        /// The MIME type of the entry.
        mime: String,
    },
    /// The request carries no authentication metadata.
    #[error("authentication required")]
    Unauthenticated,
    /// An extractor needs something this request or connection does not have (such as a
    /// channel's inbound stream outside a channel, or state that was never added).
    #[error("{0} is not available")]
    Unavailable(String),
    /// A local misuse, such as a route template with fewer variables than placeholders.
    #[error("{0}")]
    Usage(String),
    /// An error from the RSocket runtime or one a handler chose, with its own code.
    #[error(transparent)]
    RSocket(#[from] rsocket::Error),
}

impl Error {
    /// The ERROR frame code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Decode { .. }
            | Error::Metadata(_)
            | Error::MissingMetadata { .. }
            | Error::RouteVariables { .. }
            | Error::Usage(_) => ErrorCode::INVALID,
            Error::Unauthenticated => ErrorCode::REJECTED,
            Error::Encode { .. }
            | Error::NoCodec { .. }
            | Error::UnknownRoute { .. }
            | Error::Unavailable(_) => ErrorCode::APPLICATION_ERROR,
            Error::RSocket(e) => e.code().unwrap_or(ErrorCode::APPLICATION_ERROR),
        }
    }

    /// True for "this part of the request is absent" errors, which `Option<T>` extractors
    /// turn into `None`.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            Error::MissingMetadata { .. } | Error::Unauthenticated | Error::Unavailable(_)
        )
    }

    /// A decode error.
    pub(crate) fn decode(what: impl Into<String>, mime: &str, source: CodecError) -> Self {
        Error::Decode {
            what: what.into(),
            mime: mime.to_string(),
            source,
        }
    }

    /// An encode error.
    pub(crate) fn encode(what: impl Into<String>, mime: &str, source: CodecError) -> Self {
        Error::Encode {
            what: what.into(),
            mime: mime.to_string(),
            source,
        }
    }
}

impl From<Error> for rsocket::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::RSocket(e) => e,
            other => rsocket::Error::from_code(other.code(), other.to_string()),
        }
    }
}
