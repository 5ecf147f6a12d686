//! Key-Value store (ADR-8) on JetStream: buckets are streams `KV_<bucket>`, keys are
//! subjects `$KV.<bucket>.<key>`, revisions are stream sequences — the wire format every
//! NATS client shares, so a bucket written here reads the same from nats.go or async-nats.
//!
//! ```no_run
//! use natsy_jetstream::kv::{KvConfig, WatchEvent};
//!
//! let js = natsy_jetstream::new(natsy::connect("nats://127.0.0.1:4222")?);
//! let mut config = KvConfig::new("config");
//! config.history = 5;
//! let kv = js.create_key_value(&config)?;
//! let rev = kv.put("db.url", "postgres://db")?;
//! kv.update("db.url", "postgres://db2", rev)?;
//! assert_eq!(&kv.get("db.url")?[..], b"postgres://db2");
//! for event in kv.watch_all()? {
//!     match event? {
//!         WatchEvent::Entry(e) => println!("{} = {:?} ({:?})", e.key, e.value, e.operation),
//!         WatchEvent::InitialValuesDone => println!("-- up to date --"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The request building and reply parsing are sans-IO (`wire.rs`); the watch's
//! initial-values tracking is a small state machine (`watch.rs`) on the ordered
//! consumer's machine, so an async layer reuses all of it.

mod config;
mod error;
mod watch;
pub(crate) mod wire;

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

pub use config::{BucketSource, BucketStatus, KvConfig, Republish};
pub use error::KvError;
pub(crate) use watch::WatchState;
pub use watch::{Watch, WatchEvent, WatchOptions};
pub use wire::{Entry, Operation, MAX_HISTORY};

use crate::context::Context;
use crate::error::{ApiErrorKind, Error};
use crate::publish::PublishOptions;
use crate::stream::PurgeOptions;
use crate::stream_info::StreamInfo;

/// How long [`Store::purge_deletes`] keeps recent markers by default (nats.go: 30 min).
pub const DEFAULT_PURGE_DELETES_OLDER_THAN: Duration = Duration::from_secs(30 * 60);

/// A bound bucket: reads and writes its keys. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    context: Context,
    bucket: String,
    stream: String,
    /// `$KV.<bucket>.` (or the origin's, for a mirror): the subjects entries are read at.
    prefix: String,
    /// Where puts go: the origin's prefix for a mirror.
    put_prefix: String,
    direct: bool,
    /// `<api>.DIRECT.GET.<stream>.<prefix>`: a key appended is the subject of a direct
    /// get of its last entry (built once, so a get costs one string).
    direct_last: String,
    key_ttl: bool,
}

#[derive(Serialize)]
struct LastBySubject<'a> {
    last_by_subj: &'a str,
}

#[derive(Serialize)]
struct BySequence {
    seq: u64,
}

impl Store {
    pub(crate) fn bind(
        context: &Context,
        bucket: &str,
        info: StreamInfo,
    ) -> Result<Store, KvError> {
        let mut prefix = wire::subject_prefix(bucket);
        let mut put_prefix = prefix.clone();
        if let Some(mirror) = &info.config.mirror {
            let origin = mirror.name.as_str();
            let origin = origin.strip_prefix("KV_").unwrap_or(origin);
            put_prefix = wire::subject_prefix(origin);
            prefix = put_prefix.clone();
        }
        let key_ttl = info.config.allow_msg_ttl;
        let direct_last = context.api_subject(&format!("DIRECT.GET.{}.{prefix}", info.config.name));
        Ok(Store {
            context: context.clone(),
            bucket: bucket.to_string(),
            stream: info.config.name.clone(),
            direct_last,
            prefix,
            put_prefix,
            direct: info.config.allow_direct,
            key_ttl,
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// The context it was bound with.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The name of the bucket's stream (`KV_<bucket>`).
    pub(crate) fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The bucket's configuration and state, asked for now.
    pub fn status(&self) -> Result<BucketStatus, KvError> {
        let info = self.context.stream_info(self.stream_name())?;
        Ok(BucketStatus::new(&self.bucket, info))
    }

    // ---- Writes ----

    /// Writes `value` to `key`; returns its revision. nats.go: `Put`.
    pub fn put(&self, key: &str, value: impl Into<Bytes>) -> Result<u64, KvError> {
        self.write(key, value.into(), wire::Operation::Put, None, None)
    }

    /// Writes `value` only if `key` has no value (never written, deleted or purged);
    /// [`KvError::KeyExists`] otherwise. nats.go: `Create`.
    pub fn create(&self, key: &str, value: impl Into<Bytes>) -> Result<u64, KvError> {
        self.create_inner(key, value.into(), None)
    }

    /// [`create`](Self::create) with a per-key TTL: the value (and its key) vanish after
    /// `ttl`. Needs nats-server 2.11+ ([`KvError::TtlNotSupported`]) and a bucket created
    /// with [`KvConfig::limit_markers`] ([`KvError::TtlNotEnabled`]). nats.go:
    /// `Create(…, KeyTTL(ttl))`.
    pub fn create_with_ttl(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<u64, KvError> {
        self.check_key_ttl()?;
        self.create_inner(key, value.into(), Some(ttl))
    }

    fn create_inner(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<u64, KvError> {
        match self.write(key, value.clone(), wire::Operation::Put, Some(0), ttl) {
            Err(KvError::WrongLastRevision) => {}
            other => return other,
        }
        let revision = create_over(self.last_raw(key)?)?;
        match self.write(key, value, wire::Operation::Put, Some(revision), ttl) {
            Err(KvError::WrongLastRevision) => Err(KvError::KeyExists),
            other => other,
        }
    }

    /// Writes `value` only if `revision` is the key's last; [`KvError::WrongLastRevision`]
    /// otherwise. nats.go: `Update`.
    pub fn update(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        revision: u64,
    ) -> Result<u64, KvError> {
        self.write(
            key,
            value.into(),
            wire::Operation::Put,
            Some(revision),
            None,
        )
    }

    /// Deletes `key`: a `KV-Operation: DEL` marker; history stays. nats.go: `Delete`.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.write(key, Bytes::new(), wire::Operation::Delete, None, None)
            .map(drop)
    }

    /// Deletes `key` only if `revision` is its last. nats.go: `Delete(…, LastRevision(r))`.
    pub fn delete_expect_revision(&self, key: &str, revision: u64) -> Result<(), KvError> {
        self.write(
            key,
            Bytes::new(),
            wire::Operation::Delete,
            Some(revision),
            None,
        )
        .map(drop)
    }

    /// Purges `key`: a `KV-Operation: PURGE` marker with `Nats-Rollup: sub`, which
    /// removes every earlier revision. nats.go: `Purge`.
    pub fn purge(&self, key: &str) -> Result<(), KvError> {
        self.write(key, Bytes::new(), wire::Operation::Purge, None, None)
            .map(drop)
    }

    /// Purges `key` only if `revision` is its last.
    pub fn purge_expect_revision(&self, key: &str, revision: u64) -> Result<(), KvError> {
        self.write(
            key,
            Bytes::new(),
            wire::Operation::Purge,
            Some(revision),
            None,
        )
        .map(drop)
    }

    /// Purges `key` with a marker that itself expires after `ttl` (2.11+, limit markers).
    pub fn purge_with_ttl(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        self.check_key_ttl()?;
        self.write(key, Bytes::new(), wire::Operation::Purge, None, Some(ttl))
            .map(drop)
    }

    /// Removes delete and purge markers (and what they hide) from the stream: markers
    /// older than `older_than` entirely, newer ones down to the marker alone; `None`
    /// uses [`DEFAULT_PURGE_DELETES_OLDER_THAN`], `Some(Duration::ZERO)` removes all.
    /// Returns the markers handled. nats.go: `PurgeDeletes`.
    pub fn purge_deletes(&self, older_than: Option<Duration>) -> Result<usize, KvError> {
        let entries = self.initial_entries(">", WatchOptions::new().meta_only())?;
        let purges = self.purge_deletes_plan(entries, older_than);
        if purges.is_empty() {
            return Ok(0);
        }
        let stream = self.context.get_stream(&self.stream)?;
        for opts in &purges {
            stream.purge_with(opts)?;
        }
        Ok(purges.len())
    }

    /// The stream purges [`purge_deletes`](Self::purge_deletes) makes, one per marker
    /// among `entries`: shared with the async store.
    pub(crate) fn purge_deletes_plan(
        &self,
        entries: Vec<Entry>,
        older_than: Option<Duration>,
    ) -> Vec<PurgeOptions> {
        let older_than = older_than.unwrap_or(DEFAULT_PURGE_DELETES_OLDER_THAN);
        let now = time::OffsetDateTime::now_utc();
        entries
            .into_iter()
            .filter(|e| e.operation != Operation::Put)
            .map(|m| {
                let old = now - m.created >= older_than;
                let subject = format!("{}{}", self.prefix, m.key);
                PurgeOptions::new()
                    .filter(&subject)
                    .keep(if old { 0 } else { 1 })
            })
            .collect()
    }

    pub(crate) fn check_key_ttl(&self) -> Result<(), KvError> {
        self.context.check_ttl_support()?;
        if !self.key_ttl {
            return Err(KvError::TtlNotEnabled);
        }
        Ok(())
    }

    fn write(
        &self,
        key: &str,
        value: Bytes,
        op: wire::Operation,
        expected: Option<u64>,
        ttl: Option<Duration>,
    ) -> Result<u64, KvError> {
        let (subject, opts) = self.write_args(key, op, expected, ttl)?;
        let ack = self.context.publish_with(&subject, value, &opts)?;
        Ok(ack.sequence)
    }

    /// The subject and publish options of a write: shared with the async store.
    pub(crate) fn write_args(
        &self,
        key: &str,
        op: wire::Operation,
        expected: Option<u64>,
        ttl: Option<Duration>,
    ) -> Result<(String, PublishOptions), KvError> {
        wire::check_key(key)?;
        let mut opts = PublishOptions::new();
        if let Some(h) = wire::headers(op, ttl)? {
            opts = opts.headers(h);
        }
        if let Some(rev) = expected {
            opts = opts.expected_last_subject_sequence(rev);
        }
        Ok((format!("{}{key}", self.put_prefix), opts))
    }

    // ---- Reads ----

    /// The latest value of `key`; [`KvError::KeyNotFound`] if it has none (never
    /// written, deleted or purged). nats.go: `Get(…).Value()`.
    pub fn get(&self, key: &str) -> Result<Bytes, KvError> {
        let Some(subject) = self.direct_last_subject(key)? else {
            return Ok(self.entry(key)?.value);
        };
        let reply = self
            .context
            .client()
            .request_timeout(&subject, Bytes::new(), self.context.timeout())
            .map_err(Error::from)?;
        wire::value_from_direct(&reply)?.ok_or(KvError::KeyNotFound)
    }

    /// The direct-get subject of `key`'s last entry (`None`: the bucket has no direct
    /// get). Its answer carries the value in place, so a get parses no JSON.
    pub(crate) fn direct_last_subject(&self, key: &str) -> Result<Option<String>, KvError> {
        wire::check_key(key)?;
        if !self.direct {
            return Ok(None);
        }
        let mut subject = String::with_capacity(self.direct_last.len() + key.len());
        subject.push_str(&self.direct_last);
        subject.push_str(key);
        Ok(Some(subject))
    }

    /// The latest entry of `key`; [`KvError::KeyNotFound`] if it has no value.
    pub fn entry(&self, key: &str) -> Result<Entry, KvError> {
        match self.last_raw(key)? {
            Some(e) if e.operation == Operation::Put => Ok(e),
            _ => Err(KvError::KeyNotFound),
        }
    }

    /// The entry of `key` at `revision`; [`KvError::KeyNotFound`] if that revision is not
    /// a value of this key. nats.go: `GetRevision`.
    pub fn entry_at(&self, key: &str, revision: u64) -> Result<Entry, KvError> {
        wire::check_key(key)?;
        let stored = self.get_stored(None, Some(revision))?;
        self.entry_at_checked(key, stored)
    }

    /// The entry of [`entry_at`](Self::entry_at) from what the get found.
    pub(crate) fn entry_at_checked(
        &self,
        key: &str,
        stored: Option<crate::StoredMessage>,
    ) -> Result<Entry, KvError> {
        let Some(stored) = stored else {
            return Err(KvError::KeyNotFound);
        };
        let e = wire::entry_from_stored(&self.bucket, &self.prefix, stored)?;
        if e.key != key || e.operation != Operation::Put {
            return Err(KvError::KeyNotFound);
        }
        Ok(e)
    }

    /// A stored message as the latest entry of a key (`None`: never written).
    pub(crate) fn last_entry(
        &self,
        stored: Option<crate::StoredMessage>,
    ) -> Result<Option<Entry>, KvError> {
        match stored {
            Some(s) => wire::entry_from_stored(&self.bucket, &self.prefix, s).map(Some),
            None => Ok(None),
        }
    }

    /// The latest entry of `key`, markers included; `None` if it was never written.
    fn last_raw(&self, key: &str) -> Result<Option<Entry>, KvError> {
        let subject = self.key_subject(key)?;
        let stored = self.get_stored(Some(&subject), None)?;
        self.last_entry(stored)
    }

    /// Direct get (any replica answers) when the bucket allows it, else `STREAM.MSG.GET`.
    fn get_stored(
        &self,
        last_by_subj: Option<&str>,
        seq: Option<u64>,
    ) -> Result<Option<crate::StoredMessage>, KvError> {
        let result = if let Some((subject, body)) = self.direct_request(last_by_subj, seq)? {
            match self
                .context
                .client()
                .request_timeout(&subject, body, self.context.timeout())
            {
                Ok(reply) => crate::stored::from_direct_reply(&reply),
                Err(e) => Err(Error::from(e)),
            }
        } else {
            let stream = self.context.get_stream(&self.stream)?;
            match (last_by_subj, seq) {
                (Some(s), _) => stream.get_last_message(s),
                (None, Some(seq)) => stream.get_message(seq),
                (None, None) => return Err(KvError::InvalidConfig("nothing to get")),
            }
        };
        found(result)
    }

    /// The subject and body of a direct get (`None`: the bucket has no direct get).
    pub(crate) fn direct_request(
        &self,
        last_by_subj: Option<&str>,
        seq: Option<u64>,
    ) -> Result<Option<(String, Bytes)>, KvError> {
        if !self.direct {
            return Ok(None);
        }
        let body = match (last_by_subj, seq) {
            (Some(s), _) => serde_json::to_vec(&LastBySubject { last_by_subj: s }),
            (None, Some(seq)) => serde_json::to_vec(&BySequence { seq }),
            (None, None) => return Err(KvError::InvalidConfig("nothing to get")),
        }
        .map_err(|e| Error::InvalidResponse(e.to_string()))?;
        let subject = self
            .context
            .api_subject(&format!("DIRECT.GET.{}", self.stream));
        Ok(Some((subject, Bytes::from(body))))
    }

    /// The subject of `key`'s last entry (`<prefix><key>`), after checking the key.
    pub(crate) fn key_subject(&self, key: &str) -> Result<String, KvError> {
        wire::check_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    /// Every key with a value, in stream order. nats.go: `Keys` / `ListKeys`.
    pub fn keys(&self) -> Result<Vec<String>, KvError> {
        self.keys_with_filters(&[">"])
    }

    /// The keys with a value matching any of `filters` (`*` and `>` wildcards).
    /// nats.go: `ListKeysFiltered`.
    pub fn keys_with_filters(&self, filters: &[&str]) -> Result<Vec<String>, KvError> {
        let opts = WatchOptions::new().meta_only().ignore_deletes();
        let mut keys = Vec::new();
        let mut watch = self.watch_many_with(filters, opts)?;
        for event in watch.by_ref() {
            match event? {
                WatchEvent::Entry(e) => keys.push(e.key),
                WatchEvent::InitialValuesDone => break,
            }
        }
        Ok(keys)
    }

    /// Every stored revision of `key`, oldest first, markers included;
    /// [`KvError::KeyNotFound`] if there is none. nats.go: `History`.
    pub fn history(&self, key: &str) -> Result<Vec<Entry>, KvError> {
        wire::check_key(key)?;
        let entries = self.initial_entries(key, WatchOptions::new().include_history())?;
        if entries.is_empty() {
            return Err(KvError::KeyNotFound);
        }
        Ok(entries)
    }

    /// The entries a watch reports before [`WatchEvent::InitialValuesDone`].
    fn initial_entries(&self, pattern: &str, opts: WatchOptions) -> Result<Vec<Entry>, KvError> {
        let mut out = Vec::new();
        for event in self.watch_with(pattern, opts)? {
            match event? {
                WatchEvent::Entry(e) => out.push(e),
                WatchEvent::InitialValuesDone => break,
            }
        }
        Ok(out)
    }

    // ---- Watches ----

    /// Watches keys matching `pattern` (`*`/`>` wildcards): their latest values, then
    /// [`WatchEvent::InitialValuesDone`], then every change. nats.go: `Watch`.
    pub fn watch(&self, pattern: &str) -> Result<Watch, KvError> {
        self.watch_with(pattern, WatchOptions::new())
    }

    /// Watches every key. nats.go: `WatchAll`.
    pub fn watch_all(&self) -> Result<Watch, KvError> {
        self.watch_with(">", WatchOptions::new())
    }

    /// Watches `pattern` with `options`.
    pub fn watch_with(&self, pattern: &str, options: WatchOptions) -> Result<Watch, KvError> {
        self.watch_many_with(&[pattern], options)
    }

    /// Watches keys matching any of `patterns` with `options`. nats.go: `WatchFiltered`.
    pub fn watch_many_with(
        &self,
        patterns: &[&str],
        options: WatchOptions,
    ) -> Result<Watch, KvError> {
        let config = self.watch_config(patterns, options)?;
        let consumer = self.context.ordered_consumer(&self.stream, config)?;
        let state = self.watch_state(options, consumer.initial_pending());
        Ok(Watch::new(consumer, state))
    }

    /// The ordered consumer of a watch on `patterns`: shared with the async store.
    pub(crate) fn watch_config(
        &self,
        patterns: &[&str],
        options: WatchOptions,
    ) -> Result<crate::OrderedConfig, KvError> {
        if patterns.is_empty() {
            return Err(KvError::InvalidKey);
        }
        let mut subjects = Vec::with_capacity(patterns.len());
        for p in patterns {
            wire::check_key_pattern(p)?;
            subjects.push(format!("{}{p}", self.prefix));
        }
        Ok(options.ordered_config(subjects))
    }

    /// A new sans-IO watch state for a watch whose first consumer had
    /// `initial_pending` messages pending.
    pub(crate) fn watch_state(&self, options: WatchOptions, initial_pending: u64) -> WatchState {
        WatchState::new(&self.bucket, &self.prefix, options, initial_pending)
    }
}

/// A get's result: a missing message is `None`.
pub(crate) fn found(
    result: Result<crate::StoredMessage, Error>,
) -> Result<Option<crate::StoredMessage>, KvError> {
    match result {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.api_kind() == Some(ApiErrorKind::NoMessageFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// ADR-8: a create over a delete or purge marker succeeds: the revision to expect then,
/// or [`KvError::KeyExists`] when the key has a value.
pub(crate) fn create_over(last: Option<Entry>) -> Result<u64, KvError> {
    match last {
        Some(e) if e.operation != Operation::Put => Ok(e.revision),
        _ => Err(KvError::KeyExists),
    }
}
