//! Connects with a creds file (user JWT + NKey seed, as written by `nsc`) and publishes one
//! message. The file is read again at every reconnect, so a rotated file is picked up.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 NATS_CREDS=/path/to/user.creds \
//!     cargo run -p natsy --example creds
//! ```
//!
//! The server must run in operator mode with the user's account (a resolver). With
//! `NATS_CREDS` unset, `credentials_from_env` falls back to `NATS_NKEY`, `NATS_TOKEN` or
//! `NATS_USER`/`NATS_PASSWORD`, so nothing secret is written in the program.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = natsy::ConnectOptions::new()
        .name("creds-example")
        .credentials_from_env()
        .connect(url.as_str())
        .inspect_err(|e| {
            if e.is_auth_error() {
                eprintln!("the server refused the credentials");
            }
        })?;
    let info = client.server_info().ok_or("connected without INFO")?;
    println!("connected to {} ({})", info.server_name, info.version);
    client.publish("creds.hello", "hello from a creds user")?;
    client.flush()?;
    println!("published and confirmed");
    Ok(())
}
