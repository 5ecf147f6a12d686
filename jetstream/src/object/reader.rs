//! [`ObjectReader`]: an object's data as a blocking [`Read`], fetched chunk by chunk
//! through an ordered consumer and checked against the object's info as it goes.

use std::io::Read;
use std::time::Instant;

use bytes::Bytes;

use super::chunk::{get_batch, ChunkVerifier, ReadBuffer};
use super::error::ObjectError;
use super::info::{self, ObjectInfo};
use super::store::ObjectStore;
use crate::ordered::OrderedConsumer;
use crate::ordered_machine::OrderedConfig;

/// The ordered consumer reading the chunks of `info`: its chunk subject only, pulled
/// a few MiB at a time (not the default 500 messages, 64 MiB of 128 KiB chunks).
pub(crate) fn chunk_consumer_config(bucket: &str, info: &ObjectInfo) -> OrderedConfig {
    OrderedConfig {
        filter_subjects: vec![info::chunk_subject(bucket, &info.nuid)],
        batch: get_batch(info.chunk_size()),
        ..OrderedConfig::default()
    }
}

/// An object's data ([`ObjectStore::get`]): a [`Read`] that fetches chunks as it is read
/// and verifies count, size and SHA-256 digest when the last chunk arrives, before
/// handing out its bytes. A read fails with an [`std::io::Error`] carrying the
/// [`ObjectError`] ([`ObjectError::from_io`]; kind `InvalidData` for a mismatch);
/// [`next_chunk`](Self::next_chunk) gives the typed error directly. Dropping the reader
/// stops the fetch.
#[derive(Debug)]
pub struct ObjectReader {
    info: ObjectInfo,
    consumer: Option<OrderedConsumer>,
    verifier: ChunkVerifier,
    buf: ReadBuffer,
    wait: std::time::Duration,
    failed: Option<ObjectError>,
}

impl ObjectReader {
    pub(crate) fn open(store: &ObjectStore, info: ObjectInfo) -> Result<Self, ObjectError> {
        let mut verifier = ChunkVerifier::new(&info)?;
        let consumer = if info.chunks == 0 {
            verifier.finish()?;
            None
        } else {
            let config = chunk_consumer_config(&store.bucket, &info);
            let consumer = store.context.ordered_consumer(&store.stream, config)?;
            if consumer.initial_pending() == 0 {
                // The chunks are gone (purged by a concurrent replace): nothing will come.
                return Err(ObjectError::ChunkCountMismatch {
                    expected: info.chunks,
                    actual: 0,
                });
            }
            Some(consumer)
        };
        Ok(ObjectReader {
            info,
            consumer,
            verifier,
            buf: ReadBuffer::default(),
            wait: store.context.timeout().saturating_mul(2),
            failed: None,
        })
    }

    /// The info of the object being read (the link's target, after a link).
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// The next chunk (the rest of it, after partial reads), or `None` after the last
    /// one was verified. After an error every call returns it again.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, ObjectError> {
        if !self.buf.is_empty() {
            return Ok(Some(self.buf.take()));
        }
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(consumer) = self.consumer.as_mut() else {
            return Ok(None);
        };
        let deadline = crate::deadline::after(Instant::now(), self.wait);
        let outcome = match consumer.next_raw(Some(deadline)) {
            Ok(Some((msg, seq))) => self
                .verifier
                .handle_chunk(msg.payload(), seq.pending)
                .map(|_| Some(msg.payload_bytes())),
            Ok(None) => Err(ObjectError::TimedOut),
            Err(e) => Err(e.into()),
        };
        if self.verifier.is_done() || outcome.is_err() {
            // Done (or failed): let the consumer go now, not when the reader is dropped.
            self.consumer = None;
        }
        outcome.inspect_err(|e| self.failed = Some(e.clone()))
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.buf.is_empty() {
            match self.next_chunk().map_err(ObjectError::into_io)? {
                Some(chunk) => self.buf.set(chunk),
                None => return Ok(0),
            }
        }
        Ok(self.buf.read_into(out))
    }
}
