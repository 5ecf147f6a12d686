//! [`ClusterInfo`] and [`PeerInfo`]: where a clustered stream or consumer lives, as its
//! `STREAM.INFO` and `CONSUMER.INFO` report it.

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

/// Where a stream or consumer lives: its cluster, its leader and the other replicas
/// (`cluster` in stream and consumer info). On a single server only `leader` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ClusterInfo {
    /// The cluster's name.
    pub name: Option<String>,
    /// The name of the RAFT group that replicates it.
    pub raft_group: Option<String>,
    /// The leader's server name.
    pub leader: Option<String>,
    /// When the current leader was elected.
    #[serde(with = "time::serde::rfc3339::option")]
    pub leader_since: Option<OffsetDateTime>,
    /// It lives in the system account.
    pub system_account: bool,
    /// The account its replication traffic is accounted to.
    pub traffic_account: Option<String>,
    /// The replicas other than the leader (two for an R3 stream).
    #[serde(deserialize_with = "crate::wire::null_as_empty")]
    pub replicas: Vec<PeerInfo>,
}

/// One replica of a stream or consumer, as its leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The replica's server name.
    pub name: String,
    /// It has caught up with the leader.
    pub current: bool,
    /// The leader cannot reach it.
    pub offline: bool,
    /// How long ago the leader last heard from it.
    #[serde(with = "crate::wire::nanos")]
    pub active: Duration,
    /// How many entries it is behind the leader.
    pub lag: u64,
    /// The replica's peer id (a hash of the server name).
    pub peer: String,
    /// Assigned to the group but not yet a member of its RAFT group.
    pub pending: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_a_clustered_server_sends() {
        let info: ClusterInfo = serde_json::from_value(json!({
            "name": "C1", "raft_group": "S-R3F-abc", "leader": "n1",
            "leader_since": "2024-01-02T03:04:05Z",
            "replicas": [
                {"name": "n2", "current": true, "active": 1_500_000, "peer": "x"},
                {"name": "n3", "current": false, "offline": true, "active": 0, "lag": 7}
            ]
        }))
        .unwrap();
        assert_eq!(info.name.as_deref(), Some("C1"));
        assert_eq!(info.leader.as_deref(), Some("n1"));
        assert_eq!(info.raft_group.as_deref(), Some("S-R3F-abc"));
        assert_eq!(
            info.leader_since.map(|t| t.unix_timestamp()),
            Some(1_704_164_645)
        );
        assert_eq!(info.replicas[0].peer, "x");
        assert_eq!(info.replicas.len(), 2);
        assert_eq!(info.replicas[0].name, "n2");
        assert!(info.replicas[0].current && !info.replicas[0].offline);
        assert_eq!(info.replicas[0].active, Duration::from_micros(1500));
        assert_eq!((info.replicas[1].offline, info.replicas[1].lag), (true, 7));
        // A single server sends only the leader; a Go nil slice is `null`.
        let single: ClusterInfo =
            serde_json::from_value(json!({"leader": "solo", "replicas": null})).unwrap();
        assert_eq!(single.leader.as_deref(), Some("solo"));
        assert!(single.replicas.is_empty());
    }
}
