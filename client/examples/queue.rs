//! A queue group: several workers share the messages of one subject, each message going
//! to exactly one of them.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 cargo run -p natsy --example queue
//! ```
//!
//! Starts three workers in group `workers` on `jobs`, publishes 30 jobs, and prints how
//! many each worker did.

use std::error::Error;
use std::sync::mpsc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = natsy::connect(url.as_str())?;

    let (done_tx, done_rx) = mpsc::channel();
    for worker in 0..3 {
        let mut jobs = client.queue_subscribe("jobs", "workers")?;
        let done = done_tx.clone();
        std::thread::spawn(move || {
            while let Ok(job) = jobs.next_timeout(Duration::from_millis(500)) {
                let _ = done.send((worker, String::from_utf8_lossy(job.payload()).into_owned()));
            }
        });
    }
    drop(done_tx);
    client.flush()?; // the server knows about the workers before jobs arrive

    for i in 0..30 {
        client.publish("jobs", format!("job {i}"))?;
    }
    client.flush()?;

    let mut per_worker = [0u32; 3];
    for (worker, job) in done_rx {
        println!("worker {worker} did {job}");
        per_worker[worker] += 1;
    }
    println!("jobs per worker: {per_worker:?}");
    Ok(())
}
