//! The service's side of discovery: [`Discovery`] answers `$SRV.PING|INFO|STATS` (all
//! services, by name, by name and id) on the connection's loop thread, so a service costs
//! no thread and answers even while every endpoint handler is busy. It holds no `Client`:
//! the connection's core owns it, and a client inside it would keep the connection open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::stats::StatsCell;
use super::wire::{
    EndpointInfo, InfoResponse, PingResponse, StatsResponse, INFO_RESPONSE, PING_RESPONSE,
    STATS_RESPONSE,
};
use crate::core::Responder;
use crate::sub_queue::SubQueue;
use natsy_proto::Sid;

/// The verbs of ADR-32.
pub(crate) const VERBS: [&str; 3] = ["PING", "INFO", "STATS"];

/// One endpoint as the service tracks it.
pub(crate) struct EndpointEntry {
    pub(crate) info: EndpointInfo,
    pub(crate) stats: Arc<StatsCell>,
    pub(crate) sid: Sid,
    pub(crate) queue: Arc<SubQueue>,
}

/// What discovery reports: the service's identity and its endpoints.
pub(crate) struct Discovery {
    pub(crate) prefix: String,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) metadata: HashMap<String, String>,
    pub(crate) started: String,
    pub(crate) endpoints: Mutex<Vec<EndpointEntry>>,
}

impl Discovery {
    pub(crate) fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, Vec<EndpointEntry>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The 9 subjects this service answers on.
    pub(crate) fn subjects(&self) -> Vec<String> {
        let p = &self.prefix;
        VERBS
            .iter()
            .flat_map(|v| {
                [
                    format!("{p}.{v}"),
                    format!("{p}.{v}.{}", self.name),
                    format!("{p}.{v}.{}.{}", self.name, self.id),
                ]
            })
            .collect()
    }

    pub(crate) fn ping(&self) -> PingResponse {
        PingResponse {
            kind: PING_RESPONSE.into(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
        }
    }

    pub(crate) fn info(&self) -> InfoResponse {
        InfoResponse {
            kind: INFO_RESPONSE.into(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            description: self.description.clone(),
            endpoints: self
                .lock_endpoints()
                .iter()
                .map(|e| e.info.clone())
                .collect(),
        }
    }

    pub(crate) fn stats(&self) -> StatsResponse {
        StatsResponse {
            kind: STATS_RESPONSE.into(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            endpoints: self
                .lock_endpoints()
                .iter()
                .map(|e| {
                    e.stats
                        .snapshot(&e.info.name, &e.info.subject, &e.info.queue_group)
                })
                .collect(),
            started: self.started.clone(),
        }
    }
}

impl Responder for Discovery {
    fn answer(&self, subject: &str) -> Option<Bytes> {
        let verb = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?
            .split('.')
            .next()?;
        let body = match verb {
            "PING" => serde_json::to_vec(&self.ping()),
            "INFO" => serde_json::to_vec(&self.info()),
            "STATS" => serde_json::to_vec(&self.stats()),
            _ => return None,
        };
        body.ok().map(Bytes::from)
    }
}
