//! A small echo service (ADR-32) and its discovery: starts the service, calls it, then
//! finds it the way `nats micro ls` / `nats micro stats` would.
//!
//! `NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example service`

use std::time::Duration;

use natsy::service::{self, Builder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = natsy::connect(url.as_str())?;
    let echo = Builder::new()
        .description("echoes every request")
        .start(&client, "echo", "1.0.0")?;
    let endpoint = echo.endpoint("echo")?;
    let worker = std::thread::spawn(move || {
        for request in endpoint {
            let result = if request.payload().is_empty() {
                request.respond_error(400, "empty request", "")
            } else {
                let payload = request.payload_bytes();
                request.respond(payload)
            };
            if let Err(e) = result {
                eprintln!("could not answer: {e}");
            }
        }
    });

    let reply = client.request("echo", "hello")?;
    println!(
        "echo answered {:?}",
        String::from_utf8_lossy(reply.payload())
    );
    let failed = client.request("echo", "")?;
    println!(
        "an empty request fails with {:?}",
        failed
            .headers()?
            .and_then(|h| h.get(service::ERROR_HEADER).map(String::from))
    );

    let window = Duration::from_millis(500);
    for s in service::discover_info(&client, None, None, window)?.responses {
        println!(
            "found {} {} ({}): {}",
            s.name, s.version, s.id, s.description
        );
    }
    for s in service::discover_stats(&client, Some("echo"), None, window)?.responses {
        for e in s.endpoints {
            println!(
                "  {} on {}: {} requests, {} errors (last: {:?})",
                e.name, e.subject, e.num_requests, e.num_errors, e.last_error
            );
        }
    }
    echo.stop()?;
    worker.join().map_err(|_| "the worker panicked")?;
    Ok(())
}
