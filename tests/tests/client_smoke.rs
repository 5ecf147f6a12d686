//! A first end-to-end check of the `natsy` client against a real nats-server: publish,
//! subscribe, request/reply and no-responders. The client's full behaviour is covered by
//! the `client_*` test files.

use std::time::Duration;

use natsy_test_harness::NatsServer;

#[test]
fn publish_subscribe_request_reply_and_no_responders() {
    let server = NatsServer::start().expect("server");
    let client = natsy::connect(server.url()).expect("connect");
    let mut sub = client.subscribe("foo.*").expect("subscribe");
    for i in 0..1000 {
        client
            .publish("foo.bar", format!("msg {i}"))
            .expect("publish");
    }
    client.flush().expect("flush");
    for i in 0..1000 {
        let m = sub.next_timeout(Duration::from_secs(5)).expect("message");
        assert_eq!(m.payload(), format!("msg {i}").as_bytes());
        assert_eq!(m.subject(), "foo.bar");
    }
    let responder = client.subscribe("svc").expect("responder");
    std::thread::spawn(move || {
        for m in responder {
            m.respond("pong").expect("respond");
        }
    });
    let reply = client.request("svc", "ping").expect("request");
    assert_eq!(reply.payload(), b"pong");
    assert_eq!(
        client.request("nobody", "x").unwrap_err(),
        natsy::RequestError::NoResponders
    );
    assert_eq!(client.pending_requests(), 0);
    let stats = client.statistics();
    assert_eq!(stats.out_messages, 1000 + 2 + 1);
}
