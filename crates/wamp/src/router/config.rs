//! Router configuration: realms, limits, authentication.

use std::collections::HashMap;
use std::time::Duration;

use crate::uri::UriRule;

/// Router configuration. [`Default`] serves realm `realm1` to anonymous clients with
/// [`Limits::default`].
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Realms that exist from the start.
    pub realms: Vec<String>,
    /// Create a realm when a client asks to join one that does not exist (bounded by
    /// [`Limits::max_realms`]); otherwise such a client gets `ABORT wamp.error.no_such_realm`.
    pub create_realms_on_demand: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Authentication.
    pub auth: AuthConfig,
    /// URI rule for realms, topics and procedures (default: loose, the spec's MUST).
    pub uri_rule: UriRule,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            realms: vec!["realm1".to_owned()],
            create_realms_on_demand: false,
            limits: Limits::default(),
            auth: AuthConfig::default(),
            uri_rule: UriRule::Loose,
        }
    }
}

/// Resource limits. Every per-session structure in the router is bounded by one of these.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest serialized message accepted, in bytes (default 1 MiB). Larger inbound messages
    /// close the connection (RawSocket: the length is checked before the body is read;
    /// WebSocket: enforced by the WebSocket layer). The RawSocket maximum length we announce is
    /// this rounded down to a power of two (at least 512 bytes). An outbound message larger
    /// than a RawSocket peer's announced maximum: a RESULT is replaced by
    /// `ERROR wamp.error.payload_size_exceeded`, an EVENT is dropped, anything else closes that
    /// connection.
    pub max_message_size: usize,
    /// Most concurrent connections (sessions and handshakes) (default 10 000). Connections
    /// beyond this are closed right after accept.
    pub max_sessions: usize,
    /// Messages queued for one peer before the router gives up on it (default 1024).
    ///
    /// **Policy: disconnect.** A peer whose queue is full — a slow subscriber, a callee not
    /// reading — is disconnected, so the router's memory stays bounded by
    /// `max_sessions × outbound_queue × max_message_size` in the worst case. Dropping events
    /// silently was rejected: RPC results and errors cannot be dropped, and a peer that misses
    /// messages without knowing is worse than one that reconnects.
    pub outbound_queue: usize,
    /// Calls one caller may have in flight (default 1024); more are answered with
    /// `wamp.error.canceled`.
    pub max_pending_calls_per_session: usize,
    /// Subscriptions plus registrations one session may hold (default 4096); more are answered
    /// with `wamp.error.not_authorized`.
    pub max_subscriptions_per_session: usize,
    /// Realms that may exist when realms are created on demand (default 100).
    pub max_realms: usize,
    /// Time a connection may take from accept to `WELCOME` (default 10 s).
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 1 << 20,
            max_sessions: 10_000,
            outbound_queue: 1024,
            max_pending_calls_per_session: 1024,
            max_subscriptions_per_session: 4096,
            max_realms: 100,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Authentication configuration (applies to every realm).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Let clients join without credentials (`anonymous`, role [`AuthConfig::anonymous_role`]).
    /// Default: true.
    pub allow_anonymous: bool,
    /// Role given to anonymous sessions (default `anonymous`).
    pub anonymous_role: String,
    /// Ticket authentication: authid → credential (the ticket is the secret).
    pub tickets: HashMap<String, Credential>,
    /// WAMP-CRA: authid → credential (the HMAC key is the secret, or the PBKDF2-derived key when
    /// salted).
    pub wampcra: HashMap<String, Credential>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allow_anonymous: true,
            anonymous_role: "anonymous".to_owned(),
            tickets: HashMap::new(),
            wampcra: HashMap::new(),
        }
    }
}

/// A principal's secret and role.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Ticket or shared secret.
    pub secret: String,
    /// The role the principal gets.
    pub role: String,
    /// WAMP-CRA password salting (PBKDF2-HMAC-SHA256): the secret is the password.
    pub salt: Option<Salt>,
}

impl Credential {
    /// A credential without salting.
    pub fn new(secret: impl Into<String>, role: impl Into<String>) -> Self {
        Credential {
            secret: secret.into(),
            role: role.into(),
            salt: None,
        }
    }
}

/// WAMP-CRA salting parameters.
#[derive(Debug, Clone)]
pub struct Salt {
    /// The salt.
    pub salt: String,
    /// PBKDF2 iterations (autobahn default 1000).
    pub iterations: u32,
    /// Derived key length in bytes (autobahn default 32).
    pub keylen: u32,
}
