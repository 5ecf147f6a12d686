//! `Client::force_reconnect` against a real nats-server: a new connection at once, the
//! subscription restored, nothing published around it lost.

use std::sync::mpsc;
use std::time::Duration;

use natsy::Event;
use natsy_test_harness::NatsServer;

#[test]
fn force_reconnect_makes_a_new_connection_and_keeps_subscriptions() {
    let server = NatsServer::start().expect("server");
    let (tx, events) = mpsc::channel();
    let client = natsy::ConnectOptions::new()
        .event_sender(tx)
        .connect(server.url())
        .expect("connect");
    let first_id = client.server_info().expect("info").client_id;
    let mut sub = client.subscribe("force.>").expect("subscribe");
    client.publish("force.before", "1").expect("publish");
    client.force_reconnect();
    client.publish("force.during", "2").expect("publish");

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match events
            .recv_timeout(left)
            .expect("a Reconnected event within 10 s")
        {
            Event::Reconnected { .. } => break,
            _ => continue,
        }
    }
    client.publish("force.after", "3").expect("publish");
    client.flush().expect("flush");
    let got: Vec<String> = (0..3)
        .map(|_| {
            sub.next_timeout(Duration::from_secs(5))
                .expect("message")
                .subject()
                .to_string()
        })
        .collect();
    assert_eq!(got, ["force.before", "force.during", "force.after"]);
    let second_id = client.server_info().expect("info").client_id;
    assert_ne!(first_id, second_id, "a new connection has a new client id");
    assert_eq!(client.statistics().reconnects, 1);
}
