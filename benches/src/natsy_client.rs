//! The scenarios on the natsy client and natsy-jetstream.
//!
//! Each scenario sets up untimed (connections, subscriptions, streams), then times the
//! work with a [`Meter`] that stops only once the server has confirmed it: a flush
//! (PING/PONG) after publishing, the last expected message for receivers, the last ack
//! for JetStream. Every count is checked exactly afterwards: a missing, extra or
//! wrong-sized message, or one dropped by a pending limit, fails the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natsy::{Client, ConnectOptions, NextError, PendingLimits, Subscription};
use natsy_jetstream::{
    AckPolicy, AsyncPublishOptions, ConsumerConfig, FetchOptions, StorageType, StreamConfig,
    WhenFull,
};

use crate::cli::{Scenario, Storage};
use crate::measure::{resident_bytes, Latencies, Measured, Meter};
use crate::pace::Pacer;
use crate::progress::{Progress, STEP};
use crate::publisher::PublisherChild;
use crate::report::Outcome;
use crate::responder::ResponderChild;
use crate::runner::{shares, BenchClient, RunCtx};

/// How long a receiver waits for the next message before calling the run incomplete.
pub const STALL: Duration = Duration::from_secs(10);

/// The natsy client under benchmark.
#[derive(Debug, Default)]
pub struct Natsy;

impl BenchClient for Natsy {
    fn name(&self) -> &'static str {
        "natsy"
    }

    fn run(&mut self, scenario: Scenario, ctx: &RunCtx<'_>) -> Result<Outcome, String> {
        match scenario {
            Scenario::Pub => bench_pub(ctx),
            Scenario::Sub => bench_sub(ctx),
            Scenario::PubSub => bench_pubsub(ctx),
            Scenario::Req => bench_req(ctx),
            Scenario::Fanout => bench_fanout(ctx),
            Scenario::Queue => bench_queue(ctx),
            Scenario::JsPubSync => bench_js_pub_sync(ctx),
            Scenario::JsPubAsync => bench_js_pub_async(ctx),
            Scenario::JsFetch => bench_js_fetch(ctx),
            Scenario::Memory => bench_memory(ctx),
            Scenario::KvPut => crate::natsy_kv::bench_kv_put(ctx),
            Scenario::KvGet => crate::natsy_kv::bench_kv_get(ctx),
            Scenario::KvWatch => crate::natsy_kv::bench_kv_watch(ctx),
            Scenario::ObjPut => crate::natsy_obj::bench_obj_put(ctx),
            Scenario::ObjGet => crate::natsy_obj::bench_obj_get(ctx),
        }
    }
}

fn options() -> ConnectOptions {
    ConnectOptions::new()
        .name("natsy-bench")
        // Flushing hundreds of MiB on a loaded machine can take longer than 10 s.
        .flush_timeout(Duration::from_secs(120))
        .request_timeout(Duration::from_secs(10))
}

pub(crate) fn connect(url: &str) -> Result<Client, String> {
    options()
        .connect(url)
        .map_err(|e| format!("connect to {url}: {e}"))
}

/// The payload of a run: a static `Bytes` (see [`crate::runner::static_payload`]).
pub(crate) fn payload(size: usize) -> Bytes {
    crate::runner::static_payload(size)
}

pub(crate) fn outcome(msgs: u64, size: usize, measured: Measured) -> Outcome {
    Outcome {
        msgs,
        bytes: msgs.saturating_mul(size as u64),
        measured,
        latency: None,
        note: None,
    }
}

/// Publishes `n` messages and flushes; reports progress every [`STEP`].
fn publish_n(
    client: &Client,
    subject: &str,
    payload: &Bytes,
    n: u64,
    progress: &Progress,
) -> Result<(), String> {
    for i in 1..=n {
        client
            .publish(subject, payload.clone())
            .map_err(|e| format!("publish: {e}"))?;
        if i % STEP == 0 {
            progress.add(STEP);
        }
    }
    client.flush().map_err(|e| format!("flush: {e}"))
}

/// Receives exactly `n` messages of `size` bytes; reports progress if asked.
fn receive_n(
    sub: &mut Subscription,
    n: u64,
    size: usize,
    progress: Option<&Progress>,
) -> Result<(), String> {
    for got in 0..n {
        // A queued message needs no clock read; wait (with the stall bound) only when
        // the queue is empty.
        let next = match sub.try_next() {
            Ok(Some(m)) => Ok(m),
            Ok(None) => sub.next_timeout(STALL),
            Err(closed) => Err(NextError::Ended(closed)),
        };
        match next {
            Ok(m) if m.payload().len() == size => {}
            Ok(m) => {
                return Err(format!(
                    "message {} has {} bytes, expected {size}",
                    got + 1,
                    m.payload().len()
                ))
            }
            Err(NextError::TimedOut) => {
                return Err(format!(
                    "incomplete: received {got} of {n} messages (none for {} s; {} dropped by pending limits)",
                    STALL.as_secs(),
                    sub.dropped()
                ))
            }
            Err(e) => return Err(format!("incomplete: received {got} of {n}: {e}")),
        }
        if let Some(p) = progress {
            if (got + 1) % STEP == 0 {
                p.add(STEP);
            }
        }
    }
    Ok(())
}

/// After a receiver got everything: nothing extra arrives, and nothing was dropped.
fn check_no_extra(client: &Client, sub: &mut Subscription) -> Result<(), String> {
    client.flush().map_err(|e| format!("flush: {e}"))?;
    if sub.dropped() > 0 {
        return Err(format!(
            "{} messages dropped by pending limits",
            sub.dropped()
        ));
    }
    match sub.try_next() {
        Ok(Some(_)) => Err("received more messages than were published".into()),
        _ => Ok(()),
    }
}

/// Joins every thread, then returns the first error.
fn join_all<'s>(
    handles: impl IntoIterator<Item = std::thread::ScopedJoinHandle<'s, Result<(), String>>>,
) -> Result<(), String> {
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
        .collect();
    results.into_iter().collect()
}

fn bench_pub(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("pub");
    let payload = payload(ctx.size);
    let clients = (0..ctx.config.pubs)
        .map(|_| connect(ctx.url))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = shares(ctx.msgs, clients.len());
    let meter = Meter::start();
    std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .zip(&plan)
            .map(|(c, &n)| {
                let (subject, payload, progress) = (&subject, &payload, &ctx.progress);
                s.spawn(move || publish_n(c, subject, payload, n, progress))
            })
            .collect();
        join_all(handles)
    })?;
    let measured = meter.stop();
    let sent: u64 = clients.iter().map(|c| c.statistics().out_messages).sum();
    if sent != ctx.msgs {
        return Err(format!("sent {sent} of {} messages", ctx.msgs));
    }
    Ok(outcome(ctx.msgs, ctx.size, measured))
}

fn bench_sub(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("sub");
    let client = connect(ctx.url)?;
    let mut sub = client.subscribe(&subject).map_err(|e| e.to_string())?;
    client.flush().map_err(|e| e.to_string())?;
    let rate = ctx.config.rate;
    let mut publisher = PublisherChild::start_paced(ctx.url, &subject, ctx.msgs, ctx.size, rate)?;
    let meter = Meter::start();
    publisher.go()?;
    receive_n(&mut sub, ctx.msgs, ctx.size, Some(&ctx.progress))?;
    let measured = meter.stop();
    publisher.finish()?;
    check_no_extra(&client, &mut sub)?;
    let mut o = outcome(ctx.msgs, ctx.size, measured);
    o.note = rate.map(|r| format!("publisher process paced at {r}/s"));
    Ok(o)
}

/// Publishers (on their own connections) and receivers (each on its own connection,
/// each expecting `per_receiver`) in one process; the timer stops when every receiver
/// has everything and every publisher's flush returned.
fn bench_publish_receive(
    ctx: &RunCtx<'_>,
    subject: &str,
    receivers: &mut [(Client, Subscription)],
    per_receiver: u64,
) -> Result<Measured, String> {
    let publishers = (0..ctx.config.pubs)
        .map(|_| connect(ctx.url))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = shares(ctx.msgs, publishers.len());
    let payload = payload(ctx.size);
    let meter = Meter::start();
    std::thread::scope(|s| {
        let rx: Vec<_> = receivers
            .iter_mut()
            .enumerate()
            .map(|(i, (_, sub))| {
                // Progress counts what the first receiver got.
                let progress = (i == 0).then_some(&ctx.progress);
                s.spawn(move || receive_n(sub, per_receiver, ctx.size, progress))
            })
            .collect();
        let tx: Vec<_> = publishers
            .iter()
            .zip(&plan)
            .map(|(c, &n)| {
                let payload = &payload;
                s.spawn(move || publish_n(c, subject, payload, n, &Progress::new()))
            })
            .collect();
        join_all(rx.into_iter().chain(tx))
    })?;
    let measured = meter.stop();
    for (client, sub) in receivers.iter_mut() {
        check_no_extra(client, sub)?;
    }
    Ok(measured)
}

fn subscribers(
    ctx: &RunCtx<'_>,
    subject: &str,
    n: usize,
) -> Result<Vec<(Client, Subscription)>, String> {
    (0..n)
        .map(|_| {
            let c = connect(ctx.url)?;
            let s = c.subscribe(subject).map_err(|e| e.to_string())?;
            c.flush().map_err(|e| e.to_string())?;
            Ok((c, s))
        })
        .collect()
}

fn bench_pubsub(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("pubsub");
    let mut receivers = subscribers(ctx, &subject, 1)?;
    let measured = bench_publish_receive(ctx, &subject, &mut receivers, ctx.msgs)?;
    Ok(outcome(ctx.msgs, ctx.size, measured))
}

fn bench_fanout(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("fanout");
    let mut receivers = subscribers(ctx, &subject, ctx.config.subs)?;
    let measured = bench_publish_receive(ctx, &subject, &mut receivers, ctx.msgs)?;
    let deliveries = ctx.msgs.saturating_mul(ctx.config.subs as u64);
    Ok(outcome(deliveries, ctx.size, measured))
}

fn bench_queue(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("queue");
    let mut members = (0..ctx.config.subs)
        .map(|_| {
            let c = connect(ctx.url)?;
            let s = c
                .queue_subscribe(&subject, "workers")
                .map_err(|e| e.to_string())?;
            c.flush().map_err(|e| e.to_string())?;
            Ok((c, s))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let publisher = connect(ctx.url)?;
    let payload = payload(ctx.size);
    let total = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let meter = Meter::start();
    let result = std::thread::scope(|s| {
        let workers: Vec<_> = members
            .iter_mut()
            .map(|(_, sub)| {
                let (total, stop, done_tx) = (&total, &stop, done_tx.clone());
                s.spawn(move || -> Result<u64, String> {
                    let mut mine = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let next = match sub.try_next() {
                            Ok(Some(m)) => Ok(m),
                            Ok(None) => sub.next_timeout(Duration::from_millis(20)),
                            Err(closed) => Err(NextError::Ended(closed)),
                        };
                        match next {
                            Ok(m) if m.payload().len() == ctx.size => {
                                mine += 1;
                                let now = total.fetch_add(1, Ordering::Relaxed) + 1;
                                if now % STEP == 0 {
                                    ctx.progress.add(STEP);
                                }
                                if now == ctx.msgs {
                                    let _ = done_tx.send(());
                                }
                            }
                            Ok(_) => return Err("a message of the wrong size".into()),
                            Err(NextError::TimedOut) => {}
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                    Ok(mine)
                })
            })
            .collect();
        drop(done_tx);
        let published = publish_n(&publisher, &subject, &payload, ctx.msgs, &Progress::new());
        // Wait for the last delivery, failing if the total stalls.
        let mut last = (total.load(Ordering::Relaxed), Instant::now());
        let waited = loop {
            if published.is_err() {
                break published.clone();
            }
            match done_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => break Ok(()),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err("queue workers ended early".into())
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = total.load(Ordering::Relaxed);
                    if now != last.0 {
                        last = (now, Instant::now());
                    } else if last.1.elapsed() > STALL {
                        break Err(format!(
                            "incomplete: the group received {now} of {} messages",
                            ctx.msgs
                        ));
                    }
                }
            }
        };
        let measured = meter.stop();
        stop.store(true, Ordering::Relaxed);
        let per_worker = workers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect::<Result<Vec<u64>, String>>();
        waited.and(per_worker).map(|w| (measured, w))
    });
    let (measured, per_worker) = result?;
    let mut got: u64 = per_worker.iter().sum();
    for (client, sub) in members.iter_mut() {
        client.flush().map_err(|e| e.to_string())?;
        while let Ok(Some(_)) = sub.try_next() {
            got += 1;
        }
        if sub.dropped() > 0 {
            return Err(format!(
                "{} messages dropped by pending limits",
                sub.dropped()
            ));
        }
    }
    if got != ctx.msgs {
        return Err(format!("the group received {got} of {} messages", ctx.msgs));
    }
    let mut o = outcome(ctx.msgs, ctx.size, measured);
    o.note = Some(format!("split {per_worker:?}"));
    Ok(o)
}

/// Untimed requests before the timed ones.
const REQ_WARM_UP: u64 = 100;

/// `req`: flat out, the responder is a second connection in this process (a thread
/// echoing each request); with `--rate`, a separate responder process answers instead,
/// so that this process holds only the requester whose CPU is reported.
fn bench_req(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("req");
    if let Some(rate) = ctx.config.rate {
        let responder = ResponderChild::start(ctx.url, &subject)?;
        let client = connect(ctx.url)?;
        let result = timed_requests(ctx, &client, &subject, Some(rate));
        drop(client);
        let served = responder.finish()?;
        let o = result?;
        let asked = REQ_WARM_UP + ctx.msgs;
        if served != asked {
            return Err(format!(
                "the responder answered {served} of {asked} requests"
            ));
        }
        return Ok(o);
    }
    let responder = connect(ctx.url)?;
    let sub = responder.subscribe(&subject).map_err(|e| e.to_string())?;
    responder.flush().map_err(|e| e.to_string())?;
    let serving = std::thread::spawn(move || {
        for msg in sub {
            let _ = msg.respond(msg.payload_bytes());
        }
    });
    let client = connect(ctx.url)?;
    let result = timed_requests(ctx, &client, &subject, None);
    responder.close().unwrap();
    let _ = serving.join();
    result
}

/// [`REQ_WARM_UP`] requests, then `ctx.msgs` timed ones one after another, each paced to
/// its slot at `rate` if given; latency is from each request's start to its reply.
fn timed_requests(
    ctx: &RunCtx<'_>,
    client: &Client,
    subject: &str,
    rate: Option<u64>,
) -> Result<Outcome, String> {
    let payload = payload(ctx.size);
    for _ in 0..REQ_WARM_UP {
        client
            .request(subject, payload.clone())
            .map_err(|e| format!("warm-up request: {e}"))?;
    }
    let mut latencies = Latencies::new();
    let meter = Meter::start();
    let mut pacer = rate.map(Pacer::new);
    for i in 1..=ctx.msgs {
        let t = match &mut pacer {
            Some(p) => p.wait(i - 1),
            None => Instant::now(),
        };
        let reply = client
            .request(subject, payload.clone())
            .map_err(|e| format!("request {i}: {e}"))?;
        latencies.record(t.elapsed());
        if reply.payload().len() != ctx.size {
            return Err(format!("reply {i} has {} bytes", reply.payload().len()));
        }
        if i % STEP == 0 {
            ctx.progress.add(STEP);
        }
    }
    let measured = meter.stop();
    let mut o = outcome(ctx.msgs, ctx.size, measured);
    o.latency = latencies.percentiles();
    o.note = pacer.map(|p| format!("{}; responder in its own process", p.summary()));
    Ok(o)
}

fn js_setup(ctx: &RunCtx<'_>, subject: &str) -> Result<(Client, natsy_jetstream::Context), String> {
    let client = connect(ctx.url)?;
    let js = natsy_jetstream::new(client.clone());
    let storage = match ctx.config.storage {
        Storage::Memory => StorageType::Memory,
        Storage::File => StorageType::File,
    };
    js.create_stream(&StreamConfig {
        subjects: vec![subject.to_string()],
        storage,
        ..StreamConfig::new(&ctx.stream_name())
    })
    .map_err(|e| format!("create stream: {e}"))?;
    Ok((client, js))
}

fn js_check_stored(
    js: &natsy_jetstream::Context,
    ctx: &RunCtx<'_>,
    mut sequences: Vec<u64>,
) -> Result<(), String> {
    sequences.sort_unstable();
    sequences.dedup();
    if sequences.len() as u64 != ctx.msgs || sequences.last().copied() != Some(ctx.msgs) {
        return Err(format!(
            "{} distinct acks for {} publishes",
            sequences.len(),
            ctx.msgs
        ));
    }
    js_check_count(js, ctx)
}

/// Publish `i` of a one-at-a-time run into a fresh stream is stored as sequence `i`.
/// Checking that per ack proves the acks distinct and complete without keeping them, so
/// the latency scenario's memory does not grow with `--msgs`.
fn check_sequential_ack(i: u64, sequence: u64) -> Result<(), String> {
    if sequence == i {
        Ok(())
    } else {
        Err(format!("publish {i} was stored as sequence {sequence}"))
    }
}

fn js_check_count(js: &natsy_jetstream::Context, ctx: &RunCtx<'_>) -> Result<(), String> {
    let info = js
        .stream_info(&ctx.stream_name())
        .map_err(|e| format!("stream info: {e}"))?;
    if info.state.messages != ctx.msgs {
        return Err(format!(
            "the stream holds {} of {} messages",
            info.state.messages, ctx.msgs
        ));
    }
    Ok(())
}

fn bench_js_pub_sync(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("js");
    let (_client, js) = js_setup(ctx, &subject)?;
    let payload = payload(ctx.size);
    let result = (|| {
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let ack = js
                .publish(&subject, payload.clone())
                .map_err(|e| format!("publish {i}: {e}"))?;
            latencies.record(t.elapsed());
            check_sequential_ack(i, ack.sequence)?;
            if i % STEP == 0 {
                ctx.progress.add(STEP);
            }
        }
        let measured = meter.stop();
        js_check_count(&js, ctx)?;
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.latency = latencies.percentiles();
        Ok(o)
    })();
    let _ = js.delete_stream(&ctx.stream_name());
    result
}

fn bench_js_pub_async(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("js");
    let (_client, js) = js_setup(ctx, &subject)?;
    let payload = payload(ctx.size);
    let result = (|| {
        let mut publisher = js.async_publisher(AsyncPublishOptions {
            window: ctx.config.window,
            when_full: WhenFull::Block,
        });
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            publisher
                .publish(&subject, payload.clone())
                .map_err(|e| format!("publish {i}: {e}"))?;
            if i % STEP == 0 {
                ctx.progress.add(STEP);
            }
        }
        let outcomes = publisher.wait_all();
        let measured = meter.stop();
        let sequences = outcomes
            .into_iter()
            .map(|r| r.map(|ack| ack.sequence))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("publish failed: {e}"))?;
        js_check_stored(&js, ctx, sequences)?;
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("window {}", ctx.config.window));
        Ok(o)
    })();
    let _ = js.delete_stream(&ctx.stream_name());
    result
}

fn bench_js_fetch(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    let subject = ctx.subject("js");
    let (client, js) = js_setup(ctx, &subject)?;
    let payload = payload(ctx.size);
    let result = (|| {
        // Untimed: fill the stream.
        let mut publisher = js.async_publisher(AsyncPublishOptions {
            window: 1000,
            when_full: WhenFull::Block,
        });
        for _ in 0..ctx.msgs {
            publisher
                .publish(&subject, payload.clone())
                .map_err(|e| format!("fill: {e}"))?;
        }
        let stored = publisher
            .wait_all()
            .into_iter()
            .map(|r| r.map(|ack| ack.sequence))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("fill: {e}"))?;
        js_check_stored(&js, ctx, stored)?;
        let consumer = js
            .create_consumer(
                &ctx.stream_name(),
                ConsumerConfig {
                    durable_name: Some("bench".into()),
                    ack_policy: AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .map_err(|e| format!("create consumer: {e}"))?;
        let mut got = 0u64;
        let meter = Meter::start();
        while got < ctx.msgs {
            let want = (ctx.msgs - got).min(ctx.config.batch as u64) as usize;
            let batch = consumer
                .fetch(FetchOptions {
                    batch: want,
                    expires: Some(Duration::from_secs(5)),
                    ..Default::default()
                })
                .map_err(|e| format!("fetch after {got} of {}: {e}", ctx.msgs))?;
            for m in &batch {
                if m.message().payload().len() != ctx.size {
                    return Err(format!(
                        "a message has {} bytes",
                        m.message().payload().len()
                    ));
                }
                m.ack().map_err(|e| format!("ack: {e}"))?;
                got += 1;
                if got % STEP == 0 {
                    ctx.progress.add(STEP);
                }
            }
        }
        // The acks reached the server.
        client.flush().map_err(|e| format!("flush: {e}"))?;
        let measured = meter.stop();
        js_check_consumed(&consumer, ctx.msgs)?;
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("batch {}", ctx.config.batch));
        Ok(o)
    })();
    let _ = js.delete_stream(&ctx.stream_name());
    result
}

/// Every message delivered once and acked: nothing pending, nothing awaiting an ack.
fn js_check_consumed(consumer: &natsy_jetstream::Consumer, n: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = consumer.info().map_err(|e| format!("consumer info: {e}"))?;
        let state = (
            info.num_pending,
            info.num_ack_pending,
            info.delivered.stream_seq,
        );
        if state == (0, 0, n) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "after consuming: {} pending, {} awaiting ack, last delivered {} of {n}",
                state.0, state.1, state.2
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A subscriber that never reads while a separate process publishes `msgs` × `size` at
/// it: resident memory must stay within the pending-bytes limit + 16 MiB, and every
/// message must be either queued or counted as dropped.
///
/// With `--busy N`, a second subscription on the same connection, read by a thread that
/// keeps up, gets an N-byte message after each one to the unread subscription, so that
/// every read allocation holds a few of each: the unread subscription's messages must not
/// keep the busy one's traffic alive (8,000 small messages, counted as 800 KB, once held
/// 575 MB). Every busy message must be received or counted as dropped.
fn bench_memory(ctx: &RunCtx<'_>) -> Result<Outcome, String> {
    const SLACK: u64 = 16 << 20;
    let subject = ctx.subject("memory");
    let busy_subject = ctx.subject("busy");
    let busy_size = ctx.config.busy_bytes;
    let limit = ctx.config.pending_bytes;
    let client = options()
        .pending_limits(PendingLimits {
            messages: PendingLimits::default().messages,
            bytes: limit,
        })
        .connect(ctx.url)
        .map_err(|e| format!("connect: {e}"))?;
    let sub = client.subscribe(&subject).map_err(|e| e.to_string())?;
    let busy_sub = if busy_size > 0 {
        Some(client.subscribe(&busy_subject).map_err(|e| e.to_string())?)
    } else {
        None
    };
    client.flush().map_err(|e| e.to_string())?;
    let baseline = resident_bytes().ok_or("no /proc/self/status")?;
    let busy = (busy_size > 0).then_some((busy_subject.as_str(), busy_size));
    let mut publisher =
        PublisherChild::start_with_busy(ctx.url, &subject, ctx.msgs, ctx.size, busy)?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = busy_sub.map(|mut busy_sub| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut received = 0u64;
            loop {
                match busy_sub.next_timeout(Duration::from_millis(50)) {
                    Ok(m) if m.payload().len() == busy_size => received += 1,
                    Ok(m) => return Err(format!("a busy message has {} bytes", m.payload().len())),
                    Err(NextError::TimedOut) if !stop.load(Ordering::Relaxed) => {}
                    Err(NextError::TimedOut) => return Ok((received, busy_sub.dropped())),
                    Err(e) => return Err(format!("busy subscription: {e}")),
                }
            }
        })
    });
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some(rss) = resident_bytes() {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let meter = Meter::start();
    let published = publisher.go().and_then(|()| publisher.finish());
    // Everything the server sent us arrives before the PONG of this flush.
    let flushed = client.flush().map_err(|e| format!("flush: {e}"));
    let measured = meter.stop();
    if let Some(rss) = resident_bytes() {
        peak.fetch_max(rss, Ordering::Relaxed);
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    stop.store(true, Ordering::Relaxed);
    let busy_counts = match reader.map(|r| r.join()) {
        None => None,
        Some(Ok(counts)) => Some(counts?),
        Some(Err(_)) => return Err("the busy reader panicked".into()),
    };
    published?;
    flushed?;
    let (queued, queued_bytes) = sub.pending();
    let dropped = sub.dropped();
    let grown = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    ctx.progress.add(ctx.msgs);
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    let mut note = format!(
        "RSS +{:.1} MiB, bound {:.1} MiB; queued {queued} ({:.1} MiB), dropped {dropped}",
        mib(grown),
        mib(limit as u64 + SLACK),
        mib(queued_bytes as u64)
    );
    if queued as u64 + dropped != ctx.msgs {
        return Err(format!(
            "queued {queued} + dropped {dropped} != published {}",
            ctx.msgs
        ));
    }
    if let Some((received, busy_dropped)) = busy_counts {
        note += &format!("; busy {busy_size} B: received {received}, dropped {busy_dropped}");
        if received + busy_dropped != ctx.msgs {
            return Err(format!(
                "busy: received {received} + dropped {busy_dropped} != published {}",
                ctx.msgs
            ));
        }
    }
    if grown > limit as u64 + SLACK {
        return Err(format!("over the memory bound: {note}"));
    }
    let mut o = outcome(ctx.msgs, ctx.size, measured);
    o.note = Some(note);
    Ok(o)
}
