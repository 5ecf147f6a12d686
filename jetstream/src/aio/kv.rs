//! Key-Value (ADR-8) for async code: buckets on [`Context`] and the async [`Store`].
//!
//! Everything but the waits is the blocking [`crate::kv::Store`]'s: the binding (a
//! mirror's origin prefix, direct get, per-key TTL support), key checks, the headers of
//! each write, the create-over-a-marker rule, the direct-get requests and their parsing,
//! the purge plan of `purge_deletes` and the watch's initial-values tracking. An async
//! store wraps a blocking one ([`Store::blocking`]) and awaits what it would block on.
//!
//! ```no_run
//! # async fn run(js: natsy_jetstream::aio::Context) -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! use natsy_jetstream::kv::{KvConfig, WatchEvent};
//!
//! let kv = js.create_key_value(&KvConfig::new("config")).await?;
//! let rev = kv.put("db.url", "postgres://db").await?;
//! kv.update("db.url", "postgres://db2", rev).await?;
//! assert_eq!(&kv.get("db.url").await?[..], b"postgres://db2");
//! let mut watch = kv.watch_all().await?;
//! while let Some(event) = watch.next().await {
//!     match event? {
//!         WatchEvent::Entry(e) => println!("{} = {:?} ({:?})", e.key, e.value, e.operation),
//!         WatchEvent::InitialValuesDone => println!("-- up to date --"),
//!     }
//! }
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream as _;

pub use super::kv_watch::Watch;
use super::Context;
use crate::error::Error;
use crate::kv::{self, wire, BucketStatus, Entry, KvConfig, KvError, WatchEvent, WatchOptions};
use crate::stored::{from_direct_reply, msg_get_call, StoredMessage};
use crate::stream::{
    create_stream_call, delete_stream_call, exists_otherwise, stream_info_call, update_stream_call,
    PurgeOptions,
};
use crate::stream_info::StreamInfo;

impl Context {
    /// Creates bucket `config.bucket`: see [`crate::Context::create_key_value`].
    /// `async_nats` `create_key_value`.
    pub async fn create_key_value(&self, config: &KvConfig) -> Result<Store, KvError> {
        let stream = self.blocking().bucket_stream_config(config)?;
        let info = self.call(create_stream_call(&stream)?).await?;
        self.bind_bucket(&config.bucket, info)
    }

    /// Updates an existing bucket to `config`; [`KvError::BucketNotFound`] if missing.
    pub async fn update_key_value(&self, config: &KvConfig) -> Result<Store, KvError> {
        let stream = self.blocking().bucket_stream_config(config)?;
        let info = self.call(update_stream_call(&stream)?).await?;
        self.bind_bucket(&config.bucket, info)
    }

    /// Creates the bucket or updates it to `config`.
    pub async fn create_or_update_key_value(&self, config: &KvConfig) -> Result<Store, KvError> {
        let stream = self.blocking().bucket_stream_config(config)?;
        let info = match self.call(create_stream_call(&stream)?).await {
            Err(e) if exists_otherwise(&e) => self.call(update_stream_call(&stream)?).await?,
            other => other?,
        };
        self.bind_bucket(&config.bucket, info)
    }

    /// Binds to an existing bucket (one `STREAM.INFO`); [`KvError::BucketNotFound`] if
    /// there is none. `async_nats` `get_key_value`.
    pub async fn key_value(&self, bucket: &str) -> Result<Store, KvError> {
        wire::check_bucket(bucket)?;
        let info = self
            .call(stream_info_call(&wire::stream_name(bucket))?)
            .await?;
        self.bind_bucket(bucket, info)
    }

    /// Deletes a bucket and everything in it; [`KvError::BucketNotFound`] if missing.
    pub async fn delete_key_value(&self, bucket: &str) -> Result<(), KvError> {
        wire::check_bucket(bucket)?;
        Ok(self
            .call(delete_stream_call(&wire::stream_name(bucket))?)
            .await?)
    }

    /// The names of every bucket (the streams named `KV_<bucket>`).
    pub async fn key_value_buckets(&self) -> Result<Vec<String>, KvError> {
        let names = self.stream_names().await?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_prefix("KV_").map(str::to_string))
            .collect())
    }

    fn bind_bucket(&self, bucket: &str, info: StreamInfo) -> Result<Store, KvError> {
        Ok(Store {
            inner: kv::Store::bind(self.blocking(), bucket, info)?,
            context: self.clone(),
        })
    }
}

/// A bound bucket for async code: the blocking [`kv::Store`]'s operations, awaited
/// (`async_nats::jetstream::kv::Store`). Cheap to clone.
///
/// Every future may be dropped at any await point: a read or write forgets its request
/// (a write already sent may still be stored), a watch unsubscribes.
#[derive(Debug, Clone)]
pub struct Store {
    inner: kv::Store,
    context: Context,
}

impl Store {
    /// The bucket's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The same bucket for blocking code (same connection).
    pub fn blocking(&self) -> &kv::Store {
        &self.inner
    }

    /// The context it was bound with.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The bucket's configuration and state, asked for now.
    pub async fn status(&self) -> Result<BucketStatus, KvError> {
        let info = self
            .context
            .call(stream_info_call(self.inner.stream_name())?)
            .await?;
        Ok(BucketStatus::new(self.inner.name(), info))
    }

    // ---- Writes ----

    /// Writes `value` to `key`; returns its revision: see [`kv::Store::put`].
    pub async fn put(&self, key: &str, value: impl Into<Bytes>) -> Result<u64, KvError> {
        self.write(key, value.into(), wire::Operation::Put, None, None)
            .await
    }

    /// Writes `value` only if `key` has no value: see [`kv::Store::create`].
    pub async fn create(&self, key: &str, value: impl Into<Bytes>) -> Result<u64, KvError> {
        self.create_inner(key, value.into(), None).await
    }

    /// [`create`](Self::create) with a per-key TTL: see [`kv::Store::create_with_ttl`].
    pub async fn create_with_ttl(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<u64, KvError> {
        self.inner.check_key_ttl()?;
        self.create_inner(key, value.into(), Some(ttl)).await
    }

    async fn create_inner(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        let op = wire::Operation::Put;
        match self.write(key, value.clone(), op, Some(0), ttl).await {
            Err(KvError::WrongLastRevision) => {}
            other => return other,
        }
        let revision = kv::create_over(self.last_raw(key).await?)?;
        match self.write(key, value, op, Some(revision), ttl).await {
            Err(KvError::WrongLastRevision) => Err(KvError::KeyExists),
            other => other,
        }
    }

    /// Writes `value` only if `revision` is the key's last: see [`kv::Store::update`].
    pub async fn update(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        revision: u64,
    ) -> Result<u64, KvError> {
        let op = wire::Operation::Put;
        self.write(key, value.into(), op, Some(revision), None)
            .await
    }

    /// Deletes `key` (a `DEL` marker): see [`kv::Store::delete`].
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        let op = wire::Operation::Delete;
        self.write(key, Bytes::new(), op, None, None)
            .await
            .map(drop)
    }

    /// Deletes `key` only if `revision` is its last.
    pub async fn delete_expect_revision(&self, key: &str, revision: u64) -> Result<(), KvError> {
        let op = wire::Operation::Delete;
        self.write(key, Bytes::new(), op, Some(revision), None)
            .await
            .map(drop)
    }

    /// Purges `key` (a rolled-up `PURGE` marker): see [`kv::Store::purge`].
    pub async fn purge(&self, key: &str) -> Result<(), KvError> {
        let op = wire::Operation::Purge;
        self.write(key, Bytes::new(), op, None, None)
            .await
            .map(drop)
    }

    /// Purges `key` only if `revision` is its last.
    pub async fn purge_expect_revision(&self, key: &str, revision: u64) -> Result<(), KvError> {
        let op = wire::Operation::Purge;
        self.write(key, Bytes::new(), op, Some(revision), None)
            .await
            .map(drop)
    }

    /// Purges `key` with a marker that expires after `ttl`: see
    /// [`kv::Store::purge_with_ttl`].
    pub async fn purge_with_ttl(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        self.inner.check_key_ttl()?;
        let op = wire::Operation::Purge;
        self.write(key, Bytes::new(), op, None, Some(ttl))
            .await
            .map(drop)
    }

    /// Removes delete and purge markers: see [`kv::Store::purge_deletes`].
    pub async fn purge_deletes(&self, older_than: Option<Duration>) -> Result<usize, KvError> {
        let entries = self
            .initial_entries(">", WatchOptions::new().meta_only())
            .await?;
        let purges: Vec<PurgeOptions> = self.inner.purge_deletes_plan(entries, older_than);
        if purges.is_empty() {
            return Ok(0);
        }
        let stream = self.context.get_stream(self.inner.stream_name()).await?;
        for opts in &purges {
            stream.purge_with(opts).await?;
        }
        Ok(purges.len())
    }

    async fn write(
        &self,
        key: &str,
        value: Bytes,
        op: wire::Operation,
        expected: Option<u64>,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        let (subject, opts) = self.inner.write_args(key, op, expected, ttl)?;
        let ack = self
            .context
            .publish_with(&subject, value, &opts)
            .await?
            .await?;
        Ok(ack.sequence)
    }

    // ---- Reads ----

    /// The latest value of `key`; [`KvError::KeyNotFound`] if it has none: see
    /// [`kv::Store::get`]. One direct get on a bucket with `allow_direct`, its value
    /// read in place from the reply.
    pub async fn get(&self, key: &str) -> Result<Bytes, KvError> {
        let Some(subject) = self.inner.direct_last_subject(key)? else {
            return Ok(self.entry(key).await?.value);
        };
        let ctx = &self.context;
        let reply = ctx
            .client()
            .request_timeout(subject, Bytes::new(), ctx.timeout())
            .await
            .map_err(Error::from)?;
        wire::value_from_direct(&reply)?.ok_or(KvError::KeyNotFound)
    }

    /// The latest entry of `key`; [`KvError::KeyNotFound`] if it has no value.
    pub async fn entry(&self, key: &str) -> Result<Entry, KvError> {
        match self.last_raw(key).await? {
            Some(e) if e.operation == wire::Operation::Put => Ok(e),
            _ => Err(KvError::KeyNotFound),
        }
    }

    /// The entry of `key` at `revision`: see [`kv::Store::entry_at`].
    pub async fn entry_at(&self, key: &str, revision: u64) -> Result<Entry, KvError> {
        wire::check_key(key)?;
        let stored = self.get_stored(None, Some(revision)).await?;
        self.inner.entry_at_checked(key, stored)
    }

    /// The latest entry of `key`, markers included; `None` if it was never written.
    async fn last_raw(&self, key: &str) -> Result<Option<Entry>, KvError> {
        let subject = self.inner.key_subject(key)?;
        let stored = self.get_stored(Some(&subject), None).await?;
        self.inner.last_entry(stored)
    }

    /// Direct get when the bucket allows it, else `STREAM.MSG.GET`.
    async fn get_stored(
        &self,
        last_by_subj: Option<&str>,
        seq: Option<u64>,
    ) -> Result<Option<StoredMessage>, KvError> {
        let ctx = &self.context;
        let result = if let Some((subject, body)) = self.inner.direct_request(last_by_subj, seq)? {
            match ctx
                .client()
                .request_timeout(subject, body, ctx.timeout())
                .await
            {
                Ok(reply) => from_direct_reply(&reply),
                Err(e) => Err(Error::from(e)),
            }
        } else {
            let stream = self.inner.stream_name();
            ctx.call(msg_get_call(stream, seq, last_by_subj)?).await
        };
        kv::found(result)
    }

    /// Every key with a value: see [`kv::Store::keys`].
    pub async fn keys(&self) -> Result<Vec<String>, KvError> {
        self.keys_with_filters(&[">"]).await
    }

    /// The keys with a value matching any of `filters`: see
    /// [`kv::Store::keys_with_filters`].
    pub async fn keys_with_filters(&self, filters: &[&str]) -> Result<Vec<String>, KvError> {
        let opts = WatchOptions::new().meta_only().ignore_deletes();
        let mut watch = self.watch_many_with(filters, opts).await?;
        let mut keys = Vec::new();
        while let Some(event) = next(&mut watch).await {
            match event? {
                WatchEvent::Entry(e) => keys.push(e.key),
                WatchEvent::InitialValuesDone => break,
            }
        }
        Ok(keys)
    }

    /// Every stored revision of `key`, oldest first: see [`kv::Store::history`].
    pub async fn history(&self, key: &str) -> Result<Vec<Entry>, KvError> {
        wire::check_key(key)?;
        let opts = WatchOptions::new().include_history();
        let entries = self.initial_entries(key, opts).await?;
        if entries.is_empty() {
            return Err(KvError::KeyNotFound);
        }
        Ok(entries)
    }

    /// The entries a watch reports before [`WatchEvent::InitialValuesDone`].
    async fn initial_entries(
        &self,
        pattern: &str,
        opts: WatchOptions,
    ) -> Result<Vec<Entry>, KvError> {
        let mut watch = self.watch_with(pattern, opts).await?;
        let mut out = Vec::new();
        while let Some(event) = next(&mut watch).await {
            match event? {
                WatchEvent::Entry(e) => out.push(e),
                WatchEvent::InitialValuesDone => break,
            }
        }
        Ok(out)
    }

    // ---- Watches ----

    /// Watches keys matching `pattern`: their latest values, then
    /// [`WatchEvent::InitialValuesDone`], then every change (see [`kv::Store::watch`];
    /// async-nats's `watch_with_history` shape, not its updates-only `watch`).
    pub async fn watch(&self, pattern: &str) -> Result<Watch, KvError> {
        self.watch_with(pattern, WatchOptions::new()).await
    }

    /// Watches every key.
    pub async fn watch_all(&self) -> Result<Watch, KvError> {
        self.watch_with(">", WatchOptions::new()).await
    }

    /// Watches `pattern` with `options`.
    pub async fn watch_with(&self, pattern: &str, options: WatchOptions) -> Result<Watch, KvError> {
        self.watch_many_with(&[pattern], options).await
    }

    /// Watches keys matching any of `patterns` with `options`.
    pub async fn watch_many_with(
        &self,
        patterns: &[&str],
        options: WatchOptions,
    ) -> Result<Watch, KvError> {
        let config = self.inner.watch_config(patterns, options)?;
        let consumer = self
            .context
            .ordered_consumer(self.inner.stream_name(), config)
            .await?;
        let state = self.inner.watch_state(options, consumer.initial_pending());
        Ok(Watch::new(consumer, state))
    }
}

/// The next event of `watch`.
async fn next(watch: &mut Watch) -> Option<Result<WatchEvent, KvError>> {
    std::future::poll_fn(|cx| Pin::new(&mut *watch).poll_next(cx)).await
}
