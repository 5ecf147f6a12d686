//! Publishes messages to a subject.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example pub -- greet.joe hello 10
//! ```
//!
//! Arguments: subject (default `greet.joe`), payload (default `hello`), count (default 1).
//! Run the `sub` example first to see the messages arrive.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let mut args = std::env::args().skip(1);
    let subject = args.next().unwrap_or_else(|| "greet.joe".into());
    let payload = args.next().unwrap_or_else(|| "hello".into());
    let count: u64 = match args.next() {
        Some(n) => n.parse()?,
        None => 1,
    };

    let client = natsy::connect(url.as_str())?;
    for i in 0..count {
        client.publish(&subject, format!("{payload} {i}"))?;
    }
    // `publish` only queues; flush waits until the server has everything.
    client.flush()?;
    println!("published {count} message(s) to {subject}");
    Ok(())
}
