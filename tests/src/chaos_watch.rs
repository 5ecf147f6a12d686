//! A chaos run seen from the servers: every second, each node's `/connz?subs=1` says which
//! chaos clients it holds, whether each has its subscription, and how many messages the
//! server has written to it. When a subscriber misses messages outside every fault
//! window, its timeline tells apart a server that stopped sending to it (`out_msgs`
//! flat, with or without the subscription listed) from a client that stopped taking what
//! was sent (`out_msgs` rising past what the client counted, `pending_bytes` growing).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::probe;

/// Where one client was at one tick: `None` when no node listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    node: usize,
    cid: u64,
    subscribed: bool,
    out_msgs: u64,
    pending_bytes: u64,
}

/// One tick: for each watched client (in `names` order), where it was.
#[derive(Debug, Clone)]
struct Tick {
    at: Instant,
    seen: Vec<Option<Seen>>,
}

/// The running watcher; [`Watch::stop`] ends it and returns what it saw.
#[derive(Debug)]
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Tick>>,
    clients: usize,
}

/// Starts polling the monitoring `ports` (one per node, the same across restarts) for
/// the clients called `names`.
pub(crate) fn start(ports: Vec<Option<u16>>, names: Vec<String>) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    let clients = names.len();
    let handle = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut ticks = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                ticks.push(tick(&ports, &names));
                thread::sleep(Duration::from_secs(1));
            }
            ticks
        })
    };
    Watch {
        stop,
        handle,
        clients,
    }
}

fn tick(ports: &[Option<u16>], names: &[String]) -> Tick {
    let at = Instant::now();
    let mut seen = vec![None; names.len()];
    for (node, port) in ports.iter().enumerate() {
        let Some(port) = *port else { continue };
        // A node that is down at this moment answers nothing: its clients are elsewhere.
        let Ok(connz) =
            probe::http_get_json(port, "/connz?subs=1&limit=1024", Duration::from_millis(500))
        else {
            continue;
        };
        let Some(conns) = connz["connections"].as_array() else {
            continue;
        };
        for c in conns {
            let Some(i) = names.iter().position(|n| c["name"] == n.as_str()) else {
                continue;
            };
            seen[i] = Some(Seen {
                node,
                cid: c["cid"].as_u64().unwrap_or(0),
                subscribed: c["subscriptions_list"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                out_msgs: c["out_msgs"].as_u64().unwrap_or(0),
                pending_bytes: c["pending_bytes"].as_u64().unwrap_or(0),
            });
        }
    }
    Tick { at, seen }
}

impl Watch {
    /// Stops the watcher; returns one timeline per watched client, in `names` order.
    pub(crate) fn stop(self, start: Instant) -> Vec<Vec<String>> {
        self.stop.store(true, Ordering::SeqCst);
        let ticks = self.handle.join().unwrap_or_default();
        (0..self.clients)
            .map(|i| timeline(&ticks, i, start))
            .collect()
    }
}

/// Runs of ticks on the same connection (node and cid) with the same subscribed state,
/// each as one line: when, where, and what the server wrote to it meanwhile.
fn timeline(ticks: &[Tick], client: usize, start: Instant) -> Vec<String> {
    let secs = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let mut lines = Vec::new();
    let mut run: Option<(Instant, Instant, Option<Seen>, Option<Seen>)> = None;
    let key = |s: &Option<Seen>| s.as_ref().map(|s| (s.node, s.cid, s.subscribed));
    let mut flush = |run: &(Instant, Instant, Option<Seen>, Option<Seen>)| {
        let (from, to, first, last) = run;
        let what = match (first, last) {
            (Some(f), Some(l)) => format!(
                "node {}, cid {}, {}, server wrote {} messages to it, {} B pending at the end",
                f.node,
                f.cid,
                if f.subscribed {
                    "subscribed"
                } else {
                    "NOT subscribed"
                },
                l.out_msgs.saturating_sub(f.out_msgs),
                l.pending_bytes
            ),
            _ => "on no node".to_string(),
        };
        lines.push(format!("{:.1}–{:.1} s: {what}", secs(*from), secs(*to)));
    };
    for t in ticks {
        let seen = t.seen.get(client).cloned().flatten();
        match &mut run {
            Some((_, to, first, last)) if key(first) == key(&seen) => {
                *to = t.at;
                *last = seen;
            }
            _ => {
                if let Some(r) = run.take() {
                    flush(&r);
                }
                run = Some((t.at, t.at, seen.clone(), seen));
            }
        }
    }
    if let Some(r) = run.take() {
        flush(&r);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(node: usize, cid: u64, subscribed: bool, out_msgs: u64) -> Option<Seen> {
        Some(Seen {
            node,
            cid,
            subscribed,
            out_msgs,
            pending_bytes: 7,
        })
    }

    #[test]
    fn a_timeline_has_one_line_per_connection_and_state() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let ticks: Vec<Tick> = [
            (0, seen(0, 5, true, 0)),
            (1, seen(0, 5, true, 100)),
            (2, None),
            (3, seen(1, 9, false, 0)),
            (4, seen(1, 9, false, 0)),
            (5, seen(1, 9, true, 3)),
        ]
        .into_iter()
        .map(|(s, seen)| Tick {
            at: at(s),
            seen: vec![None, seen],
        })
        .collect();
        assert_eq!(
            timeline(&ticks, 1, start),
            [
                "0.0–1.0 s: node 0, cid 5, subscribed, server wrote 100 messages to it, 7 B pending at the end",
                "2.0–2.0 s: on no node",
                "3.0–4.0 s: node 1, cid 9, NOT subscribed, server wrote 0 messages to it, 7 B pending at the end",
                "5.0–5.0 s: node 1, cid 9, subscribed, server wrote 0 messages to it, 7 B pending at the end",
            ]
        );
        assert_eq!(timeline(&ticks, 0, start), ["0.0–5.0 s: on no node"]);
    }
}
