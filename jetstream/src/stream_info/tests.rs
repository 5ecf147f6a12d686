//! Serde tests of [`StreamInfo`] and its parts, on JSON captured from nats-server 2.15.1
//! (`server-2.15.1.json`: a single server, and an R3 stream in a 3-node cluster).

use super::*;
use crate::consumer::ConsumerInfo;
use crate::context::parse_response;
use serde_json::{json, Value};

fn captured(key: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("server-2.15.1.json")).expect("fixture");
    all[key].clone()
}

fn info(key: &str) -> StreamInfo {
    parse_response(captured(key).to_string().as_bytes()).expect(key)
}

#[test]
fn state_with_subjects_deleted_and_times() {
    let i = info("info_src");
    let s = &i.state;
    assert_eq!((s.messages, s.first_seq, s.last_seq), (4, 1, 5));
    assert_eq!(s.num_subjects, 2);
    assert_eq!(
        s.subjects,
        HashMap::from([("src.0".to_string(), 3), ("src.1".to_string(), 1)])
    );
    assert_eq!((s.num_deleted, s.deleted.clone()), (1, vec![2]));
    assert_eq!(s.lost, None);
    let first = s.first_time.expect("first_ts");
    let last = s.last_time.expect("last_ts");
    assert_eq!(first.nanosecond(), 897_628_773);
    assert!(first <= last && i.created <= first);
    assert_eq!(i.created.year(), 2026);
    assert!(i.ts.expect("ts") >= last);
    assert_eq!(
        i.cluster.and_then(|c| c.leader).map(|l| l.len()),
        Some(56),
        "a single server leads with its id"
    );
    // Paging: the total counts subjects.
    let (_, total) = (stream_info_page_call("SRC", &StreamInfoOptions::new(), 0)
        .unwrap()
        .parse)(captured("info_src").to_string().as_bytes())
    .unwrap();
    assert_eq!(total, 2);
}

#[test]
fn an_empty_stream_has_no_times() {
    // Go's zero time for both, as the server sends for a new stream.
    let i = info("create_full");
    assert_eq!((i.state.first_time, i.state.last_time), (None, None));
    assert_eq!((i.state.first_seq, i.state.last_seq), (10, 9));
    let bad = serde_json::from_value::<StreamInfo>(json!({
        "config": {"name":"S"}, "created": "yesterday", "state": {}
    }));
    assert!(bad.is_err());
}

#[test]
fn mirror_and_source_info() {
    let m = info("info_mirror").mirror.expect("mirror info");
    assert_eq!((m.name.as_str(), m.lag), ("SRC", 0));
    assert_eq!(m.filter_subject.as_deref(), Some("src.1"));
    assert_eq!(m.active, Some(Duration::from_nanos(868_166_616)));
    assert_eq!(m.error, None);
    let sources = info("info_sources").sources;
    assert_eq!(sources.len(), 2);
    assert_eq!(
        sources[0].subject_transforms,
        vec![SubjectTransform::new("src.>", "agg.>")]
    );
    assert!(sources[0].active.is_some());
    // Never heard from (`active: -1`), with the reason.
    assert_eq!(sources[1].active, None);
    let e = sources[1].error.as_ref().expect("source error");
    assert_eq!((e.code, e.err_code), (400, 10082));
}

#[test]
fn cluster_info_of_an_r3_stream_and_its_consumer() {
    let i = info("cluster_stream");
    let c = i.cluster.expect("cluster");
    assert_eq!(c.name.as_deref(), Some("C1"));
    assert_eq!(c.leader.as_deref(), Some("n1"));
    assert!(c.raft_group.is_some_and(|g| g.starts_with("S-R3M-")));
    assert!(c.leader_since.is_some());
    assert!(c.system_account);
    assert_eq!(c.traffic_account.as_deref(), Some("$SYS"));
    let names: Vec<_> = c.replicas.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["n2", "n3"]);
    assert!(c
        .replicas
        .iter()
        .all(|r| r.current && !r.offline && !r.pending));
    assert_eq!(c.replicas[0].peer, "44jzkV9D");
    assert_eq!(c.replicas[0].active, Duration::from_nanos(1_563_944_849));
    assert_eq!(
        i.config
            .placement
            .as_ref()
            .and_then(|p| p.cluster.as_deref()),
        Some("C1")
    );
    assert!(i.config.extra.is_empty(), "untyped: {:?}", i.config.extra);

    let consumer: ConsumerInfo =
        parse_response(captured("cluster_consumer").to_string().as_bytes()).unwrap();
    let c = consumer.cluster.expect("consumer cluster");
    assert_eq!(c.leader.as_deref(), Some("n2"));
    assert!(c.raft_group.is_some_and(|g| g.starts_with("C-R3M-")));
    assert_eq!(c.replicas.len(), 2);
    assert!(consumer.ts.is_some_and(|ts| ts >= consumer.created));
}

#[test]
fn consumer_start_time_is_typed_both_ways() {
    let consumer: ConsumerInfo =
        parse_response(captured("consumer").to_string().as_bytes()).unwrap();
    let start = time::OffsetDateTime::from_unix_timestamp(1_577_836_800).unwrap();
    assert_eq!(consumer.config.opt_start_time, Some(start));
    assert_eq!(consumer.delivered.last_active, None);
    let sent = serde_json::to_value(&consumer.config).unwrap();
    assert_eq!(sent["opt_start_time"], "2020-01-01T00:00:00Z");
}

#[test]
fn info_pages_merge_their_subjects() {
    let page = |subjects: &[(&str, u64)]| {
        let mut i = info("info_src");
        i.state.subjects = subjects.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        i
    };
    let mut pager = InfoPager::new();
    assert_eq!(pager.offset(), Some(0));
    pager.add((page(&[("a", 1), ("b", 2)]), 3));
    assert_eq!(pager.offset(), Some(2));
    pager.add((page(&[("c", 3)]), 3));
    assert_eq!(pager.offset(), None);
    let merged = pager.finish().unwrap();
    assert_eq!(merged.state.subjects.len(), 3);
    // A page that adds nothing ends it even if the total says more.
    let mut pager = InfoPager::new();
    pager.add((page(&[("a", 1)]), 5));
    pager.add((page(&[("a", 1)]), 5));
    assert_eq!(pager.offset(), None);
    // Without subjects, one page.
    let mut pager = InfoPager::new();
    pager.add((page(&[]), 0));
    assert_eq!(pager.offset(), None);

    let call = stream_info_page_call(
        "S",
        &StreamInfoOptions::new()
            .subjects_filter("a.>")
            .deleted_details(),
        7,
    )
    .unwrap();
    assert_eq!(call.endpoint, "STREAM.INFO.S");
    assert_eq!(
        &call.body[..],
        br#"{"subjects_filter":"a.>","deleted_details":true,"offset":7}"#
    );
    assert!(
        stream_info_page_call("S", &StreamInfoOptions::new().subjects_filter("a b"), 0).is_err()
    );
}
