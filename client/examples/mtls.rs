//! Connects with mutual TLS: verifies the server against a CA you give and presents a
//! client certificate, then does a request/reply round trip over the encrypted connection.
//!
//! ```text
//! NATS_URL=tls://localhost:4222 CA=ca.pem CERT=client.pem KEY=client-key.pem \
//!     cargo run -p natsy --example mtls
//! ```
//!
//! The server needs `tls { cert_file, key_file, ca_file, verify: true }`. The certificate
//! is always verified against the host name of the URL; set `TLS_FIRST=1` for a server
//! configured with `handshake_first`.

use std::error::Error;

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "tls://localhost:4222".into());
    let mut options = natsy::ConnectOptions::new()
        .name("mtls-example")
        .require_tls()
        .root_certificates(env("CA")?)
        .client_certificate(env("CERT")?, env("KEY")?);
    if std::env::var("TLS_FIRST").is_ok_and(|v| v == "1") {
        options = options.tls_first();
    }
    let client = options.connect(url.as_str())?;
    let responder = client.subscribe("mtls.echo")?;
    std::thread::spawn(move || {
        for req in responder {
            let _ = req.respond(req.payload_bytes());
        }
    });
    let reply = client.request("mtls.echo", "over TLS")?;
    println!("reply: {}", String::from_utf8_lossy(reply.payload()));
    Ok(())
}
