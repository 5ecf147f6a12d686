//! Service (ADR-32) interop between natsy and async-nats on one server: each discovers and
//! calls the other's service, and parses the other's PING/INFO/STATS JSON with its own
//! types. Prints what it saw; exits non-zero on the first mismatch.
//!
//! `cargo run --manifest-path benches/compare/Cargo.toml --bin service-interop -- nats://127.0.0.1:4222`

use std::time::Duration;

use async_nats::service::ServiceExt;
use futures_util::StreamExt;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn check(ok: bool, what: &str) -> Res<()> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("MISMATCH: {what}").into())
    }
}

#[tokio::main]
async fn main() -> Res<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());

    // A natsy service, served from a thread.
    let natsy_client = natsy::connect(url.as_str())?;
    let natsy_service = natsy::service::Builder::new()
        .description("natsy side")
        .start(&natsy_client, "natsy-echo", "1.0.0")?;
    let endpoint = natsy_service.group("ns").endpoint("echo")?;
    std::thread::spawn(move || {
        for req in endpoint {
            let _ = if req.payload() == b"fail" {
                req.respond_error(418, "natsy refuses", "")
            } else {
                let body = req.payload_bytes();
                req.respond(body)
            };
        }
    });
    natsy_client.flush()?;

    // An async-nats service, served from a task.
    let an = async_nats::connect(url.as_str()).await?;
    let an_service = an
        .service_builder()
        .description("async-nats side")
        .start("anats-echo", "2.0.0")
        .await?;
    let mut an_endpoint = an_service.endpoint("an.echo").await?;
    tokio::spawn(async move {
        while let Some(req) = an_endpoint.next().await {
            let reply = if req.message.payload.as_ref() == b"fail" {
                Err(async_nats::service::error::Error {
                    status: "async-nats refuses".into(),
                    code: 409,
                })
            } else {
                Ok(req.message.payload.clone())
            };
            let _ = req.respond(reply).await;
        }
    });
    an.flush().await?;

    // async-nats reads natsy's discovery JSON with its own types, and calls it.
    let info = an.request("$SRV.INFO.natsy-echo", "".into()).await?;
    let info: async_nats::service::Info = serde_json::from_slice(&info.payload)?;
    check(
        info.name == "natsy-echo" && info.endpoints.len() == 1,
        "async-nats parses natsy's INFO",
    )?;
    check(
        info.endpoints[0].subject == "ns.echo",
        "natsy's endpoint subject as async-nats sees it",
    )?;
    let reply = an.request("ns.echo", "hi".into()).await?;
    check(
        reply.payload.as_ref() == b"hi",
        "async-nats calls natsy's endpoint",
    )?;
    let err = an.request("ns.echo", "fail".into()).await?;
    let code = err
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error-Code"))
        .map(|v| v.to_string());
    check(
        code.as_deref() == Some("418"),
        "natsy's error headers as async-nats reads them",
    )?;
    let stats = an.request("$SRV.STATS.natsy-echo", "".into()).await?;
    let stats: async_nats::service::Stats = serde_json::from_slice(&stats.payload)?;
    check(
        stats.endpoints[0].requests == 2 && stats.endpoints[0].errors == 1,
        "async-nats parses natsy's STATS (2 requests, 1 error)",
    )?;
    let ping = an.request("$SRV.PING.natsy-echo", "".into()).await?;
    let ping: async_nats::service::PingResponse = serde_json::from_slice(&ping.payload)?;
    check(
        ping.id == natsy_service.id(),
        "async-nats parses natsy's PING",
    )?;

    // natsy discovers async-nats's service, reads its JSON with natsy's types, calls it.
    let window = Duration::from_millis(500);
    let found = natsy::service::discover_info(&natsy_client, Some("anats-echo"), None, window)?;
    check(
        found.unreadable == 0 && found.responses.len() == 1,
        "natsy parses async-nats's INFO",
    )?;
    check(
        found.responses[0].endpoints[0].subject == "an.echo",
        "async-nats's endpoint as natsy sees it",
    )?;
    let reply = natsy_client.request("an.echo", "hello")?;
    check(
        reply.payload() == b"hello",
        "natsy calls async-nats's endpoint",
    )?;
    let err = natsy_client.request("an.echo", "fail")?;
    let code = err
        .headers()?
        .and_then(|h| h.get(natsy::service::ERROR_CODE_HEADER).map(String::from));
    check(
        code.as_deref() == Some("409"),
        "async-nats's error headers as natsy reads them",
    )?;
    let stats = natsy::service::discover_stats(&natsy_client, Some("anats-echo"), None, window)?;
    check(stats.unreadable == 0, "natsy parses async-nats's STATS")?;
    let e = &stats.responses[0].endpoints[0];
    check(
        e.num_requests == 2 && e.num_errors == 1,
        "async-nats's counters as natsy reads them",
    )?;
    println!("  async-nats last_error: {:?}", e.last_error);
    let pings = natsy::service::discover_ping(&natsy_client, None, None, window)?;
    let mut names: Vec<_> = pings.responses.iter().map(|p| p.name.clone()).collect();
    names.sort();
    check(
        names == ["anats-echo", "natsy-echo"],
        "natsy's $SRV.PING finds both",
    )?;
    println!("service interop: all checks passed");
    Ok(())
}
