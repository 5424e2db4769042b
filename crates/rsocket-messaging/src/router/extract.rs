//! Extractors: the values handlers take as arguments.
//!
//! | extractor | what it takes | when absent or invalid |
//! |---|---|---|
//! | [`Route`] | the route (empty when none) | — |
//! | [`Path<T>`] | route variables, by name (struct, map) or position (tuple, single value) | INVALID |
//! | [`Data<T>`] | data decoded by the connection's data MIME type | INVALID |
//! | [`Json<T>`], [`Cbor<T>`], [`MsgPack<T>`] | data decoded as that format | INVALID |
//! | `Bytes`, `String`, [`Payload`] | the raw data (UTF-8 for `String`), or the whole payload | INVALID for bad UTF-8 |
//! | [`Metadata`] | all metadata entries, with typed decoding by MIME type | — |
//! | [`Authentication`] | the `message/x.rsocket.authentication.v0` entry | REJECTED |
//! | [`Requester`] | the connection's requester, to call the peer | APPLICATION_ERROR |
//! | [`State<T>`] | state added with [`Router::state`](crate::Router::state) | APPLICATION_ERROR |
//! | [`Extension<T>`] | a value a layer added to the request | APPLICATION_ERROR |
//! | [`Inbound<T>`], [`InboundPayloads`] | a channel's inbound values, the first payload included | APPLICATION_ERROR outside channels |
//! | [`SetupInfo`], [`Interaction`] | the connection's SETUP (server side), the interaction model | APPLICATION_ERROR |
//!
//! `Option<E>` turns "absent" into `None`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use rsocket::{Payload, SetupInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::handler::{FromRequest, IntoResponse};
use super::request::{ConnectionInfo, Request};
use crate::codec::{self, CborCodec, Codec, JsonCodec, MsgPackCodec};
use crate::de::ParamsDeserializer;
use crate::error::{Error, Interaction};
use crate::metadata::{Authentication, CompositeMetadata, MimeType, WellKnownMimeType};
use crate::requester::Requester;

/// The request's route (empty when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(pub String);

impl FromRequest for Route {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        Ok(Route(req.route.clone().unwrap_or_default()))
    }
}

/// Route variables: `Path<String>` for one, `Path<(String, u32)>` by position, a struct or
/// `HashMap<String, String>` by name. Values are parsed as the fields ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest for Path<T> {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        T::deserialize(ParamsDeserializer(&req.params))
            .map(Path)
            .map_err(|e| Error::RouteVariables {
                route: req.route.clone().unwrap_or_default(),
                message: e.0,
            })
    }
}

fn decode_data<T: DeserializeOwned + Send + 'static>(
    conn: &ConnectionInfo,
    codec: Option<&dyn Codec>,
    data: &Bytes,
) -> Result<T, Error> {
    match codec {
        Some(c) => codec::decode_with(c, "data", data),
        None => conn.codecs.decode(&conn.data_mime_type, data),
    }
}

macro_rules! data_wrapper {
    ($(#[$doc:meta])* $name:ident, $codec:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name<T>(pub T);

        impl<T: DeserializeOwned + Send + 'static> FromRequest for $name<T> {
            fn from_request(req: &mut Request) -> Result<Self, Error> {
                let codec: Option<&dyn Codec> = $codec;
                decode_data(&req.conn, codec, &req.payload.data).map($name)
            }
        }

        impl<T: Serialize + Send + 'static> IntoResponse for $name<T> {
            fn into_response(self, conn: &ConnectionInfo) -> Result<Payload, Error> {
                let codec: Option<&dyn Codec> = $codec;
                let data = match codec {
                    Some(c) => codec::encode_with(c, "response", &self.0)?,
                    None => conn.codecs.encode(&conn.data_mime_type, &self.0)?,
                };
                Ok(Payload::new(data))
            }
        }
    };
}

data_wrapper!(
    /// Data in JSON, whatever the connection's data MIME type: decodes requests, encodes
    /// responses.
    Json,
    Some(&JsonCodec)
);
data_wrapper!(
    /// Data in CBOR, whatever the connection's data MIME type: decodes requests, encodes
    /// responses.
    Cbor,
    Some(&CborCodec)
);
data_wrapper!(
    /// Data in MessagePack, whatever the connection's data MIME type: decodes requests,
    /// encodes responses.
    MsgPack,
    Some(&MsgPackCodec)
);
data_wrapper!(
    /// Data in the connection's data MIME type (from SETUP): decodes requests, encodes
    /// responses with the codec registered for it.
    Data,
    None
);

impl FromRequest for Payload {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        Ok(req.payload.clone())
    }
}

impl FromRequest for Bytes {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        Ok(req.payload.data.clone())
    }
}

impl FromRequest for String {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        String::from_utf8(req.payload.data.to_vec()).map_err(|e| {
            Error::decode(
                "data",
                "text/plain",
                codec::CodecError::new(format!("not UTF-8: {e}")),
            )
        })
    }
}

impl FromRequest for Interaction {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        Ok(req.interaction)
    }
}

impl FromRequest for SetupInfo {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        req.conn
            .setup
            .clone()
            .ok_or_else(|| Error::Unavailable("the SETUP (server side only)".into()))
    }
}

impl FromRequest for Requester {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        req.conn
            .requester
            .get()
            .cloned()
            .ok_or_else(|| Error::Unavailable("the connection's requester".into()))
    }
}

impl FromRequest for Authentication {
    /// The authentication entry; absent is [`Error::Unauthenticated`] (REJECTED).
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        req.metadata.authentication()?.ok_or(Error::Unauthenticated)
    }
}

/// The request's metadata entries, with typed decoding by MIME type.
#[derive(Debug, Clone)]
pub struct Metadata {
    entries: CompositeMetadata,
    conn: Arc<ConnectionInfo>,
}

impl FromRequest for Metadata {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        Ok(Metadata {
            entries: req.metadata.clone(),
            conn: req.conn.clone(),
        })
    }
}

impl Metadata {
    /// All entries, in order.
    pub fn entries(&self) -> &CompositeMetadata {
        &self.entries
    }

    /// The content of the first entry of a MIME type.
    pub fn get(&self, mime: &str) -> Option<&Bytes> {
        let wanted = MimeType::parse(mime).ok()?;
        self.entries
            .iter()
            .find(|e| e.mime().matches(&wanted))
            .map(|e| e.content())
    }

    /// Decodes the first entry of a MIME type with the codec registered for that type;
    /// `Ok(None)` when there is no such entry.
    pub fn decode<T: DeserializeOwned + Send + 'static>(
        &self,
        mime: &str,
    ) -> Result<Option<T>, Error> {
        let Some(content) = self.get(mime) else {
            return Ok(None);
        };
        let codec = self.conn.codecs.get(mime).ok_or_else(|| Error::NoCodec {
            mime: mime.to_string(),
        })?;
        codec::decode_with(codec, format!("metadata entry {mime}").as_str(), content).map(Some)
    }

    /// Like [`decode`](Self::decode), but a missing entry is
    /// [`Error::MissingMetadata`] (INVALID).
    pub fn require<T: DeserializeOwned + Send + 'static>(&self, mime: &str) -> Result<T, Error> {
        self.decode(mime)?.ok_or_else(|| Error::MissingMetadata {
            mime: mime.to_string(),
        })
    }

    /// The authentication entry, if any.
    pub fn authentication(&self) -> Result<Option<Authentication>, Error> {
        Ok(self.entries.authentication()?)
    }

    /// True when there is an entry of a well-known MIME type.
    pub fn contains(&self, mime: WellKnownMimeType) -> bool {
        self.entries.find(mime).is_some()
    }
}

/// Shared state added with [`Router::state`](crate::Router::state), cloned for each
/// request.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequest for State<T> {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        req.conn
            .state
            .get::<T>()
            .cloned()
            .map(State)
            .ok_or_else(|| Error::Unavailable(format!("state {}", std::any::type_name::<T>())))
    }
}

/// A value a layer added to the request's [`Extensions`](super::Extensions), cloned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequest for Extension<T> {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        req.extensions
            .get::<T>()
            .cloned()
            .map(Extension)
            .ok_or_else(|| Error::Unavailable(format!("extension {}", std::any::type_name::<T>())))
    }
}

fn take_inbound(req: &mut Request) -> Result<BoxStream<'static, Result<Payload, Error>>, Error> {
    if req.interaction != Interaction::RequestChannel {
        return Err(Error::Unavailable(format!(
            "an inbound stream in {} (request-channel only)",
            req.interaction
        )));
    }
    let rest = req
        .inbound
        .take()
        .ok_or_else(|| Error::Unavailable("the inbound stream (taken twice)".into()))?;
    let first = futures::stream::once(futures::future::ready(Ok(req.payload.clone())));
    Ok(first.chain(rest.map(|r| r.map_err(Error::from))).boxed())
}

/// A channel's inbound payloads, the first payload included. Dropping it cancels the
/// requester's side of the channel.
pub struct InboundPayloads(BoxStream<'static, Result<Payload, Error>>);

impl std::fmt::Debug for InboundPayloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InboundPayloads")
    }
}

impl FromRequest for InboundPayloads {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        take_inbound(req).map(InboundPayloads)
    }
}

impl Stream for InboundPayloads {
    type Item = Result<Payload, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_next_unpin(cx)
    }
}

/// A channel's inbound values decoded by the connection's data MIME type, the first
/// payload's included. An undecodable item is an `Err` item; the stream goes on.
pub struct Inbound<T>(BoxStream<'static, Result<T, Error>>);

impl<T> std::fmt::Debug for Inbound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbound")
    }
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Inbound<T> {
    fn from_request(req: &mut Request) -> Result<Self, Error> {
        let conn = req.conn.clone();
        let payloads = take_inbound(req)?;
        Ok(Inbound(
            payloads
                .map(move |p| p.and_then(|p| decode_data(&conn, None, &p.data)))
                .boxed(),
        ))
    }
}

impl<T> Stream for Inbound<T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_next_unpin(cx)
    }
}
