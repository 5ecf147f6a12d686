//! Finding services: ask `$SRV.PING|INFO|STATS[.<name>[.<id>]]` and gather every answer
//! that arrives within a window, blocking or async.

use std::fmt;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::wire::{InfoResponse, PingResponse, StatsResponse};
use super::DEFAULT_PREFIX;
use crate::client::Client;
use crate::error::{PublishError, SubscribeError};

/// Why discovery failed (answers that do not parse are skipped, and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The inbox for the answers could not be subscribed.
    Subscribe(SubscribeError),
    /// The question could not be published.
    Publish(PublishError),
}

impl fmt::Display for DiscoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscribe(e) => write!(f, "discovery: cannot subscribe: {e}"),
            Self::Publish(e) => write!(f, "discovery: cannot publish: {e}"),
        }
    }
}

impl std::error::Error for DiscoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Subscribe(e) => Some(e),
            Self::Publish(e) => Some(e),
        }
    }
}

impl From<SubscribeError> for DiscoverError {
    fn from(e: SubscribeError) -> Self {
        Self::Subscribe(e)
    }
}

impl From<PublishError> for DiscoverError {
    fn from(e: PublishError) -> Self {
        Self::Publish(e)
    }
}

/// What a discovery gathered.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered<T> {
    /// The answers, in arrival order.
    pub responses: Vec<T>,
    /// Answers that were not the expected JSON (another tool's, or a broken service).
    pub unreadable: usize,
}

/// `$SRV.<verb>[.<name>[.<id>]]`.
fn subject(verb: &str, name: Option<&str>, id: Option<&str>) -> String {
    match (name, id) {
        (Some(n), Some(i)) => format!("{DEFAULT_PREFIX}.{verb}.{n}.{i}"),
        (Some(n), None) => format!("{DEFAULT_PREFIX}.{verb}.{n}"),
        _ => format!("{DEFAULT_PREFIX}.{verb}"),
    }
}

fn gather<T: DeserializeOwned>(
    client: &Client,
    verb: &str,
    name: Option<&str>,
    id: Option<&str>,
    window: Duration,
) -> Result<Discovered<T>, DiscoverError> {
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(&inbox)?;
    client.publish_with_reply(&subject(verb, name, id), &inbox, "")?;
    let deadline = Instant::now().checked_add(window);
    let mut found = Discovered {
        responses: Vec::new(),
        unreadable: 0,
    };
    loop {
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            break;
        }
        match answers.next_timeout(left) {
            Ok(m) => match serde_json::from_slice(m.payload()) {
                Ok(r) => found.responses.push(r),
                Err(_) => found.unreadable += 1,
            },
            Err(_) => break,
        }
    }
    Ok(found)
}

/// Pings every service (or those named `name`, or the one instance `name`/`id`) and
/// gathers the answers that arrive within `window`.
///
/// ```no_run
/// # use std::time::Duration;
/// let client = natsy::connect("nats://127.0.0.1:4222")?;
/// for s in natsy::service::discover_ping(&client, None, None, Duration::from_millis(500))?.responses {
///     println!("{} {} ({})", s.name, s.version, s.id);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn discover_ping(
    client: &Client,
    name: Option<&str>,
    id: Option<&str>,
    window: Duration,
) -> Result<Discovered<PingResponse>, DiscoverError> {
    gather(client, "PING", name, id, window)
}

/// [`discover_ping`] for `$SRV.INFO`.
pub fn discover_info(
    client: &Client,
    name: Option<&str>,
    id: Option<&str>,
    window: Duration,
) -> Result<Discovered<InfoResponse>, DiscoverError> {
    gather(client, "INFO", name, id, window)
}

/// [`discover_ping`] for `$SRV.STATS`.
pub fn discover_stats(
    client: &Client,
    name: Option<&str>,
    id: Option<&str>,
    window: Duration,
) -> Result<Discovered<StatsResponse>, DiscoverError> {
    gather(client, "STATS", name, id, window)
}

/// The async forms of discovery, on [`aio::Client`](crate::aio::Client).
#[cfg(feature = "async")]
pub mod aio {
    use super::*;
    use futures_core::Stream;
    use std::future::poll_fn;
    use std::pin::Pin;

    async fn gather<T: DeserializeOwned>(
        client: &crate::aio::Client,
        verb: &str,
        name: Option<&str>,
        id: Option<&str>,
        window: Duration,
    ) -> Result<Discovered<T>, DiscoverError> {
        let inbox = client.new_inbox();
        let mut answers = client.subscribe(&inbox).await?;
        client
            .publish_with_reply(subject(verb, name, id), &inbox, "")
            .await?;
        let mut found = Discovered {
            responses: Vec::new(),
            unreadable: 0,
        };
        let collect = async {
            while let Some(m) = poll_fn(|cx| Pin::new(&mut answers).poll_next(cx)).await {
                match serde_json::from_slice(m.payload()) {
                    Ok(r) => found.responses.push(r),
                    Err(_) => found.unreadable += 1,
                }
            }
        };
        // Gathers until the window closes (the stream only ends if the client closes).
        let _ = crate::aio::wait::with_deadline(
            client.blocking().shared(),
            Instant::now().checked_add(window),
            collect,
        )
        .await;
        Ok(found)
    }

    /// [`discover_ping`](super::discover_ping), awaited.
    pub async fn discover_ping(
        client: &crate::aio::Client,
        name: Option<&str>,
        id: Option<&str>,
        window: Duration,
    ) -> Result<Discovered<PingResponse>, DiscoverError> {
        gather(client, "PING", name, id, window).await
    }

    /// [`discover_info`](super::discover_info), awaited.
    pub async fn discover_info(
        client: &crate::aio::Client,
        name: Option<&str>,
        id: Option<&str>,
        window: Duration,
    ) -> Result<Discovered<InfoResponse>, DiscoverError> {
        gather(client, "INFO", name, id, window).await
    }

    /// [`discover_stats`](super::discover_stats), awaited.
    pub async fn discover_stats(
        client: &crate::aio::Client,
        name: Option<&str>,
        id: Option<&str>,
        window: Duration,
    ) -> Result<Discovered<StatsResponse>, DiscoverError> {
        gather(client, "STATS", name, id, window).await
    }
}
