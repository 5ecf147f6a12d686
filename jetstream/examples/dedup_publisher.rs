//! Publishes with message ids and shows the stream dropping duplicates.
//!
//! Run against a local JetStream server (`nats-server -js`):
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy-jetstream --example dedup_publisher
//! ```
//!
//! It binds the stream `DEDUP` (subjects `dedup.>`) or creates it if it is missing, then
//! publishes five orders, each twice with the same `Nats-Msg-Id`, as a client retrying
//! after a lost ack would. The second copy of each is acked as a duplicate with the
//! original's sequence, and the stream holds each order once.

use std::time::Duration;

use natsy_jetstream::{ApiErrorKind, PublishOptions, StorageType, StreamConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let js = natsy_jetstream::new(natsy::connect(url.as_str())?);

    // Bind only; create explicitly when it is missing.
    let stream = match js.get_stream("DEDUP") {
        Ok(stream) => {
            println!("bound to existing stream DEDUP");
            stream
        }
        Err(e) if e.api_kind() == Some(ApiErrorKind::StreamNotFound) => {
            println!("stream DEDUP not found; creating it");
            js.create_stream(&StreamConfig {
                subjects: vec!["dedup.>".into()],
                storage: StorageType::Memory,
                duplicate_window: Duration::from_secs(60),
                ..StreamConfig::new("DEDUP")
            })?
        }
        Err(e) => return Err(e.into()),
    };
    let before = stream.info()?.state.messages;

    // A run id keeps ids unique across runs within the duplicate window.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    for order in 1..=5 {
        let id = format!("order-{run}-{order}");
        for attempt in 1..=2 {
            let ack = js.publish_with(
                "dedup.orders",
                format!("order {order}"),
                &PublishOptions::new().msg_id(&id),
            )?;
            println!(
                "{id} attempt {attempt}: stream {} seq {}{}",
                ack.stream,
                ack.sequence,
                if ack.duplicate {
                    " (duplicate, not stored)"
                } else {
                    ""
                }
            );
        }
    }
    let after = stream.info()?.state.messages;
    println!(
        "published 10 messages, stream gained {}",
        after.saturating_sub(before)
    );
    Ok(())
}
