//! Cancellation safety and scale of the async client against a real nats-server: futures
//! dropped at every await point leave nothing behind (no reply slot, no registered wait,
//! no subscription on the server) and the connection stays usable; 10,000 requests from
//! 10,000 tasks on a current-thread runtime complete without a deadlock or a thread each.

use std::future::Future;
use std::pin::pin;
use std::task::Context;
use std::time::Duration;

use futures_util::task::noop_waker_ref;
use futures_util::StreamExt;
use natsy::aio;
use natsy_test_harness::NatsServer;

/// Polls `fut` up to `polls` times, `gap` apart (so the loop thread and the server make
/// progress in between), then drops it if it is still pending: a future cancelled at
/// whatever await point it had reached. Returns whether it completed.
fn poll_then_drop<F: Future>(fut: F, polls: usize, gap: Duration) -> bool {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(noop_waker_ref());
    for _ in 0..polls {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
        std::thread::sleep(gap);
    }
    false
}

/// Subscriptions the server holds for all clients.
fn server_subscriptions(server: &NatsServer) -> u64 {
    server.monitor_json("/subsz").unwrap()["num_subscriptions"]
        .as_u64()
        .unwrap()
}

fn responder(server: &NatsServer, subject: &str, delay: Duration) -> natsy::Client {
    let client = natsy::connect(server.url()).unwrap();
    let sub = client.subscribe(subject).unwrap();
    client.flush().unwrap();
    std::thread::spawn(move || {
        for m in sub {
            std::thread::sleep(delay);
            let _ = m.respond(m.payload_bytes());
        }
    });
    client
}

#[test]
fn requests_dropped_at_every_point_leave_nothing_behind() {
    let server = NatsServer::start().unwrap();
    let _svc = responder(&server, "svc.slow", Duration::from_millis(2));
    let client = futures_executor::block_on(aio::connect(server.url())).unwrap();
    let mut completed = 0;
    // 0 polls: never started; 1: queued, waiting; more: the reply may have arrived,
    // been taken, or the (short) timeout be running.
    for polls in 0..40 {
        let fut = client.request_timeout("svc.slow", "x", Duration::from_millis(20 + polls as u64));
        completed += usize::from(poll_then_drop(fut, polls % 8, Duration::from_millis(1)));
        let fut = client.send_request("svc.slow", None, "y");
        poll_then_drop(fut, polls % 3, Duration::ZERO);
    }
    assert_eq!(client.pending_requests(), 0, "no reply slot left behind");
    assert_eq!(
        client.registered_waits(),
        0,
        "no waker or timer left behind"
    );
    // Still usable.
    let reply = futures_executor::block_on(client.request("svc.slow", "after")).unwrap();
    assert_eq!(reply.payload(), b"after");
    eprintln!("{completed} of the dropped requests had completed first");
}

#[test]
fn subscriptions_dropped_at_every_point_leave_none_on_the_server() {
    let server = NatsServer::builder().monitoring().start().unwrap();
    let client = futures_executor::block_on(aio::connect(server.url())).unwrap();
    futures_executor::block_on(client.flush()).unwrap();
    let baseline = server_subscriptions(&server);
    for polls in 0..20 {
        poll_then_drop(
            client.subscribe(format!("cancel.{polls}")),
            polls % 3,
            Duration::ZERO,
        );
        poll_then_drop(
            client.queue_subscribe("cancel.q", "workers"),
            polls % 2,
            Duration::ZERO,
        );
    }
    // A subscriber dropped while its `next` waits.
    let mut sub = futures_executor::block_on(client.subscribe("cancel.next")).unwrap();
    assert!(!poll_then_drop(sub.next(), 3, Duration::from_millis(1)));
    drop(sub);
    // Flushes dropped before their PONG.
    for polls in 0..10 {
        poll_then_drop(client.flush(), polls % 2, Duration::ZERO);
    }
    futures_executor::block_on(client.flush()).unwrap();
    let mut left = server_subscriptions(&server);
    for _ in 0..50 {
        if left == baseline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        left = server_subscriptions(&server);
    }
    assert_eq!(
        left, baseline,
        "every dropped subscription was unsubscribed"
    );
    assert_eq!(client.registered_waits(), 0);
    // Still usable.
    futures_executor::block_on(async {
        let mut sub = client.subscribe("cancel.after").await.unwrap();
        client.publish("cancel.after", "ok").await.unwrap();
        assert_eq!(sub.next().await.unwrap().payload(), b"ok");
    });
}

#[test]
fn timers_dropped_before_they_fire_are_forgotten() {
    let server = NatsServer::start().unwrap();
    let client = futures_executor::block_on(aio::connect(server.url())).unwrap();
    for i in 0..100 {
        poll_then_drop(
            client.sleep(Duration::from_millis(50 + i)),
            1,
            Duration::ZERO,
        );
    }
    assert_eq!(client.registered_waits(), 0);
    // One that is awaited fires, after its time.
    let started = std::time::Instant::now();
    futures_executor::block_on(client.sleep(Duration::from_millis(30)));
    assert!(started.elapsed() >= Duration::from_millis(30));
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn ten_thousand_requests_from_ten_thousand_tasks_on_one_thread() {
    ten_thousand_requests(false);
}

/// The same with the connection itself a task on that one thread: natsy then adds no
/// thread at all, and its turns must leave the 10,000 tasks room to run.
#[test]
fn ten_thousand_requests_on_one_thread_that_also_drives_the_connection() {
    ten_thousand_requests(true);
}

fn ten_thousand_requests(on_tokio: bool) {
    let server = NatsServer::start().unwrap();
    let _svc = responder(&server, "svc.echo", Duration::ZERO);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut options = natsy::ConnectOptions::new();
    if on_tokio {
        options = options.tokio_runtime(rt.handle().clone());
    }
    rt.block_on(async {
        let before_connect = threads();
        let client = options.connect_async(server.url()).await.unwrap();
        let before = threads();
        if on_tokio {
            assert_eq!(before, before_connect, "the connection took a thread");
        }
        let tasks: Vec<_> = (0..10_000)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move {
                    let reply = c
                        .request_timeout("svc.echo", format!("{i}"), Duration::from_secs(60))
                        .await
                        .unwrap();
                    assert_eq!(reply.payload(), format!("{i}").as_bytes());
                })
            })
            .collect();
        // Let every task send its request and wait: all 10,000 are in flight at once.
        tokio::task::yield_now().await;
        let during = threads();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(
            during <= before + 1,
            "requests cost threads: {before} before, {during} with 10,000 in flight"
        );
        assert_eq!(client.pending_requests(), 0);
        assert_eq!(client.registered_waits(), 0);
    });
}
