//! The [`Requester`]: a fluent API for sending requests, like Spring's `RSocketRequester`.
//!
//! ```text
//!  requester.route("find.radar.{}", ["EWR"])       route (template + variables)
//!           .metadata(token, BEARER)               metadata entries
//!           .data(&view)                           one value, or .data_stream(values)
//!           .retrieve_one::<Location>().await      the interaction follows from these
//! ```

mod builder;
mod metadata;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use rsocket::{Payload, RSocket};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use builder::RequesterBuilder;
pub use metadata::{
    AUTHENTICATION, AuthenticationEntry, BEARER, Bearer, MetadataEncoder, SIMPLE_AUTH, SimpleAuth,
};

use crate::codec::Codecs;
use crate::envelope;
use crate::error::Error;
use crate::metadata::Entry;

struct Config {
    data_mime_type: String,
    metadata_mime_type: String,
    codecs: Arc<Codecs>,
}

/// Sends requests over one connection, encoding data with the connection's data MIME type
/// and routes and metadata with its metadata MIME type. Cheap to clone.
///
/// Get one from [`Requester::builder`] (client side), from the [`Requester`] extractor in a
/// handler (server side: it calls that client back), or wrap an [`RSocket`] with
/// [`Requester::new`].
///
/// # Cancel safety
///
/// Dropping a `retrieve_one` future or a `retrieve_stream` stream before it ends sends
/// CANCEL, as with [`RSocket`].
///
/// See [`RequestSpec`] for which interaction model each terminal method uses.
#[derive(Clone)]
pub struct Requester {
    rsocket: RSocket,
    config: Arc<Config>,
}

impl fmt::Debug for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requester")
            .field("data_mime_type", &self.config.data_mime_type)
            .field("metadata_mime_type", &self.config.metadata_mime_type)
            .field("rsocket", &self.rsocket)
            .finish()
    }
}

impl Requester {
    /// A builder for a client connection.
    pub fn builder() -> RequesterBuilder {
        RequesterBuilder::new()
    }

    /// Wraps an established connection with these MIME types and the default codecs.
    pub fn new(rsocket: RSocket, data_mime_type: &str, metadata_mime_type: &str) -> Self {
        Self::from_parts(
            rsocket,
            data_mime_type,
            metadata_mime_type,
            Arc::new(Codecs::default()),
        )
    }

    pub(crate) fn from_parts(
        rsocket: RSocket,
        data_mime_type: &str,
        metadata_mime_type: &str,
        codecs: Arc<Codecs>,
    ) -> Self {
        Requester {
            rsocket,
            config: Arc::new(Config {
                data_mime_type: data_mime_type.to_string(),
                metadata_mime_type: metadata_mime_type.to_string(),
                codecs,
            }),
        }
    }

    /// The underlying connection handle.
    pub fn rsocket(&self) -> &RSocket {
        &self.rsocket
    }

    /// The data MIME type of the connection.
    pub fn data_mime_type(&self) -> &str {
        &self.config.data_mime_type
    }

    /// The metadata MIME type of the connection.
    pub fn metadata_mime_type(&self) -> &str {
        &self.config.metadata_mime_type
    }

    /// Starts a request to a route: each `{…}` placeholder of `template` takes the next of
    /// `vars` (`()` for none, an array, a `Vec`, a slice or a tuple of `Display` values).
    ///
    /// ```no_run
    /// # async fn run(requester: rsocket_messaging::Requester) -> Result<(), rsocket_messaging::Error> {
    /// let answer: String = requester.route("echo", ()).data("hi").retrieve_one().await?;
    /// let radar: String = requester.route("find.radar.{}", ["EWR"]).retrieve_one().await?;
    /// # Ok(()) }
    /// ```
    pub fn route(&self, template: &str, vars: impl RouteVars) -> RequestSpec {
        let mut spec = self.request();
        match expand(template, vars.into_vars()) {
            Ok(route) => spec.route = Some(route),
            Err(e) => spec.error = Some(e),
        }
        spec
    }

    /// Starts a request without a route.
    pub fn request(&self) -> RequestSpec {
        RequestSpec {
            requester: self.clone(),
            route: None,
            entries: Vec::new(),
            data: DataSpec::None,
            error: None,
        }
    }

    /// Closes the connection gracefully.
    pub fn close(&self) {
        self.rsocket.close();
    }
}

/// Values for the placeholders of a route template.
pub trait RouteVars {
    /// The values, as text, in order.
    fn into_vars(self) -> Vec<String>;
}

impl RouteVars for () {
    fn into_vars(self) -> Vec<String> {
        Vec::new()
    }
}

impl<T: fmt::Display, const N: usize> RouteVars for [T; N] {
    fn into_vars(self) -> Vec<String> {
        self.iter().map(ToString::to_string).collect()
    }
}

impl<T: fmt::Display> RouteVars for &[T] {
    fn into_vars(self) -> Vec<String> {
        self.iter().map(ToString::to_string).collect()
    }
}

impl<T: fmt::Display> RouteVars for Vec<T> {
    fn into_vars(self) -> Vec<String> {
        self.iter().map(ToString::to_string).collect()
    }
}

macro_rules! route_vars_tuple {
    ($($t:ident),+) => {
        impl<$($t: fmt::Display),+> RouteVars for ($($t,)+) {
            #[allow(non_snake_case)]
            fn into_vars(self) -> Vec<String> {
                let ($($t,)+) = self;
                vec![$($t.to_string()),+]
            }
        }
    };
}
route_vars_tuple!(A);
route_vars_tuple!(A, B);
route_vars_tuple!(A, B, C);
route_vars_tuple!(A, B, C, D);

/// Fills the `{…}` placeholders of a template in order.
fn expand(template: &str, vars: Vec<String>) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len());
    let mut vars = vars.into_iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(Error::Usage(format!(
                "route template '{template}' has an unclosed '{{'"
            )));
        };
        out.push_str(&rest[..open]);
        let var = vars.next().ok_or_else(|| {
            Error::Usage(format!(
                "route template '{template}' has more placeholders than variables"
            ))
        })?;
        out.push_str(&var);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    if vars.next().is_some() {
        return Err(Error::Usage(format!(
            "route template '{template}' has fewer placeholders than variables"
        )));
    }
    Ok(out)
}

enum DataSpec {
    None,
    One(Bytes),
    Many(BoxStream<'static, Result<Bytes, Error>>),
}

/// A request being built: route, metadata, data; then a terminal method sends it with the
/// interaction model that fits:
///
/// | data | terminal | interaction |
/// |---|---|---|
/// | none or one value | [`send`](RequestSpec::send) | fire-and-forget |
/// | none or one value | [`retrieve_one`](RequestSpec::retrieve_one) | request-response |
/// | none or one value | [`retrieve_stream`](RequestSpec::retrieve_stream) | request-stream |
/// | a stream | [`retrieve_stream`](RequestSpec::retrieve_stream) | request-channel |
/// | none | [`metadata_push`](RequestSpec::metadata_push) | metadata-push |
///
/// Errors found while building (an unencodable value, a bad route template) are reported
/// by the terminal method; nothing is sent then.
#[must_use = "a request is sent only by send, retrieve_one, retrieve_stream or metadata_push"]
pub struct RequestSpec {
    requester: Requester,
    route: Option<String>,
    entries: Vec<Entry>,
    data: DataSpec,
    error: Option<Error>,
}

impl fmt::Debug for RequestSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpec")
            .field("route", &self.route)
            .field("metadata_entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl RequestSpec {
    fn fail(&mut self, e: Error) {
        self.error.get_or_insert(e);
    }

    /// Adds a metadata entry: `mime` says how `value` is encoded, for example
    /// `.metadata(token, BEARER)`, `.metadata(Authentication::simple(u, p), AUTHENTICATION)`,
    /// `.metadata(&tenant, "application/x.tenant+json")` (encoded with the codec of that
    /// type) or `.metadata(bytes, "application/x.raw")`.
    pub fn metadata<V, M: MetadataEncoder<V>>(mut self, value: V, mime: M) -> Self {
        match mime.encode_entry(value, &self.requester.config.codecs) {
            Ok(entry) => self.entries.push(entry),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Sets the data: one value, encoded with the connection's data MIME type.
    pub fn data<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        let c = &self.requester.config;
        match c.codecs.encode(&c.data_mime_type, value) {
            Ok(b) => self.data = DataSpec::One(b),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Sets the data as raw bytes, sent as they are.
    pub fn data_bytes(mut self, data: impl Into<Bytes>) -> Self {
        self.data = DataSpec::One(data.into());
        self
    }

    /// Sets the data to a stream of values, making the request a channel. A value that
    /// cannot be encoded ends the outbound side (and is logged).
    pub fn data_stream<S, T>(mut self, values: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let config = self.requester.config.clone();
        self.data = DataSpec::Many(
            values
                .map(move |v| config.codecs.encode(&config.data_mime_type, &v))
                .boxed(),
        );
        self
    }

    /// The first payload: data plus the encoded route and metadata.
    fn payload(&mut self, data: Bytes) -> Result<Payload, Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let metadata = envelope::encode(
            &self.requester.config.metadata_mime_type,
            self.route.as_deref(),
            std::mem::take(&mut self.entries),
        )?;
        Ok(Payload { data, metadata })
    }

    fn single(&mut self, terminal: &str) -> Result<Payload, Error> {
        match std::mem::replace(&mut self.data, DataSpec::None) {
            DataSpec::None => self.payload(Bytes::new()),
            DataSpec::One(b) => self.payload(b),
            DataSpec::Many(_) => Err(Error::Usage(format!(
                "{terminal} sends one value; a stream of data needs retrieve_stream"
            ))),
        }
    }

    /// Sends it as fire-and-forget. Resolves once the request is queued.
    pub async fn send(mut self) -> Result<(), Error> {
        let payload = self.single("send")?;
        Ok(self.requester.rsocket.fire_and_forget(payload).await?)
    }

    /// Sends it as request-response and returns the raw answer.
    pub async fn retrieve_payload(mut self) -> Result<Payload, Error> {
        let payload = self.single("retrieve_one")?;
        Ok(self.requester.rsocket.request_response(payload).await?)
    }

    /// Sends it as request-response and decodes the answer with the connection's data MIME
    /// type (an empty answer decodes as `()` or `None`).
    pub async fn retrieve_one<T: DeserializeOwned + Send + 'static>(self) -> Result<T, Error> {
        let config = self.requester.config.clone();
        let p = self.retrieve_payload().await?;
        config.codecs.decode(&config.data_mime_type, &p.data)
    }

    /// Sends it as request-stream (one value of data) or request-channel (a stream of data)
    /// and returns the raw answers.
    pub fn retrieve_payloads(mut self) -> BoxStream<'static, Result<Payload, Error>> {
        let rsocket = self.requester.rsocket.clone();
        let answers = match std::mem::replace(&mut self.data, DataSpec::None) {
            DataSpec::Many(values) => {
                let mut metadata = match self.payload(Bytes::new()) {
                    Ok(p) => p.metadata,
                    Err(e) => return futures::stream::once(futures::future::ready(Err(e))).boxed(),
                };
                let outbound = values
                    .take_while(|r| {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "ending a channel's outbound side");
                        }
                        futures::future::ready(r.is_ok())
                    })
                    .filter_map(|r| futures::future::ready(r.ok()))
                    .map(move |data| Payload {
                        data,
                        metadata: metadata.take(),
                    });
                rsocket.request_channel(outbound)
            }
            DataSpec::One(b) => match self.payload(b) {
                Ok(p) => rsocket.request_stream(p),
                Err(e) => return futures::stream::once(futures::future::ready(Err(e))).boxed(),
            },
            DataSpec::None => match self.payload(Bytes::new()) {
                Ok(p) => rsocket.request_stream(p),
                Err(e) => return futures::stream::once(futures::future::ready(Err(e))).boxed(),
            },
        };
        answers.map(|r| r.map_err(Error::from)).boxed()
    }

    /// Like [`retrieve_payloads`](Self::retrieve_payloads), decoding each answer with the
    /// connection's data MIME type.
    pub fn retrieve_stream<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> BoxStream<'static, Result<T, Error>> {
        let config = self.requester.config.clone();
        self.retrieve_payloads()
            .map(move |r| r.and_then(|p| config.codecs.decode(&config.data_mime_type, &p.data)))
            .boxed()
    }

    /// Sends the route and metadata as METADATA_PUSH (data is not allowed).
    pub async fn metadata_push(mut self) -> Result<(), Error> {
        if !matches!(self.data, DataSpec::None) {
            return Err(Error::Usage("metadata_push carries no data".into()));
        }
        let metadata = self.payload(Bytes::new())?.metadata.unwrap_or_default();
        Ok(self.requester.rsocket.metadata_push(metadata).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_expand_in_order() {
        assert_eq!(
            expand("a.{}.b.{x}", vec!["1".into(), "2".into()]).unwrap(),
            "a.1.b.2"
        );
        assert_eq!(expand("echo", vec![]).unwrap(), "echo");
        assert!(expand("a.{}", vec![]).is_err());
        assert!(expand("a", vec!["x".into()]).is_err());
        assert!(expand("a.{", vec!["x".into()]).is_err());
        assert_eq!(("x", 3).into_vars(), ["x", "3"]);
    }
}
