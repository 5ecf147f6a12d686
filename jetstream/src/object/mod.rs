//! Object store (ADR-20) on JetStream: buckets are streams `OBJ_<bucket>`; an object's
//! data is cut into chunks on `$O.<bucket>.C.<nuid>` and its [`ObjectInfo`] (size,
//! chunk count, `SHA-256=` digest, headers, metadata) is one rolled-up message on
//! `$O.<bucket>.M.<base64url(name)>` — the wire format nats.go and async-nats share, so
//! objects written here read the same from them and the other way round.
//!
//! ```no_run
//! use std::io::Read;
//! use natsy_jetstream::object::{ObjectStoreConfig, ObjectWatchEvent};
//!
//! let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
//! let store = js.create_object_store(&ObjectStoreConfig::new("files"))?;
//! let mut file = std::fs::File::open("video.mp4")?;
//! let info = store.put("video.mp4", &mut file)?; // streamed, 128 KiB chunks
//! println!("{} bytes in {} chunks, {}", info.size, info.chunks, info.digest.unwrap());
//! let mut reader = store.get("video.mp4")?; // a Read; the digest is checked at the end
//! std::io::copy(&mut reader, &mut std::fs::File::create("copy.mp4")?)?;
//! for event in store.watch()? {
//!     match event? {
//!         ObjectWatchEvent::Info(i) => println!("{} ({} bytes, deleted: {})", i.name, i.size, i.deleted),
//!         ObjectWatchEvent::InitialValuesDone => break,
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What to write (infos for puts, deletes, links, renames), the chunking with its
//! digest, the verification of what is read back and the watch's initial-values
//! tracking are sans-IO (`plan.rs`, `chunk.rs`, `watch.rs`), shared with the async store
//! in [`crate::aio`].

pub(crate) mod chunk;
pub(crate) mod config;
mod error;
pub(crate) mod info;
pub(crate) mod plan;
pub(crate) mod reader;
mod store;
pub(crate) mod watch;

pub use config::{ObjectStoreConfig, ObjectStoreStatus, Placement};
pub use error::ObjectError;
pub use info::{ObjectInfo, ObjectLink, ObjectMeta, ObjectOptions, DEFAULT_CHUNK_SIZE};
pub use reader::ObjectReader;
pub use store::ObjectStore;
pub use watch::{ObjectWatch, ObjectWatchEvent, ObjectWatchOptions};
