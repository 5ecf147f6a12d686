//! Serde tests of [`StreamConfig`]: JSON captured from nats-server 2.15.1
//! (`../stream_info/server-2.15.1.json`) reads into typed fields only and writes back
//! the same.

use super::*;
use crate::stream_source::External;
use serde_json::json;

fn captured(key: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("../stream_info/server-2.15.1.json")).expect("fixture");
    all[key].clone()
}

/// Every field of `original` comes back from `config` with the same value, except the
/// defaults this crate leaves out, which the server reads as the same values.
fn assert_round_trips(original: &Value, config: &StreamConfig) {
    let back = serde_json::to_value(config).unwrap();
    for (k, v) in original.as_object().unwrap() {
        match back.get(k) {
            Some(b) => assert_eq!(b, v, "{k}"),
            None => assert!(
                [json!(false), json!(-1), json!(0), json!("none"), json!({})].contains(v),
                "{k} dropped with non-default value {v}"
            ),
        }
    }
    for k in back.as_object().unwrap().keys() {
        assert!(
            original.get(k).is_some(),
            "{k} sent but the server has none"
        );
    }
}

#[test]
fn a_full_server_config_reads_into_typed_fields_and_round_trips() {
    let original = captured("create_full")["config"].clone();
    let c: StreamConfig = serde_json::from_value(original.clone()).unwrap();
    assert!(c.extra.is_empty(), "untyped: {:?}", c.extra);
    let metadata: HashMap<String, String> = [
        ("_nats.level", "5"),
        ("_nats.req.level", "1"),
        ("_nats.ver", "2.15.1"),
        ("team", "a"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let expected = StreamConfig {
        description: Some("d".into()),
        subjects: vec!["full.>".into()],
        max_age: Duration::from_secs(3600),
        max_msgs_per_subject: 3,
        discard: DiscardPolicy::New,
        storage: StorageType::File,
        duplicate_window: Duration::from_secs(60),
        compression: Compression::S2,
        first_seq: 10,
        subject_transform: Some(SubjectTransform::new("full.>", "tr.>")),
        republish: Some(Republish {
            src: "tr.>".into(),
            dest: "rp.>".into(),
            headers_only: true,
        }),
        allow_direct: true,
        discard_new_per_subject: true,
        allow_rollup_hdrs: true,
        consumer_limits: ConsumerLimits {
            inactive_threshold: Duration::from_secs(60),
            max_ack_pending: 100,
        },
        allow_msg_ttl: true,
        subject_delete_marker_ttl: Duration::from_secs(5),
        metadata,
        ..StreamConfig::new("FULL")
    };
    assert_eq!(c, expected);
    assert_round_trips(&original, &c);
}

#[test]
fn mirror_and_sources_read_typed_and_round_trip() {
    let original = captured("info_mirror")["config"].clone();
    let mirror: StreamConfig = serde_json::from_value(original.clone()).unwrap();
    assert!(mirror.extra.is_empty(), "untyped: {:?}", mirror.extra);
    assert_eq!(
        mirror.mirror,
        Some(StreamSource {
            opt_start_seq: Some(2),
            filter_subject: Some("src.1".into()),
            ..StreamSource::new("SRC")
        })
    );
    assert!(mirror.mirror_direct && mirror.subjects.is_empty());
    assert_round_trips(&original, &mirror);

    let original = captured("info_sources")["config"].clone();
    let agg: StreamConfig = serde_json::from_value(original.clone()).unwrap();
    assert!(agg.extra.is_empty(), "untyped: {:?}", agg.extra);
    let start = time::OffsetDateTime::from_unix_timestamp(1_577_836_800).unwrap();
    assert_eq!(
        agg.sources,
        vec![
            StreamSource {
                opt_start_time: Some(start),
                subject_transforms: vec![SubjectTransform::new("src.>", "agg.>")],
                ..StreamSource::new("SRC")
            },
            StreamSource {
                filter_subject: Some("tr.>".into()),
                ..StreamSource::new("FULL")
            },
        ]
    );
    assert_round_trips(&original, &agg);
}

#[test]
fn placement_external_and_the_2_12_flags_are_sent_as_the_server_names_them() {
    let c = StreamConfig {
        placement: Some(Placement {
            cluster: Some("C1".into()),
            tags: vec!["ssd".into()],
            preferred: None,
        }),
        mirror: Some(StreamSource {
            external: Some(External::domain("hub")),
            ..StreamSource::new("M")
        }),
        allow_msg_counter: true,
        allow_atomic: true,
        allow_msg_schedules: true,
        allow_batched: true,
        persist_mode: PersistMode::Async,
        sealed: true,
        no_ack: true,
        ..StreamConfig::new("A")
    };
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["placement"], json!({"cluster": "C1", "tags": ["ssd"]}));
    assert_eq!(
        v["mirror"],
        json!({"name": "M", "external": {"api": "$JS.hub.API"}})
    );
    for flag in [
        "allow_msg_counter",
        "allow_atomic",
        "allow_msg_schedules",
        "allow_batched",
        "sealed",
        "no_ack",
    ] {
        assert_eq!(v[flag], json!(true), "{flag}");
    }
    assert_eq!(v["persist_mode"], json!("async"));
    let back: StreamConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back, c);
    // The server's spellings of the defaults read as the defaults.
    let d: StreamConfig = serde_json::from_value(json!({"name": "A", "persist_mode": "default",
        "compression": "none", "metadata": null, "sources": null, "consumer_limits": {}}))
    .unwrap();
    assert_eq!(d, StreamConfig::new("A"));
}

#[test]
fn a_field_a_newer_server_adds_is_kept_and_sent_back() {
    let c: StreamConfig =
        serde_json::from_value(json!({"name": "S", "allow_teleport": {"range": 3}})).unwrap();
    assert_eq!(c.extra["allow_teleport"], json!({"range": 3}));
    assert_eq!(
        serde_json::to_value(&c).unwrap()["allow_teleport"],
        json!({"range": 3})
    );
}

#[test]
fn a_new_config_sends_only_what_is_set() {
    let c = StreamConfig {
        subjects: vec!["a".into()],
        ..StreamConfig::new("A")
    };
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({"name":"A","subjects":["a"],"retention":"limits","max_consumers":-1,
            "max_msgs":-1,"max_bytes":-1,"storage":"file","discard":"old",
            "num_replicas":1})
    );
    let missing: StreamConfig = serde_json::from_str(r#"{"name":"A","subjects":null}"#).unwrap();
    assert_eq!(missing, StreamConfig::new("A"));
    assert!(
        serde_json::from_value::<StreamConfig>(json!({"name": "A", "compression": "lz4"})).is_err()
    );
}
