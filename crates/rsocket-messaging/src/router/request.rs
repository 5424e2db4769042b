//! What handlers and layers see: the [`Request`], the [`Response`], the per-connection
//! [`ConnectionInfo`] and the type map [`Extensions`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rsocket::{Payload, PayloadStream, ResponseStream, SetupInfo};

use crate::codec::Codecs;
use crate::envelope;
use crate::error::{Error, Interaction};
use crate::metadata::CompositeMetadata;
use crate::requester::Requester;

/// A map of values keyed by their type: the router's shared state, and per-request values
/// that layers add for handlers (such as an authenticated principal).
#[derive(Clone, Default)]
pub struct Extensions {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.map.len())
            .finish()
    }
}

impl Extensions {
    /// Adds a value, replacing the previous one of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if present.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }
}

/// What the router knows about one connection: the MIME types negotiated in SETUP, the
/// codecs, the shared state and the requester for calling the peer back.
pub struct ConnectionInfo {
    pub(crate) data_mime_type: String,
    pub(crate) metadata_mime_type: String,
    pub(crate) codecs: Arc<Codecs>,
    pub(crate) state: Arc<Extensions>,
    pub(crate) setup: Option<SetupInfo>,
    pub(crate) requester: OnceLock<Requester>,
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("data_mime_type", &self.data_mime_type)
            .field("metadata_mime_type", &self.metadata_mime_type)
            .finish()
    }
}

impl ConnectionInfo {
    /// The data MIME type of the connection.
    pub fn data_mime_type(&self) -> &str {
        &self.data_mime_type
    }

    /// The metadata MIME type of the connection.
    pub fn metadata_mime_type(&self) -> &str {
        &self.metadata_mime_type
    }

    /// The codecs of the router.
    pub fn codecs(&self) -> &Codecs {
        &self.codecs
    }

    /// The SETUP the client sent (on the server side only).
    pub fn setup(&self) -> Option<&SetupInfo> {
        self.setup.as_ref()
    }

    /// The requester for sending requests to the peer (on both sides, from the first request).
    pub fn requester(&self) -> Option<&Requester> {
        self.requester.get()
    }
}

/// One request as it goes through the router's layers to a handler.
pub struct Request {
    pub(crate) interaction: Interaction,
    pub(crate) route: Option<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) payload: Payload,
    pub(crate) metadata: CompositeMetadata,
    pub(crate) inbound: Option<PayloadStream>,
    pub(crate) conn: Arc<ConnectionInfo>,
    pub(crate) extensions: Extensions,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("interaction", &self.interaction)
            .field("route", &self.route)
            .field("data_len", &self.payload.data.len())
            .field("metadata_entries", &self.metadata.len())
            .finish()
    }
}

impl Request {
    /// Reads the route and metadata entries of `payload` per the connection's metadata
    /// MIME type.
    pub(crate) fn new(
        interaction: Interaction,
        payload: Payload,
        inbound: Option<PayloadStream>,
        conn: Arc<ConnectionInfo>,
    ) -> Result<Self, Error> {
        let (route, metadata) =
            envelope::decode(&conn.metadata_mime_type, payload.metadata.as_ref())?;
        Ok(Request {
            interaction,
            route,
            params: Vec::new(),
            payload,
            metadata,
            inbound,
            conn,
            extensions: Extensions::default(),
        })
    }

    /// The interaction model.
    pub fn interaction(&self) -> Interaction {
        self.interaction
    }

    /// The route from the routing metadata, if any.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// The route variables captured by the matched pattern (empty before matching).
    pub fn route_params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The payload as received (data and raw metadata). For a channel, the first payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The payload's data.
    pub fn data(&self) -> &Bytes {
        &self.payload.data
    }

    /// The metadata entries (a plain routing or other metadata appears as one entry).
    pub fn metadata(&self) -> &CompositeMetadata {
        &self.metadata
    }

    /// The connection.
    pub fn connection(&self) -> &ConnectionInfo {
        &self.conn
    }

    /// Values layers added for handlers ([`Extension`](crate::router::Extension)).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Adds values for handlers.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }
}

/// What a handler produced, on its way back through the layers.
#[non_exhaustive]
pub enum Response {
    /// Nothing to send: fire-and-forget, metadata-push, an accepted SETUP.
    Empty,
    /// The answer of a request-response.
    Payload(Payload),
    /// The answers of a request-stream or request-channel.
    Stream(ResponseStream),
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Empty => f.write_str("Empty"),
            Response::Payload(p) => f.debug_tuple("Payload").field(p).finish(),
            Response::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}
