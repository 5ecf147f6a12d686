//! NATS over WebSocket against a real nats-server's `websocket` listener: plain `ws://`
//! and `wss://` (our test CA), with auth, large messages, request/reply, the reconnect
//! buffer across a restart, JetStream, and the async client; and `ws://` refused when
//! TLS was asked for.

use std::time::Duration;

use natsy::{ConnectError, ConnectOptions, Event, NextError};
use natsy_jetstream::{AckPolicy, ConsumerConfig, FetchOptions, StorageType, StreamConfig};
use natsy_test_harness::events::{wait_for_event_after, with_events};
use natsy_test_harness::{Direction, FaultProxy, NatsServer, TlsFiles};

const WAIT: Duration = Duration::from_secs(10);

fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(Duration::from_secs(3))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
        .max_reconnects(None)
}

fn round_trip(client: &natsy::Client, size: usize) {
    let mut sub = client.subscribe("ws.check").unwrap();
    let payload = vec![b'w'; size];
    client.publish("ws.check", payload.clone()).unwrap();
    client.flush().unwrap();
    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(m.payload(), &payload[..]);
}

#[test]
fn plain_websocket_with_auth_messages_of_every_size_and_requests() {
    let server = NatsServer::builder()
        .websocket()
        .user("wsuser", "wspass")
        .start()
        .unwrap();
    let client = fast()
        .user_and_password("wsuser", "wspass")
        .connect(server.ws_url())
        .unwrap();
    for size in [0, 1, 125, 126, 65_535, 65_536, 1 << 20] {
        round_trip(&client, size);
    }
    let responder = fast()
        .user_and_password("wsuser", "wspass")
        .connect(server.ws_url())
        .unwrap();
    let reqs = responder.subscribe("ws.svc").unwrap();
    responder.flush().unwrap();
    std::thread::spawn(move || {
        for m in reqs {
            let _ = m.respond(m.payload_bytes());
        }
    });
    for i in 0..100 {
        let r = client.request("ws.svc", format!("{i}")).unwrap();
        assert_eq!(r.payload(), format!("{i}").as_bytes());
    }
    // A plain-NATS client on the same server sees the WebSocket client's messages.
    let plain = fast()
        .user_and_password("wsuser", "wspass")
        .connect(server.url())
        .unwrap();
    let mut sub = plain.subscribe("ws.cross").unwrap();
    plain.flush().unwrap();
    client.publish("ws.cross", "over websocket").unwrap();
    client.flush().unwrap();
    assert_eq!(sub.next_timeout(WAIT).unwrap().payload(), b"over websocket");

    // Wrong credentials over WebSocket: the typed auth error.
    let refused = fast()
        .no_reconnect()
        .user_and_password("wsuser", "wrong")
        .connect(server.ws_url());
    assert!(
        matches!(&refused, Err(e) if e.is_auth_error()),
        "{refused:?}"
    );
}

#[test]
fn wss_verifies_the_server_with_our_ca() {
    let files = TlsFiles::generate().unwrap();
    let server = NatsServer::builder()
        .websocket_tls(files.server_tls())
        .start()
        .unwrap();
    let client = fast()
        .root_certificates(files.ca_cert())
        .connect(server.wss_url())
        .unwrap();
    round_trip(&client, 100_000);
    // Without our CA the certificate is not trusted: a clean failure, not a hang.
    let untrusted = fast().no_reconnect().connect(server.wss_url());
    assert!(untrusted.is_err());
}

#[test]
fn ws_is_refused_when_tls_was_asked_for() {
    let files = TlsFiles::generate().unwrap();
    let server = NatsServer::builder().websocket().start().unwrap();
    let err = fast()
        .no_reconnect()
        .root_certificates(files.ca_cert())
        .connect(server.ws_url())
        .unwrap_err();
    match err {
        ConnectError::Attempt { error, .. } => assert!(
            matches!(
                *error,
                natsy::proto::connection::AttemptError::TlsRequiredByClientButUnavailable
            ),
            "{error:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reconnect_over_websocket_delivers_the_buffer_exactly() {
    let mut server = NatsServer::builder().websocket().start().unwrap();
    let (opts, rx) = with_events(fast());
    let client = opts.connect(server.ws_url()).unwrap();
    let mut sub = client.subscribe("wsbuf.>").unwrap();
    client.flush().unwrap();
    server.stop().unwrap();
    wait_for_event_after(&rx, WAIT, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    for i in 0..300 {
        client.publish("wsbuf.x", format!("{i}")).unwrap();
    }
    server.start_again().unwrap();
    wait_for_event_after(&rx, WAIT, |e| {
        matches!(e, Event::Reconnected { .. }).then_some(())
    });
    client.flush().unwrap();
    for i in 0..300 {
        assert_eq!(
            sub.next_timeout(WAIT).unwrap().payload(),
            format!("{i}").as_bytes()
        );
    }
    assert_eq!(
        sub.next_timeout(Duration::from_millis(200)).unwrap_err(),
        NextError::TimedOut
    );
    assert_eq!(client.statistics().reconnects, 1);
    assert!(
        client.servers().iter().all(|s| s.websocket),
        "{:?}",
        client.servers()
    );
}

#[test]
fn jetstream_over_websocket() {
    let server = NatsServer::builder()
        .websocket()
        .jetstream()
        .start()
        .unwrap();
    let client = fast().connect(server.ws_url()).unwrap();
    let js = natsy_jetstream::new(client);
    js.create_stream(&StreamConfig {
        subjects: vec!["wsjs.>".into()],
        storage: StorageType::Memory,
        ..StreamConfig::new("WSJS")
    })
    .unwrap();
    for i in 0..50 {
        assert_eq!(
            js.publish("wsjs.a", format!("{i}")).unwrap().sequence,
            i + 1
        );
    }
    let consumer = js
        .create_consumer(
            "WSJS",
            ConsumerConfig {
                durable_name: Some("c".into()),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .unwrap();
    let msgs = consumer
        .fetch(FetchOptions {
            batch: 50,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(msgs.len(), 50);
    for m in msgs {
        m.ack().unwrap();
    }
}

#[test]
fn the_async_client_over_websocket() {
    use futures_util::StreamExt;
    let server = NatsServer::builder().websocket().start().unwrap();
    futures_executor::block_on(async {
        let client = natsy::aio::connect(server.ws_url()).await.unwrap();
        let mut sub = client.subscribe("aws").await.unwrap();
        client.publish("aws", "async over websocket").await.unwrap();
        assert_eq!(sub.next().await.unwrap().payload(), b"async over websocket");
    });
}

/// Bytes the server sent through `proxy` while `f` ran, once `received` of them arrived.
fn wire_bytes_to_client(proxy: &FaultProxy, f: impl FnOnce()) -> usize {
    let before = proxy.forwarded(Direction::ToClient);
    f();
    proxy.forwarded(Direction::ToClient) - before
}

#[test]
fn compression_is_negotiated_and_what_the_server_deflates_is_inflated() {
    let server = NatsServer::builder()
        .websocket_compression()
        .start()
        .unwrap();
    let ws_port: u16 = server.ws_url().rsplit(':').next().unwrap().parse().unwrap();
    let proxy = FaultProxy::start(([127, 0, 0, 1], ws_port).into()).unwrap();
    let publisher = fast().connect(server.url()).unwrap();
    // Compressible text, and bytes deflate cannot shrink, in messages of every size class.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..70_000)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    let text = "MSG greet.joe 1 5\r\nhello\r\n".repeat(40_000).into_bytes();
    let payloads = [
        text.clone(),
        noise.clone(),
        b"x".to_vec(),
        Vec::new(),
        text[..125].to_vec(),
        noise[..65_536].to_vec(),
    ];
    let url = format!("ws://{}", proxy.addr());
    let mut sent = 0;
    for compression in [true, false] {
        let client = fast()
            .websocket_compression(compression)
            .connect(url.as_str())
            .unwrap();
        let mut sub = client.subscribe("ws.deflate").unwrap();
        client.flush().unwrap();
        let wire = wire_bytes_to_client(&proxy, || {
            for p in &payloads {
                publisher.publish("ws.deflate", p.clone()).unwrap();
            }
            publisher.flush().unwrap();
            for p in &payloads {
                let m = sub.next_timeout(WAIT).unwrap();
                assert_eq!(m.payload(), &p[..], "compression {compression}");
            }
        });
        sent = payloads.iter().map(Vec::len).sum::<usize>();
        if compression {
            // The text shrinks to a few KiB; the noise does not shrink.
            assert!(
                wire < noise.len() + 65_536 + text.len() / 20,
                "compressed: {wire} wire bytes for {sent} payload bytes"
            );
        } else {
            assert!(wire > sent, "plain: {wire} wire bytes for {sent}");
        }
        // Both directions still work on the compressed connection: requests.
        let responder = fast()
            .websocket_compression(compression)
            .connect(url.as_str())
            .unwrap();
        let reqs = responder.subscribe("ws.deflate.svc").unwrap();
        responder.flush().unwrap();
        std::thread::spawn(move || {
            for m in reqs {
                let _ = m.respond(m.payload_bytes());
            }
        });
        for i in 0..50 {
            let body = text[..i * 997].to_vec();
            let r = client.request("ws.deflate.svc", body.clone()).unwrap();
            assert_eq!(r.payload(), &body[..]);
        }
    }
    assert!(sent > 0);
}
