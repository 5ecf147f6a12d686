//! Chaos runs against a real 3-node cluster whose nodes are killed (SIGKILL) and restarted
//! throughout, used by the `chaos` binary (`--minutes N`) and by bounded CI tests.
//!
//! - [`run_core`]: one publisher and one subscriber client per node publish and subscribe
//!   continuously (batches, each confirmed by a flush). Every message that a subscriber
//!   did not get must lie in a *fault window*: its batch's flush failed (it was in flight
//!   when a node died), or it was published while its publisher or subscriber was
//!   disconnected (from `slack` before the `Disconnected` event to `slack` after
//!   `Reconnected`), or while the cluster was re-forming after a kill that disconnected
//!   one of the two. [`CoreReport::unexplained`] counts the losses outside every window
//!   and must be zero; duplicates must be zero.
//! - [`run_jetstream`]: an R3 file stream with message-id de-duplication; publishers retry
//!   each message until acknowledged; a durable pull consumer acks everything. At the
//!   end every acknowledged message must be in the stream exactly once and consumed at
//!   least once; redeliveries are reported.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use natsy::{ConnectOptions, Event};
use natsy_jetstream::{ConsumeOptions, ConsumerConfig, PublishOptions, StorageType, StreamConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{NatsCluster, NatsServer};

/// How a chaos run is shaped.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// How long clients publish while nodes are killed.
    pub duration: Duration,
    /// Mean time between kills (each gap is drawn from 0.5x..1.5x of this).
    pub kill_every: Duration,
    /// How long a killed node stays down.
    pub down_for: Duration,
    /// Seed of the kill schedule.
    pub seed: u64,
    /// Slack around every fault window.
    pub slack: Duration,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        ChaosOptions {
            duration: Duration::from_secs(60),
            kill_every: Duration::from_secs(5),
            down_for: Duration::from_millis(500),
            seed: 1,
            slack: Duration::from_secs(2),
        }
    }
}

/// One kill: which node, when (from the start of the run), and when the cluster had
/// re-formed after its restart.
#[derive(Debug, Clone, Copy)]
pub struct Kill {
    /// The node index.
    pub node: usize,
    /// When it was killed.
    pub at: Instant,
    /// When the restarted cluster was whole again.
    pub formed: Instant,
}

/// Kills a random node every `kill_every` (jittered) until `stop`; returns the kills.
fn kill_loop(
    cluster: &mut NatsCluster,
    opts: &ChaosOptions,
    stop: &AtomicBool,
    until: Instant,
) -> Result<Vec<Kill>, String> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut kills = Vec::new();
    let mean = opts.kill_every.as_millis().max(2) as u64;
    loop {
        let gap = Duration::from_millis(rng.random_range(mean / 2..=mean + mean / 2));
        let wake = Instant::now() + gap;
        while Instant::now() < wake {
            if stop.load(Ordering::SeqCst) || Instant::now() >= until {
                return Ok(kills);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let node = rng.random_range(0..cluster.len());
        let at = Instant::now();
        cluster.node_mut(node).kill_hard();
        thread::sleep(opts.down_for);
        cluster
            .node_mut(node)
            .start_again()
            .map_err(|e| format!("restarting node {node}: {e}"))?;
        cluster
            .wait_until_formed(Duration::from_secs(60))
            .map_err(|e| format!("re-forming after killing node {node}: {e}"))?;
        kills.push(Kill {
            node,
            at,
            formed: Instant::now(),
        });
    }
}

/// Disconnected/reconnected times of one client.
#[derive(Debug, Default)]
struct Outages {
    /// (disconnected, reconnected) pairs; an open outage has `None`.
    spans: Vec<(Instant, Option<Instant>)>,
}

impl Outages {
    fn record(&mut self, e: &Event) {
        let now = Instant::now();
        match e {
            Event::Disconnected { .. } => self.spans.push((now, None)),
            Event::Reconnected { .. } => {
                if let Some(last) = self.spans.last_mut() {
                    if last.1.is_none() {
                        last.1 = Some(now);
                    }
                }
            }
            _ => {}
        }
    }

    fn windows(&self, slack: Duration, end: Instant) -> Vec<(Instant, Instant)> {
        self.spans
            .iter()
            .map(|(d, r)| (*d - slack, r.unwrap_or(end) + slack))
            .collect()
    }
}

fn within(windows: &[(Instant, Instant)], t: Instant) -> bool {
    windows.iter().any(|(a, b)| *a <= t && t <= *b)
}

fn overlaps(windows: &[(Instant, Instant)], a: Instant, b: Instant) -> bool {
    windows.iter().any(|(x, y)| *x <= b && a <= *y)
}

/// Options of a chaos client: prefers `first`, reconnects fast and for ever, and records
/// its outages.
fn chaos_client(
    urls: &[String],
    first: usize,
    name: &str,
) -> Result<(natsy::Client, Arc<Mutex<Outages>>), String> {
    let outages = Arc::new(Mutex::new(Outages::default()));
    let rec = outages.clone();
    let mut ordered: Vec<String> = urls.to_vec();
    ordered.rotate_left(first % urls.len().max(1));
    let client = ConnectOptions::new()
        .name(name)
        .no_randomize()
        .reconnect_wait(Duration::from_millis(100))
        .reconnect_jitter(Duration::from_millis(50), Duration::ZERO)
        .max_reconnects(None)
        .connect_timeout(Duration::from_secs(2))
        .reconnect_buffer_size(Some(64 * 1024 * 1024))
        .event_callback(move |e| rec.lock().unwrap_or_else(|p| p.into_inner()).record(&e))
        .connect(ordered)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok((client, outages))
}

/// One batch of core publishes.
#[derive(Debug, Clone, Copy)]
struct Batch {
    first: u64,
    count: u64,
    at: Instant,
    flushed: bool,
}

/// What a core chaos run saw.
#[derive(Debug, Clone, Default)]
pub struct CoreReport {
    /// Nodes killed.
    pub kills: usize,
    /// Messages published (accepted by `publish`).
    pub published: u64,
    /// Publishes refused with an error (the application knew).
    pub refused: u64,
    /// Messages whose batch flush succeeded.
    pub flushed: u64,
    /// Deliveries expected (published x subscribers).
    pub expected: u64,
    /// Deliveries received.
    pub received: u64,
    /// Deliveries lost, all inside fault windows.
    pub lost: u64,
    /// Deliveries lost outside every fault window (must be 0).
    pub unexplained: u64,
    /// Deliveries received more than once (must be 0).
    pub duplicates: u64,
    /// Messages dropped by a slow subscriber (must be 0).
    pub slow_consumer_drops: u64,
    /// Deliveries that fell inside fault windows (lost or not): the bound on losses.
    pub at_risk: u64,
    /// Lost deliveries whose batch was confirmed by flush.
    pub lost_after_flush: u64,
    /// Longest run of consecutive lost messages (publish time of first to last lost).
    pub max_loss_window: Duration,
    /// Longest client outage (Disconnected to Reconnected).
    pub max_outage: Duration,
    /// Losses attributed to each kill (the kill just before the loss).
    pub lost_per_kill: Vec<u64>,
    /// What each subscriber saw, in the order of the nodes it prefers.
    pub per_subscriber: Vec<SubscriberTally>,
}

/// One subscriber of a core chaos run. When deliveries are missing, these tell apart
/// the places they could have gone: never sent by the servers (`in_messages` short, and
/// [`timeline`](Self::timeline) shows whether the subscription was known there), taken
/// off the wire but not delivered (`discarded`), or delivered to a subscription that had
/// ended (`ended`).
#[derive(Debug, Clone, Default)]
pub struct SubscriberTally {
    /// Chaos messages it counted.
    pub counted: u64,
    /// Messages its client took off the wire (`Statistics::in_messages`).
    pub in_messages: u64,
    /// Messages its client discarded (`Statistics::discarded_messages`).
    pub discarded: u64,
    /// Its client's reconnects.
    pub reconnects: u64,
    /// How long before the end of the run its last chaos message came (`None`: none).
    pub last_message_before_end: Option<Duration>,
    /// Why its subscription ended, if it did before the run stopped it.
    pub ended: Option<String>,
    /// Its deliveries lost outside every fault window.
    pub unexplained: u64,
    /// When it has unexplained losses: what the servers' monitoring said about its
    /// connection, second by second (see `chaos_watch`).
    pub timeline: Vec<String>,
}

impl fmt::Display for CoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "core chaos: {} node kills", self.kills)?;
        writeln!(
            f,
            "  published {} (refused {}), flushed {}, deliveries expected {}, received {}",
            self.published, self.refused, self.flushed, self.expected, self.received
        )?;
        writeln!(
            f,
            "  lost {} (of {} at risk in fault windows; {} after a successful flush), \
             unexplained {}, duplicates {}, slow-consumer drops {}",
            self.lost,
            self.at_risk,
            self.lost_after_flush,
            self.unexplained,
            self.duplicates,
            self.slow_consumer_drops
        )?;
        writeln!(
            f,
            "  longest loss window {:?}, longest outage {:?}, lost per kill {:?}",
            self.max_loss_window, self.max_outage, self.lost_per_kill
        )?;
        for (i, t) in self.per_subscriber.iter().enumerate() {
            writeln!(
                f,
                "  sub-{i}: counted {}, client in_messages {}, discarded {}, reconnects {}, \
                 last message {:?} before the end, ended: {}",
                t.counted,
                t.in_messages,
                t.discarded,
                t.reconnects,
                t.last_message_before_end,
                t.ended.as_deref().unwrap_or("no")
            )?;
            if t.unexplained > 0 {
                writeln!(
                    f,
                    "    {} lost outside fault windows; seen from the servers:",
                    t.unexplained
                )?;
                for line in &t.timeline {
                    writeln!(f, "      {line}")?;
                }
            }
        }
        Ok(())
    }
}

/// Runs core chaos on a fresh 3-node cluster.
pub fn run_core(opts: &ChaosOptions) -> Result<CoreReport, String> {
    const NODES: usize = 3;
    const BATCH: u64 = 20;
    let mut cluster =
        NatsCluster::start(NODES, NatsServer::builder()).map_err(|e| e.to_string())?;
    let urls = cluster.urls();
    let stop_pub = Arc::new(AtomicBool::new(false));
    let stop_sub = Arc::new(AtomicBool::new(false));

    let mut subscribers = Vec::new();
    for s in 0..NODES {
        let (client, outages) = chaos_client(&urls, s, &format!("sub-{s}"))?;
        let mut sub = client.subscribe("chaos.>").map_err(|e| e.to_string())?;
        client.flush().map_err(|e| e.to_string())?;
        let stop = stop_sub.clone();
        let handle = thread::spawn(move || {
            let mut got: Vec<Vec<u32>> = vec![Vec::new(); NODES];
            let mut idle_since = Instant::now();
            let mut last_message = None;
            let mut ended = None;
            loop {
                match sub.next_timeout(Duration::from_millis(100)) {
                    Ok(m) => {
                        idle_since = Instant::now();
                        last_message = Some(idle_since);
                        let p: Option<usize> = m
                            .subject()
                            .strip_prefix("chaos.p")
                            .and_then(|x| x.parse().ok());
                        let seq: Option<usize> = std::str::from_utf8(m.payload())
                            .ok()
                            .and_then(|x| x.parse().ok());
                        if let (Some(p), Some(seq)) = (p, seq) {
                            if let Some(row) = got.get_mut(p) {
                                if row.len() <= seq {
                                    row.resize(seq + 1, 0);
                                }
                                row[seq] += 1;
                            }
                        }
                    }
                    Err(natsy::NextError::Ended(why)) => {
                        ended = Some(why.to_string());
                        break;
                    }
                    Err(_) => {
                        if stop.load(Ordering::SeqCst)
                            && idle_since.elapsed() > Duration::from_secs(1)
                        {
                            break;
                        }
                    }
                }
            }
            let stats = client.statistics();
            let tally = SubscriberTally {
                counted: got.iter().flatten().map(|&n| u64::from(n)).sum(),
                in_messages: stats.in_messages,
                discarded: stats.discarded_messages,
                reconnects: stats.reconnects,
                last_message_before_end: None,
                ended,
                ..SubscriberTally::default()
            };
            (got, stats.dropped_messages, tally, last_message)
        });
        subscribers.push((handle, outages));
    }
    // Subscriptions must be known cluster-wide before publishing starts.
    thread::sleep(Duration::from_millis(500));

    let mut publishers = Vec::new();
    for p in 0..NODES {
        let (client, outages) = chaos_client(&urls, p, &format!("pub-{p}"))?;
        let stop = stop_pub.clone();
        let handle = thread::spawn(move || {
            let subject = format!("chaos.p{p}");
            let mut batches = Vec::new();
            let mut refused = Vec::new();
            let mut seq = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let at = Instant::now();
                let first = seq;
                for _ in 0..BATCH {
                    if client.publish(&subject, seq.to_string()).is_err() {
                        refused.push(seq);
                    }
                    seq += 1;
                }
                let flushed = client.flush_timeout(Duration::from_secs(2)).is_ok();
                batches.push(Batch {
                    first,
                    count: BATCH,
                    at,
                    flushed,
                });
                thread::sleep(Duration::from_millis(2));
            }
            let _ = client.flush_timeout(Duration::from_secs(5));
            (batches, refused)
        });
        publishers.push((handle, outages));
    }

    let ports = cluster.nodes().iter().map(|n| n.monitor_port()).collect();
    let watch = crate::chaos_watch::start(ports, (0..NODES).map(|s| format!("sub-{s}")).collect());
    let started = Instant::now();
    let killed = kill_loop(
        &mut cluster,
        opts,
        &AtomicBool::new(false),
        started + opts.duration,
    );
    while Instant::now() < started + opts.duration {
        thread::sleep(Duration::from_millis(50));
    }
    stop_pub.store(true, Ordering::SeqCst);
    let mut pubs = Vec::new();
    for (h, outages) in publishers {
        let r = h.join().map_err(|_| "publisher panicked".to_string())?;
        pubs.push((r, outages));
    }
    stop_sub.store(true, Ordering::SeqCst);
    let mut subs = Vec::new();
    for (h, outages) in subscribers {
        let r = h.join().map_err(|_| "subscriber panicked".to_string())?;
        subs.push((r, outages));
    }
    let timelines = watch.stop(started);
    let kills = killed?;
    let end = Instant::now();

    let mut report = CoreReport {
        kills: kills.len(),
        lost_per_kill: vec![0; kills.len()],
        ..CoreReport::default()
    };
    let slack = opts.slack;
    let kill_windows: Vec<(Instant, Instant)> = kills
        .iter()
        .map(|k| (k.at - slack, k.formed + slack))
        .collect();
    let all_outages = pubs
        .iter()
        .map(|(_, o)| o)
        .chain(subs.iter().map(|(_, o)| o));
    for o in all_outages {
        let o = o.lock().unwrap_or_else(|p| p.into_inner());
        for (d, r) in &o.spans {
            report.max_outage = report.max_outage.max(r.unwrap_or(end) - *d);
        }
    }
    for ((batches, refused), _) in &pubs {
        let refused_n = refused.len() as u64;
        report.refused += refused_n;
        let total: u64 = batches.iter().map(|b| b.count).sum();
        report.published += total - refused_n;
        report.flushed += batches
            .iter()
            .filter(|b| b.flushed)
            .map(|b| b.count)
            .sum::<u64>();
    }
    for (i, ((got, dropped, tally, last_message), sub_outages)) in subs.iter().enumerate() {
        report.slow_consumer_drops += dropped;
        let unexplained_before = report.unexplained;
        let sub_windows = sub_outages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .windows(slack, end);
        for (p, ((batches, refused), pub_outages)) in pubs.iter().enumerate() {
            let pub_windows = pub_outages
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .windows(slack, end);
            // Kill windows that disconnected this publisher or this subscriber.
            let relevant: Vec<(Instant, Instant)> = kill_windows
                .iter()
                .copied()
                .filter(|(a, b)| overlaps(&pub_windows, *a, *b) || overlaps(&sub_windows, *a, *b))
                .collect();
            let row = &got[p];
            let mut run_start: Option<Instant> = None;
            for b in batches {
                let in_window = !b.flushed
                    || within(&pub_windows, b.at)
                    || within(&sub_windows, b.at)
                    || within(&relevant, b.at);
                for seq in b.first..b.first + b.count {
                    if refused.binary_search(&seq).is_ok() {
                        continue;
                    }
                    report.expected += 1;
                    if in_window {
                        report.at_risk += 1;
                    }
                    let n = row.get(seq as usize).copied().unwrap_or(0);
                    report.received += u64::from(n.min(1));
                    if n > 1 {
                        report.duplicates += u64::from(n - 1);
                    }
                    if n == 0 {
                        report.lost += 1;
                        if b.flushed {
                            report.lost_after_flush += 1;
                        }
                        if !in_window {
                            report.unexplained += 1;
                        }
                        let start = *run_start.get_or_insert(b.at);
                        report.max_loss_window = report.max_loss_window.max(b.at - start);
                        if let Some(k) = kills.iter().rposition(|k| k.at - slack <= b.at) {
                            report.lost_per_kill[k] += 1;
                        }
                    } else {
                        run_start = None;
                    }
                }
            }
        }
        let mut tally = tally.clone();
        tally.last_message_before_end = last_message.map(|t| end - t);
        tally.unexplained = report.unexplained - unexplained_before;
        if tally.unexplained > 0 {
            tally.timeline = timelines.get(i).cloned().unwrap_or_default();
        }
        report.per_subscriber.push(tally);
    }
    Ok(report)
}

/// What a JetStream chaos run saw.
#[derive(Debug, Clone, Default)]
pub struct JetStreamReport {
    /// Nodes killed.
    pub kills: usize,
    /// Distinct messages acknowledged by the stream.
    pub acked: u64,
    /// Publish attempts that failed and were retried.
    pub publish_errors: u64,
    /// Acks that said `duplicate` (a retry of a message already stored).
    pub duplicate_acks: u64,
    /// Messages in the stream at the end.
    pub stored: u64,
    /// Acknowledged messages missing from the stream (must be 0).
    pub lost: u64,
    /// Messages in the stream more than once, or not acknowledged (must be 0).
    pub extra: u64,
    /// Acknowledged messages never consumed (must be 0).
    pub unconsumed: u64,
    /// Deliveries beyond the first, per message, summed.
    pub redeliveries: u64,
}

impl fmt::Display for JetStreamReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "jetstream chaos: {} node kills", self.kills)?;
        writeln!(
            f,
            "  acked {} ({} failed attempts retried, {} duplicate acks), stored {}",
            self.acked, self.publish_errors, self.duplicate_acks, self.stored
        )?;
        write!(
            f,
            "  lost {}, extra {}, unconsumed {}, redeliveries {}",
            self.lost, self.extra, self.unconsumed, self.redeliveries
        )
    }
}

/// Runs JetStream chaos on a fresh 3-node JetStream cluster.
pub fn run_jetstream(opts: &ChaosOptions) -> Result<JetStreamReport, String> {
    const NODES: usize = 3;
    const PUBLISHERS: usize = 2;
    let mut cluster =
        NatsCluster::start(NODES, NatsServer::builder().jetstream()).map_err(|e| e.to_string())?;
    let urls = cluster.urls();
    let (admin, _) = chaos_client(&urls, 0, "admin")?;
    let admin = natsy_jetstream::new(admin).with_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = admin.create_stream(&StreamConfig {
            subjects: vec!["jc.>".into()],
            storage: StorageType::File,
            num_replicas: 3,
            ..StreamConfig::new("CHAOS")
        });
        match r {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline => return Err(format!("create stream: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(250)),
        }
    }
    loop {
        let r = admin.create_consumer(
            "CHAOS",
            ConsumerConfig {
                durable_name: Some("C".into()),
                ack_wait: Some(Duration::from_secs(2)),
                num_replicas: Some(3),
                ..Default::default()
            },
        );
        match r {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline => return Err(format!("create consumer: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(250)),
        }
    }

    let stop_pub = Arc::new(AtomicBool::new(false));
    let stop_con = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for k in 0..PUBLISHERS {
        let (client, _) = chaos_client(&urls, k + 1, &format!("js-pub-{k}"))?;
        let js = natsy_jetstream::new(client).with_timeout(Duration::from_secs(2));
        let stop = stop_pub.clone();
        publishers.push(thread::spawn(move || -> Result<_, String> {
            let mut acked: Vec<(String, u64)> = Vec::new();
            let mut errors = 0u64;
            let mut duplicates = 0u64;
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("p{k}-{i}");
                let give_up = Instant::now() + Duration::from_secs(120);
                loop {
                    match js.publish_with(
                        &format!("jc.p{k}"),
                        id.clone(),
                        &PublishOptions::new().msg_id(&id),
                    ) {
                        Ok(ack) => {
                            duplicates += u64::from(ack.duplicate);
                            acked.push((id.clone(), ack.sequence));
                            break;
                        }
                        Err(e) => {
                            errors += 1;
                            if Instant::now() >= give_up {
                                return Err(format!("{id} not acknowledged in 120 s: {e}"));
                            }
                            thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                i += 1;
            }
            Ok((acked, errors, duplicates))
        }));
    }

    let consumed: Arc<Mutex<HashMap<String, u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let consumer = {
        let (client, _) = chaos_client(&urls, 2, "js-consumer")?;
        let js = natsy_jetstream::new(client).with_timeout(Duration::from_secs(5));
        let stop = stop_con.clone();
        let consumed = consumed.clone();
        thread::spawn(move || -> Result<u64, String> {
            let mut redeliveries = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let Ok(bound) = js.get_consumer("CHAOS", "C") else {
                    thread::sleep(Duration::from_millis(200));
                    continue;
                };
                let Ok(mut messages) = bound.messages_with(ConsumeOptions {
                    batch: 100,
                    expires: Duration::from_secs(2),
                    idle_heartbeat: Duration::from_millis(500),
                    ..Default::default()
                }) else {
                    thread::sleep(Duration::from_millis(200));
                    continue;
                };
                while !stop.load(Ordering::SeqCst) {
                    match messages.next_timeout(Duration::from_millis(200)) {
                        Ok(Some(m)) => {
                            let id = String::from_utf8_lossy(m.payload()).into_owned();
                            if m.metadata().map(|md| md.delivered > 1).unwrap_or(false) {
                                redeliveries += 1;
                            }
                            *consumed
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .entry(id)
                                .or_insert(0) += 1;
                            let _ = m.ack();
                        }
                        Ok(None) => {}
                        Err(natsy_jetstream::Error::Pull(p)) if !p.is_terminal() => {}
                        // Terminal: bind again.
                        Err(_) => break,
                    }
                }
            }
            Ok(redeliveries)
        })
    };

    let started = Instant::now();
    let killed = kill_loop(
        &mut cluster,
        opts,
        &AtomicBool::new(false),
        started + opts.duration,
    );
    while Instant::now() < started + opts.duration {
        thread::sleep(Duration::from_millis(50));
    }
    stop_pub.store(true, Ordering::SeqCst);
    let mut report = JetStreamReport::default();
    let mut acked: HashMap<String, u64> = HashMap::new();
    for p in publishers {
        let (list, errors, duplicates) =
            p.join().map_err(|_| "publisher panicked".to_string())??;
        report.publish_errors += errors;
        report.duplicate_acks += duplicates;
        for (id, seq) in list {
            acked.insert(id, seq);
        }
    }
    let kills = killed?;
    report.kills = kills.len();
    report.acked = acked.len() as u64;

    // Everything acknowledged gets consumed (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let missing = {
            let c = consumed.lock().unwrap_or_else(|p| p.into_inner());
            acked.keys().filter(|id| !c.contains_key(*id)).count()
        };
        if missing == 0 || Instant::now() >= deadline {
            report.unconsumed = missing as u64;
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    stop_con.store(true, Ordering::SeqCst);
    report.redeliveries = consumer
        .join()
        .map_err(|_| "consumer panicked".to_string())??;
    let deliveries: u64 = consumed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .sum();
    let distinct = consumed.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
    report.redeliveries = report.redeliveries.max(deliveries - distinct);

    // The stream: exactly the acknowledged messages, once each, at their sequences.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (stream, info) = loop {
        match admin
            .get_stream("CHAOS")
            .and_then(|s| s.info().map(|i| (s, i)))
        {
            Ok(x) => break x,
            Err(e) if Instant::now() >= deadline => return Err(format!("stream info: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(250)),
        }
    };
    report.stored = info.state.messages;
    report.extra = report.stored.saturating_sub(report.acked);
    let mut seqs: Vec<u64> = acked.values().copied().collect();
    seqs.sort_unstable();
    seqs.dedup();
    report.extra += report.acked - seqs.len() as u64;
    for (id, seq) in &acked {
        let mut ok = false;
        for _ in 0..20 {
            match stream.get_message(*seq) {
                Ok(m) => {
                    ok = m.payload == id.as_bytes();
                    break;
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
        if !ok {
            report.lost += 1;
        }
    }
    Ok(report)
}
