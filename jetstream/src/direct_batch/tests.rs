//! The batch direct get request and [`BatchReader`] on replies captured from
//! nats-server 2.15.1 (`../stream_info/server-2.15.1.json`).

use super::*;
use crate::ApiErrorKind;
use serde_json::Value;

fn reply(headers: &str, payload: &str) -> natsy::proto::Message {
    let mut frame = b"_INBOX.x".to_vec();
    let hstart = frame.len();
    frame.extend_from_slice(headers.as_bytes());
    let hend = frame.len();
    frame.extend_from_slice(payload.as_bytes());
    let pend = frame.len();
    natsy::proto::Message::from_parts(
        Bytes::from(frame),
        1,
        0..8,
        None,
        (!headers.is_empty()).then_some(hstart..hend),
        hend..pend,
    )
}

fn captured(key: &str) -> Vec<natsy::proto::Message> {
    let all: Value =
        serde_json::from_str(include_str!("../stream_info/server-2.15.1.json")).expect("fixture");
    all[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| reply(r[0].as_str().unwrap(), r[1].as_str().unwrap()))
        .collect()
}

/// What a batch read: the sequences and payloads, and how it ended.
type Read = (Vec<(u64, String)>, Result<Option<BatchEnd>, Error>);

/// Reads `replies` to the end.
fn read(replies: &[natsy::proto::Message]) -> Read {
    let mut reader = BatchReader::new();
    let mut got = Vec::new();
    for r in replies {
        match reader.handle(r) {
            Ok(BatchStep::Message(m)) => {
                got.push((m.sequence, String::from_utf8_lossy(&m.payload).into_owned()))
            }
            Ok(BatchStep::Done) => break,
            Err(e) => return (got, Err(e)),
        }
    }
    assert!(reader.is_finished());
    (got, Ok(reader.end()))
}

#[test]
fn a_batch_reads_to_its_eob() {
    let (got, end) = read(&captured("direct_batch"));
    assert_eq!(
        got,
        vec![(1, "m0".into()), (3, "m2".into()), (4, "m3".into())]
    );
    let end = end.unwrap().expect("EOB");
    assert_eq!(
        (end.num_pending, end.last_sequence, end.up_to_sequence),
        (1, 4, None)
    );
}

#[test]
fn last_per_subject_ends_with_its_consistent_sequence() {
    let (got, end) = read(&captured("direct_multi"));
    assert_eq!(got, vec![(4, "m3".into()), (5, "m4".into())]);
    assert_eq!(end.unwrap().unwrap().up_to_sequence, Some(5));
}

#[test]
fn nothing_found_is_an_empty_batch() {
    let (got, end) = read(&captured("direct_batch_none"));
    assert!(got.is_empty());
    assert_eq!(end.unwrap(), None);
}

#[test]
fn a_lost_message_is_an_error_not_a_silent_gap() {
    let mut replies = captured("direct_batch");
    replies.remove(1);
    let (got, end) = read(&replies);
    assert_eq!(got.len(), 1);
    assert!(matches!(end, Err(Error::InvalidResponse(_))));
    // The last message lost: the EOB names a sequence that never came.
    let mut replies = captured("direct_batch");
    replies.remove(2);
    let (got, end) = read(&replies);
    assert_eq!(got.len(), 2);
    assert!(matches!(end, Err(Error::InvalidResponse(_))));
}

#[test]
fn errors_and_old_servers() {
    let (_, end) = read(&[reply("NATS/1.0 413 Too Many Results\r\n\r\n", "")]);
    assert!(matches!(end, Err(Error::Api(ref e)) if e.code == 413));
    let (_, end) = read(&[reply("NATS/1.0 503\r\n\r\n", "")]);
    assert_eq!(end, Err(Error::NotEnabled));
    let (_, end) = read(&[reply("NATS/1.0 408 Bad Request\r\n\r\n", "")]);
    assert!(matches!(end, Err(Error::Api(ref e)) if e.code == 408));
    // A 404 after messages is not "empty".
    let first = captured("direct_batch").remove(0);
    let (got, end) = read(&[first, reply("NATS/1.0 404 Message Not Found\r\n\r\n", "")]);
    assert_eq!(got.len(), 1);
    assert_eq!(
        end.unwrap_err().api_kind(),
        Some(ApiErrorKind::NoMessageFound)
    );
    // A server before 2.11: one plain reply, no Nats-Num-Pending, no EOB.
    let old = reply(
        "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: a\r\nNats-Sequence: 7\r\n\
         Nats-Time-Stamp: 2024-01-01T00:00:00Z\r\n\r\n",
        "x",
    );
    let (got, end) = read(&[old]);
    assert_eq!(got, vec![(7, "x".into())]);
    assert_eq!(end.unwrap(), None);
    for broken in [
        "NATS/1.0 204 EOB\r\nNats-Num-Pending: x\r\nNats-Last-Sequence: 0\r\n\r\n",
        "NATS/1.0\r\nNats-Subject: a\r\n\r\n",
        "",
    ] {
        let (_, end) = read(&[reply(broken, "")]);
        assert!(matches!(end, Err(Error::InvalidResponse(_))), "{broken:?}");
    }
}

#[test]
fn requests_are_checked_and_say_only_what_is_set() {
    let body = |b: &DirectBatch| {
        batch_request("S", b).map(|(e, body)| (e, String::from_utf8(body.to_vec()).unwrap()))
    };
    assert_eq!(
        body(&DirectBatch::new(3)).unwrap(),
        ("DIRECT.GET.S".into(), r#"{"seq":1,"batch":3}"#.into())
    );
    assert_eq!(
        body(&DirectBatch::new(3).subject("a.>").max_bytes(100))
            .unwrap()
            .1,
        r#"{"seq":0,"next_by_subj":"a.>","batch":3,"max_bytes":100}"#
    );
    let t = time::OffsetDateTime::from_unix_timestamp(1_577_836_800).unwrap();
    assert_eq!(
        body(&DirectBatch::new(1).start_time(t)).unwrap().1,
        r#"{"batch":1,"start_time":"2020-01-01T00:00:00Z"}"#
    );
    assert_eq!(
        body(
            &DirectBatch::last_per_subject(["a.*", "b"])
                .up_to_sequence(9)
                .batch(2)
        )
        .unwrap()
        .1,
        r#"{"batch":2,"multi_last":["a.*","b"],"up_to_seq":9}"#
    );
    for bad in [
        DirectBatch::new(0),
        DirectBatch::new(1).start_sequence(2).start_time(t),
        DirectBatch::new(1).start_sequence(0),
        DirectBatch::new(1).up_to_sequence(3),
        DirectBatch::new(1).subject("a b"),
        DirectBatch::last_per_subject(["a"]).subject("b"),
        DirectBatch::last_per_subject(["a"])
            .up_to_sequence(1)
            .up_to_time(t),
        DirectBatch::last_per_subject(["a..b"]),
    ] {
        assert!(
            matches!(batch_request("S", &bad), Err(Error::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    assert!(batch_request("a.b", &DirectBatch::new(1)).is_err());
}
