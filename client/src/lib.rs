//! # natsy: a NATS client with no async runtime
//!
//! (Crate docs are completed with the client.)
#![forbid(unsafe_code)]

pub use natsy_proto as proto;

mod client;
mod credentials;
mod error;
mod event;
mod event_loop;
mod message;
mod options;
mod request;
mod shared;
mod sub_queue;
mod subscription;
pub mod tls;
mod transport;

pub use client::{connect, Client, Statistics};
pub use credentials::{CredentialsError, CredentialsProvider, Signer};
pub use error::{ConnectError, FlushError, NextError, PublishError, RequestError, SubscribeError};
pub use event::Event;
pub use message::Message;
pub use natsy_proto::connection::{Auth, CloseReason, DisconnectReason, State};
pub use natsy_proto::{HeaderMap, ServerAddr, StatusCode};
pub use options::{ConnectOptions, EventCallback, ReconnectDelayFn, ToServerAddrs};
pub use request::ReplyHandle;
pub use sub_queue::{Closed, PendingLimits};
pub use subscription::Subscription;
