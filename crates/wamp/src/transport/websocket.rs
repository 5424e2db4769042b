//! WAMP over WebSocket: subprotocol negotiation (`wamp.2.json`, `wamp.2.msgpack`,
//! `wamp.2.cbor`), one WAMP message per WebSocket message, text for JSON and binary otherwise.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

use crate::serializer::Serializer;

/// A WebSocket could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// The handshake failed (including: no common subprotocol, wrong path).
    #[error("websocket handshake failed: {0}")]
    Handshake(#[from] tungstenite::Error),
    /// The server did not select one of our subprotocols.
    #[error("server selected no WAMP subprotocol")]
    NoSubprotocol,
}

/// Read and write buffer size of one WebSocket connection. tungstenite's default, 128 KiB each,
/// made an idle session cost ~140 KiB of router memory (the read buffer is reserved up front);
/// WAMP messages are mostly small, and larger ones are still read, in more than one read.
pub const WS_BUFFER_SIZE: usize = 16 * 1024;

/// WebSocket limits derived from the WAMP maximum message size.
pub fn ws_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
        .read_buffer_size(WS_BUFFER_SIZE)
        .write_buffer_size(WS_BUFFER_SIZE)
}

/// The first subprotocol in the client's list that we support.
pub fn choose_subprotocol(offered: &str) -> Option<Serializer> {
    offered
        .split(',')
        .map(str::trim)
        .find_map(Serializer::from_subprotocol)
}

/// Accepts a WebSocket on `path`, negotiating a WAMP subprotocol. Requests for another path get
/// 404; requests without a WAMP subprotocol get 400.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    path: &str,
    max_message_size: usize,
) -> Result<(WebSocketStream<S>, Serializer), WsError> {
    let chosen: Arc<Mutex<Option<Serializer>>> = Arc::default();
    let chosen_cb = chosen.clone();
    let path = path.to_owned();
    // The error type is fixed by tungstenite's `Callback` trait.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let reject = |status: StatusCode, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_owned()));
            *r.status_mut() = status;
            r
        };
        if req.uri().path() != path {
            return Err(reject(StatusCode::NOT_FOUND, "no WAMP endpoint here"));
        }
        let offered = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let Some(ser) = choose_subprotocol(&offered) else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "no supported WAMP subprotocol offered",
            ));
        };
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(ser.subprotocol()),
        );
        if let Ok(mut c) = chosen_cb.lock() {
            *c = Some(ser);
        }
        Ok(resp)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(ws_config(max_message_size)),
    )
    .await?;
    let ser = chosen
        .lock()
        .ok()
        .and_then(|c| *c)
        .ok_or(WsError::NoSubprotocol)?;
    Ok((ws, ser))
}

/// Opens a client WebSocket to `url` over `stream`, offering `serializers` in order.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    url: &str,
    serializers: &[Serializer],
    max_message_size: usize,
) -> Result<(WebSocketStream<S>, Serializer), WsError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request()?;
    let offer = serializers
        .iter()
        .map(|s| s.subprotocol())
        .collect::<Vec<_>>()
        .join(", ");
    let value = HeaderValue::from_str(&offer)
        .map_err(|e| WsError::Handshake(tungstenite::Error::HttpFormat(e.into())))?;
    req.headers_mut()
        .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    let (ws, resp) =
        tokio_tungstenite::client_async_with_config(req, stream, Some(ws_config(max_message_size)))
            .await?;
    let ser = resp
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(Serializer::from_subprotocol)
        .filter(|s| serializers.contains(s))
        .ok_or(WsError::NoSubprotocol)?;
    Ok((ws, ser))
}

/// Wraps encoded bytes in the WebSocket message type the serializer requires.
pub fn to_ws_message(ser: Serializer, bytes: Vec<u8>) -> WsMessage {
    if ser.is_binary() {
        WsMessage::Binary(bytes.into())
    } else {
        match String::from_utf8(bytes) {
            Ok(s) => WsMessage::Text(s.into()),
            Err(e) => WsMessage::Binary(e.into_bytes().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_choice_follows_client_order() {
        assert_eq!(
            choose_subprotocol("wamp.2.cbor, wamp.2.json"),
            Some(Serializer::Cbor)
        );
        assert_eq!(
            choose_subprotocol("foo,wamp.2.msgpack"),
            Some(Serializer::MsgPack)
        );
        assert_eq!(choose_subprotocol("wamp.2.json.batched"), None);
        assert_eq!(choose_subprotocol(""), None);
    }
}
