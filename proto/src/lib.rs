//! # natsy-proto: the NATS protocol, without IO
//!
//! (Crate docs with the driving loop are written once the connection lands.)
#![forbid(unsafe_code)]

pub mod backoff;
pub mod client_op;
pub mod connection;
pub mod creds;
pub mod encode;
pub mod error;
pub mod headers;
pub mod info;
mod line;
pub mod message;
pub mod nkey;
pub mod nuid;
pub mod pool;
pub mod secret;
pub mod server_error;
pub mod server_op;
pub mod subject;
pub mod url;

pub use backoff::ReconnectDelay;
pub use client_op::{ClientOp, ClientOpParser};
pub use connection::{Auth, Connection, ConnectionConfig, Event, State};
pub use creds::Credentials;
pub use encode::OutQueue;
pub use error::{CredsError, HeaderError, NkeyError, ProtocolError, UrlError, ValidationError};
pub use headers::{HeaderBlock, HeaderMap, StatusCode};
pub use info::{ConnectInfo, ServerInfo};
pub use message::{Message, Sid};
pub use nkey::{KeyPair, KeyType};
pub use nuid::{new_inbox, Nuid};
pub use pool::{Attempt, PoolOptions, ServerPool};
pub use secret::Secret;
pub use server_error::{ErrorAction, ServerError, ServerErrorKind};
pub use server_op::{ParserLimits, ServerOp, ServerOpParser, Status};
pub use url::ServerAddr;
