//! [`ObjectStore`]: the blocking handle of one bucket — put, get, info, list, delete,
//! meta updates, links, seal and status. What to write is decided in `plan.rs` and
//! `chunk.rs`; this file only sends and waits.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use natsy::ReplyHandle;

use super::chunk::{self, Chunker};
use super::config::{self, ObjectStoreStatus};
use super::error::ObjectError;
use super::info::{self, ObjectInfo, ObjectLink, ObjectMeta};
use super::plan;
use super::reader::ObjectReader;
use super::watch::{ObjectWatch, ObjectWatchOptions};
use crate::context::Context;
use crate::error::{ApiErrorKind, Error};
use crate::publish::{ack_from_reply, PublishOptions};
use crate::stream::PurgeOptions;

/// A bound bucket of objects (ADR-20), blocking. Cheap to clone. Made by
/// [`Context::create_object_store`] or [`Context::object_store`].
///
/// Objects are streamed: [`put`](Self::put) reads its input a chunk at a time and
/// [`get`](Self::get) returns a reader that fetches chunks as they are read, so neither
/// holds an object in memory.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(crate) context: Context,
    pub(crate) bucket: String,
    pub(crate) stream: String,
}

impl ObjectStore {
    pub(crate) fn bind(context: &Context, bucket: &str, stream: &str) -> ObjectStore {
        ObjectStore {
            context: context.clone(),
            bucket: bucket.to_string(),
            stream: stream.to_string(),
        }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// The bucket's configuration and state, asked for now. nats.go: `Status`.
    pub fn status(&self) -> Result<ObjectStoreStatus, ObjectError> {
        let info = self.context.stream_info(&self.stream)?;
        Ok(ObjectStoreStatus::new(&self.bucket, info))
    }

    /// Seals the bucket: no more puts, deletes or purges, for ever. nats.go: `Seal`.
    pub fn seal(&self) -> Result<(), ObjectError> {
        let info = self.context.stream_info(&self.stream)?;
        self.context.update_stream(&config::sealed(info.config))?;
        Ok(())
    }

    // ---- Put ----

    /// Stores what `data` yields as object `meta` (a name, or an [`ObjectMeta`]),
    /// replacing any object of that name, and returns its info. nats.go: `Put`.
    ///
    /// The data is read and published a chunk at a time (128 KiB unless
    /// [`ObjectMeta::chunk_size`] says otherwise), with a bounded window of chunk acks in
    /// flight, so memory stays a few MiB whatever the size. The info is written last,
    /// with a rollup; the replaced object's chunks are purged after it. If reading
    /// ([`ObjectError::Read`]) or publishing fails, the chunks written so far are purged
    /// and the previous object (if any) is untouched.
    pub fn put<R: Read + ?Sized>(
        &self,
        meta: impl Into<ObjectMeta>,
        data: &mut R,
    ) -> Result<ObjectInfo, ObjectError> {
        let meta = meta.into();
        let chunk_size = plan::check_put(&meta)?;
        let old = self.raw_info(&meta.name)?;
        let nuid = info::nuid_from_inbox(&self.context.client().new_inbox());
        let subject = info::chunk_subject(&self.bucket, &nuid);
        let totals = match self.put_chunks(&subject, chunk_size, data) {
            Ok(t) => t,
            Err(e) => {
                // Best effort: the failure itself is what the caller needs to see.
                let _ = self.purge_subject(&subject);
                return Err(e);
            }
        };
        let info = plan::put_info(&self.bucket, &meta, nuid, chunk_size, totals);
        if let Err(e) = self.publish_info(&info) {
            let _ = self.purge_subject(&subject);
            return Err(e);
        }
        if let Some(old) = plan::old_chunks(&self.bucket, old.as_ref(), &info.nuid) {
            self.purge_subject(&old)?;
        }
        Ok(info)
    }

    /// [`put`](Self::put) of a byte slice.
    pub fn put_bytes(
        &self,
        meta: impl Into<ObjectMeta>,
        data: &[u8],
    ) -> Result<ObjectInfo, ObjectError> {
        self.put(meta, &mut &data[..])
    }

    /// Publishes the chunks `data` yields to `subject`, at most a window of acks in
    /// flight; returns size, chunk count and digest.
    fn put_chunks<R: Read + ?Sized>(
        &self,
        subject: &str,
        chunk_size: u32,
        data: &mut R,
    ) -> Result<(u64, u64, String), ObjectError> {
        let max = chunk::window(chunk_size);
        let mut window: VecDeque<(ReplyHandle, Instant)> = VecDeque::with_capacity(max);
        let mut chunker = Chunker::new(chunk_size);
        let outcome = self.publish_chunks(subject, data, &mut chunker, &mut window, max);
        // Every chunk sent is waited for, also after a failure: a purge that overtook
        // chunks still on their way into the stream would leave them behind.
        let mut acks = Ok(());
        while let Some((handle, deadline)) = window.pop_front() {
            acks = acks.and(wait_ack(handle, deadline));
        }
        outcome?;
        acks?;
        Ok(chunker.finish())
    }

    fn publish_chunks<R: Read + ?Sized>(
        &self,
        subject: &str,
        data: &mut R,
        chunker: &mut Chunker,
        window: &mut VecDeque<(ReplyHandle, Instant)>,
        max: usize,
    ) -> Result<(), ObjectError> {
        let client = self.context.client();
        let timeout = self.context.timeout();
        loop {
            let n = match data.read(chunker.spare()) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ObjectError::Read(Arc::new(e))),
            };
            chunker.filled(n);
            if chunker.is_full() || n == 0 {
                if let Some(chunk) = chunker.take() {
                    if window.len() >= max {
                        if let Some((handle, deadline)) = window.pop_front() {
                            wait_ack(handle, deadline)?;
                        }
                    }
                    let handle = client
                        .send_request(subject, None, chunk)
                        .map_err(Error::from)?;
                    window.push_back((handle, crate::deadline::after(Instant::now(), timeout)));
                }
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    fn publish_info(&self, info: &ObjectInfo) -> Result<(), ObjectError> {
        let subject = info::meta_subject(&self.bucket, &info.name);
        let opts = PublishOptions::new().headers(info::rollup_headers());
        self.context
            .publish_with(&subject, info.to_json()?, &opts)?;
        Ok(())
    }

    fn purge_subject(&self, subject: &str) -> Result<(), ObjectError> {
        let call =
            crate::stream::purge_stream_call(&self.stream, &PurgeOptions::new().filter(subject))?;
        self.context.call(call)?;
        Ok(())
    }

    // ---- Get ----

    /// A reader of object `name`'s data, following a link to another object (also in
    /// another bucket). Chunks are fetched through an ordered consumer as they are read;
    /// the reader checks chunk count, size and SHA-256 digest and fails the read that
    /// would end the object with [`ObjectError::DigestMismatch`] (or a size / chunk-count
    /// mismatch) instead of returning end-of-file. nats.go: `Get`.
    ///
    /// [`ObjectError::NotFound`] if there is no such object (or it was deleted);
    /// [`ObjectError::LinkIsBucket`] for a link to a whole bucket.
    pub fn get(&self, name: &str) -> Result<ObjectReader, ObjectError> {
        let mut store = self.clone();
        let mut name = name.to_string();
        for _ in 0..=plan::MAX_LINK_DEPTH {
            let info = store.info(&name)?;
            match plan::follow(&info)? {
                None => return ObjectReader::open(&store, info),
                Some((bucket, target)) => {
                    if bucket != store.bucket {
                        store = self.context.object_store(&bucket)?;
                    }
                    name = target;
                }
            }
        }
        Err(ObjectError::TooManyLinks)
    }

    /// Object `name`'s data, read whole into memory (for small objects; large ones are
    /// read with [`get`](Self::get)).
    pub fn get_bytes(&self, name: &str) -> Result<Vec<u8>, ObjectError> {
        let mut reader = self.get(name)?;
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk()? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    // ---- Info ----

    /// Object `name`'s info; [`ObjectError::NotFound`] if it has none or was deleted.
    /// nats.go: `GetInfo`.
    pub fn info(&self, name: &str) -> Result<ObjectInfo, ObjectError> {
        match self.raw_info(name)? {
            Some(i) if !i.deleted => Ok(i),
            _ => Err(ObjectError::NotFound),
        }
    }

    /// Object `name`'s info, also when it is a deleted marker. nats.go:
    /// `GetInfo(…, GetObjectInfoShowDeleted())`.
    pub fn info_with_deleted(&self, name: &str) -> Result<ObjectInfo, ObjectError> {
        self.raw_info(name)?.ok_or(ObjectError::NotFound)
    }

    /// The newest info on `name`'s subject, deleted markers included.
    fn raw_info(&self, name: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        info::check_name(name)?;
        let subject = info::meta_subject(&self.bucket, name);
        let call = crate::stored::msg_get_call(&self.stream, None, Some(&subject))?;
        match self.context.call(call) {
            Ok(m) => Ok(Some(ObjectInfo::from_json(&m.payload)?)),
            Err(e) if e.api_kind() == Some(ApiErrorKind::NoMessageFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The info of every object (deleted ones left out), in the order they were last
    /// written; empty when there is none (nats.go fails with `ErrNoObjectsFound`).
    /// nats.go: `List`.
    pub fn list(&self) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut watch = self.watch_with(ObjectWatchOptions::new().ignore_deletes())?;
        watch.initial_infos()
    }

    /// Watches the bucket's infos: the newest of each object, then
    /// [`ObjectWatchEvent::InitialValuesDone`](super::ObjectWatchEvent::InitialValuesDone),
    /// then every put, update, link and delete as it happens. nats.go: `Watch`.
    pub fn watch(&self) -> Result<ObjectWatch, ObjectError> {
        self.watch_with(ObjectWatchOptions::new())
    }

    /// [`watch`](Self::watch) with options (history, updates only, no deletes).
    pub fn watch_with(&self, options: ObjectWatchOptions) -> Result<ObjectWatch, ObjectError> {
        ObjectWatch::start(self, options)
    }

    // ---- Changes ----

    /// Deletes object `name`: its info becomes a deleted marker and its chunks are
    /// purged. [`ObjectError::NotFound`] if there is no such object. nats.go: `Delete`.
    pub fn delete(&self, name: &str) -> Result<(), ObjectError> {
        let info = self.raw_info(name)?.ok_or(ObjectError::NotFound)?;
        let nuid = info.nuid.clone();
        self.publish_info(&plan::deleted(info))?;
        self.purge_subject(&info::chunk_subject(&self.bucket, &nuid))
    }

    /// Changes object `name`'s name, description, headers and metadata to `meta`'s (its
    /// data stays). Renaming onto a live object fails with [`ObjectError::AlreadyExists`];
    /// a deleted object cannot be updated ([`ObjectError::NotFound`]). nats.go:
    /// `UpdateMeta`.
    pub fn update_meta(
        &self,
        name: &str,
        meta: impl Into<ObjectMeta>,
    ) -> Result<ObjectInfo, ObjectError> {
        let meta = meta.into();
        let info = self.info(name)?;
        let new = plan::updated(&info, &meta)?;
        let renamed = new.name != name;
        if renamed && self.raw_info(&new.name)?.is_some_and(|i| !i.deleted) {
            return Err(ObjectError::AlreadyExists);
        }
        self.publish_info(&new)?;
        if renamed {
            self.purge_subject(&info::meta_subject(&self.bucket, name))?;
        }
        Ok(new)
    }

    /// Makes `name` a link to the object `target` (of this or another bucket); a get of
    /// `name` reads `target`. Fails with [`ObjectError::LinkToDeleted`],
    /// [`ObjectError::LinkToLink`], or [`ObjectError::AlreadyExists`] when `name` is an
    /// object that is not a link. nats.go: `AddLink`.
    pub fn add_link(&self, name: &str, target: &ObjectInfo) -> Result<ObjectInfo, ObjectError> {
        self.link(name, plan::object_link(target)?)
    }

    /// Makes `name` a link to the whole bucket `bucket`. nats.go: `AddBucketLink`.
    pub fn add_bucket_link(&self, name: &str, bucket: &str) -> Result<ObjectInfo, ObjectError> {
        self.link(
            name,
            ObjectLink {
                bucket: bucket.to_string(),
                name: None,
            },
        )
    }

    fn link(&self, name: &str, target: ObjectLink) -> Result<ObjectInfo, ObjectError> {
        info::check_name(name)?;
        let existing = self.raw_info(name)?;
        let nuid = info::nuid_from_inbox(&self.context.client().new_inbox());
        let info = plan::link_info(&self.bucket, name, target, existing.as_ref(), nuid)?;
        self.publish_info(&info)?;
        Ok(info)
    }
}

fn wait_ack(handle: ReplyHandle, deadline: Instant) -> Result<(), ObjectError> {
    let wait = deadline.saturating_duration_since(Instant::now());
    ack_from_reply(handle.wait_timeout(wait))?;
    Ok(())
}
