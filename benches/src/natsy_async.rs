//! The natsy-bench scenarios on natsy's async API (`natsy::aio`) on a tokio multi-thread
//! runtime with the default worker count, written as the async-nats peer
//! (`benches/compare`) is, so the two compare like for like: one task per publisher
//! and receiver, `Subscriber` as a `Stream`, the same completeness checks.
//!
//! tokio is only the executor here: natsy's connection runs on its own loop thread, and
//! the request timeouts are natsy's (served by that thread), not tokio's.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use natsy::aio::{Client, Subscriber};
use natsy::ConnectOptions;
use tokio::runtime::Runtime;

use crate::cli::Scenario;
use crate::measure::{Latencies, Measured, Meter};
use crate::pace::Pacer;
use crate::progress::{Progress, STEP};
use crate::publisher::PublisherChild;
use crate::report::Outcome;
use crate::responder::ResponderChild;
use crate::runner::{shares, BenchClient, OwnedRunCtx, RunCtx};

/// How long a receiver may go without a message (per step of [`STEP`] messages).
const STALL: Duration = Duration::from_secs(10);
/// Untimed requests before the timed ones (as the blocking scenarios).
const REQ_WARM_UP: u64 = 100;

type Res<T> = Result<T, String>;

/// natsy's async client under benchmark, on its own tokio runtime.
#[derive(Debug)]
pub struct NatsyAsync {
    rt: Runtime,
}

impl NatsyAsync {
    /// A tokio multi-thread runtime with the default worker count, as the async-nats
    /// peer uses.
    pub fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(NatsyAsync { rt })
    }
}

impl BenchClient for NatsyAsync {
    fn name(&self) -> &'static str {
        "natsy-async"
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
                Scenario::Req => bench_req(ctx).await,
                Scenario::KvPut => crate::natsy_kv_async::bench_kv_put(ctx).await,
                Scenario::KvGet => crate::natsy_kv_async::bench_kv_get(ctx).await,
                Scenario::KvWatch => crate::natsy_kv_async::bench_kv_watch(ctx).await,
                other => Err(format!("{other:?} is not in natsy-bench's async mode yet")),
            }
        });
        self.rt
            .block_on(task)
            .unwrap_or_else(|e| Err(format!("the run's task failed: {e}")))
    }
}

pub(crate) async fn connect(url: &str) -> Res<Client> {
    let mut options = ConnectOptions::new();
    if std::env::var_os("NATSY_BENCH_TOKIO_DRIVER").is_some() {
        options = options.tokio_runtime(tokio::runtime::Handle::current());
    }
    options
        .name("natsy-bench-async")
        .flush_timeout(Duration::from_secs(120))
        .request_timeout(Duration::from_secs(10))
        .connect_async(url)
        .await
        .map_err(|e| format!("connect to {url}: {e}"))
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

fn joined(r: Result<Res<()>, tokio::task::JoinError>) -> Res<()> {
    r.unwrap_or_else(|e| Err(format!("task failed: {e}")))
}

async fn publish_n(
    client: Client,
    subject: String,
    payload: Bytes,
    n: u64,
    progress: Progress,
) -> Res<()> {
    for i in 1..=n {
        client
            .publish(&subject, payload.clone())
            .await
            .map_err(|e| format!("publish: {e}"))?;
        if i % STEP == 0 {
            progress.add(STEP);
        }
    }
    client.flush().await.map_err(|e| format!("flush: {e}"))
}

/// Receives exactly `n` messages of `size` bytes, one stall timer per [`STEP`].
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
                    Some(m) if m.payload().len() == size => {}
                    Some(m) => return Err(format!("a message has {} bytes", m.payload().len())),
                    None => return Err(format!("the subscription ended: {:?}", sub.end_reason())),
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

async fn check_no_extra(client: &Client, sub: &mut Subscriber) -> Res<()> {
    client.flush().await.map_err(|e| format!("flush: {e}"))?;
    if sub.dropped() > 0 {
        return Err(format!(
            "{} messages dropped by pending limits",
            sub.dropped()
        ));
    }
    match sub.next().now_or_never() {
        Some(Some(_)) => Err("received more messages than were published".into()),
        _ => Ok(()),
    }
}

async fn bench_pub(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = ctx.subject("pub");
    let payload = crate::runner::static_payload(ctx.size);
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
        result = result.and(joined(t.await));
    }
    result?;
    let measured = meter.stop();
    let sent: u64 = clients.iter().map(|c| c.statistics().out_messages).sum();
    if sent != ctx.msgs {
        return Err(format!("sent {sent} of {} messages", ctx.msgs));
    }
    Ok(outcome(ctx.msgs, ctx.size, measured))
}

async fn bench_sub(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = ctx.subject("sub");
    let client = connect(ctx.url).await?;
    let mut sub = client
        .subscribe(&subject)
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

/// `pubsub` (one receiver) and `fanout` (`receivers`), each receiver on its own
/// connection and expecting every message.
async fn bench_publish_receive(ctx: &RunCtx<'_>, receivers: usize) -> Res<Outcome> {
    let subject = ctx.subject("pubsub");
    let mut subs = Vec::new();
    for _ in 0..receivers {
        let c = connect(ctx.url).await?;
        let s = c.subscribe(&subject).await.map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())?;
        subs.push((c, s));
    }
    let mut publishers = Vec::new();
    for _ in 0..ctx.config.pubs {
        publishers.push(connect(ctx.url).await?);
    }
    let plan = shares(ctx.msgs, publishers.len());
    let payload = crate::runner::static_payload(ctx.size);
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
        result = result.and(joined(t.await));
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

/// `req`: flat out with a responder task on a second connection in this process; with
/// `--rate`, natsy-bench's responder process answers instead.
async fn bench_req(ctx: &RunCtx<'_>) -> Res<Outcome> {
    let subject = ctx.subject("req");
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
        .subscribe(&subject)
        .await
        .map_err(|e| e.to_string())?;
    responder.flush().await.map_err(|e| e.to_string())?;
    let serving = {
        let responder = responder.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Some(reply) = msg.reply() {
                    let _ = responder.publish(reply, msg.payload_bytes()).await;
                }
            }
        })
    };
    let client = connect(ctx.url).await?;
    let result = timed_requests(ctx, &client, &subject, None).await;
    serving.abort();
    result
}

/// [`REQ_WARM_UP`] requests, then `ctx.msgs` timed ones in a row, each paced to its slot
/// at `rate` if given (with tokio's timer, as the async-nats peer).
async fn timed_requests(
    ctx: &RunCtx<'_>,
    client: &Client,
    subject: &str,
    rate: Option<u64>,
) -> Res<Outcome> {
    let payload = crate::runner::static_payload(ctx.size);
    for _ in 0..REQ_WARM_UP {
        client
            .request(subject, payload.clone())
            .await
            .map_err(|e| format!("warm-up request: {e}"))?;
    }
    let mut latencies = Latencies::new();
    let meter = Meter::start();
    let mut pacer = rate.map(Pacer::new);
    for i in 1..=ctx.msgs {
        if let Some(p) = &pacer {
            // The executor's timer, as the async-nats peer paces: what a tokio user
            // would write. (natsy's own `Client::sleep`, served by the loop thread, costs
            // a loop wake-up and a cross-thread task wake per slot on top: strace of
            // `req --rate 1000`, 8.2 futex calls per request against 3.4 blocking.)
            tokio::time::sleep_until(tokio::time::Instant::from_std(p.deadline(i - 1))).await;
        }
        let t = Instant::now();
        if let Some(p) = &mut pacer {
            p.started(i - 1, t);
        }
        let reply = client
            .request(subject, payload.clone())
            .await
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
