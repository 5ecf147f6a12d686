//! The async client's connection against real nats-servers: every auth mode, TLS and
//! mutual TLS, the reconnect buffer across a server restart (exact counts), the events
//! stream, drain, and failover in a 3-node cluster. Runs on tokio; `aio_runtimes`
//! shows the same code on the other executors.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use natsy::{aio, ConnectError, ConnectOptions, Event, State};
use natsy_test_harness::{KeyKind, KeyPair, NatsCluster, NatsServer, OperatorSetup, TlsFiles};

const WAIT: Duration = Duration::from_secs(10);

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(Duration::from_secs(3))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
}

/// Publishes and receives one message, proving the connection is really usable.
async fn round_trip(client: &aio::Client) {
    let mut sub = client.subscribe("aio.check").await.unwrap();
    client.publish("aio.check", "ok").await.unwrap();
    client.flush().await.unwrap();
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload(), b"ok");
}

/// The next event `pick` accepts, within `WAIT`.
async fn next_event<T>(events: &mut aio::Events, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.next().await {
            if let Some(t) = pick(&e) {
                return t;
            }
        }
        panic!("events ended");
    });
    found.await.expect("event in time")
}

#[test]
fn every_auth_mode() {
    let user_server = NatsServer::builder()
        .user("alice", "s3cret")
        .start()
        .unwrap();
    let token_server = NatsServer::builder().token("t0k3n").start().unwrap();
    let nkey_user = KeyPair::generate(KeyKind::User);
    let nkey_server = NatsServer::builder()
        .nkey_user(&nkey_user.public_key())
        .start()
        .unwrap();
    let mut setup = OperatorSetup::new();
    let account = setup.add_account("A", false);
    let operator_server = NatsServer::builder()
        .raw_config(&setup.server_config())
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwt_user = setup.user(&account, "u1");
    let creds = dir.path().join("u1.creds");
    jwt_user.write_creds(&creds).unwrap();

    run(async {
        let c = fast()
            .user_and_password("alice", "s3cret")
            .connect_async(user_server.url())
            .await
            .unwrap();
        round_trip(&c).await;
        let refused = fast()
            .user_and_password("alice", "wrong")
            .connect_async(user_server.url())
            .await
            .unwrap_err();
        assert!(refused.is_auth_error(), "{refused:?}");

        let c = fast()
            .token("t0k3n")
            .connect_async(token_server.url())
            .await
            .unwrap();
        round_trip(&c).await;

        let c = fast()
            .nkey(&nkey_user.seed())
            .unwrap()
            .connect_async(nkey_server.url())
            .await
            .unwrap();
        round_trip(&c).await;

        let c = fast()
            .credentials_file(&creds)
            .connect_async(operator_server.url())
            .await
            .unwrap();
        round_trip(&c).await;

        let key = jwt_user.key().clone();
        let signer: natsy::Signer = Arc::new(move |nonce: &[u8]| key.sign(nonce).to_vec());
        let c = fast()
            .jwt(jwt_user.jwt(), signer)
            .connect_async(operator_server.url())
            .await
            .unwrap();
        round_trip(&c).await;

        // A bad file fails the call with the typed error, before any dial.
        let missing = fast()
            .credentials_file(dir.path().join("missing.creds"))
            .connect_async(operator_server.url())
            .await;
        assert!(
            matches!(missing, Err(ConnectError::Credentials(_))),
            "{missing:?}"
        );
    });
}

#[test]
fn tls_and_mutual_tls() {
    let files = TlsFiles::generate().unwrap();
    let tls = NatsServer::builder()
        .tls(files.server_tls())
        .start()
        .unwrap();
    let mutual = NatsServer::builder()
        .tls(files.mutual_tls())
        .start()
        .unwrap();
    run(async {
        let c = fast()
            .root_certificates(files.ca_cert())
            .connect_async(tls.tls_url())
            .await
            .unwrap();
        round_trip(&c).await;

        let c = fast()
            .root_certificates(files.ca_cert())
            .client_certificate(files.client_cert(), files.client_key())
            .connect_async(mutual.tls_url())
            .await
            .unwrap();
        round_trip(&c).await;

        // Without a client certificate the handshake is refused: a clean error.
        let refused = fast()
            .no_reconnect()
            .root_certificates(files.ca_cert())
            .connect_async(mutual.tls_url())
            .await;
        assert!(refused.is_err());
    });
}

#[test]
fn publishes_awaited_while_the_server_is_down_all_arrive_after_the_restart() {
    let mut server = NatsServer::start().unwrap();
    run(async {
        let client = fast().connect_async(server.url()).await.unwrap();
        let mut events = client.events();
        let mut sub = client.subscribe("buf.>").await.unwrap();
        for i in 0..100 {
            client
                .publish("buf.a", format!("before {i}"))
                .await
                .unwrap();
        }
        client.flush().await.unwrap();

        server.stop().unwrap();
        next_event(&mut events, |e| {
            matches!(e, Event::Disconnected { .. }).then_some(())
        })
        .await;
        assert_ne!(client.connection_state(), State::Connected);
        for i in 0..500 {
            client
                .publish("buf.b", format!("during {i}"))
                .await
                .unwrap();
        }
        assert!(client.statistics().buffered_bytes > 0);
        server.start_again().unwrap();
        next_event(&mut events, |e| {
            matches!(e, Event::Reconnected { .. }).then_some(())
        })
        .await;
        client.flush().await.unwrap();
        let stats = client.statistics();
        assert_eq!(stats.buffered_bytes, 0);
        assert_eq!(stats.reconnects, 1);

        let want: Vec<String> = (0..100)
            .map(|i| format!("before {i}"))
            .chain((0..500).map(|i| format!("during {i}")))
            .collect();
        for w in &want {
            let m = tokio::time::timeout(WAIT, sub.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.payload(), w.as_bytes());
        }
        // Exactly these: nothing more, nothing twice.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), sub.next())
                .await
                .is_err(),
            "an extra message"
        );
        assert_eq!(client.statistics().in_messages, 600);
        assert_eq!(client.statistics().out_messages, 600);

        client.drain().await.unwrap();
        next_event(&mut events, |e| {
            matches!(e, Event::Closed { .. }).then_some(())
        })
        .await;
        assert!(
            events.next().await.is_none(),
            "the stream ends after Closed"
        );
        assert!(sub.next().await.is_none());
        assert_eq!(
            sub.end_reason(),
            Some(&natsy::SubscriptionEnded::Unsubscribed)
        );
    });
}

#[test]
fn drain_delivers_what_arrived_and_answers_in_flight_requests() {
    let server = NatsServer::start().unwrap();
    run(async {
        let responder = aio::connect(server.url()).await.unwrap();
        let mut reqs = responder.subscribe("slow.svc").await.unwrap();
        responder.flush().await.unwrap();
        let r = responder.clone();
        tokio::spawn(async move {
            while let Some(m) = reqs.next().await {
                r.sleep(Duration::from_millis(100)).await;
                r.publish(m.reply().unwrap(), "done").await.unwrap();
            }
        });

        let client = aio::connect(server.url()).await.unwrap();
        let mut sub = client.subscribe("drain.x").await.unwrap();
        for i in 0..50 {
            client.publish("drain.x", format!("{i}")).await.unwrap();
        }
        let asking = client.send_request("slow.svc", None, "?").await.unwrap();
        client.drain().await.unwrap();
        assert_eq!(asking.await.unwrap().payload(), b"done");
        let mut got = 0;
        while let Some(m) = sub.next().await {
            assert_eq!(m.payload(), format!("{got}").as_bytes());
            got += 1;
        }
        assert_eq!(got, 50);
        assert!(client.publish("drain.x", "late").await.is_err());
        assert_eq!(client.registered_waits(), 0);
    });
}

#[test]
fn failover_when_the_connected_node_is_killed() {
    let mut cluster = NatsCluster::start(3, NatsServer::builder()).unwrap();
    let urls = cluster.urls();
    let node0 = cluster.node(0).port();
    run(async {
        let publisher = fast()
            .no_randomize()
            .connect_async(urls[0].as_str())
            .await
            .unwrap();
        let mut events = publisher.events();
        let subscriber = fast().connect_async(urls[1].as_str()).await.unwrap();
        let mut sub = subscriber.subscribe("fo.>").await.unwrap();
        subscriber.flush().await.unwrap();
        // Until node 0 knows of the interest (routes are asynchronous).
        loop {
            publisher.publish("fo.probe", "probe").await.unwrap();
            publisher.flush().await.unwrap();
            if tokio::time::timeout(Duration::from_millis(100), sub.next())
                .await
                .is_ok()
            {
                break;
            }
        }
        while tokio::time::timeout(Duration::from_millis(200), sub.next())
            .await
            .is_ok()
        {}
        for i in 0..50 {
            publisher.publish("fo.data", format!("m{i}")).await.unwrap();
        }
        for i in 0..50 {
            let m = tokio::time::timeout(WAIT, sub.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.payload(), format!("m{i}").as_bytes());
        }

        cluster.node_mut(0).kill_hard();
        next_event(&mut events, |e| {
            matches!(e, Event::Disconnected { .. }).then_some(())
        })
        .await;
        for i in 50..100 {
            publisher.publish("fo.data", format!("m{i}")).await.unwrap();
        }
        let server = next_event(&mut events, |e| match e {
            Event::Reconnected { server } => Some(server.clone()),
            _ => None,
        })
        .await;
        assert_ne!(server.port, node0);
        publisher.flush().await.unwrap();
        for i in 50..100 {
            let m = tokio::time::timeout(WAIT, sub.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.payload(), format!("m{i}").as_bytes());
        }
        assert!(tokio::time::timeout(Duration::from_millis(200), sub.next())
            .await
            .is_err());
    });
}
