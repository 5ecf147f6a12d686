//! Publish/subscribe against a real nats-server: exact counts and order, headers, reply
//! subjects, wildcards, queue groups, auto-unsubscribe, unsubscribe on drop, draining,
//! timeouts, statistics and `no_echo`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use natsy::{ConnectOptions, HeaderMap, NextError, RequestError, SubscriptionEnded};
use natsy_test_harness::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

fn server() -> NatsServer {
    NatsServer::start().expect("nats-server")
}

/// Polls `cond` every 20 ms until it holds or 10 s pass.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn messages_arrive_exactly_once_in_publish_order() {
    let server = server();
    let publisher = natsy::connect(server.url()).unwrap();
    let subscriber = natsy::connect(server.url()).unwrap();
    let mut sub = subscriber.subscribe("orders.new").unwrap();
    subscriber.flush().unwrap();
    for i in 0..5000u32 {
        publisher
            .publish("orders.new", i.to_be_bytes().to_vec())
            .unwrap();
    }
    publisher.flush().unwrap();
    for i in 0..5000u32 {
        let m = sub.next_timeout(WAIT).unwrap();
        assert_eq!(m.payload(), i.to_be_bytes(), "message {i} out of order");
        assert_eq!(m.subject(), "orders.new");
        assert_eq!(m.reply(), None);
    }
    // Nothing more: the subscriber's own flush proves nothing was still on its way.
    subscriber.flush().unwrap();
    assert!(sub.try_next().unwrap().is_none());
}

#[test]
fn headers_round_trip_with_case_and_multiple_values() {
    let server = server();
    let client = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("hdr").unwrap();
    let mut headers = HeaderMap::new();
    headers.append("X-Custom-Case", "Value One").unwrap();
    headers.append("multi", "1").unwrap();
    headers.append("multi", "2").unwrap();
    headers.append("multi", "3").unwrap();
    client
        .publish_with_headers("hdr", &headers, "body")
        .unwrap();
    client
        .publish_with_reply_and_headers("hdr", "hdr.reply", &headers, "")
        .unwrap();
    client.flush().unwrap();

    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(m.payload(), b"body");
    assert_eq!(m.status(), None);
    let got = m.headers().unwrap().expect("headers");
    assert_eq!(got.get("X-Custom-Case"), Some("Value One"));
    assert_eq!(got.get("x-custom-case"), None, "names are case-sensitive");
    assert_eq!(got.get_all("multi").collect::<Vec<_>>(), ["1", "2", "3"]);
    assert_eq!(got.len(), 4);

    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(m.reply(), Some("hdr.reply"));
    assert!(m.payload().is_empty());
    let got = m.headers().unwrap().expect("headers");
    assert_eq!(got.get_all("multi").count(), 3);
}

#[test]
fn publish_with_reply_carries_the_reply_subject() {
    let server = server();
    let client = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("ask").unwrap();
    client
        .publish_with_reply("ask", "answer.here", "q")
        .unwrap();
    client.flush().unwrap();
    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(m.reply(), Some("answer.here"));
    assert_eq!(m.payload(), b"q");
    // `respond` goes to that reply subject.
    let mut answers = client.subscribe("answer.here").unwrap();
    m.respond("a").unwrap();
    client.flush().unwrap();
    assert_eq!(answers.next_timeout(WAIT).unwrap().payload(), b"a");
}

#[test]
fn wildcard_subscriptions_match_by_token() {
    let server = server();
    let client = natsy::connect(server.url()).unwrap();
    let mut star = client.subscribe("w.*").unwrap();
    let mut tail = client.subscribe("w.>").unwrap();
    let mut mid = client.subscribe("w.*.end").unwrap();
    for subject in ["w.a", "w.a.b", "w.x.end", "other.a", "w"] {
        client.publish(subject, subject).unwrap();
    }
    client.flush().unwrap();
    let drain = |sub: &mut natsy::Subscription| {
        let mut got = Vec::new();
        while let Some(m) = sub.try_next().unwrap() {
            got.push(m.subject().to_string());
        }
        got
    };
    assert_eq!(drain(&mut star), ["w.a"]);
    assert_eq!(drain(&mut tail), ["w.a", "w.a.b", "w.x.end"]);
    assert_eq!(drain(&mut mid), ["w.x.end"]);
}

#[test]
fn queue_group_delivers_each_message_to_exactly_one_member() {
    let server = server();
    let publisher = natsy::connect(server.url()).unwrap();
    let members: Vec<_> = (0..3)
        .map(|_| {
            let c = natsy::connect(server.url()).unwrap();
            let s = c.queue_subscribe("work", "workers").unwrap();
            c.flush().unwrap();
            (c, s)
        })
        .collect();
    // A plain subscriber on the same subject still gets everything.
    let watcher = natsy::connect(server.url()).unwrap();
    let all = watcher.subscribe("work").unwrap();
    watcher.flush().unwrap();

    const N: u32 = 600;
    for i in 0..N {
        publisher.publish("work", i.to_string()).unwrap();
    }
    publisher.flush().unwrap();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (client, mut sub) in members {
        // The publisher's flush means the server routed every message; this member's
        // flush means everything routed to it has arrived.
        client.flush().unwrap();
        let mut mine = 0;
        while let Some(m) = sub.try_next().unwrap() {
            let n: u32 = std::str::from_utf8(m.payload()).unwrap().parse().unwrap();
            assert!(seen.insert(n), "message {n} delivered twice");
            mine += 1;
        }
        assert!(mine > 0, "a member got no work");
        total += mine;
    }
    assert_eq!(total, N);
    assert_eq!(seen, (0..N).collect());
    watcher.flush().unwrap();
    assert_eq!(all.pending().0, N as usize);
}

#[test]
fn unsubscribe_after_delivers_exactly_n_then_ends() {
    let server = server();
    let client = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("auto").unwrap();
    sub.unsubscribe_after(3).unwrap();
    for i in 0..10 {
        client.publish("auto", format!("{i}")).unwrap();
    }
    client.flush().unwrap();
    let got: Vec<_> = sub
        .by_ref()
        .map(|m| String::from_utf8(m.payload().to_vec()).unwrap())
        .collect();
    assert_eq!(got, ["0", "1", "2"]);
    assert_eq!(
        sub.next_timeout(Duration::from_millis(50)).unwrap_err(),
        NextError::Ended(SubscriptionEnded::LimitReached)
    );

    // A limit already reached by earlier deliveries ends the subscription at once.
    let mut sub = client.subscribe("auto2").unwrap();
    for _ in 0..2 {
        client.publish("auto2", "x").unwrap();
    }
    client.flush().unwrap();
    sub.unsubscribe_after(2).unwrap();
    assert_eq!(sub.by_ref().count(), 2);
    // The server no longer has the interest.
    let other = natsy::connect(server.url()).unwrap();
    wait_for("the server to drop the interest", || {
        other.request_timeout("auto2", "", WAIT).unwrap_err() == RequestError::NoResponders
    });
}

/// The subjects the server has for the connection named `name`.
fn server_subs(server: &NatsServer, name: &str) -> Vec<String> {
    let connz = server.monitor_json("/connz?subs=1").unwrap();
    connz["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .flat_map(|c| {
            c["subscriptions_list"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dropping_a_subscription_unsubscribes_on_the_server() {
    let server = NatsServer::builder().monitoring().start().unwrap();
    let client = ConnectOptions::new()
        .name("dropper")
        .connect(server.url())
        .unwrap();
    let keep = client.subscribe("keep.me").unwrap();
    let sub = client.subscribe("drop.me").unwrap();
    client.flush().unwrap();
    let subs = server_subs(&server, "dropper");
    assert!(subs.contains(&"drop.me".to_string()), "{subs:?}");
    drop(sub);
    client.flush().unwrap();
    // The UNSUB went out before the flush's PING, so the server has processed it.
    let subs = server_subs(&server, "dropper");
    assert_eq!(subs, ["keep.me"]);
    let other = natsy::connect(server.url()).unwrap();
    assert_eq!(
        other.request("drop.me", "").unwrap_err(),
        RequestError::NoResponders
    );
    drop(keep);
}

#[test]
fn subscription_drain_yields_everything_published_before_it() {
    let server = server();
    let publisher = natsy::connect(server.url()).unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("drain.sub").unwrap();
    client.flush().unwrap();
    for i in 0..1000 {
        publisher.publish("drain.sub", format!("{i}")).unwrap();
    }
    publisher.flush().unwrap();
    sub.drain().unwrap();
    // Published after the drain: never delivered.
    publisher.publish("drain.sub", "late").unwrap();
    publisher.flush().unwrap();
    let got: Vec<_> = sub
        .by_ref()
        .map(|m| String::from_utf8(m.payload().to_vec()).unwrap())
        .collect();
    assert_eq!(got.len(), 1000);
    assert!(got.iter().enumerate().all(|(i, p)| *p == i.to_string()));
    // The client itself stays usable.
    let mut again = client.subscribe("drain.sub").unwrap();
    client.flush().unwrap();
    publisher.publish("drain.sub", "next").unwrap();
    publisher.flush().unwrap();
    assert_eq!(again.next_timeout(WAIT).unwrap().payload(), b"next");
}

#[test]
fn client_drain_processes_everything_then_closes() {
    let server = server();
    let publisher = natsy::connect(server.url()).unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let sub_a = client.subscribe("drain.a").unwrap();
    let sub_b = client.subscribe("drain.b").unwrap();
    client.flush().unwrap();
    for i in 0..500 {
        publisher.publish("drain.a", format!("{i}")).unwrap();
        publisher.publish("drain.b", format!("{i}")).unwrap();
    }
    publisher.flush().unwrap();
    // Its own publishes made just before the drain reach the server too.
    for i in 500..600 {
        client.publish("drain.a", format!("{i}")).unwrap();
    }
    let readers: Vec<_> = [sub_a, sub_b]
        .into_iter()
        .map(|sub| std::thread::spawn(move || sub.count()))
        .collect();
    client.drain().unwrap();
    let counts: Vec<usize> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(counts, [600, 500]);
    assert_eq!(client.close_reason(), Some(natsy::CloseReason::User));
    assert_eq!(
        client.publish("drain.a", "x").unwrap_err(),
        natsy::PublishError::Closed
    );
}

#[test]
fn next_timeout_and_try_next() {
    let server = server();
    let client = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("quiet").unwrap();
    let start = Instant::now();
    assert_eq!(
        sub.next_timeout(Duration::from_millis(150)).unwrap_err(),
        NextError::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(sub.try_next().unwrap().is_none());
    client.publish("quiet", "now").unwrap();
    client.flush().unwrap();
    assert_eq!(sub.try_next().unwrap().unwrap().payload(), b"now");
    assert!(sub.try_next().unwrap().is_none());
    // A message arriving while next_timeout waits wakes it.
    let c2 = client.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        c2.publish("quiet", "later").unwrap();
    });
    assert_eq!(sub.next_timeout(WAIT).unwrap().payload(), b"later");
    t.join().unwrap();
}

#[test]
fn statistics_count_messages_and_bytes_exactly() {
    let server = server();
    let client = natsy::connect(server.url()).unwrap();
    let other = natsy::connect(server.url()).unwrap();
    let mut sub = client.subscribe("stats").unwrap();
    client.flush().unwrap();
    for i in 0..10 {
        client.publish("stats", "12345").unwrap();
        if i % 2 == 0 {
            other.publish("stats", "abc").unwrap();
        }
    }
    client.publish("stats.unheard", "xx").unwrap();
    client.flush().unwrap();
    other.flush().unwrap();
    client.flush().unwrap();
    assert_eq!(sub.by_ref().take(15).count(), 15);
    let s = client.statistics();
    assert_eq!(s.out_messages, 11);
    assert_eq!(s.out_bytes, 52);
    assert_eq!(s.in_messages, 15);
    assert_eq!(s.in_bytes, 65);
    assert_eq!(s.reconnects, 0);
    assert_eq!(s.dropped_messages, 0);
    let o = other.statistics();
    assert_eq!((o.out_messages, o.out_bytes, o.in_messages), (5, 15, 0));
}

#[test]
fn no_echo_suppresses_own_publishes() {
    let server = server();
    let quiet = ConnectOptions::new()
        .no_echo()
        .connect(server.url())
        .unwrap();
    let other = natsy::connect(server.url()).unwrap();
    let mut sub = quiet.subscribe("echo").unwrap();
    let mut other_sub = other.subscribe("echo").unwrap();
    quiet.flush().unwrap();
    other.flush().unwrap();
    for _ in 0..5 {
        quiet.publish("echo", "mine").unwrap();
    }
    quiet.flush().unwrap();
    other.publish("echo", "theirs").unwrap();
    other.flush().unwrap();
    quiet.flush().unwrap();
    let got: Vec<_> = std::iter::from_fn(|| sub.try_next().unwrap())
        .map(|m| m.payload().to_vec())
        .collect();
    assert_eq!(got, [b"theirs".to_vec()]);
    // The others still get the no-echo client's messages.
    let theirs: Vec<_> = std::iter::from_fn(|| other_sub.try_next().unwrap())
        .map(|m| m.payload().to_vec())
        .collect();
    assert_eq!(theirs.len(), 6);
}
