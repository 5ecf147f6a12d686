//! `object_interop`: writes, reads and lists an object store bucket with async-nats, so
//! objects written by natsy can be checked from another client and the other way round.
//!
//! ```text
//! object_interop <url> <bucket> create            create the bucket (or bind to it)
//! object_interop <url> <bucket> put <name> <len>  stores <len> pattern bytes; prints `<size> <chunks> <digest>`
//! object_interop <url> <bucket> get <name>        reads it (async-nats checks the digest); prints
//!                                                 `<size> pattern|other`, or `error <why>`
//! object_interop <url> <bucket> info <name>       `<name> <size> <chunks> <digest> <deleted> <link>`
//! object_interop <url> <bucket> list              one name per line, sorted
//! object_interop <url> <bucket> link <name> <target>
//! object_interop <url> <bucket> delete <name>
//! ```
//!
//! The pattern is byte `i` = `(i * 31) ^ (i >> 7)` truncated to 8 bits, the same the
//! natsy test generates.

use async_nats::jetstream::{self, object_store};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect()
}

fn info_line(i: &object_store::ObjectInfo) -> String {
    let link = i
        .options
        .as_ref()
        .and_then(|o| o.link.as_ref())
        .map(|l| format!("{}/{}", l.bucket, l.name.as_deref().unwrap_or("")))
        .unwrap_or_else(|| "-".into());
    format!(
        "{} {} {} {} {} {}",
        i.name,
        i.size,
        i.chunks,
        i.digest.as_deref().unwrap_or("-"),
        i.deleted,
        link
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: object_interop <url> <bucket> <command> [args]".into());
    }
    let js = jetstream::new(async_nats::connect(&args[1]).await?);
    let bucket = &args[2];
    let arg = |i: usize| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i}").into())
    };
    if args[3] == "create" {
        let store = js
            .create_object_store(object_store::Config {
                bucket: bucket.clone(),
                ..Default::default()
            })
            .await?;
        let _ = store;
        println!("created {bucket}");
        return Ok(());
    }
    let store = js.get_object_store(bucket).await?;
    match args[3].as_str() {
        "put" => {
            let data = pattern(arg(5)?.parse()?);
            let info = store.put(arg(4)?, &mut &data[..]).await?;
            println!(
                "{} {} {}",
                info.size,
                info.chunks,
                info.digest.as_deref().unwrap_or("-")
            );
        }
        "get" => {
            let mut object = store.get(arg(4)?).await?;
            let mut data = Vec::new();
            match object.read_to_end(&mut data).await {
                Ok(_) => {
                    let same = data == pattern(data.len());
                    println!("{} {}", data.len(), if same { "pattern" } else { "other" });
                }
                Err(e) => println!("error {e}"),
            }
        }
        "info" => println!("{}", info_line(&store.info(arg(4)?).await?)),
        "list" => {
            let mut names = Vec::new();
            let mut list = store.list().await?;
            while let Some(i) = list.next().await {
                names.push(i?.name);
            }
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        "link" => {
            let target = store.info(arg(5)?).await?;
            let info = store.add_link(arg(4)?, &target).await?;
            println!("{}", info_line(&info));
        }
        "delete" => {
            store.delete(arg(4)?).await?;
            println!("deleted");
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
