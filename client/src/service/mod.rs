//! # Services (ADR-32, nats.go `micro`)
//!
//! A service is a named, versioned group of request endpoints that other clients and
//! tools (`nats micro ls`, nats.go's and async-nats's service clients) discover through
//! `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`, with the ADR's subjects and JSON exactly.
//!
//! ```no_run
//! use natsy::service::Builder;
//!
//! let client = natsy::connect("nats://127.0.0.1:4222")?;
//! let service = Builder::new()
//!     .description("echoes what it gets")
//!     .start(&client, "echo", "1.0.0")?;
//! let endpoint = service.endpoint("echo")?;
//! for request in endpoint {
//!     if request.payload().is_empty() {
//!         request.respond_error(400, "empty request", "")?;
//!     } else {
//!         let payload = request.payload_bytes();
//!         request.respond(payload)?;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For async code, [`Endpoint::into_stream`] makes an endpoint a `Stream` of [`Request`]s
//! (answer with `respond_async`), and [`discover_ping`], [`discover_info`] and [`discover_stats`] find services (async forms in [`aio`]).
//!
//! How it is built, and where it differs from nats.go:
//! - Endpoints are pulled, not called back: an [`Endpoint`] is a subscription the
//!   application reads (an iterator or a stream), as in async-nats. A request's processing
//!   time runs from taking it to answering it.
//! - Discovery is answered on the connection's loop thread by natsy's own code, so a
//!   service costs no thread and answers while every handler is busy. For the same reason
//!   the custom stats `data` is a value set with [`Endpoint::set_stats_data`], not a
//!   callback: no user code runs on that thread.
//! - Starting a service and adding endpoints only queue SUBs, never wait (for room in the
//!   outgoing queue), so the same calls serve blocking and async code.
//! - [`Service::stop`] drains: every endpoint gets its UNSUB, what the server sent before
//!   it is still yielded, then the endpoints end. Requests already taken can still be
//!   answered. Nothing is lost, nothing answered twice (answering consumes the request).

mod discover;
mod discovery;
mod endpoint;
mod stats;
pub mod wire;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use natsy_proto::subject::validate_subscribe_subject;
use natsy_proto::{Sid, ValidationError};

use crate::client::Client;
use crate::error::{FlushError, SubscribeError};
/// Discovery for async code: `natsy::service::aio::discover_ping(&client, ..).await`.
#[cfg(feature = "async")]
pub use discover::aio;
pub use discover::{discover_info, discover_ping, discover_stats, DiscoverError, Discovered};
use discovery::{Discovery, EndpointEntry};
#[cfg(feature = "async")]
pub use endpoint::EndpointStream;
pub use endpoint::{Endpoint, Request};
use stats::StatsCell;
pub use wire::{
    EndpointInfo, EndpointStats, InfoResponse, PingResponse, StatsResponse, ERROR_CODE_HEADER,
    ERROR_HEADER,
};

/// The default API prefix of discovery subjects.
pub const DEFAULT_PREFIX: &str = "$SRV";
/// The default queue group of endpoints.
pub const DEFAULT_QUEUE_GROUP: &str = "q";

/// Why a service or endpoint could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceError {
    /// A service or endpoint name with characters other than `A-Z a-z 0-9 - _`, or empty.
    InvalidName(String),
    /// A version that is not semantic versioning (semver.org's grammar).
    InvalidVersion {
        /// The version given.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An endpoint subject, group or queue group that is not a valid subject.
    InvalidSubject {
        /// The subject given.
        subject: String,
        /// Why it is invalid.
        error: ValidationError,
    },
    /// Subscribing failed (the client is closed).
    Subscribe(SubscribeError),
    /// The service was stopped.
    Stopped,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(n) => write!(
                f,
                "invalid service or endpoint name {n:?}: only A-Z, a-z, 0-9, - and _"
            ),
            Self::InvalidVersion { version, reason } => {
                write!(f, "invalid service version {version:?}: {reason}")
            }
            Self::InvalidSubject { subject, error } => {
                write!(f, "invalid subject {subject:?}: {error}")
            }
            Self::Subscribe(e) => write!(f, "cannot subscribe: {e}"),
            Self::Stopped => f.write_str("the service is stopped"),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSubject { error, .. } => Some(error),
            Self::Subscribe(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SubscribeError> for ServiceError {
    fn from(e: SubscribeError) -> Self {
        Self::Subscribe(e)
    }
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(())
        .ok_or_else(|| ServiceError::InvalidName(name.to_string()))
}

fn check_subject(subject: &str) -> Result<(), ServiceError> {
    validate_subscribe_subject(subject).map_err(|error| ServiceError::InvalidSubject {
        subject: subject.to_string(),
        error,
    })
}

/// The queue group of an endpoint or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueGroup {
    /// The enclosing group's or service's (the service's default: `q`).
    Inherit,
    /// This one.
    Named(String),
    /// None: a plain subscription, every instance gets every request.
    None,
}

impl QueueGroup {
    fn resolve(&self, outer: &Option<String>) -> Option<String> {
        match self {
            Self::Inherit => outer.clone(),
            Self::Named(q) => Some(q.clone()),
            Self::None => None,
        }
    }
}

/// Options of a new service.
#[derive(Debug, Clone)]
pub struct Builder {
    description: String,
    metadata: HashMap<String, String>,
    queue_group: QueueGroup,
    prefix: String,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            description: String::new(),
            metadata: HashMap::new(),
            queue_group: QueueGroup::Named(DEFAULT_QUEUE_GROUP.into()),
            prefix: DEFAULT_PREFIX.into(),
        }
    }
}

impl Builder {
    /// Defaults: no description or metadata, queue group `q`, prefix `$SRV`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A human-readable description.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }

    /// Free-form metadata of this instance (immutable once started).
    pub fn metadata(mut self, metadata: HashMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }

    /// The endpoints' default queue group (`q` unless set; [`QueueGroup::None`]: none).
    pub fn queue_group(mut self, queue_group: QueueGroup) -> Self {
        self.queue_group = match queue_group {
            QueueGroup::Inherit => QueueGroup::Named(DEFAULT_QUEUE_GROUP.into()),
            other => other,
        };
        self
    }

    /// The discovery prefix instead of `$SRV` (for tools reaching across accounts).
    pub fn api_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('.').to_string();
        self
    }

    /// Starts service `name` at `version` (checked against semver) on `client`: it
    /// answers discovery from now on. Works for async code as is (it never waits).
    pub fn start(
        self,
        client: &Client,
        name: &str,
        version: &str,
    ) -> Result<Service, ServiceError> {
        check_name(name)?;
        semver::Version::parse(version).map_err(|e| ServiceError::InvalidVersion {
            version: version.to_string(),
            reason: e.to_string(),
        })?;
        check_subject(&format!("{}.PING", self.prefix))?;
        let queue_group = match &self.queue_group {
            QueueGroup::Named(q) => {
                natsy_proto::subject::validate_queue(q).map_err(|error| {
                    ServiceError::InvalidSubject {
                        subject: q.clone(),
                        error,
                    }
                })?;
                Some(q.clone())
            }
            _ => None,
        };
        let inbox = client.new_inbox();
        let id = inbox.rsplit('.').next().unwrap_or(&inbox).to_string();
        let discovery = Arc::new(Discovery {
            prefix: self.prefix,
            name: name.to_string(),
            id,
            version: version.to_string(),
            description: self.description,
            metadata: self.metadata,
            started: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            endpoints: Mutex::new(Vec::new()),
        });
        let sids = client.add_responder(&discovery.subjects(), discovery.clone())?;
        Ok(Service {
            inner: Arc::new(Inner {
                client: client.clone(),
                discovery,
                queue_group,
                discovery_sids: sids,
                stopped: AtomicBool::new(false),
            }),
        })
    }
}

struct Inner {
    client: Client,
    discovery: Arc<Discovery>,
    queue_group: Option<String>,
    discovery_sids: Vec<Sid>,
    stopped: AtomicBool,
}

/// A running service. Cheap to clone. Dropping it leaves the service running while
/// the client is open; [`Service::stop`] ends it.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.discovery.name)
            .field("id", &self.inner.discovery.id)
            .finish_non_exhaustive()
    }
}

/// Options of a new endpoint.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    subject: Option<String>,
    queue_group: QueueGroup,
    metadata: HashMap<String, String>,
}

impl Default for EndpointOptions {
    fn default() -> Self {
        EndpointOptions {
            subject: None,
            queue_group: QueueGroup::Inherit,
            metadata: HashMap::new(),
        }
    }
}

impl EndpointOptions {
    /// Defaults: the subject is the endpoint's name, the queue group inherited.
    pub fn new() -> Self {
        Self::default()
    }

    /// The subject (within the group's prefix) instead of the endpoint's name.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = Some(subject.to_string());
        self
    }

    /// The queue group instead of the group's or service's.
    pub fn queue_group(mut self, queue_group: QueueGroup) -> Self {
        self.queue_group = queue_group;
        self
    }

    /// The endpoint's metadata.
    pub fn metadata(mut self, metadata: HashMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }
}

impl Service {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.inner.discovery.name
    }

    /// This instance's unique id.
    pub fn id(&self) -> &str {
        &self.inner.discovery.id
    }

    /// The service's version.
    pub fn version(&self) -> &str {
        &self.inner.discovery.version
    }

    /// Adds endpoint `name` on subject `name` with the service's queue group.
    pub fn endpoint(&self, name: &str) -> Result<Endpoint, ServiceError> {
        self.endpoint_with(name, EndpointOptions::new())
    }

    /// Adds endpoint `name` with `options`.
    pub fn endpoint_with(
        &self,
        name: &str,
        options: EndpointOptions,
    ) -> Result<Endpoint, ServiceError> {
        self.add_endpoint(None, &self.inner.queue_group, name, options)
    }

    /// A group: endpoints added to it listen on `<name>.<subject>`.
    pub fn group(&self, name: &str) -> Group {
        Group {
            service: self.clone(),
            prefix: name.to_string(),
            queue_group: self.inner.queue_group.clone(),
        }
    }

    fn add_endpoint(
        &self,
        prefix: Option<&str>,
        outer_queue: &Option<String>,
        name: &str,
        options: EndpointOptions,
    ) -> Result<Endpoint, ServiceError> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(ServiceError::Stopped);
        }
        check_name(name)?;
        let own = options.subject.as_deref().unwrap_or(name);
        let subject = match prefix {
            Some(p) => format!("{p}.{own}"),
            None => own.to_string(),
        };
        check_subject(&subject)?;
        let queue_group = options.queue_group.resolve(outer_queue);
        let (sub, queue) = self
            .inner
            .client
            .subscribe_now(&subject, queue_group.as_deref())?;
        let stats = Arc::new(StatsCell::default());
        self.inner.discovery.lock_endpoints().push(EndpointEntry {
            info: EndpointInfo {
                name: name.to_string(),
                subject,
                queue_group: queue_group.unwrap_or_default(),
                metadata: options.metadata,
            },
            stats: stats.clone(),
            sid: sub.sid(),
            queue,
        });
        Ok(Endpoint::new(sub, stats))
    }

    /// What `$SRV.INFO` answers now.
    pub fn info(&self) -> InfoResponse {
        self.inner.discovery.info()
    }

    /// What `$SRV.STATS` answers now.
    pub fn stats(&self) -> StatsResponse {
        self.inner.discovery.stats()
    }

    /// Resets every endpoint's counters (the custom data stays).
    pub fn reset(&self) {
        for e in self.inner.discovery.lock_endpoints().iter() {
            e.stats.reset();
        }
    }

    /// True once [`Service::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Stops: discovery stops answering; every endpoint is drained (UNSUB, then what the
    /// server sent before it is still yielded, then the endpoint ends), waiting up to the
    /// client's flush timeout for the server's confirmation. Idempotent.
    pub fn stop(&self) -> Result<(), FlushError> {
        if !self.begin_stop() {
            return Ok(());
        }
        let flushed = self.inner.client.flush();
        self.end_stop();
        flushed
    }

    /// [`Service::stop`] for async code.
    #[cfg(feature = "async")]
    pub async fn stop_async(&self) -> Result<(), FlushError> {
        if !self.begin_stop() {
            return Ok(());
        }
        let client = crate::aio::Client::from(self.inner.client.clone());
        let flushed = client.flush().await;
        self.end_stop();
        flushed
    }

    /// Unsubscribes discovery and sends each endpoint's UNSUB, keeping its queue open
    /// for what the server sent before it. False if already stopped.
    fn begin_stop(&self) -> bool {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.inner
            .client
            .remove_responders(&self.inner.discovery_sids);
        for e in self.inner.discovery.lock_endpoints().iter() {
            let _ = self.inner.client.unsubscribe_sid_keep_queue(e.sid);
        }
        true
    }

    /// After the flush: nothing more can arrive, the endpoints end after what they hold.
    fn end_stop(&self) {
        for e in self.inner.discovery.lock_endpoints().iter() {
            e.queue.close(crate::SubscriptionEnded::Unsubscribed);
            let _ = self.inner.client.unsubscribe_sid_now(e.sid);
        }
    }
}

/// A group of endpoints sharing a subject prefix (and, unless set, the queue group).
#[derive(Debug, Clone)]
pub struct Group {
    service: Service,
    prefix: String,
    queue_group: Option<String>,
}

impl Group {
    /// Endpoints of this group use `queue_group` unless they set their own.
    pub fn queue_group(mut self, queue_group: QueueGroup) -> Self {
        self.queue_group = queue_group.resolve(&self.queue_group);
        self
    }

    /// Adds endpoint `name` on `<prefix>.<name>`.
    pub fn endpoint(&self, name: &str) -> Result<Endpoint, ServiceError> {
        self.endpoint_with(name, EndpointOptions::new())
    }

    /// Adds endpoint `name` with `options`, on `<prefix>.<subject or name>`.
    pub fn endpoint_with(
        &self,
        name: &str,
        options: EndpointOptions,
    ) -> Result<Endpoint, ServiceError> {
        if self.prefix.contains('>') {
            return Err(ServiceError::InvalidSubject {
                subject: self.prefix.clone(),
                error: ValidationError::InvalidSubscribeSubject,
            });
        }
        let prefix = (!self.prefix.is_empty()).then_some(self.prefix.as_str());
        self.service
            .add_endpoint(prefix, &self.queue_group, name, options)
    }

    /// A nested group, `<prefix>.<name>`.
    pub fn group(&self, name: &str) -> Group {
        Group {
            service: self.service.clone(),
            prefix: if self.prefix.is_empty() {
                name.to_string()
            } else {
                format!("{}.{name}", self.prefix)
            },
            queue_group: self.queue_group.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_are_checked() {
        assert!(check_name("calc-v2_x").is_ok());
        for bad in ["", "a b", "a.b", "a*", "é"] {
            assert_eq!(check_name(bad), Err(ServiceError::InvalidName(bad.into())));
        }
        for good in ["1.0.0", "0.1.2-rc.1+build.5"] {
            assert!(semver::Version::parse(good).is_ok(), "{good}");
        }
        for bad in ["1.0", "01.0.0", "v1.0.0", "1.0.0-"] {
            assert!(semver::Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_groups_inherit_unless_set_or_removed() {
        let outer = Some("q".to_string());
        assert_eq!(QueueGroup::Inherit.resolve(&outer), outer);
        assert_eq!(
            QueueGroup::Named("w".into()).resolve(&outer),
            Some("w".into())
        );
        assert_eq!(QueueGroup::None.resolve(&outer), None);
    }
}
