//! JetStream account info against a real nats-server: usage follows created streams,
//! per-account limits are visible, an account without JetStream gets the typed error,
//! and exceeding the account's file storage fails with the server's typed error.

use natsy_jetstream::{ApiErrorKind, Error, StorageType, StreamConfig};
use natsy_test_harness::{Account, JetStreamLimits, NatsServer};

fn url_for(server: &NatsServer, user: &str, password: &str) -> String {
    format!("nats://{user}:{password}@127.0.0.1:{}", server.port())
}

#[test]
fn account_info_reflects_created_streams() {
    let server = NatsServer::builder().jetstream().start().expect("server");
    let js = natsy_jetstream::new(natsy::connect(server.url()).expect("connect"));
    let before = js.account_info().expect("account info");
    assert_eq!(before.streams, 0);
    assert_eq!(before.consumers, 0);
    // No account limits configured: everything unlimited.
    assert_eq!(before.limits.max_streams, None);
    assert_eq!(before.limits.max_memory, None);

    for (name, storage) in [("A1", StorageType::File), ("A2", StorageType::Memory)] {
        js.create_stream(&StreamConfig {
            subjects: vec![format!("{}.>", name.to_lowercase())],
            storage,
            ..StreamConfig::new(name)
        })
        .expect("create");
    }
    js.publish("a2.x", vec![7u8; 1000]).expect("publish");
    let after = js.account_info().expect("account info");
    assert_eq!(after.streams, 2);
    assert!(after.memory >= 1000, "memory use {}", after.memory);
    assert!(after.api.total > before.api.total);
    js.delete_stream("A1").expect("delete");
    assert_eq!(js.account_info().expect("account info").streams, 1);
}

#[test]
fn account_limits_disabled_accounts_and_storage_exhaustion() {
    let limits = JetStreamLimits {
        max_mem: Some(1 << 20),
        max_file: Some(64 * 1024),
        max_streams: Some(3),
        max_consumers: Some(5),
    };
    let server = NatsServer::builder()
        .jetstream()
        .account(Account::new("A").user("a", "pa").jetstream(limits))
        .account(Account::new("D").user("d", "pd").jetstream_disabled())
        .start()
        .expect("server");

    let js = natsy_jetstream::new(natsy::connect(url_for(&server, "a", "pa")).expect("connect"));
    let info = js.account_info().expect("account info");
    assert_eq!(info.limits.max_memory, Some(1 << 20));
    assert_eq!(info.limits.max_storage, Some(64 * 1024));
    assert_eq!(info.limits.max_streams, Some(3));
    assert_eq!(info.limits.max_consumers, Some(5));
    // Not configured: unlimited (the server sends -1).
    assert_eq!(info.limits.max_ack_pending, None);
    assert_eq!((info.streams, info.storage), (0, 0));

    // The account with JetStream disabled: the server answers with 10039.
    let disabled =
        natsy_jetstream::new(natsy::connect(url_for(&server, "d", "pd")).expect("connect"));
    let err = disabled.account_info().unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NotEnabledForAccount));
    assert!(matches!(err, Error::Api(ref e) if e.code == 503 && e.err_code == 10039));
    let err = disabled.create_stream(&StreamConfig::new("X")).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::NotEnabledForAccount));

    // A file stream reserving more than the account's file storage: 10047.
    let err = js
        .create_stream(&StreamConfig {
            subjects: vec!["big.>".into()],
            max_bytes: 1 << 20,
            ..StreamConfig::new("BIG")
        })
        .unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::StorageResourcesExceeded));
    assert!(js.get_stream("BIG").is_err(), "nothing was created");

    // Publishing past the account's file storage: the ack is 10002.
    js.create_stream(&StreamConfig {
        subjects: vec!["fill.>".into()],
        ..StreamConfig::new("FILL")
    })
    .expect("create");
    let mut stored = 0u64;
    let err = loop {
        match js.publish("fill.x", vec![1u8; 4096]) {
            Ok(ack) => {
                stored += 1;
                assert_eq!(ack.sequence, stored);
                assert!(stored < 64, "64 KiB of storage cannot hold 64 x 4 KiB");
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.api_kind(), Some(ApiErrorKind::AccountResourcesExceeded));
    let state = js.stream_info("FILL").expect("info").state;
    assert_eq!(state.messages, stored, "the refused message was not stored");
    assert!(js.account_info().expect("info").storage <= 64 * 1024);

    // max_streams 3: FILL plus two more, then 10027.
    js.create_stream(&StreamConfig::new("S1")).expect("create");
    js.create_stream(&StreamConfig::new("S2")).expect("create");
    let err = js.create_stream(&StreamConfig::new("S3")).unwrap_err();
    assert_eq!(err.api_kind(), Some(ApiErrorKind::MaximumStreamsLimit));
    assert_eq!(js.account_info().expect("info").streams, 3);
}
