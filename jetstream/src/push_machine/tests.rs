//! The push policy on a virtual clock: `Instant` arithmetic only, no sleeps, no sockets.

use bytes::Bytes;

use super::*;

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

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

/// A delivered message with stream sequence `sseq` and consumer sequence `cseq` (v1).
fn user(sseq: u64, cseq: u64) -> Message {
    let reply = format!("$JS.ACK.S.C.1.{sseq}.{cseq}.1700000000000000000.0");
    message("orders.new", Some(&reply), None, "x")
}

fn status(line: &str, reply: Option<&str>, headers: &[(&str, &str)]) -> Message {
    let mut block = format!("NATS/1.0 {line}\r\n");
    for (k, v) in headers {
        block.push_str(&format!("{k}: {v}\r\n"));
    }
    block.push_str("\r\n");
    message("deliver.x", reply, Some(&block), "")
}

fn heartbeat(last_consumer: u64, last_stream: u64) -> Message {
    let (c, s) = (last_consumer.to_string(), last_stream.to_string());
    status(
        "100 Idle Heartbeat",
        None,
        &[("Nats-Last-Consumer", &c), ("Nats-Last-Stream", &s)],
    )
}

fn machine(now: Instant, hb: Option<Duration>, check_sequences: bool) -> PushMachine {
    PushMachine::new(
        PushSettings {
            idle_heartbeat: hb,
            check_sequences,
        },
        now,
    )
}

fn errors(m: &mut PushMachine) -> Vec<PushError> {
    std::iter::from_fn(|| m.poll_error()).collect()
}

#[test]
fn ack_subjects_give_consumer_and_stream_sequences() {
    assert_eq!(sequences_of("$JS.ACK.S.C.1.10.7.0.3"), Some((7, 10)));
    assert_eq!(
        sequences_of("$JS.ACK.dom.hash.S.C.2.11.8.0.0.token.more"),
        Some((8, 11))
    );
    for bad in [
        "",
        "$JS.ACK.S.C.1.x.7.0.3",
        "$JS.ACK.S.C.1.10",
        "_INBOX.a.b.c.d.e.f.g.h",
    ] {
        assert_eq!(sequences_of(bad), None, "{bad:?}");
    }
}

#[test]
fn status_messages_are_never_handed_out() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    assert_eq!(m.handle_message(now, &user(1, 1)), PushDelivery::Message);
    assert_eq!(
        m.handle_message(now, &heartbeat(1, 1)),
        PushDelivery::Status
    );
    assert_eq!(
        m.handle_message(
            now,
            &status("100 FlowControl Request", Some("$JS.FC.S.C.1"), &[])
        ),
        PushDelivery::Status
    );
    assert_eq!(
        m.handle_message(now, &status("404 No Messages", None, &[])),
        PushDelivery::Status
    );
    assert_eq!(
        errors(&mut m),
        vec![PushError::Status {
            code: 404,
            description: "No Messages".into()
        }]
    );
    assert!(!m.is_finished());
}

#[test]
fn flow_control_requests_are_answered_on_their_reply_subject() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    assert_eq!(m.poll_reply(), None);
    let fc = status("100 FlowControl Request", Some("$JS.FC.S.C.abc"), &[]);
    let _ = m.handle_message(now, &fc);
    assert_eq!(m.poll_reply().as_deref(), Some("$JS.FC.S.C.abc"));
    assert_eq!(m.poll_reply(), None, "answered once");
    assert_eq!(m.flow_control_replies(), 1);
    assert!(errors(&mut m).is_empty());
}

#[test]
fn a_stalled_heartbeat_is_answered_at_once() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    let hb = status(
        "100 Idle Heartbeat",
        None,
        &[
            ("Nats-Last-Consumer", "0"),
            ("Nats-Last-Stream", "0"),
            ("Nats-Consumer-Stalled", "$JS.FC.S.C.stalled"),
        ],
    );
    let _ = m.handle_message(now, &hb);
    assert_eq!(m.poll_reply().as_deref(), Some("$JS.FC.S.C.stalled"));
    assert!(errors(&mut m).is_empty());
}

#[test]
fn silence_for_twice_the_heartbeat_is_reported_again_and_again_without_ending() {
    let t0 = Instant::now();
    let mut m = machine(t0, Some(SEC), true);
    assert_eq!(m.poll_timeout(), Some(t0 + 2 * SEC), "twice the interval");
    m.handle_timeout(t0 + 1999 * MS);
    assert!(errors(&mut m).is_empty(), "not yet");
    // A heartbeat restarts the timer.
    let _ = m.handle_message(t0 + SEC, &heartbeat(0, 0));
    assert_eq!(m.poll_timeout(), Some(t0 + 3 * SEC));
    m.handle_timeout(t0 + 3 * SEC);
    assert_eq!(errors(&mut m), vec![PushError::NoHeartbeat]);
    assert!(m.poll_check_consumer(), "look the consumer up");
    assert!(!m.poll_check_consumer(), "once");
    assert_eq!(m.missed_heartbeats(), 1);
    assert!(!m.is_finished());
    // Still silent two intervals later: reported again.
    assert_eq!(m.poll_timeout(), Some(t0 + 5 * SEC));
    m.handle_timeout(t0 + 5 * SEC);
    assert_eq!(errors(&mut m), vec![PushError::NoHeartbeat]);
    assert_eq!(m.missed_heartbeats(), 2);
    // Messages again: no more reports.
    assert_eq!(
        m.handle_message(t0 + 6 * SEC, &user(1, 1)),
        PushDelivery::Message
    );
    m.handle_timeout(t0 + 7 * SEC);
    assert!(errors(&mut m).is_empty());
}

#[test]
fn a_deleted_consumer_ends_after_the_missed_heartbeat_is_reported() {
    let t0 = Instant::now();
    let mut m = machine(t0, Some(SEC), true);
    m.handle_timeout(t0 + 2 * SEC);
    assert!(m.poll_check_consumer());
    m.handle_consumer_deleted();
    assert_eq!(
        errors(&mut m),
        vec![PushError::NoHeartbeat, PushError::ConsumerDeleted]
    );
    assert!(m.is_finished());
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(t0 + 10 * SEC);
    assert!(errors(&mut m).is_empty(), "nothing after the end");
}

#[test]
fn without_heartbeats_silence_is_never_reported() {
    let t0 = Instant::now();
    let mut m = machine(t0, None, true);
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(t0 + 3600 * SEC);
    assert!(errors(&mut m).is_empty());
    let zero = machine(t0, Some(Duration::ZERO), true);
    assert_eq!(zero.poll_timeout(), None);
}

#[test]
fn a_heartbeat_behind_the_server_reports_the_gap_once() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    // No message yet: a durable's earlier deliveries are no gap.
    let _ = m.handle_message(now, &heartbeat(40, 90));
    assert!(errors(&mut m).is_empty());
    let _ = m.handle_message(now, &user(100, 41));
    let _ = m.handle_message(now, &heartbeat(41, 100));
    assert!(errors(&mut m).is_empty(), "in step");
    // Messages 42..=44 were lost (say, dropped as a slow consumer).
    let _ = m.handle_message(now, &heartbeat(44, 103));
    assert_eq!(
        errors(&mut m),
        vec![PushError::SequenceMismatch {
            consumer_sequence: 41,
            last_consumer_sequence: 44,
            stream_resume_sequence: 101,
        }]
    );
    let _ = m.handle_message(now, &heartbeat(44, 103));
    assert!(errors(&mut m).is_empty(), "the same gap once");
    assert!(!m.is_finished());
}

#[test]
fn deliver_groups_do_not_check_sequences() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), false);
    let _ = m.handle_message(now, &user(1, 1));
    let _ = m.handle_message(now, &heartbeat(2, 2));
    assert!(errors(&mut m).is_empty(), "the other member got 2");
}

#[test]
fn consumer_deleted_status_is_terminal_and_garbage_is_not() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    // A heartbeat with broken headers is still a status, never a message.
    let broken = message(
        "deliver.x",
        None,
        Some("NATS/1.0 100 Idle Heartbeat\r\nno colon\r\n\r\n"),
        "",
    );
    assert_eq!(m.handle_message(now, &broken), PushDelivery::Status);
    let weird = status("100 Idle Heartbeat", None, &[("Nats-Last-Consumer", "x")]);
    assert_eq!(m.handle_message(now, &weird), PushDelivery::Status);
    assert!(errors(&mut m).is_empty());
    let _ = m.handle_message(now, &status("409 Consumer Deleted", None, &[]));
    assert_eq!(errors(&mut m), vec![PushError::ConsumerDeleted]);
    assert!(m.is_finished());
}

#[test]
fn queues_stay_bounded_when_not_drained() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    for i in 0..100 {
        let reply = format!("$JS.FC.{i}");
        let _ = m.handle_message(now, &status("100 FlowControl Request", Some(&reply), &[]));
        let _ = m.handle_message(now, &status("503", None, &[]));
    }
    let replies: Vec<String> = std::iter::from_fn(|| m.poll_reply()).collect();
    assert_eq!(replies.len(), QUEUE_MAX);
    assert_eq!(
        replies.last().map(String::as_str),
        Some("$JS.FC.99"),
        "the latest kept"
    );
    assert_eq!(errors(&mut m).len(), QUEUE_MAX);
}

#[test]
fn the_terminal_error_survives_a_full_error_queue() {
    let now = Instant::now();
    let mut m = machine(now, Some(SEC), true);
    for _ in 0..100 {
        let _ = m.handle_message(now, &status("503", None, &[]));
    }
    m.handle_closed();
    let all = errors(&mut m);
    assert_eq!(all.last(), Some(&PushError::Closed));
}
