//! [`NatsCluster`]: N routed nats-servers on loopback, started together and waited on
//! until every node has a route to every other (and, with JetStream, a meta leader).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::builder::{ClusterLayout, Layout};
use crate::{find_nats_server, free_ports, probe, HarnessError, NatsServer, ServerBuilder};

/// How long [`NatsCluster::start`] waits for routes (and JetStream) after the nodes are up.
pub const CLUSTER_FORM_TIMEOUT: Duration = Duration::from_secs(20);

/// A full-mesh cluster of real servers. Node `i` is named `<cluster>-n<i>` and has a
/// client port, a route port and a monitoring port, all on 127.0.0.1.
///
/// Dropping the cluster kills every node.
#[derive(Debug)]
pub struct NatsCluster {
    name: String,
    nodes: Vec<NatsServer>,
    jetstream: bool,
}

impl NatsCluster {
    /// Starts `size` nodes configured like `template` (its own `server_name` is replaced),
    /// then waits until each node routes to all others; with JetStream it also waits until
    /// every node's `/healthz` is ok (a meta leader exists).
    ///
    /// ```no_run
    /// use natsy_test_harness::{NatsCluster, NatsServer};
    /// let cluster = NatsCluster::start(3, NatsServer::builder().jetstream())?;
    /// let urls = cluster.urls();
    /// # Ok::<(), natsy_test_harness::HarnessError>(())
    /// ```
    pub fn start(size: usize, template: ServerBuilder) -> Result<Self, HarnessError> {
        let bin = find_nats_server()?;
        // Unique per cluster, so clusters of parallel tests can never merge.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "natsy-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::try_start(&bin, &name, size, &template) {
                Err(e) if e.is_address_in_use() && attempt < crate::PORT_RETRIES => continue,
                other => return other,
            }
        }
    }

    fn try_start(
        bin: &std::path::Path,
        name: &str,
        size: usize,
        template: &ServerBuilder,
    ) -> Result<Self, HarnessError> {
        // Per node: client, monitoring and route port.
        let ports = free_ports(size * 3)?;
        let route_ports: Vec<u16> = (0..size).map(|i| ports[i * 3 + 2]).collect();
        let mut nodes = Vec::with_capacity(size);
        for i in 0..size {
            let layout = Layout {
                port: ports[i * 3],
                monitor_port: Some(ports[i * 3 + 1]),
                ws_port: None,
                cluster: Some(ClusterLayout {
                    name: name.to_string(),
                    port: route_ports[i],
                    routes: route_ports
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, &p)| p)
                        .collect(),
                }),
            };
            let builder = template.clone().server_name(&format!("{name}-n{i}"));
            let mut node = NatsServer::prepare(bin, &builder, layout)?;
            node.spawn_and_wait()?;
            nodes.push(node);
        }
        let mut cluster = NatsCluster {
            name: name.to_string(),
            nodes,
            jetstream: template.jetstream.is_some(),
        };
        cluster.wait_until_formed(CLUSTER_FORM_TIMEOUT)?;
        Ok(cluster)
    }

    /// Waits until every node routes to all other nodes and, with JetStream, reports
    /// healthy. Call it after restarting a node. Fails at once if a node is not running
    /// (a route port taken by another process makes a node exit after it was ready).
    pub fn wait_until_formed(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            for node in &mut self.nodes {
                node.ensure_running()?;
            }
            let missing = self.what_is_missing();
            match missing {
                None => return Ok(()),
                Some(detail) if Instant::now() >= deadline => {
                    return Err(HarnessError::ClusterNotFormed { detail })
                }
                Some(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Describes the first node that is not yet fully routed / healthy, or `None`.
    fn what_is_missing(&self) -> Option<String> {
        let others = self.nodes.len().saturating_sub(1);
        for node in &self.nodes {
            let peers = match node.monitor_json("/routez") {
                Ok(routez) => distinct_route_peers(&routez),
                Err(e) => return Some(format!("{}: {e}", node.url())),
            };
            if peers < others {
                return Some(format!(
                    "{} has routes to {peers} of {others} other nodes",
                    node.url()
                ));
            }
        }
        if self.jetstream {
            for node in &self.nodes {
                let Some(port) = node.monitor_port() else {
                    continue;
                };
                match probe::http_get(port, "/healthz", Duration::from_secs(2)) {
                    Ok((200, _)) => {}
                    Ok((status, body)) => {
                        return Some(format!("{} /healthz {status}: {body}", node.url()))
                    }
                    Err(e) => return Some(format!("{}: {e}", node.url())),
                }
            }
        }
        None
    }

    /// The cluster name (`cluster { name }`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// Node `i`; panics if out of range (a bug in the test).
    pub fn node(&self, i: usize) -> &NatsServer {
        &self.nodes[i]
    }

    /// Node `i`, mutable (to stop, restart or kill it); panics if out of range.
    pub fn node_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// The client URLs of all nodes (`nats://127.0.0.1:<port>`).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for a cluster of zero nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Counts the distinct remote servers in a `/routez` answer (a server may open several
/// pooled routes to the same peer).
fn distinct_route_peers(routez: &serde_json::Value) -> usize {
    let Some(routes) = routez["routes"].as_array() else {
        return 0;
    };
    routes
        .iter()
        .filter_map(|r| r["remote_id"].as_str())
        .collect::<HashSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_routes_count_once_per_peer() {
        let routez = serde_json::json!({
            "routes": [
                {"remote_id": "A"}, {"remote_id": "A"}, {"remote_id": "B"}, {"other": 1}
            ]
        });
        assert_eq!(distinct_route_peers(&routez), 2);
        assert_eq!(distinct_route_peers(&serde_json::json!({})), 0);
    }
}
