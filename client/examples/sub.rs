//! Subscribes to a subject (wildcards allowed) and prints what arrives.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example sub -- 'greet.*'
//! ```
//!
//! Argument: the subject (default `greet.*`). Stops with Ctrl-C.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let subject = std::env::args().nth(1).unwrap_or_else(|| "greet.*".into());

    let client = natsy::connect(url.as_str())?;
    let sub = client.subscribe(&subject)?;
    println!("listening on {subject}");
    // The iterator blocks until the next message and ends when the client closes.
    for msg in sub {
        println!(
            "[{}] {}",
            msg.subject(),
            String::from_utf8_lossy(msg.payload())
        );
        if let Ok(Some(headers)) = msg.headers() {
            for (name, value) in headers.iter() {
                println!("    {name}: {value}");
            }
        }
    }
    Ok(())
}
