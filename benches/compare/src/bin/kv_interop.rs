//! `kv_interop`: reads, writes and watches a Key-Value bucket with async-nats, so a bucket
//! written by natsy can be checked from another client and the other way round.
//!
//! ```text
//! kv_interop <url> <bucket> create [history]     create the bucket (or bind to it)
//! kv_interop <url> <bucket> put <key> <value>     prints the new revision
//! kv_interop <url> <bucket> get <key>             prints `<revision> <operation> <value>` or `none`
//! kv_interop <url> <bucket> delete <key>
//! kv_interop <url> <bucket> purge <key>
//! kv_interop <url> <bucket> keys                  one key per line, sorted
//! kv_interop <url> <bucket> history <key>         `<revision> <operation> <value>` per line
//! kv_interop <url> <bucket> watch <live>          initial values, `--current--`, then <live> updates
//! ```
//!
//! Each output line is plain text, so a test or a shell script compares it directly.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures_util::StreamExt;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn op(o: &kv::Operation) -> &'static str {
    match o {
        kv::Operation::Put => "PUT",
        kv::Operation::Delete => "DEL",
        kv::Operation::Purge => "PURGE",
    }
}

fn line(e: &kv::Entry) -> String {
    format!(
        "{} {} {} {}",
        e.key,
        e.revision,
        op(&e.operation),
        String::from_utf8_lossy(&e.value)
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: kv_interop <url> <bucket> <command> [args]".into());
    }
    let client = async_nats::connect(&args[1]).await?;
    let js = jetstream::new(client);
    let bucket = &args[2];
    let arg = |i: usize| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i}").into())
    };
    if args[3] == "create" {
        let history = args.get(4).map_or(Ok(1), |h| h.parse())?;
        let store = js
            .create_key_value(kv::Config {
                bucket: bucket.clone(),
                history,
                ..Default::default()
            })
            .await?;
        println!("created {}", store.name);
        return Ok(());
    }
    let store = js.get_key_value(bucket).await?;
    match args[3].as_str() {
        "put" => {
            let rev = store
                .put(arg(4)?, Bytes::from(arg(5)?.to_string()))
                .await?;
            println!("{rev}");
        }
        "get" => match store.entry(arg(4)?).await? {
            Some(e) => println!("{}", line(&e)),
            None => println!("none"),
        },
        "delete" => store.delete(arg(4)?).await?,
        "purge" => store.purge(arg(4)?).await?,
        "keys" => {
            let mut keys: Vec<String> = Vec::new();
            let mut stream = store.keys().await?;
            while let Some(k) = stream.next().await {
                keys.push(k?);
            }
            keys.sort();
            for k in keys {
                println!("{k}");
            }
        }
        "history" => {
            let mut h = store.history(arg(4)?).await?;
            while let Some(e) = h.next().await {
                println!("{}", line(&e?));
            }
        }
        "watch" => {
            let live: usize = arg(4)?.parse()?;
            let status = store.status().await?;
            // `watch_with_history` is async-nats's last-value-per-key watch (`watch` is updates only).
            let mut watch = store.watch_with_history(">").await?;
            let mut seen_live = 0;
            let mut current = status.values() == 0;
            if current {
                println!("--current--");
            }
            while seen_live < live {
                let next = tokio::time::timeout(Duration::from_secs(10), watch.next()).await;
                let Ok(Some(e)) = next else {
                    return Err("watch ended or timed out".into());
                };
                let e = e?;
                println!("{}", line(&e));
                if current {
                    seen_live += 1;
                } else if e.seen_current {
                    current = true;
                    println!("--current--");
                }
            }
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
