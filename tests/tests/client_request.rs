//! Request/reply against a real nats-server: responders, headers, no-responders, timeouts
//! that leave nothing behind, many concurrent requesters, custom inbox prefixes and the
//! inbox format.

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use natsy::{Client, ConnectOptions, HeaderMap, RequestError};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

/// Answers every request on `subject` with `re-<payload>` from its own connection.
fn echo_responder(server: &NatsServer, subject: &str) -> Client {
    let client = natsy::connect(server.url()).unwrap();
    let sub = client.subscribe(subject).unwrap();
    client.flush().unwrap();
    std::thread::spawn(move || {
        for m in sub {
            let mut answer = b"re-".to_vec();
            answer.extend_from_slice(m.payload());
            m.respond(answer).unwrap();
        }
    });
    client
}

#[test]
fn request_gets_the_reply_of_a_responder_thread() {
    let server = NatsServer::start().unwrap();
    let _responder = echo_responder(&server, "svc.echo");
    let client = natsy::connect(server.url()).unwrap();
    for i in 0..50 {
        let reply = client.request("svc.echo", format!("{i}")).unwrap();
        assert_eq!(reply.payload(), format!("re-{i}").as_bytes());
        assert_eq!(reply.status(), None);
    }
    assert_eq!(client.pending_requests(), 0);
}

#[test]
fn request_with_headers_carries_headers_both_ways() {
    let server = NatsServer::start().unwrap();
    let responder = natsy::connect(server.url()).unwrap();
    let sub = responder.subscribe("svc.hdr").unwrap();
    responder.flush().unwrap();
    let r = responder.clone();
    std::thread::spawn(move || {
        for m in sub {
            let h = m.headers().unwrap().unwrap_or_default();
            let mut out = HeaderMap::new();
            for v in h.get_all("Trace-Id") {
                out.append("Echo-Trace-Id", v).unwrap();
            }
            r.publish_with_headers(m.reply().unwrap(), &out, m.payload().to_vec())
                .unwrap();
        }
    });
    let client = natsy::connect(server.url()).unwrap();
    let mut headers = HeaderMap::new();
    headers.append("Trace-Id", "a1").unwrap();
    headers.append("Trace-Id", "b2").unwrap();
    let reply = client
        .request_with_headers("svc.hdr", &headers, "body")
        .unwrap();
    assert_eq!(reply.payload(), b"body");
    assert_eq!(reply.status(), None);
    let got = reply.headers().unwrap().unwrap();
    assert_eq!(
        got.get_all("Echo-Trace-Id").collect::<Vec<_>>(),
        ["a1", "b2"]
    );
}

#[test]
fn responder_echoes_headers_with_respond_with_headers() {
    let server = NatsServer::start().unwrap();
    let responder = natsy::connect(server.url()).unwrap();
    let sub = responder.subscribe("svc.echo-hdr").unwrap();
    responder.flush().unwrap();
    std::thread::spawn(move || {
        for m in sub {
            let h = m.headers().unwrap().unwrap_or_default();
            m.respond_with_headers(&h, m.payload_bytes()).unwrap();
        }
    });
    let client = natsy::connect(server.url()).unwrap();
    let mut headers = HeaderMap::new();
    headers.append("Trace-Id", "a1").unwrap();
    headers.append("Trace-Id", "b2").unwrap();
    headers.insert("Tenant", "acme").unwrap();
    let reply = client
        .request_with_headers("svc.echo-hdr", &headers, "body")
        .unwrap();
    assert_eq!(reply.payload(), b"body");
    let got = reply.headers().unwrap().unwrap();
    assert_eq!(got.get_all("Trace-Id").collect::<Vec<_>>(), ["a1", "b2"]);
    assert_eq!(got.get_all("Tenant").collect::<Vec<_>>(), ["acme"]);

    // A message without a reply subject cannot be answered: typed, nothing sent.
    let mut plain = client.subscribe("plain").unwrap();
    client.publish("plain", "x").unwrap();
    let m = plain.next_timeout(WAIT).unwrap();
    assert_eq!(
        m.respond_with_headers(&headers, "y"),
        Err(natsy::PublishError::Validation(
            natsy_proto::ValidationError::InvalidReply
        ))
    );
}

#[test]
fn no_responders_fails_at_once() {
    let server = NatsServer::start().unwrap();
    let client = ConnectOptions::new()
        .request_timeout(Duration::from_secs(8))
        .connect(server.url())
        .unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(
            client.request("nobody.home", "x").unwrap_err(),
            RequestError::NoResponders
        );
        // Far below the 8 s timeout: the server's 503 ends the wait.
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
    }
    let mut h = HeaderMap::new();
    h.append("A", "b").unwrap();
    assert_eq!(
        client
            .request_with_headers("nobody.home", &h, "x")
            .unwrap_err(),
        RequestError::NoResponders
    );
    assert_eq!(client.pending_requests(), 0);
}

#[test]
fn timed_out_request_leaves_nothing_behind_and_a_late_reply_is_discarded() {
    let server = NatsServer::start().unwrap();
    let responder = natsy::connect(server.url()).unwrap();
    let mut sub = responder.subscribe("svc.slow").unwrap();
    responder.flush().unwrap();
    let client = natsy::connect(server.url()).unwrap();

    let start = Instant::now();
    assert_eq!(
        client
            .request_timeout("svc.slow", "one", Duration::from_millis(200))
            .unwrap_err(),
        RequestError::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(client.pending_requests(), 0);

    // The responder answers after the requester gave up.
    let late = sub.next_timeout(WAIT).unwrap();
    assert_eq!(late.payload(), b"one");
    late.respond("late answer to one").unwrap();
    responder.flush().unwrap();
    // The late reply has reached the requester (routed before this PONG) and was dropped.
    client.flush().unwrap();
    assert_eq!(client.pending_requests(), 0);

    // The next request gets its own reply, not the late one.
    let c = client.clone();
    let next = std::thread::spawn(move || c.request_timeout("svc.slow", "two", WAIT));
    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(m.payload(), b"two");
    m.respond("answer to two").unwrap();
    assert_eq!(next.join().unwrap().unwrap().payload(), b"answer to two");
    assert_eq!(client.pending_requests(), 0);
}

#[test]
fn concurrent_requests_from_many_threads_each_get_their_own_reply() {
    let server = NatsServer::start().unwrap();
    // Two responders in a queue group share the load.
    let responders: Vec<_> = (0..2)
        .map(|_| {
            let c = natsy::connect(server.url()).unwrap();
            let sub = c.queue_subscribe("svc.many", "workers").unwrap();
            c.flush().unwrap();
            std::thread::spawn(move || {
                for m in sub {
                    let mut answer = b"re-".to_vec();
                    answer.extend_from_slice(m.payload());
                    m.respond(answer).unwrap();
                }
            });
            c
        })
        .collect();
    let client = natsy::connect(server.url()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let payload = format!("{t}-{i}");
                    let reply = client
                        .request_timeout("svc.many", payload.clone(), WAIT)
                        .unwrap();
                    assert_eq!(reply.payload(), format!("re-{payload}").as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(client.pending_requests(), 0);
    let stats = client.statistics();
    assert_eq!(stats.out_messages, 1600);
    assert_eq!(stats.in_messages, 1600);
    drop(responders);
}

#[test]
fn custom_inbox_prefix_is_used_on_the_wire() {
    const PREFIX: &str = "_CUSTOM_INBOX.f9hUpVb8xoVAtGpJid2VLA";
    let server = NatsServer::start().unwrap();
    let responder = natsy::connect(server.url()).unwrap();
    let sub = responder.subscribe("svc.custom").unwrap();
    // A bystander sees the request as it crossed the server.
    let spy = natsy::connect(server.url()).unwrap();
    let mut spied = spy.subscribe("svc.custom").unwrap();
    let mut spied_replies = spy.subscribe(&format!("{PREFIX}.>")).unwrap();
    responder.flush().unwrap();
    spy.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for m in sub {
            tx.send(m.reply().map(str::to_string)).unwrap();
            m.respond("ok").unwrap();
        }
    });
    let client = ConnectOptions::new()
        .inbox_prefix(PREFIX)
        .connect(server.url())
        .unwrap();
    assert_eq!(client.request("svc.custom", "hi").unwrap().payload(), b"ok");
    let reply = rx.recv_timeout(WAIT).unwrap().expect("a reply subject");
    assert!(reply.starts_with(&format!("{PREFIX}.")), "{reply}");
    let seen = spied.next_timeout(WAIT).unwrap();
    assert_eq!(seen.reply(), Some(reply.as_str()));
    assert_eq!(spied_replies.next_timeout(WAIT).unwrap().subject(), reply);
    let inbox = client.new_inbox();
    assert!(inbox.starts_with(&format!("{PREFIX}.")), "{inbox}");
}

#[test]
fn new_inbox_is_prefix_dot_unique_base62_nuid() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let inbox = client.new_inbox();
        let nuid = inbox.strip_prefix("_INBOX.").expect("default prefix");
        assert_eq!(nuid.len(), 22, "{inbox}");
        assert!(nuid.bytes().all(|b| b.is_ascii_alphanumeric()), "{inbox}");
        assert!(seen.insert(inbox), "inbox repeated");
    }
    // An inbox is a valid subject to subscribe and publish to.
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(&inbox).unwrap();
    client.publish(&inbox, "x").unwrap();
    client.flush().unwrap();
    assert_eq!(sub.next_timeout(WAIT).unwrap().subject(), inbox);
    // Another client's inboxes differ too.
    let other = natsy::connect(server.url()).unwrap();
    assert!(!seen.contains(&other.new_inbox()));
}

/// Requests and replies arrive when both sides wait in the blocking calls: a responder
/// sleeping in `next_timeout` between requests, a requester sleeping in `request`. Only
/// the loop thread does IO; the waiting threads are woken by it.
#[test]
fn replies_arrive_to_waiting_requesters_and_responders() {
    let server = NatsServer::start().unwrap();
    let responder = natsy::connect(server.url()).unwrap();
    let sub = responder.subscribe("svc.wait").unwrap();
    responder.flush().unwrap();
    let serving = std::thread::spawn(move || {
        let mut sub = sub;
        let mut served = 0;
        while let Ok(m) = sub.next_timeout(Duration::from_secs(2)) {
            m.respond(m.payload_bytes()).unwrap();
            served += 1;
        }
        served
    });
    let client = natsy::connect(server.url()).unwrap();
    for i in 0..200 {
        let reply = client.request("svc.wait", format!("{i}")).unwrap();
        assert_eq!(reply.payload(), format!("{i}").as_bytes());
    }
    assert_eq!(serving.join().unwrap(), 200);
}

/// Requests sent with `send_request` go out with the loop's next write: their replies
/// arrive though nobody waits (only `try_take` looks), and later waits and
/// `request_with` get theirs too.
#[test]
fn requests_in_flight_are_sent_without_a_waiter_and_waits_get_replies() {
    let server = NatsServer::start().unwrap();
    let _responder = echo_responder(&server, "svc.flight");
    let client = natsy::connect(server.url()).unwrap();
    client.flush().unwrap();
    // nats-server PINGs a new client about 2 s after it connects, which would wake the
    // loop and write whatever is queued anyway; wait that out, so that only the loop's
    // own wake-up can send these requests (the server's next PING is 2 minutes away).
    std::thread::sleep(Duration::from_secs(3));
    let mut handles: Vec<_> = (0..100)
        .map(|i| {
            (
                i,
                client
                    .send_request("svc.flight", None, format!("{i}"))
                    .unwrap(),
            )
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    let mut replies = 0;
    while !handles.is_empty() && Instant::now() < deadline {
        handles.retain_mut(|(i, h)| match h.try_take() {
            Some(reply) => {
                assert_eq!(reply.unwrap().payload(), format!("re-{i}").as_bytes());
                replies += 1;
                false
            }
            None => true,
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(replies, 100, "every reply, with nobody waiting");

    let waited: Vec<_> = (0..50)
        .map(|i| {
            client
                .send_request("svc.flight", None, format!("w{i}"))
                .unwrap()
        })
        .collect();
    for (i, h) in waited.into_iter().enumerate() {
        let reply = h.wait_timeout(WAIT).unwrap();
        assert_eq!(reply.payload(), format!("re-w{i}").as_bytes());
    }

    let mut headers = HeaderMap::new();
    headers.insert("X-Flight", "1").unwrap();
    let reply = client
        .request_with("svc.flight", Some(&headers), "h", WAIT)
        .unwrap();
    assert_eq!(reply.payload(), b"re-h");
    assert_eq!(client.pending_requests(), 0);
}

/// `next_timeout` takes what arrives, in order, and honours its timeout.
#[test]
fn next_timeout_delivers_and_times_out() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("sleepy").unwrap();
    client.flush().unwrap();
    let publisher = natsy::connect(server.url()).unwrap();
    for i in 0..20 {
        publisher.publish("sleepy", format!("{i}")).unwrap();
    }
    publisher.flush().unwrap();
    for i in 0..20 {
        let m = sub.next_timeout(WAIT).unwrap();
        assert_eq!(m.payload(), format!("{i}").as_bytes());
    }
    let started = Instant::now();
    assert!(matches!(
        sub.next_timeout(Duration::from_millis(20)),
        Err(natsy::NextError::TimedOut)
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Requests and flushes interleaved with a busy feed on the same connection: replies,
/// PONGs and feed messages are routed from one read path, the feed in order, nothing
/// lost.
#[test]
fn replies_and_a_busy_feed_share_the_connection_in_order() {
    let server = NatsServer::start().unwrap();
    let connect = || natsy::connect(server.url()).unwrap();
    let responder = connect();
    let sub = responder.subscribe("svc.order").unwrap();
    responder.flush().unwrap();
    let serving = std::thread::spawn(move || {
        let mut sub = sub;
        while let Ok(m) = sub.next_timeout(Duration::from_secs(2)) {
            m.respond(m.payload_bytes()).unwrap();
        }
    });

    let client = connect();
    let mut feed = client.subscribe("feed.order").unwrap();
    client.flush().unwrap();
    const FEED: u32 = 20_000;
    let publisher = natsy::connect(server.url()).unwrap();
    let feeding = std::thread::spawn(move || {
        for i in 0..FEED {
            publisher.publish("feed.order", i.to_string()).unwrap();
        }
        publisher.flush().unwrap();
    });
    for i in 0..300 {
        let reply = client.request("svc.order", format!("{i}")).unwrap();
        assert_eq!(reply.payload(), format!("{i}").as_bytes());
        if i % 100 == 50 {
            client.flush().unwrap();
        }
    }
    feeding.join().unwrap();
    for i in 0..FEED {
        let m = feed.next_timeout(WAIT).unwrap();
        assert_eq!(m.payload(), i.to_string().as_bytes(), "feed message {i}");
    }
    assert_eq!(feed.dropped(), 0);
    drop(responder);
    serving.join().unwrap();
}
