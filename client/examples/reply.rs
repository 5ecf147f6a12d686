//! Answers requests: replies with the seconds since the Unix epoch.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example reply -- time.now
//! ```
//!
//! Argument: the subject to serve (default `time.now`). Try it with the `request`
//! example. Stops with Ctrl-C.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let subject = std::env::args().nth(1).unwrap_or_else(|| "time.now".into());

    let client = natsy::connect(url.as_str())?;
    let requests = client.subscribe(&subject)?;
    println!("serving {subject}");
    for msg in requests {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        // `respond` publishes to the request's reply subject.
        if let Err(e) = msg.respond(now.to_string()) {
            eprintln!("cannot answer: {e}");
        }
    }
    Ok(())
}
