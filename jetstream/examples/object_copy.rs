//! Uploads a file into an object store bucket and downloads it back, with progress.
//!
//! ```text
//! cargo run -p natsy-jetstream --example object_copy -- <file> [nats://127.0.0.1:4222]
//! ```
//!
//! The file is streamed a chunk at a time (128 KiB) in both directions; the download's
//! SHA-256 is checked against the digest stored at upload, so a corrupted copy fails.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::Instant;

use natsy_jetstream::object::{ObjectMeta, ObjectStoreConfig};

/// Counts bytes going through a reader or writer and prints progress now and then.
struct Progress<T> {
    inner: T,
    done: u64,
    total: u64,
    label: &'static str,
    last_percent: u64,
}

impl<T> Progress<T> {
    fn new(inner: T, total: u64, label: &'static str) -> Self {
        Progress {
            inner,
            done: 0,
            total,
            label,
            last_percent: u64::MAX,
        }
    }

    fn advance(&mut self, n: usize) {
        self.done += n as u64;
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        if percent != self.last_percent {
            self.last_percent = percent;
            eprint!(
                "\r{} {:>3}% ({} / {} bytes)",
                self.label, percent, self.done, self.total
            );
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.advance(n);
        Ok(n)
    }
}

impl<W: Write> Write for Progress<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.advance(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: object_copy <file> [url]")?;
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let js = natsy_jetstream::new(natsy::connect(url.as_str())?);
    let store = js.create_object_store(&ObjectStoreConfig::new("object_copy"))?;

    let file = File::open(&path)?;
    let size = file.metadata()?.len();
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.clone());
    let mut meta = ObjectMeta::new(&name);
    meta.description = Some(format!("uploaded from {path}"));

    let start = Instant::now();
    let info = store.put(meta, &mut Progress::new(file, size, "upload  "))?;
    eprintln!(
        "\nstored {} in {} chunks, {} ({:.1?})",
        info.name,
        info.chunks,
        info.digest.as_deref().unwrap_or("-"),
        start.elapsed()
    );

    let copy = format!("{path}.copy");
    let start = Instant::now();
    let mut reader = store.get(&name)?;
    let mut out = Progress::new(File::create(&copy)?, info.size, "download");
    io::copy(&mut reader, &mut out)?;
    out.flush()?;
    eprintln!("\nverified and written to {copy} ({:.1?})", start.elapsed());
    Ok(())
}
