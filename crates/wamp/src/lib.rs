//! WAMP v2.
#![forbid(unsafe_code)]

pub mod auth;
pub mod id;
pub mod message;
pub mod router;
pub mod serializer;
mod server;
pub mod transport;
pub mod uri;
pub mod value;

pub use id::Id;
pub use message::{DecodeError, Message, Payload};
pub use serializer::Serializer;
pub use value::{Dict, Value};
pub use router::{AuthConfig, Credential, Limits, RouterConfig, RouterCore};
pub use server::Router;
