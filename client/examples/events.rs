//! Prints connection events (connected, disconnected, reconnected, slow consumer, server
//! errors, closed) while publishing once a second.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example events
//! ```
//!
//! Stop and restart the server while it runs to see the client disconnect and reconnect;
//! publishes made meanwhile are buffered and sent after the reconnect. Runs for 60 s.

use std::error::Error;
use std::time::Duration;

use natsy::{ConnectOptions, Event};

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = ConnectOptions::new()
        .name("natsy-events-example")
        .reconnect_wait(Duration::from_millis(500))
        .max_reconnects(None)
        .event_callback(|event| match event {
            Event::Connected { server } => println!("connected to {server}"),
            Event::Disconnected { reason } => println!("disconnected: {reason}"),
            Event::Reconnected { server } => println!("reconnected to {server}"),
            Event::ReconnectAttemptFailed { server, error } => {
                println!("could not reach {server}: {error}")
            }
            Event::Closed { reason, .. } => println!("closed: {reason}"),
            other => println!("event: {other:?}"),
        })
        .connect(url.as_str())?;

    for i in 0..60 {
        match client.publish("events.tick", format!("{i}")) {
            Ok(()) => {}
            Err(e) => println!("publish {i} failed: {e}"),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    client.close().unwrap();
    Ok(())
}
