//! Sends a request and prints the reply.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example request -- time.now ''
//! ```
//!
//! Arguments: subject (default `time.now`) and payload (default empty). Run the `reply`
//! example first; without a responder the request fails at once with "no responders".

use std::error::Error;
use std::time::Duration;

use natsy::RequestError;

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let mut args = std::env::args().skip(1);
    let subject = args.next().unwrap_or_else(|| "time.now".into());
    let payload = args.next().unwrap_or_default();

    let client = natsy::connect(url.as_str())?;
    match client.request_timeout(&subject, payload, Duration::from_secs(2)) {
        Ok(reply) => println!("reply: {}", String::from_utf8_lossy(reply.payload())),
        Err(RequestError::NoResponders) => println!("nobody is listening on {subject}"),
        Err(RequestError::TimedOut) => println!("no reply within 2 s"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
