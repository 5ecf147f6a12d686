//! The pull policy on a virtual clock: `Instant` arithmetic only, no sleeps, no sockets.

use super::*;

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// A message as the client hands it over: subject, reply, header block, payload.
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

/// A user message whose size (subject + reply + payload) is `10 + 21 + payload`.
fn user(payload: &str) -> Message {
    message("orders.new", Some("$JS.ACK.S.C.1.1.1.0.0"), None, payload)
}

/// A status reply with `headers` after the status line.
fn status(line: &str, headers: &[(&str, &str)]) -> Message {
    let mut block = format!("NATS/1.0 {line}\r\n");
    for (k, v) in headers {
        block.push_str(&format!("{k}: {v}\r\n"));
    }
    block.push_str("\r\n");
    message("_INBOX.x", None, Some(&block), "")
}

fn heartbeat() -> Message {
    status("100 Idle Heartbeat", &[])
}

fn consume(batch: u64, max_bytes: Option<u64>) -> PullMachine {
    PullMachine::consume(Limits::new(batch, max_bytes), 30 * SEC, 15 * SEC)
}

fn fetch(batch: usize, max_bytes: Option<usize>, idle_heartbeat: Option<Duration>) -> PullMachine {
    let request = PullRequest {
        batch,
        expires: Some(30 * SEC),
        max_bytes,
        no_wait: false,
        idle_heartbeat,
        priority: None,
    };
    let timeout = fetch_timeout(&request, 5 * SEC);
    PullMachine::fetch(request, timeout)
}

/// Delivers `n` user messages at `now`, each handed out.
fn deliver(m: &mut PullMachine, now: Instant, n: usize) {
    for _ in 0..n {
        assert_eq!(m.handle_message(now, &user("x")), Delivery::Message);
    }
}

// ---- Status classification and the request body ----

#[test]
fn status_replies_are_classified_as_the_digest_says() {
    assert_eq!(classify(100, "Idle Heartbeat"), Status::Heartbeat);
    assert_eq!(classify(404, "No Messages"), Status::NoMessages);
    assert_eq!(classify(408, "Request Timeout"), Status::Expired);
    assert_eq!(classify(408, "Interest Expired"), Status::Expired);
    assert_eq!(
        classify(409, "Message Size Exceeds MaxBytes"),
        Status::MaxBytes
    );
    assert_eq!(classify(409, "Batch Completed"), Status::BatchCompleted);
    assert_eq!(classify(409, "Leadership Change"), Status::LeadershipChange);
    assert_eq!(
        classify(409, "Consumer Deleted"),
        Status::Error(PullError::ConsumerDeleted)
    );
    assert_eq!(
        classify(409, " consumer deleted "),
        Status::Error(PullError::ConsumerDeleted)
    );
    assert_eq!(
        classify(409, "Exceeded MaxWaiting"),
        Status::Error(PullError::MaxWaitingExceeded)
    );
    for d in [
        "Exceeded MaxRequestBatch of 10",
        "Exceeded MaxRequestExpires of 1s",
        "Exceeded MaxRequestMaxBytes of 100",
    ] {
        assert_eq!(
            classify(409, d),
            Status::Error(PullError::MaxRequestExceeded(d.into()))
        );
    }
    assert_eq!(
        classify(409, "Server Shutdown"),
        Status::Error(PullError::ServerShutdown)
    );
    assert_eq!(
        classify(409, "Something New"),
        Status::Error(PullError::Status {
            code: 409,
            description: "Something New".into()
        })
    );
    assert_eq!(
        classify(400, "Bad Request - heartbeat value too large"),
        Status::Error(PullError::BadRequest(
            "Bad Request - heartbeat value too large".into()
        ))
    );
    assert_eq!(classify(423, "Nats-Pin-Id mismatch"), Status::PinMismatch);
    assert_eq!(classify(503, ""), Status::Error(PullError::NoResponders));
    assert_eq!(
        classify(500, "x"),
        Status::Error(PullError::Status {
            code: 500,
            description: "x".into()
        })
    );
    // Short descriptions never index out of bounds.
    assert!(matches!(classify(409, ""), Status::Error(_)));
    assert!(matches!(classify(409, "Bat"), Status::Error(_)));
}

#[test]
fn a_status_message_is_classified_from_its_header_block() {
    assert_eq!(status_of(100, &heartbeat()), Status::Heartbeat);
    let deleted = status("409 Consumer Deleted", &[]);
    assert_eq!(
        status_of(409, &deleted),
        Status::Error(PullError::ConsumerDeleted)
    );
    let expired = status(
        "408 Request Timeout",
        &[
            ("Nats-Pending-Messages", "7"),
            ("Nats-Pending-Bytes", "700"),
        ],
    );
    assert_eq!(status_of(408, &expired), Status::Expired);
    assert_eq!(pending_counts(&expired), (Some(7), Some(700)));
    assert_eq!(pending_counts(&heartbeat()), (None, None));
    // A user message with headers has no status.
    let with_headers = message("s", Some("r"), Some("NATS/1.0\r\nA: b\r\n\r\n"), "x");
    assert_eq!(with_headers.status(), None);
}

#[test]
fn terminal_errors() {
    assert!(PullError::ConsumerDeleted.is_terminal());
    assert!(PullError::BadRequest(String::new()).is_terminal());
    assert!(PullError::Closed.is_terminal());
    assert!(!PullError::MaxWaitingExceeded.is_terminal());
    assert!(!PullError::NoHeartbeat.is_terminal());
    assert!(!PullError::NoResponders.is_terminal());
}

#[test]
fn pull_request_body_and_validation() {
    let r = PullRequest {
        batch: 10,
        expires: Some(2 * SEC),
        max_bytes: Some(1024),
        no_wait: false,
        idle_heartbeat: Some(SEC),
        priority: None,
    };
    r.validate().unwrap();
    assert_eq!(
        r.body().unwrap(),
        Bytes::from_static(
            br#"{"batch":10,"expires":2000000000,"max_bytes":1024,"idle_heartbeat":1000000000}"#
        )
    );
    let nw = PullRequest {
        batch: 1,
        expires: None,
        max_bytes: None,
        no_wait: true,
        idle_heartbeat: None,
        priority: None,
    };
    nw.validate().unwrap();
    assert_eq!(
        nw.body().unwrap(),
        Bytes::from_static(br#"{"batch":1,"no_wait":true}"#)
    );
    let too_big = PullRequest {
        idle_heartbeat: Some(1001 * MS),
        ..r.clone()
    };
    assert!(matches!(too_big.validate(), Err(Error::InvalidArgument(_))));
    let no_expiry = PullRequest {
        expires: None,
        ..r.clone()
    };
    assert!(matches!(
        no_expiry.validate(),
        Err(Error::InvalidArgument(_))
    ));
    let zero = PullRequest { batch: 0, ..nw };
    assert!(matches!(zero.validate(), Err(Error::InvalidArgument(_))));
    let zero_bytes = PullRequest {
        max_bytes: Some(0),
        ..r
    };
    assert!(matches!(
        zero_bytes.validate(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn fetch_timeouts_leave_room_for_the_servers_408() {
    let pull = |expires, no_wait| PullRequest {
        batch: 1,
        expires,
        max_bytes: None,
        no_wait,
        idle_heartbeat: None,
        priority: None,
    };
    assert_eq!(fetch_timeout(&pull(Some(2 * SEC), false), 5 * SEC), 3 * SEC);
    assert_eq!(
        fetch_timeout(&pull(Some(30 * SEC), false), 5 * SEC),
        33 * SEC
    );
    assert_eq!(fetch_timeout(&pull(None, true), 5 * SEC), 5 * SEC);
    assert_eq!(fetch_timeout(&pull(Some(SEC), true), 5 * SEC), 5 * SEC);
    assert_eq!(
        fetch_timeout(&pull(Some(Duration::MAX), false), 5 * SEC),
        Duration::MAX
    );
}

// ---- Outstanding counts ----

#[test]
fn outstanding_counts_drive_repulls_at_half() {
    let limits = Limits::new(500, None);
    let mut o = Outstanding::default();
    assert_eq!(o.next_pull(&limits), Some((500, None)));
    o.add(500, None);
    assert_eq!(o.next_pull(&limits), None);
    for _ in 0..249 {
        o.delivered(100);
    }
    assert_eq!(o.messages, 251);
    assert_eq!(o.next_pull(&limits), None);
    o.delivered(100);
    assert_eq!(o.next_pull(&limits), Some((250, None)));
    o.add(250, None);
    // A 408 tells how much of the expired pull was not delivered.
    o.release(Some(100), Some(0));
    assert_eq!(o.messages, 400);
    // Without counts, forget everything.
    o.release(None, None);
    assert_eq!(o, Outstanding::default());
    // Over-delivery (a pull from before a reset) never underflows.
    o.delivered(10);
    assert_eq!(o, Outstanding::default());
}

#[test]
fn outstanding_bytes_also_trigger_repulls() {
    let limits = Limits::new(1000, Some(4096));
    let mut o = Outstanding::default();
    assert_eq!(o.next_pull(&limits), Some((1000, Some(4096))));
    o.add(1000, Some(4096));
    o.delivered(1000);
    assert_eq!(o.next_pull(&limits), None);
    o.delivered(1100);
    // 1996 bytes left of 4096: below half.
    assert_eq!(o.next_pull(&limits), Some((2, Some(2100))));
}

#[test]
fn a_batch_of_one_never_sticks() {
    // ADR-37: a threshold of half of 1 is 0, and 0 outstanding still pulls.
    let now = Instant::now();
    let mut m = consume(1, None);
    assert_eq!(m.poll_pull(now).map(|p| p.batch), Some(1));
    assert_eq!(m.poll_pull(now), None);
    deliver(&mut m, now, 1);
    assert_eq!(m.poll_pull(now).map(|p| p.batch), Some(1));
}

// ---- Continuous pulls ----

#[test]
fn consume_pulls_a_full_batch_then_tops_up_at_half_the_messages() {
    let now = Instant::now();
    let mut m = consume(100, None);
    let first = m.poll_pull(now).expect("a first pull");
    assert_eq!(
        first,
        PullRequest {
            batch: 100,
            expires: Some(30 * SEC),
            max_bytes: None,
            no_wait: false,
            idle_heartbeat: Some(15 * SEC),
            priority: None,
        }
    );
    first.validate().unwrap();
    assert_eq!(m.poll_pull(now), None, "nothing more while 100 are due");
    deliver(&mut m, now, 49);
    assert_eq!(m.poll_pull(now), None, "51 still due: above half");
    deliver(&mut m, now, 1);
    let second = m.poll_pull(now).expect("a pull at half");
    assert_eq!(second.batch, 50, "fills the batch up again");
    assert_eq!(m.outstanding().messages, 100);
    assert_eq!(m.pulls(), 2);
    assert_eq!(m.poll_error(), None);
    assert!(!m.is_finished());
}

#[test]
fn consume_tops_up_at_half_the_bytes() {
    let now = Instant::now();
    let mut m = consume(1000, Some(1000));
    let first = m.poll_pull(now).unwrap();
    assert_eq!((first.batch, first.max_bytes), (1000, Some(1000)));
    // Each message is 10 (subject) + 21 (reply) + 69 (payload) = 100 bytes.
    let payload = "p".repeat(69);
    assert_eq!(user(&payload).size(), 100);
    for _ in 0..4 {
        assert_eq!(m.handle_message(now, &user(&payload)), Delivery::Message);
    }
    assert_eq!(m.poll_pull(now), None, "600 bytes still due: above half");
    assert_eq!(m.handle_message(now, &user(&payload)), Delivery::Message);
    let second = m.poll_pull(now).expect("a pull at half the bytes");
    assert_eq!((second.batch, second.max_bytes), (5, Some(500)));
    assert_eq!(
        m.outstanding(),
        Outstanding {
            messages: 1000,
            bytes: 1000
        }
    );
}

#[test]
fn an_expired_pull_gives_back_what_it_did_not_deliver() {
    let now = Instant::now();
    let mut m = consume(100, None);
    let _ = m.poll_pull(now).unwrap();
    deliver(&mut m, now, 10);
    // The pull expires with 90 undelivered: nothing is outstanding, pull 100 again.
    let expired = status(
        "408 Request Timeout",
        &[("Nats-Pending-Messages", "90"), ("Nats-Pending-Bytes", "0")],
    );
    assert_eq!(m.handle_message(now, &expired), Delivery::Status);
    assert_eq!(m.poll_error(), None, "a 408 is not an error");
    assert_eq!(m.outstanding().messages, 0);
    assert_eq!(m.poll_pull(now).map(|p| p.batch), Some(100));
    // A 409 Batch Completed or Message Size Exceeds MaxBytes counts the same way.
    for line in ["409 Batch Completed", "409 Message Size Exceeds MaxBytes"] {
        let ended = status(
            line,
            &[
                ("Nats-Pending-Messages", "100"),
                ("Nats-Pending-Bytes", "0"),
            ],
        );
        assert_eq!(m.handle_message(now, &ended), Delivery::Status);
        assert_eq!(m.poll_error(), None, "{line}");
        assert_eq!(m.poll_pull(now).map(|p| p.batch), Some(100), "{line}");
    }
    // Without the headers, everything is forgotten.
    assert_eq!(
        m.handle_message(now, &status("408 Request Timeout", &[])),
        Delivery::Status
    );
    assert_eq!(m.outstanding(), Outstanding::default());
}

#[test]
fn heartbeat_loss_repulls_and_counts_a_missed_heartbeat() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(Limits::new(10, None), 2 * SEC, 500 * MS);
    let _ = m.poll_pull(t0).unwrap();
    // The check is at twice the interval after the pull.
    assert_eq!(m.poll_timeout(), Some(t0 + SEC));
    // A heartbeat at 0.9 s moves it to 1.9 s; a user message at 1.5 s to 2.5 s.
    let t = t0 + 900 * MS;
    assert_eq!(m.handle_message(t, &heartbeat()), Delivery::Status);
    assert_eq!(m.poll_timeout(), Some(t + SEC));
    let t = t0 + 1500 * MS;
    deliver(&mut m, t, 1);
    assert_eq!(m.poll_timeout(), Some(t + SEC));
    // Early timeouts change nothing.
    m.handle_timeout(t + 999 * MS);
    assert_eq!(m.missed_heartbeats(), 0);
    assert_eq!(m.poll_pull(t + 999 * MS), None);
    // Silence until the check: one missed heartbeat, a fresh pull of the whole batch.
    let t = t + SEC;
    m.handle_timeout(t);
    assert_eq!(m.missed_heartbeats(), 1);
    assert_eq!(m.poll_error(), None, "not reported, only counted");
    let fresh = m.poll_pull(t).expect("a fresh pull");
    assert_eq!(fresh.batch, 10);
    assert_eq!(m.pulls(), 2);
    assert_eq!(m.poll_timeout(), Some(t + SEC));
    // And again if that one is silent too.
    m.handle_timeout(t + SEC);
    assert_eq!(m.missed_heartbeats(), 2);
    assert!(m.poll_pull(t + SEC).is_some());
    assert!(!m.is_finished());
}

#[test]
fn a_reconnect_forgets_the_pulls_in_flight_and_pulls_afresh() {
    let t0 = Instant::now();
    let mut m = consume(100, None);
    let _ = m.poll_pull(t0).unwrap();
    deliver(&mut m, t0, 30);
    assert_eq!(m.poll_pull(t0), None);
    m.handle_reconnected(t0 + SEC);
    let fresh = m
        .poll_pull(t0 + SEC)
        .expect("a fresh pull after the reconnect");
    assert_eq!(fresh.batch, 100, "the old pulls count for nothing");
    assert_eq!(m.outstanding().messages, 100);
    assert_eq!(m.poll_timeout(), Some(t0 + 31 * SEC));
    assert_eq!(m.missed_heartbeats(), 0);
}

#[test]
fn while_disconnected_no_pulls_go_out_and_silence_is_not_a_missed_heartbeat() {
    let t0 = Instant::now();
    let mut m = PullMachine::consume(Limits::new(10, None), 2 * SEC, 500 * MS);
    let _ = m.poll_pull(t0).unwrap();
    let down = t0 + 200 * MS;
    m.handle_disconnected(down);
    // The heartbeat slot now only says when to look at the connection again.
    assert_eq!(m.poll_timeout(), Some(down + 500 * MS));
    let mut t = down;
    for _ in 0..20 {
        t += 500 * MS;
        m.handle_timeout(t);
        assert_eq!(m.poll_pull(t), None);
        assert_eq!(m.poll_timeout(), Some(t + 500 * MS));
    }
    assert_eq!(m.missed_heartbeats(), 0);
    // Back: a fresh pull at once, and the heartbeat check runs again.
    m.handle_reconnected(t);
    assert_eq!(m.poll_pull(t).map(|p| p.batch), Some(10));
    assert_eq!(m.poll_timeout(), Some(t + SEC));
    m.handle_timeout(t + SEC);
    assert_eq!(m.missed_heartbeats(), 1);
}

#[test]
fn leadership_change_and_pin_mismatch_repull_at_once() {
    let now = Instant::now();
    // A 423 is reported too (nats.go hands it to the error handler), not terminal.
    for (line, reported) in [
        ("409 Leadership Change", None),
        ("423 Nats-Wrong-Pin-Id", Some(PullError::PinIdMismatch)),
    ] {
        let mut m = consume(100, None);
        let _ = m.poll_pull(now).unwrap();
        deliver(&mut m, now, 20);
        assert_eq!(m.handle_message(now, &status(line, &[])), Delivery::Status);
        assert_eq!(m.poll_error(), reported, "{line}");
        assert!(!m.is_finished(), "{line}");
        assert_eq!(m.poll_pull(now).map(|p| p.batch), Some(100), "{line}");
    }
}

#[test]
fn reported_errors_repull_after_a_backoff_that_grows_and_resets() {
    let t0 = Instant::now();
    let mut m = consume(100, None);
    let _ = m.poll_pull(t0).unwrap();
    let mut t = t0;
    let mut waits = Vec::new();
    for _ in 0..6 {
        let refused = status("409 Exceeded MaxWaiting", &[]);
        assert_eq!(m.handle_message(t, &refused), Delivery::Status);
        assert_eq!(m.poll_error(), Some(PullError::MaxWaitingExceeded));
        assert_eq!(m.poll_error(), None, "reported once");
        assert!(!m.is_finished());
        assert_eq!(m.poll_pull(t), None, "not during the backoff");
        let wake = m.poll_timeout().expect("the end of the backoff");
        waits.push(wake - t);
        t = wake;
        m.handle_timeout(t);
        assert_eq!(m.poll_pull(t).map(|p| p.batch), Some(100));
    }
    assert_eq!(
        waits,
        [250 * MS, 500 * MS, SEC, 2 * SEC, 2 * SEC, 2 * SEC],
        "doubling, capped"
    );
    // A delivered message resets it.
    deliver(&mut m, t, 1);
    let _ = m.handle_message(t, &status("409 Exceeded MaxRequestBatch of 10", &[]));
    assert_eq!(
        m.poll_error(),
        Some(PullError::MaxRequestExceeded(
            "Exceeded MaxRequestBatch of 10".into()
        ))
    );
    assert_eq!(m.poll_timeout(), Some(t + 250 * MS));
}

#[test]
fn no_messages_and_server_shutdown_repull_after_a_backoff_without_an_error() {
    let now = Instant::now();
    for line in ["404 No Messages", "409 Server Shutdown"] {
        let mut m = consume(100, None);
        let _ = m.poll_pull(now).unwrap();
        assert_eq!(m.handle_message(now, &status(line, &[])), Delivery::Status);
        assert_eq!(m.poll_error(), None, "{line}");
        assert_eq!(m.poll_pull(now), None, "{line}");
        assert_eq!(m.poll_timeout(), Some(now + 250 * MS), "{line}");
        assert!(m.poll_pull(now + 250 * MS).is_some(), "{line}");
    }
}

#[test]
fn no_responders_asks_for_a_look_at_the_consumer() {
    let now = Instant::now();
    let mut m = consume(100, None);
    let _ = m.poll_pull(now).unwrap();
    let no_responders = status("503", &[]);
    assert_eq!(
        m.handle_message(now, &no_responders),
        Delivery::CheckConsumer
    );
    assert_eq!(m.poll_error(), None);
    // Still there (a leader election): the retry is already scheduled.
    assert_eq!(m.poll_timeout(), Some(now + 250 * MS));
    assert!(m.poll_pull(now + 250 * MS).is_some());
    // Gone: terminal.
    assert_eq!(
        m.handle_message(now, &no_responders),
        Delivery::CheckConsumer
    );
    m.handle_consumer_deleted();
    assert_eq!(m.poll_error(), Some(PullError::ConsumerDeleted));
    assert!(m.is_finished());
}

#[test]
fn terminal_statuses_stick() {
    let t0 = Instant::now();
    for (line, expected) in [
        ("409 Consumer Deleted", PullError::ConsumerDeleted),
        (
            "400 Bad Request",
            PullError::BadRequest("Bad Request".into()),
        ),
    ] {
        let mut m = consume(100, None);
        let _ = m.poll_pull(t0).unwrap();
        assert_eq!(m.handle_message(t0, &status(line, &[])), Delivery::Status);
        assert_eq!(m.poll_error(), Some(expected.clone()), "{line}");
        assert!(m.is_finished());
        // Nothing moves it any more: no pulls, no timers, no other errors.
        assert_eq!(m.poll_timeout(), None);
        m.handle_timeout(t0 + 60 * SEC);
        m.handle_reconnected(t0 + 60 * SEC);
        let _ = m.handle_message(t0, &status("409 Exceeded MaxWaiting", &[]));
        m.handle_closed();
        assert_eq!(m.poll_pull(t0 + 60 * SEC), None, "{line}");
        assert_eq!(m.poll_error(), None, "{line}");
        assert_eq!(m.terminal, Some(expected), "{line}");
    }
}

#[test]
fn an_unsent_pull_is_retried_after_a_backoff() {
    let t0 = Instant::now();
    let mut m = consume(100, None);
    let _ = m.poll_pull(t0).unwrap();
    m.handle_pull_failed(t0);
    assert_eq!(m.pulls(), 0);
    assert_eq!(m.outstanding(), Outstanding::default());
    assert_eq!(m.poll_pull(t0), None);
    assert_eq!(m.poll_timeout(), Some(t0 + 250 * MS), "no heartbeat check");
    m.handle_timeout(t0 + 250 * MS);
    assert_eq!(m.poll_pull(t0 + 250 * MS).map(|p| p.batch), Some(100));
    assert_eq!(m.pulls(), 1);
    // A closed client is terminal.
    m.handle_closed();
    assert_eq!(m.poll_error(), Some(PullError::Closed));
    assert!(m.is_finished());
}

// ---- Fetch ----

#[test]
fn fetch_pulls_once_and_ends_at_its_batch() {
    let t0 = Instant::now();
    let mut m = fetch(3, None, None);
    let pull = m.poll_pull(t0).expect("the one pull");
    assert_eq!(pull.batch, 3);
    assert_eq!(m.poll_pull(t0), None, "only one");
    // Without heartbeats, the only timer is the local deadline: expires + 3 s.
    assert_eq!(m.poll_timeout(), Some(t0 + 33 * SEC));
    deliver(&mut m, t0, 2);
    assert!(!m.is_finished());
    assert_eq!(m.poll_pull(t0), None, "a fetch never re-pulls");
    deliver(&mut m, t0, 1);
    assert!(m.is_finished());
    assert_eq!(m.poll_error(), None);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn fetch_ends_without_error_at_404_408_and_the_other_ends_of_a_pull() {
    let now = Instant::now();
    for line in [
        "404 No Messages",
        "408 Request Timeout",
        "409 Batch Completed",
        "409 Leadership Change",
    ] {
        let mut m = fetch(10, None, None);
        let _ = m.poll_pull(now).unwrap();
        deliver(&mut m, now, 2);
        assert_eq!(m.handle_message(now, &status(line, &[])), Delivery::Status);
        assert!(m.is_finished(), "{line}");
        assert_eq!(m.poll_error(), None, "{line}");
    }
}

#[test]
fn fetch_ends_with_an_error_at_other_statuses() {
    let now = Instant::now();
    for (line, expected) in [
        ("409 Consumer Deleted", PullError::ConsumerDeleted),
        ("409 Exceeded MaxWaiting", PullError::MaxWaitingExceeded),
        ("409 Server Shutdown", PullError::ServerShutdown),
        ("503", PullError::NoResponders),
        (
            "400 Bad Request",
            PullError::BadRequest("Bad Request".into()),
        ),
    ] {
        let mut m = fetch(10, None, None);
        let _ = m.poll_pull(now).unwrap();
        assert_eq!(m.handle_message(now, &status(line, &[])), Delivery::Status);
        assert!(m.is_finished(), "{line}");
        assert_eq!(m.poll_error(), Some(expected), "{line}");
        assert_eq!(m.poll_timeout(), None, "{line}");
    }
}

#[test]
fn fetch_with_max_bytes_asks_for_them_and_ends_at_the_servers_409() {
    let now = Instant::now();
    let mut m = fetch(10, Some(350), None);
    let pull = m.poll_pull(now).unwrap();
    assert_eq!(pull.max_bytes, Some(350));
    deliver(&mut m, now, 2);
    let spent = status(
        "409 Message Size Exceeds MaxBytes",
        &[("Nats-Pending-Messages", "8"), ("Nats-Pending-Bytes", "0")],
    );
    assert_eq!(m.handle_message(now, &spent), Delivery::Status);
    assert!(m.is_finished());
    // The driver returns the two messages; the error only matters when none came.
    assert_eq!(m.poll_error(), Some(PullError::MessageSizeExceedsMaxBytes));
}

#[test]
fn fetch_ends_at_its_local_deadline() {
    let t0 = Instant::now();
    let mut m = fetch(10, None, None);
    let _ = m.poll_pull(t0).unwrap();
    deliver(&mut m, t0 + SEC, 1);
    m.handle_timeout(t0 + 32 * SEC);
    assert!(!m.is_finished());
    m.handle_timeout(t0 + 33 * SEC);
    assert!(m.is_finished());
    assert_eq!(m.poll_error(), Some(PullError::TimedOut));
}

#[test]
fn fetch_ends_when_its_heartbeats_stop() {
    let t0 = Instant::now();
    let mut m = fetch(10, None, Some(5 * SEC));
    let _ = m.poll_pull(t0).unwrap();
    assert_eq!(m.poll_timeout(), Some(t0 + 10 * SEC));
    let t = t0 + 5 * SEC;
    assert_eq!(m.handle_message(t, &heartbeat()), Delivery::Status);
    assert_eq!(m.poll_timeout(), Some(t + 10 * SEC));
    m.handle_timeout(t + 10 * SEC);
    assert!(m.is_finished());
    assert_eq!(m.poll_error(), Some(PullError::NoHeartbeat));
    assert_eq!(
        m.missed_heartbeats(),
        0,
        "a fetch reports, it does not count"
    );
}

#[test]
fn a_fetch_that_could_not_be_sent_is_over() {
    let now = Instant::now();
    let mut m = fetch(10, None, None);
    let _ = m.poll_pull(now).unwrap();
    m.handle_pull_failed(now);
    assert!(m.is_finished());
    assert_eq!(m.pulls(), 0);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn no_wait_fetch_waits_for_the_api_timeout_only() {
    let now = Instant::now();
    let request = PullRequest {
        batch: 5,
        expires: None,
        max_bytes: None,
        no_wait: true,
        idle_heartbeat: None,
        priority: None,
    };
    let mut m = PullMachine::fetch(request.clone(), fetch_timeout(&request, 5 * SEC));
    assert_eq!(m.poll_pull(now), Some(request));
    assert_eq!(m.poll_timeout(), Some(now + 5 * SEC));
    assert_eq!(
        m.handle_message(now, &status("404 No Messages", &[])),
        Delivery::Status
    );
    assert!(m.is_finished());
    assert_eq!(m.poll_error(), None);
}

// ---- Priority groups and the pin id (ADR-42) ----

fn priority(group: &str) -> PriorityRequest {
    PriorityRequest {
        group: group.into(),
        min_pending: None,
        min_ack_pending: None,
        priority: None,
        id: None,
    }
}

fn pinned(payload: &str, pin: &str) -> Message {
    let block = format!("NATS/1.0\r\nNats-Pin-Id: {pin}\r\n\r\n");
    message(
        "orders.new",
        Some("$JS.ACK.S.C.1.1.1.0.0"),
        Some(&block),
        payload,
    )
}

#[test]
fn priority_fields_are_sent_and_checked() {
    let r = PullRequest {
        batch: 2,
        expires: None,
        max_bytes: None,
        no_wait: true,
        idle_heartbeat: None,
        priority: Some(PriorityRequest {
            min_pending: Some(10),
            min_ack_pending: Some(3),
            priority: Some(2),
            id: Some("pin1".into()),
            ..priority("jobs")
        }),
    };
    r.validate().unwrap();
    assert_eq!(
        r.body().unwrap(),
        Bytes::from_static(
            br#"{"batch":2,"no_wait":true,"group":"jobs","min_pending":10,"min_ack_pending":3,"priority":2,"id":"pin1"}"#
        )
    );
    for bad in ["", "a.b", "seventeen-chars-x", "sp ace"] {
        let r = PullRequest {
            priority: Some(priority(bad)),
            ..r.clone()
        };
        assert!(
            matches!(r.validate(), Err(Error::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    let r = PullRequest {
        priority: Some(PriorityRequest {
            priority: Some(10),
            ..priority("jobs")
        }),
        ..r
    };
    assert!(matches!(r.validate(), Err(Error::InvalidArgument(_))));
}

#[test]
fn consume_learns_the_pin_id_and_sends_it_with_later_pulls() {
    let now = Instant::now();
    let mut m = PullMachine::consume(Limits::new(4, None), 30 * SEC, 15 * SEC)
        .with_priority(Some(priority("jobs")));
    let first = m.poll_pull(now).unwrap();
    assert_eq!(first.priority, Some(priority("jobs")), "no pin yet");
    assert_eq!(m.handle_message(now, &pinned("a", "P1")), Delivery::Message);
    assert!(m.take_pin_change());
    assert!(!m.take_pin_change(), "reported once");
    assert_eq!(m.pin_id(), Some("P1"));
    assert_eq!(m.handle_message(now, &pinned("b", "P1")), Delivery::Message);
    assert!(!m.take_pin_change(), "the same pin is no change");
    let second = m.poll_pull(now).expect("half the batch arrived: top up");
    assert_eq!(second.priority.and_then(|p| p.id).as_deref(), Some("P1"));

    // Unpinned: the server refuses the old id; forget it and pull again at once.
    assert_eq!(
        m.handle_message(now, &status("423 Nats-Wrong-Pin-Id", &[])),
        Delivery::Status
    );
    assert_eq!(m.poll_error(), Some(PullError::PinIdMismatch));
    assert!(!m.is_finished(), "not terminal");
    assert!(m.take_pin_change());
    assert_eq!(m.pin_id(), None);
    let third = m.poll_pull(now).expect("re-pulled at once");
    assert_eq!(third.batch, 4, "a full batch: the old pulls are gone");
    assert_eq!(third.priority, Some(priority("jobs")), "without the old id");
}

#[test]
fn fetch_sends_the_handles_pin_and_ends_at_423_with_an_error() {
    // nats.go's Fetch ends with ErrPinIDMismatch too; with messages before it, the
    // messages are the outcome (`fetch_outcome`).
    let now = Instant::now();
    let request = PullRequest {
        batch: 5,
        expires: Some(2 * SEC),
        max_bytes: None,
        no_wait: false,
        idle_heartbeat: None,
        priority: Some(priority("jobs")),
    };
    let mut m = PullMachine::fetch(request, 3 * SEC).with_pin_id(Some("P1".into()));
    let sent = m.poll_pull(now).unwrap();
    assert_eq!(sent.priority.and_then(|p| p.id).as_deref(), Some("P1"));
    assert_eq!(
        m.handle_message(now, &status("423 Nats-Wrong-Pin-Id", &[])),
        Delivery::Status
    );
    assert!(m.is_finished());
    assert_eq!(m.poll_error(), Some(PullError::PinIdMismatch));
    assert!(m.take_pin_change());
    assert_eq!(m.pin_id(), None);
}

#[test]
fn pins_are_not_looked_for_without_a_priority_group() {
    let now = Instant::now();
    let mut m = consume(4, None);
    let _ = m.poll_pull(now);
    assert_eq!(m.handle_message(now, &pinned("a", "P1")), Delivery::Message);
    assert!(!m.take_pin_change());
    assert_eq!(m.pin_id(), None);
}
