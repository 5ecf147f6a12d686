//! A bind-only worker: binds an existing stream and durable pull consumer (it never
//! creates either, so it runs with a user that may only read their info, pull and ack),
//! fetches batches, acks each message, and prints the consumer's lag.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 STREAM=allocation CONSUMER=processor-ready \
//!     cargo run -p natsy-jetstream --example bind_worker
//! ```
//!
//! Stops after `MAX_IDLE` empty fetches in a row (default 3; 0 = run forever).

use std::time::Duration;

use natsy_jetstream::{ApiErrorKind, FetchOptions};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = env("NATS_URL", "nats://127.0.0.1:4222");
    let stream = env("STREAM", "allocation");
    let consumer_name = env("CONSUMER", "processor-ready");
    let max_idle: u32 = env("MAX_IDLE", "3").parse()?;

    let js = natsy_jetstream::new(natsy::connect(url.as_str())?);
    // Bind: fails now, with a typed error, if the consumer (or its stream) is missing.
    let consumer = match js.get_consumer(&stream, &consumer_name) {
        Ok(c) => c,
        Err(e) if e.api_kind() == Some(ApiErrorKind::StreamNotFound) => {
            return Err(format!("stream {stream} does not exist: {e}").into())
        }
        Err(e) if e.api_kind() == Some(ApiErrorKind::ConsumerNotFound) => {
            return Err(format!("consumer {consumer_name} does not exist: {e}").into())
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "bound {stream}/{consumer_name}: {} pending",
        consumer.cached_info().num_pending
    );

    let mut idle = 0;
    loop {
        let batch = consumer.fetch(FetchOptions {
            batch: 100,
            expires: Some(Duration::from_secs(5)),
            ..Default::default()
        })?;
        for msg in &batch {
            let meta = msg.metadata()?;
            println!(
                "#{} {} ({} bytes, delivery {})",
                meta.stream_sequence,
                msg.subject(),
                msg.payload().len(),
                meta.delivered
            );
            msg.ack()?;
        }
        let info = consumer.info()?;
        println!(
            "processed {}; lag: {} pending, {} awaiting ack, {} redelivered",
            batch.len(),
            info.num_pending,
            info.num_ack_pending,
            info.num_redelivered
        );
        idle = if batch.is_empty() { idle + 1 } else { 0 };
        if max_idle != 0 && idle >= max_idle {
            return Ok(());
        }
    }
}
