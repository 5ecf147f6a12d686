//! A configuration watcher on a Key-Value bucket: an application's live settings.
//!
//! Run against a local JetStream server (`nats-server -js`):
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy-jetstream --example kv_config_watch
//! ```
//!
//! It binds the bucket `app-config` (or creates it, history 5), seeds two settings if the
//! bucket is empty, and watches every key: the current settings arrive first, then the
//! "initial values done" marker, and from then on every change is applied as it happens.
//! A second thread plays the operator: it changes a setting with an update guarded by
//! its revision (so two operators cannot overwrite each other), adds one, and deletes
//! one. The watcher prints the configuration after each change and stops after the
//! operator's three changes (or after 10 s of silence).
//!
//! Change settings from the shell meanwhile with `nats kv put app-config log.level debug`.

use std::collections::BTreeMap;
use std::time::Duration;

use natsy_jetstream::kv::{KvConfig, KvError, Operation, WatchEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let js = natsy_jetstream::new(natsy::connect(url.as_str())?);

    let kv = match js.key_value("app-config") {
        Ok(kv) => kv,
        Err(KvError::BucketNotFound) => {
            let mut config = KvConfig::new("app-config");
            config.history = 5;
            println!("bucket app-config not found; creating it");
            js.create_key_value(&config)?
        }
        Err(e) => return Err(e.into()),
    };
    // `create` writes only if the key has no value, so a restart keeps what is there.
    for (key, value) in [("log.level", "info"), ("http.port", "8080")] {
        match kv.create(key, value) {
            Ok(_) | Err(KvError::KeyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let mut settings = BTreeMap::new();
    let mut watch = kv.watch_all()?;
    let mut live_changes = 0;
    let mut operator = None;
    while let Some(event) = watch.next_timeout(Duration::from_secs(10))? {
        match event {
            WatchEvent::Entry(e) => {
                match e.operation {
                    Operation::Put => {
                        let value = String::from_utf8_lossy(&e.value).into_owned();
                        settings.insert(e.key.clone(), value);
                    }
                    Operation::Delete | Operation::Purge => {
                        settings.remove(&e.key);
                    }
                }
                if operator.is_some() {
                    live_changes += 1;
                    println!(
                        "change {live_changes}: {:?} {} (revision {})",
                        e.operation, e.key, e.revision
                    );
                    println!("  settings: {settings:?}");
                }
            }
            WatchEvent::InitialValuesDone => {
                println!("current settings: {settings:?}");
                let kv = kv.clone();
                operator = Some(std::thread::spawn(move || -> Result<(), KvError> {
                    let current = kv.entry("log.level")?;
                    kv.update("log.level", "debug", current.revision)?;
                    kv.put("feature.search", "on")?;
                    kv.delete("http.port")?;
                    Ok(())
                }));
            }
        }
        if live_changes == 3 {
            break;
        }
    }
    if let Some(op) = operator {
        op.join().expect("operator thread")?;
    }
    Ok(())
}
