//! Transports: WebSocket (with WAMP subprotocols) and RawSocket over TCP.

pub mod rawsocket;
pub mod websocket;
