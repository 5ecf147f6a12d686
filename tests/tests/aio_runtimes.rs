//! The async API on every executor it promises to work on, against a real nats-server:
//! tokio (multi-thread and current-thread), smol, async-std and
//! `futures::executor::block_on`. The same scenario runs on each: subscribe, publish,
//! a request answered by a responder task, no responders, a flush, a timed-out request
//! that leaves nothing behind, and a drain. On tokio it runs twice: on natsy's own loop
//! thread and on the runtime's reactor (`ConnectOptions::tokio_runtime`).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use natsy::RequestError;
use natsy_test_harness::NatsServer;

type Spawn = fn(Pin<Box<dyn Future<Output = ()> + Send>>);

/// The scenario, given a way to spawn a task on the executor it runs on.
async fn scenario(url: String, spawn: Spawn) {
    scenario_with(url, spawn, natsy::ConnectOptions::new()).await
}

/// The scenario on a connection made with `options`.
async fn scenario_with(url: String, spawn: Spawn, options: natsy::ConnectOptions) {
    let client = options.connect_async(url.as_str()).await.unwrap();
    let mut sub = client.subscribe("greet.*").await.unwrap();
    client.publish("greet.joe", "hello").await.unwrap();
    let msg = sub.next().await.unwrap();
    assert_eq!(msg.subject(), "greet.joe");
    assert_eq!(msg.payload(), b"hello");

    let mut responder = client.subscribe("svc.echo").await.unwrap();
    client.flush().await.unwrap();
    spawn(Box::pin(async move {
        while let Some(req) = responder.next().await {
            let mut answer = b"re-".to_vec();
            answer.extend_from_slice(req.payload());
            req.respond_async(answer).await.unwrap();
        }
    }));
    for i in 0..20 {
        let reply = client.request("svc.echo", format!("{i}")).await.unwrap();
        assert_eq!(reply.payload(), format!("re-{i}").as_bytes());
    }
    assert_eq!(
        client.request("nobody.home", "?").await.unwrap_err(),
        RequestError::NoResponders
    );

    // A request nobody answers times out on the loop thread's timer, on any executor.
    let quiet = client.subscribe("svc.quiet").await.unwrap();
    client.flush().await.unwrap();
    let started = Instant::now();
    let err = client
        .request_timeout("svc.quiet", "?", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(err, RequestError::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(client.pending_requests(), 0);
    drop(quiet);

    client.sleep(Duration::from_millis(10)).await;
    assert_eq!(client.registered_waits(), 0, "every wait cleaned up");
    client.drain().await.unwrap();
    assert!(client.close_reason().is_some());
    assert!(sub.next().await.is_none());
}

fn spawn_tokio(f: Pin<Box<dyn Future<Output = ()> + Send>>) {
    tokio::spawn(f);
}

fn spawn_smol(f: Pin<Box<dyn Future<Output = ()> + Send>>) {
    smol::spawn(f).detach();
}

fn spawn_async_std(f: Pin<Box<dyn Future<Output = ()> + Send>>) {
    async_std::task::spawn(f);
}

fn spawn_thread(f: Pin<Box<dyn Future<Output = ()> + Send>>) {
    std::thread::spawn(move || futures_executor::block_on(f));
}

#[test]
fn tokio_multi_thread() {
    let server = NatsServer::start().unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario(server.url(), spawn_tokio));
}

#[test]
fn tokio_current_thread() {
    let server = NatsServer::start().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(scenario(server.url(), spawn_tokio));
}

#[test]
fn tokio_multi_thread_driving_the_connection() {
    let server = NatsServer::start().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let options = natsy::ConnectOptions::new().tokio_runtime(rt.handle().clone());
    rt.block_on(scenario_with(server.url(), spawn_tokio, options));
}

#[test]
fn tokio_current_thread_driving_the_connection() {
    let server = NatsServer::start().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = natsy::ConnectOptions::new().tokio_runtime(rt.handle().clone());
    rt.block_on(scenario_with(server.url(), spawn_tokio, options));
}

#[test]
fn smol() {
    let server = NatsServer::start().unwrap();
    smol::block_on(scenario(server.url(), spawn_smol));
}

#[test]
fn async_std() {
    let server = NatsServer::start().unwrap();
    async_std::task::block_on(scenario(server.url(), spawn_async_std));
}

#[test]
fn futures_block_on() {
    let server = NatsServer::start().unwrap();
    futures_executor::block_on(scenario(server.url(), spawn_thread));
}
