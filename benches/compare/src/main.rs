//! `async-nats-bench`: the natsy-bench scenarios on async-nats (tokio, multi-threaded
//! runtime with the default worker count), with the same flags, the same completeness
//! checks and the same output, so `natsy-compare` can put the two side by side.
//!
//! Written the way an async-nats user would: one task per publisher and subscriber,
//! `Subscriber` as a `Stream`, `jetstream::Context::publish` futures kept in a bounded
//! window for asynchronous publishing, `fetch()` batches for pull consumers.
//!
//! `--rate` (`sub`, `req`) as natsy-bench: the same paced publisher process, and for
//! `req` the same responder process, both natsy-bench's; the requester sleeps to each
//! slot with `tokio::time::sleep_until` (tokio's timer ticks in milliseconds, so a
//! request may start up to a millisecond after its slot; the schedule stays absolute).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, stream::StorageType};
use async_nats::{Client, Subject, Subscriber};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use natsy_benches::cli::{Scenario, Storage};
use natsy_benches::measure::{Latencies, Measured, Meter};
use natsy_benches::pace::Pacer;
use natsy_benches::progress::{Progress, STEP};
use natsy_benches::publisher::PublisherChild;
use natsy_benches::report::Outcome;
use natsy_benches::responder::ResponderChild;
use natsy_benches::runner::{shares, BenchClient, OwnedRunCtx, RunCtx};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

mod kv;
mod obj;

/// How long a receiver may go without a message (per step of [`STEP`] messages) before
/// the run is called incomplete.
const STALL: Duration = Duration::from_secs(10);

type Res<T> = Result<T, String>;

struct AsyncNats {
    rt: Runtime,
}

impl BenchClient for AsyncNats {
    fn name(&self) -> &'static str {
        "async-nats"
    }

    fn supports(&self, scenario: Scenario) -> bool {
        scenario != Scenario::Memory
    }

    fn run(&mut self, scenario: Scenario, ctx: &RunCtx<'_>) -> Res<Outcome> {
        // As a task on a worker, not on the main thread (see `OwnedRunCtx::ctx`).
        let owned = OwnedRunCtx::new(ctx);
        let task = self.rt.spawn(async move {
            let ctx = &owned.ctx();
            match scenario {
                Scenario::Pub => bench_pub(ctx).await,
                Scenario::Sub => bench_sub(ctx).await,
                Scenario::PubSub => bench_publish_receive(ctx, 1).await,
                Scenario::Fanout => bench_publish_receive(ctx, ctx.config.subs).await,
                Scenario::Queue => bench_queue(ctx).await,
                Scenario::Req => bench_req(ctx).await,
                Scenario::JsPubSync => bench_js_pub_sync(ctx).await,
                Scenario::JsPubAsync => bench_js_pub_async(ctx).await,
                Scenario::JsFetch => bench_js_fetch(ctx).await,
                Scenario::Memory => Err("the memory scenario is natsy-only".into()),
                Scenario::KvPut => kv::bench_kv_put(ctx).await,
                Scenario::KvGet => kv::bench_kv_get(ctx).await,
                Scenario::KvWatch => kv::bench_kv_watch(ctx).await,
                Scenario::ObjPut => obj::bench_obj_put(ctx).await,
                Scenario::ObjGet => obj::bench_obj_get(ctx).await,
            }
        });
        self.rt
            .block_on(task)
            .unwrap_or_else(|e| Err(format!("the run's task failed: {e}")))
    }
}

async fn connect(url: &str) -> Res<Client> {
    async_nats::ConnectOptions::new()
        .name("async-nats-bench")
        // The same per-subscription bound as natsy's default pending limit (512 Ki
        // messages; async-nats' own default is 64 Ki), so neither client is the one
        // that drops messages because of a smaller buffer.
        .subscription_capacity(512 * 1024)
        .connect(url)
        .await
        .map_err(|e| format!("connect to {url}: {e}"))
}

/// The payload of a run: a static `Bytes` (one small leaked buffer per run), so cloning
/// it per message costs no reference-count atomics — the cheapest way a user can publish
/// the same payload, used identically for both clients.
fn payload(size: usize) -> Bytes {
    natsy_benches::runner::static_payload(size)
}

fn outcome(msgs: u64, size: usize, measured: Measured) -> Outcome {
    Outcome {
        msgs,
        bytes: msgs.saturating_mul(size as u64),
        measured,
        latency: None,
        note: None,
    }
}

fn task_result(r: Result<Res<()>, tokio::task::JoinError>) -> Res<()> {
    r.unwrap_or_else(|e| Err(format!("task failed: {e}")))
}

async fn publish_n(
    client: Client,
    subject: Subject,
    payload: Bytes,
    n: u64,
    progress: Progress,
) -> Res<()> {
    for i in 1..=n {
        client
            .publish(subject.clone(), payload.clone())
            .await
            .map_err(|e| format!("publish: {e}"))?;
        if i.is_multiple_of(STEP) {
            progress.add(STEP);
        }
    }
    client.flush().await.map_err(|e| format!("flush: {e}"))
}

/// Receives exactly `n` messages of `size` bytes (one timer per [`STEP`] messages, so
/// the stall check costs nothing per message).
async fn receive_n(
    sub: &mut Subscriber,
    n: u64,
    size: usize,
    progress: Option<Progress>,
) -> Res<()> {
    let mut got = 0u64;
    while got < n {
        let step = (n - got).min(STEP);
        let chunk = async {
            for _ in 0..step {
                match sub.next().await {
                    Some(m) if m.payload.len() == size => {}
                    Some(m) => return Err(format!("a message has {} bytes", m.payload.len())),
                    None => return Err("the subscription ended".to_string()),
                }
            }
            Ok(())
        };
        match tokio::time::timeout(STALL, chunk).await {
            Ok(Ok(())) => got += step,
            Ok(Err(e)) => return Err(format!("incomplete: {e} after about {got} of {n}")),
            Err(_) => {
                return Err(format!(
                    "incomplete: no message for {} s after about {got} of {n}",
                    STALL.as_secs()
                ))
            }
        }
        if let Some(p) = &progress {
            p.add(step);
        }
    }
    Ok(())
}

/// After a receiver got everything: nothing extra arrives.
async fn check_no_extra(client: &Client, sub: &mut Subscriber) -> Res<()> {
    client.flush().await.map_err(|e| format!("flush: {e}"))?;
    tokio::task::yield_now().await;
    match sub.next().now_or_never() {
        Some(Some(_)) => Err("received more messages than were published".into()),
        _ => Ok(()),
    }
}

async fn bench_pub(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("pub"));
    let payload = payload(ctx.size);
    let mut clients = Vec::new();
    for _ in 0..ctx.config.pubs {
        clients.push(connect(ctx.url).await?);
    }
    let plan = shares(ctx.msgs, clients.len());
    let meter = Meter::start();
    let tasks: Vec<_> = clients
        .iter()
        .zip(&plan)
        .map(|(c, &n)| {
            tokio::spawn(publish_n(
                c.clone(),
                subject.clone(),
                payload.clone(),
                n,
                ctx.progress.clone(),
            ))
        })
        .collect();
    let mut result = Ok(());
    for t in tasks {
        result = result.and(task_result(t.await));
    }
    result?;
    let measured = meter.stop();
    let sent: u64 = clients
        .iter()
        .map(|c| c.statistics().out_messages.load(Ordering::Relaxed))
        .sum();
    if sent != ctx.msgs {
        return Err(format!("sent {sent} of {} messages", ctx.msgs));
    }
    Ok(outcome(ctx.msgs, ctx.size, measured))
}

async fn bench_sub(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = ctx.subject("sub");
    let client = connect(ctx.url).await?;
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    let rate = ctx.config.rate;
    let mut publisher = PublisherChild::start_paced(ctx.url, &subject, ctx.msgs, ctx.size, rate)?;
    let meter = Meter::start();
    publisher.go()?;
    receive_n(&mut sub, ctx.msgs, ctx.size, Some(ctx.progress.clone())).await?;
    let measured = meter.stop();
    publisher.finish()?;
    check_no_extra(&client, &mut sub).await?;
    let mut o = outcome(ctx.msgs, ctx.size, measured);
    o.note = rate.map(|r| format!("publisher process paced at {r}/s"));
    Ok(o)
}

/// `pubsub` (one receiver) and `fanout` (`receivers` receivers), each receiver on its
/// own connection and expecting every message.
async fn bench_publish_receive(ctx: &RunCtx<'_>, receivers: usize) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("pubsub"));
    let mut subs = Vec::new();
    for _ in 0..receivers {
        let c = connect(ctx.url).await?;
        let s = c
            .subscribe(subject.clone())
            .await
            .map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())?;
        subs.push((c, s));
    }
    let mut publishers = Vec::new();
    for _ in 0..ctx.config.pubs {
        publishers.push(connect(ctx.url).await?);
    }
    let plan = shares(ctx.msgs, publishers.len());
    let payload = payload(ctx.size);
    let (n, size) = (ctx.msgs, ctx.size);
    let meter = Meter::start();
    let rx: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(i, (c, mut s))| {
            let progress = (i == 0).then(|| ctx.progress.clone());
            tokio::spawn(async move {
                let r = receive_n(&mut s, n, size, progress).await;
                (c, s, r)
            })
        })
        .collect();
    let tx: Vec<_> = publishers
        .iter()
        .zip(&plan)
        .map(|(c, &k)| {
            tokio::spawn(publish_n(
                c.clone(),
                subject.clone(),
                payload.clone(),
                k,
                Progress::new(),
            ))
        })
        .collect();
    let mut result = Ok(());
    let mut done = Vec::new();
    for t in rx {
        match t.await {
            Ok((c, s, r)) => {
                result = result.and(r);
                done.push((c, s));
            }
            Err(e) => result = result.and(Err(format!("receiver failed: {e}"))),
        }
    }
    for t in tx {
        result = result.and(task_result(t.await));
    }
    result?;
    let measured = meter.stop();
    for (c, s) in &mut done {
        check_no_extra(c, s).await?;
    }
    Ok(outcome(
        ctx.msgs.saturating_mul(receivers as u64),
        ctx.size,
        measured,
    ))
}

async fn bench_queue(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("queue"));
    let mut members = Vec::new();
    for _ in 0..ctx.config.subs {
        let c = connect(ctx.url).await?;
        let s = c
            .queue_subscribe(subject.clone(), "workers".to_string())
            .await
            .map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())?;
        members.push((c, s));
    }
    let publisher = connect(ctx.url).await?;
    let total = Arc::new(AtomicU64::new(0));
    // A watch, not a Notify: a worker busy with a message when the stop comes still
    // sees it at its next `changed()`.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let all_in = Arc::new(Notify::new());
    let (n, size) = (ctx.msgs, ctx.size);
    let meter = Meter::start();
    let workers: Vec<_> = members
        .into_iter()
        .map(|(c, mut s)| {
            let (total, mut stop, all_in, progress) = (
                total.clone(),
                stop_rx.clone(),
                all_in.clone(),
                ctx.progress.clone(),
            );
            tokio::spawn(async move {
                let mut mine = 0u64;
                let mut wrong = false;
                loop {
                    tokio::select! {
                        m = s.next() => match m {
                            Some(m) => {
                                wrong |= m.payload.len() != size;
                                mine += 1;
                                let now = total.fetch_add(1, Ordering::Relaxed) + 1;
                                if now.is_multiple_of(STEP) {
                                    progress.add(STEP);
                                }
                                if now == n {
                                    all_in.notify_one();
                                }
                            }
                            None => break,
                        },
                        _ = stop.changed() => break,
                    }
                }
                (c, s, mine, wrong)
            })
        })
        .collect();
    let published = publish_n(
        publisher.clone(),
        subject.clone(),
        payload(ctx.size),
        ctx.msgs,
        Progress::new(),
    )
    .await;
    // Wait for the last delivery, failing if the total stalls.
    let mut last = (total.load(Ordering::Relaxed), Instant::now());
    let waited = loop {
        if let Err(e) = &published {
            break Err(e.clone());
        }
        if total.load(Ordering::Relaxed) >= n {
            break Ok(());
        }
        if tokio::time::timeout(Duration::from_millis(200), all_in.notified())
            .await
            .is_ok()
        {
            break Ok(());
        }
        let now = total.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > STALL {
            break Err(format!(
                "incomplete: the group received {now} of {n} messages"
            ));
        }
    };
    let measured = meter.stop();
    let _ = stop_tx.send(true);
    let mut got = 0u64;
    let mut split = Vec::new();
    let mut wrong_size = false;
    let mut ends = Vec::new();
    for w in workers {
        let (c, s, mine, wrong) = w.await.map_err(|e| format!("worker failed: {e}"))?;
        got += mine;
        split.push(mine);
        wrong_size |= wrong;
        ends.push((c, s));
    }
    waited?;
    for (c, s) in &mut ends {
        c.flush().await.map_err(|e| e.to_string())?;
        tokio::task::yield_now().await;
        while let Some(Some(_)) = s.next().now_or_never() {
            got += 1;
        }
    }
    if wrong_size {
        return Err("a message of the wrong size".into());
    }
    if got != n {
        return Err(format!("the group received {got} of {n} messages"));
    }
    let mut o = outcome(n, size, measured);
    o.note = Some(format!("split {split:?}"));
    Ok(o)
}

/// Untimed requests before the timed ones.
const REQ_WARM_UP: u64 = 100;

/// `req`: flat out, the responder is a second connection in this process; with
/// `--rate`, natsy-bench's responder process answers instead (the process measured holds
/// only the requester).
async fn bench_req(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("req"));
    if let Some(rate) = ctx.config.rate {
        let responder = ResponderChild::start(ctx.url, &subject)?;
        let client = connect(ctx.url).await?;
        let result = timed_requests(ctx, &client, &subject, Some(rate)).await;
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
    let responder = connect(ctx.url).await?;
    let mut sub = responder
        .subscribe(subject.clone())
        .await
        .map_err(|e| e.to_string())?;
    responder.flush().await.map_err(|e| e.to_string())?;
    let serving = {
        let responder = responder.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Some(reply) = msg.reply {
                    let _ = responder.publish(reply, msg.payload).await;
                }
            }
        })
    };
    let client = connect(ctx.url).await?;
    let result = timed_requests(ctx, &client, &subject, None).await;
    serving.abort();
    result
}

/// [`REQ_WARM_UP`] requests, then `ctx.msgs` timed ones one after another, each paced to
/// its slot at `rate` if given; latency is from each request's start to its reply.
async fn timed_requests(
    ctx: &RunCtx<'_>,
    client: &Client,
    subject: &Subject,
    rate: Option<u64>,
) -> Res<Outcome> {
    let payload = payload(ctx.size);
    for _ in 0..REQ_WARM_UP {
        client
            .request(subject.clone(), payload.clone())
            .await
            .map_err(|e| format!("warm-up request: {e}"))?;
    }
    let mut latencies = Latencies::new();
    let meter = Meter::start();
    let mut pacer = rate.map(Pacer::new);
    for i in 1..=ctx.msgs {
        if let Some(p) = &pacer {
            tokio::time::sleep_until(tokio::time::Instant::from_std(p.deadline(i - 1))).await;
        }
        let t = Instant::now();
        if let Some(p) = &mut pacer {
            p.started(i - 1, t);
        }
        let reply = client
            .request(subject.clone(), payload.clone())
            .await
            .map_err(|e| format!("request {i}: {e}"))?;
        latencies.record(t.elapsed());
        if reply.payload.len() != ctx.size {
            return Err(format!("reply {i} has {} bytes", reply.payload.len()));
        }
        if i.is_multiple_of(STEP) {
            ctx.progress.add(STEP);
        }
    }
    let measured = meter.stop();
    let mut o = outcome(ctx.msgs, ctx.size, measured);
    o.latency = latencies.percentiles();
    o.note = pacer.map(|p| format!("{}; responder in its own process", p.summary()));
    Ok(o)
}

async fn js_setup(ctx: &RunCtx<'_>, subject: &str) -> Res<(Client, jetstream::Context)> {
    let client = connect(ctx.url).await?;
    let js = jetstream::new(client.clone());
    let storage = match ctx.config.storage {
        Storage::Memory => StorageType::Memory,
        Storage::File => StorageType::File,
    };
    js.create_stream(jetstream::stream::Config {
        name: ctx.stream_name(),
        subjects: vec![subject.to_string()],
        storage,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("create stream: {e}"))?;
    Ok((client, js))
}

async fn js_check_stored(
    js: &jetstream::Context,
    ctx: &RunCtx<'_>,
    mut sequences: Vec<u64>,
) -> Res<()> {
    sequences.sort_unstable();
    sequences.dedup();
    if sequences.len() as u64 != ctx.msgs || sequences.last().copied() != Some(ctx.msgs) {
        return Err(format!(
            "{} distinct acks for {} publishes",
            sequences.len(),
            ctx.msgs
        ));
    }
    js_check_count(js, ctx).await
}

/// Publish `i` of a one-at-a-time run into a fresh stream is stored as sequence `i`:
/// checked per ack, so the latency scenario keeps no per-message state.
fn check_sequential_ack(i: u64, sequence: u64) -> Res<()> {
    if sequence == i {
        Ok(())
    } else {
        Err(format!("publish {i} was stored as sequence {sequence}"))
    }
}

async fn js_check_count(js: &jetstream::Context, ctx: &RunCtx<'_>) -> Res<()> {
    let mut stream = js
        .get_stream(ctx.stream_name())
        .await
        .map_err(|e| format!("get stream: {e}"))?;
    let info = stream
        .info()
        .await
        .map_err(|e| format!("stream info: {e}"))?;
    if info.state.messages != ctx.msgs {
        return Err(format!(
            "the stream holds {} of {} messages",
            info.state.messages, ctx.msgs
        ));
    }
    Ok(())
}

async fn bench_js_pub_sync(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("js"));
    let (_client, js) = js_setup(ctx, &subject).await?;
    let payload = payload(ctx.size);
    let result = async {
        let mut latencies = Latencies::new();
        let meter = Meter::start();
        for i in 1..=ctx.msgs {
            let t = Instant::now();
            let ack = js
                .publish(subject.clone(), payload.clone())
                .await
                .map_err(|e| format!("publish {i}: {e}"))?
                .await
                .map_err(|e| format!("ack {i}: {e}"))?;
            latencies.record(t.elapsed());
            check_sequential_ack(i, ack.sequence)?;
            if i.is_multiple_of(STEP) {
                ctx.progress.add(STEP);
            }
        }
        let measured = meter.stop();
        js_check_count(&js, ctx).await?;
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.latency = latencies.percentiles();
        Ok(o)
    }
    .await;
    let _ = js.delete_stream(ctx.stream_name()).await;
    result
}

/// Publishes `n` with at most `window` acks outstanding; returns the acked sequences.
async fn publish_windowed(
    js: &jetstream::Context,
    subject: &Subject,
    payload: &Bytes,
    n: u64,
    window: usize,
    progress: &Progress,
) -> Res<Vec<u64>> {
    let mut in_flight = VecDeque::with_capacity(window);
    let mut sequences = Vec::with_capacity(n as usize);
    for i in 1..=n {
        if in_flight.len() >= window {
            if let Some(ack) = in_flight.pop_front() {
                let ack: jetstream::context::PublishAckFuture = ack;
                sequences.push(ack.await.map_err(|e| format!("ack: {e}"))?.sequence);
            }
        }
        in_flight.push_back(
            js.publish(subject.clone(), payload.clone())
                .await
                .map_err(|e| format!("publish {i}: {e}"))?,
        );
        if i.is_multiple_of(STEP) {
            progress.add(STEP);
        }
    }
    for ack in in_flight {
        sequences.push(ack.await.map_err(|e| format!("ack: {e}"))?.sequence);
    }
    Ok(sequences)
}

async fn bench_js_pub_async(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("js"));
    let (_client, js) = js_setup(ctx, &subject).await?;
    let payload = payload(ctx.size);
    let result = async {
        let meter = Meter::start();
        let sequences = publish_windowed(
            &js,
            &subject,
            &payload,
            ctx.msgs,
            ctx.config.window,
            &ctx.progress,
        )
        .await?;
        let measured = meter.stop();
        js_check_stored(&js, ctx, sequences).await?;
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("window {}", ctx.config.window));
        Ok(o)
    }
    .await;
    let _ = js.delete_stream(ctx.stream_name()).await;
    result
}

async fn bench_js_fetch(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = Subject::from(ctx.subject("js"));
    let (client, js) = js_setup(ctx, &subject).await?;
    let payload = payload(ctx.size);
    let result = async {
        // Untimed: fill the stream.
        let stored =
            publish_windowed(&js, &subject, &payload, ctx.msgs, 1000, &Progress::new()).await?;
        js_check_stored(&js, ctx, stored).await?;
        let stream = js
            .get_stream(ctx.stream_name())
            .await
            .map_err(|e| format!("get stream: {e}"))?;
        let mut consumer: jetstream::consumer::Consumer<pull::Config> = stream
            .create_consumer(pull::Config {
                durable_name: Some("bench".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("create consumer: {e}"))?;
        let mut got = 0u64;
        let meter = Meter::start();
        while got < ctx.msgs {
            let want = (ctx.msgs - got).min(ctx.config.batch as u64) as usize;
            let mut batch = consumer
                .fetch()
                .max_messages(want)
                .expires(Duration::from_secs(5))
                .messages()
                .await
                .map_err(|e| format!("fetch: {e}"))?;
            let before = got;
            while let Some(m) = batch.next().await {
                let m = m.map_err(|e| format!("fetch: {e}"))?;
                if m.payload.len() != ctx.size {
                    return Err(format!("a message has {} bytes", m.payload.len()));
                }
                m.ack().await.map_err(|e| format!("ack: {e}"))?;
                got += 1;
                if got.is_multiple_of(STEP) {
                    ctx.progress.add(STEP);
                }
            }
            if got == before {
                return Err(format!(
                    "incomplete: a fetch returned nothing after {got} of {}",
                    ctx.msgs
                ));
            }
        }
        client.flush().await.map_err(|e| format!("flush: {e}"))?;
        let measured = meter.stop();
        js_check_consumed(&mut consumer, ctx.msgs).await?;
        let mut o = outcome(ctx.msgs, ctx.size, measured);
        o.note = Some(format!("batch {}", ctx.config.batch));
        Ok(o)
    }
    .await;
    let _ = js.delete_stream(ctx.stream_name()).await;
    result
}

/// Every message delivered once and acked: nothing pending, nothing awaiting an ack.
async fn js_check_consumed(
    consumer: &mut jetstream::consumer::Consumer<pull::Config>,
    n: u64,
) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = consumer
            .info()
            .await
            .map_err(|e| format!("consumer info: {e}"))?;
        let state = (
            info.num_pending,
            info.num_ack_pending,
            info.delivered.stream_sequence,
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn main() -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: no tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    natsy_benches::runner::main(AsyncNats { rt })
}
