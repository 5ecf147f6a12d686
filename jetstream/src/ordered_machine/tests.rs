//! The ordered consumer's policy on a virtual clock: no sleeps, no sockets.

use bytes::Bytes;

use super::*;

const SEC: Duration = Duration::from_secs(1);

fn message(subject: &str, reply: Option<&str>, headers: Option<&str>, payload: &str) -> Message {
    let mut frame = String::new();
    let mut part = |s: &str| {
        let start = frame.len();
        frame.push_str(s);
        start..frame.len()
    };
    let subject = part(subject);
    let reply = reply.map(&mut part);
    let headers = headers.map(&mut part);
    let payload = part(payload);
    Message::from_parts(Bytes::from(frame), 1, subject, reply, headers, payload)
}

/// A message delivered by consumer `name` with stream sequence `sseq` and consumer
/// sequence `cseq`.
fn user(name: &str, sseq: u64, cseq: u64) -> Message {
    let reply = format!("$JS.ACK.S.{name}.1.{sseq}.{cseq}.1700000000000000000.0");
    message("orders.new", Some(&reply), None, "x")
}

fn status(line: &str) -> Message {
    let block = format!("NATS/1.0 {line}\r\n\r\n");
    message("_INBOX.x", None, Some(&block), "")
}

/// A machine whose first consumer was created at `now`.
fn started(now: Instant) -> OrderedMachine {
    let mut m = OrderedMachine::new(OrderedConfig::default(), "oc");
    let cfg = m.poll_create(now).expect("a consumer is wanted at once");
    assert_eq!(cfg.name.as_deref(), Some("oc_1"));
    assert_eq!(cfg.deliver_policy, DeliverPolicy::All);
    assert_eq!(cfg.ack_policy, AckPolicy::None);
    assert!(cfg.mem_storage);
    assert_eq!(cfg.num_replicas, Some(1));
    assert!(m.poll_create(now).is_none(), "one create at a time");
    m.handle_created(now);
    assert!(m.is_active());
    let pull = m.poll_pull(now).expect("pulls flow once created");
    assert_eq!(pull.batch, 500);
    m
}

fn delivered(m: &mut OrderedMachine, now: Instant, msg: &Message) -> Option<u64> {
    match m.handle_message(now, msg) {
        Delivery::Message(seq) => Some(seq.stream),
        Delivery::Skip => None,
    }
}

#[test]
fn in_order_messages_are_handed_out() {
    let now = Instant::now();
    let mut m = started(now);
    assert_eq!(delivered(&mut m, now, &user("oc_1", 10, 1)), Some(10));
    assert_eq!(delivered(&mut m, now, &user("oc_1", 12, 2)), Some(12));
    assert_eq!(m.stream_sequence(), 12);
    assert_eq!(m.resets(), 0);
}

#[test]
fn a_consumer_sequence_gap_recreates_from_the_last_stream_sequence() {
    let now = Instant::now();
    let mut m = started(now);
    assert_eq!(delivered(&mut m, now, &user("oc_1", 5, 1)), Some(5));
    assert_eq!(delivered(&mut m, now, &user("oc_1", 6, 2)), Some(6));
    // Consumer sequence 3 was lost.
    assert_eq!(delivered(&mut m, now, &user("oc_1", 8, 4)), None);
    assert_eq!(m.resets(), 1);
    assert!(!m.is_active());
    assert_eq!(m.poll_delete().as_deref(), Some("oc_1"));
    let cfg = m.poll_create(now).expect("recreated at once");
    assert_eq!(cfg.name.as_deref(), Some("oc_2"));
    assert_eq!(cfg.deliver_policy, DeliverPolicy::ByStartSequence);
    assert_eq!(cfg.opt_start_seq, Some(7));
    m.handle_created(now);
    // Late messages of the old consumer are dropped; the new one starts at 1.
    assert_eq!(delivered(&mut m, now, &user("oc_1", 9, 5)), None);
    assert_eq!(delivered(&mut m, now, &user("oc_2", 7, 1)), Some(7));
    assert_eq!(delivered(&mut m, now, &user("oc_2", 8, 2)), Some(8));
    assert_eq!(m.resets(), 1);
}

#[test]
fn duplicates_are_dropped() {
    let now = Instant::now();
    let mut m = started(now);
    assert_eq!(delivered(&mut m, now, &user("oc_1", 3, 1)), Some(3));
    // A consumer sequence that repeats is a gap (not last + 1): reset, nothing handed out.
    assert_eq!(delivered(&mut m, now, &user("oc_1", 3, 1)), None);
    assert_eq!(m.resets(), 1);
    let cfg = m.poll_create(now).unwrap();
    assert_eq!(cfg.opt_start_seq, Some(4));
    m.handle_created(now);
    // A stream sequence already handed out, in consumer order, is dropped silently.
    assert_eq!(delivered(&mut m, now, &user("oc_2", 2, 1)), None);
    assert_eq!(delivered(&mut m, now, &user("oc_2", 3, 2)), None);
    assert_eq!(delivered(&mut m, now, &user("oc_2", 4, 3)), Some(4));
    assert_eq!(m.resets(), 1);
}

#[test]
fn lost_heartbeats_recreate_the_consumer() {
    let t0 = Instant::now();
    let mut m = started(t0);
    assert_eq!(delivered(&mut m, t0, &user("oc_1", 1, 1)), Some(1));
    // Heartbeats every 5 s keep it alive.
    let t1 = t0 + 9 * SEC;
    assert_eq!(
        m.handle_message(t1, &status("100 Idle Heartbeat")),
        Delivery::Skip
    );
    m.handle_timeout(t1);
    assert!(m.is_active());
    let wake = m.poll_timeout().expect("a heartbeat check is due");
    assert_eq!(wake, t1 + 10 * SEC);
    m.handle_timeout(wake);
    assert!(!m.is_active(), "two heartbeat intervals of silence");
    assert_eq!(m.resets(), 1);
    let cfg = m.poll_create(wake).unwrap();
    assert_eq!(cfg.opt_start_seq, Some(2));
}

#[test]
fn a_reconnect_recreates_and_waits_while_disconnected() {
    let t0 = Instant::now();
    let mut m = started(t0);
    assert_eq!(delivered(&mut m, t0, &user("oc_1", 41, 1)), Some(41));
    m.handle_disconnected(t0);
    // Silence while disconnected is no missed heartbeat.
    m.handle_timeout(t0 + 60 * SEC);
    assert!(m.is_active());
    assert_eq!(m.resets(), 0);
    m.handle_reconnected(t0 + 61 * SEC);
    assert_eq!(m.resets(), 1);
    let cfg = m.poll_create(t0 + 61 * SEC).unwrap();
    assert_eq!(cfg.opt_start_seq, Some(42));
}

#[test]
fn nothing_handed_out_yet_restarts_where_the_config_says() {
    let now = Instant::now();
    let config = OrderedConfig {
        deliver_policy: DeliverPolicy::LastPerSubject,
        filter_subjects: vec!["$KV.b.>".into()],
        ..Default::default()
    };
    let mut m = OrderedMachine::new(config, "w");
    let cfg = m.poll_create(now).unwrap();
    assert_eq!(cfg.filter_subject.as_deref(), Some("$KV.b.>"));
    m.handle_created(now);
    m.handle_reconnected(now);
    let cfg = m.poll_create(now).unwrap();
    assert_eq!(cfg.deliver_policy, DeliverPolicy::LastPerSubject);
    assert_eq!(cfg.opt_start_seq, None);
}

#[test]
fn failed_creates_back_off_and_a_missing_stream_ends_it() {
    let t0 = Instant::now();
    let mut m = OrderedMachine::new(OrderedConfig::default(), "oc");
    let _ = m.poll_create(t0).unwrap();
    m.handle_create_failed(t0, &Error::Request(natsy::RequestError::TimedOut));
    assert_eq!(m.poll_delete().as_deref(), Some("oc_1"));
    assert!(m.poll_create(t0).is_none(), "backing off");
    let wake = m.poll_timeout().unwrap();
    assert_eq!(wake, t0 + RETRY_MIN);
    m.handle_timeout(wake);
    let _ = m.poll_create(wake).expect("retried after the backoff");
    let gone = Error::Api(crate::ApiError {
        code: 404,
        err_code: 10059,
        description: "stream not found".into(),
    });
    m.handle_create_failed(wake, &gone);
    assert!(m.is_finished());
    assert_eq!(m.poll_error(), Some(OrderedError::StreamNotFound));
    assert!(m.poll_create(wake + 10 * SEC).is_none());
}

#[test]
fn consumer_deleted_or_no_responders_recreate() {
    let now = Instant::now();
    let mut m = started(now);
    assert_eq!(delivered(&mut m, now, &user("oc_1", 1, 1)), Some(1));
    let _ = m.handle_message(now, &status("409 Consumer Deleted"));
    assert_eq!(m.resets(), 1);
    let _ = m.poll_create(now).unwrap();
    m.handle_created(now);
    let _ = m.poll_pull(now).unwrap();
    let _ = m.handle_message(now, &status("503"));
    assert_eq!(m.resets(), 2);
    m.handle_closed();
    assert_eq!(m.poll_error(), Some(OrderedError::Closed));
}

#[test]
fn ack_subjects_are_read_in_place() {
    let (name, seq) = parse_ack("$JS.ACK.S.C.1.10.7.1700000000000000000.3").unwrap();
    assert_eq!(
        (name, seq.stream, seq.consumer, seq.pending),
        ("C", 10, 7, 3)
    );
    let (name, seq) = parse_ack("$JS.ACK.dom.hash.S.C.1.10.7.1700000000000000000.3.tok").unwrap();
    assert_eq!((name, seq.stream), ("C", 10));
    for bad in [
        "",
        "$JS.ACK",
        "$JS.ACK.S.C.1.x.7.1.3",
        "$JS.ACK.S..1.1.1.1.1",
        "$JS.NAK.S.C.1.10.7.1.3",
        "$JS.ACK.a.b.S.C.1.1.1.1",
    ] {
        assert!(parse_ack(bad).is_none(), "{bad}");
    }
}
