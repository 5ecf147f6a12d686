//! The async object store (ADR-20): [`ObjectStore`] and the bucket calls on
//! [`Context`]. Every decision (chunking, digests, what each call writes, the checks) is
//! the blocking store's sans-IO code in [`crate::object`]; only the sends and waits are
//! async. Data comes in as a [`futures_io::AsyncRead`] and goes out as an
//! [`ObjectReader`] (an `AsyncRead` and a `Stream` of chunks), with no runtime.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use futures_io::AsyncRead;
use natsy::aio::Response;

use super::object_read::{ObjectReader, ObjectWatch};
use super::Context;
use crate::error::{ApiErrorKind, Error};
use crate::object::chunk::{self, Chunker};
use crate::object::{config, info, plan};
use crate::object::{
    ObjectError, ObjectInfo, ObjectLink, ObjectMeta, ObjectStoreConfig, ObjectStoreStatus,
    ObjectWatchOptions,
};
use crate::publish::{ack_from_reply, PublishOptions};
use crate::stream::PurgeOptions;

impl Context {
    /// Creates bucket `config.bucket`: the async form of
    /// [`crate::Context::create_object_store`] (async-nats `create_object_store`).
    ///
    /// ```no_run
    /// # async fn run(js: natsy_jetstream::aio::Context) -> Result<(), Box<dyn std::error::Error>> {
    /// use natsy_jetstream::object::ObjectStoreConfig;
    /// let store = js.create_object_store(&ObjectStoreConfig::new("files")).await?;
    /// store.put("hello.txt", &mut &b"hello"[..]).await?;
    /// assert_eq!(store.get_bytes("hello.txt").await?, b"hello");
    /// # Ok(()) }
    /// ```
    pub async fn create_object_store(
        &self,
        config: &ObjectStoreConfig,
    ) -> Result<ObjectStore, ObjectError> {
        let s = self.create_stream(&config.stream_config()?).await?;
        Ok(ObjectStore::bind(self, &config.bucket, s.name()))
    }

    /// Updates an existing bucket to `config`.
    pub async fn update_object_store(
        &self,
        config: &ObjectStoreConfig,
    ) -> Result<ObjectStore, ObjectError> {
        let s = self.update_stream(&config.stream_config()?).await?;
        Ok(ObjectStore::bind(self, &config.bucket, s.name()))
    }

    /// Binds to an existing bucket; [`ObjectError::BucketNotFound`] if there is none
    /// (async-nats `get_object_store`).
    pub async fn object_store(&self, bucket: &str) -> Result<ObjectStore, ObjectError> {
        info::check_bucket(bucket)?;
        let stream = info::stream_name(bucket);
        self.stream_info(&stream).await?;
        Ok(ObjectStore::bind(self, bucket, &stream))
    }

    /// Deletes a bucket and every object in it.
    pub async fn delete_object_store(&self, bucket: &str) -> Result<(), ObjectError> {
        info::check_bucket(bucket)?;
        Ok(self.delete_stream(&info::stream_name(bucket)).await?)
    }

    /// The names of every bucket.
    pub async fn object_store_names(&self) -> Result<Vec<String>, ObjectError> {
        Ok(config::bucket_names(self.stream_names().await?))
    }
}

/// A bound bucket of objects, async: the async form of
/// [`crate::object::ObjectStore`], with the same calls, options and errors. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub(crate) context: Context,
    pub(crate) bucket: String,
    pub(crate) stream: String,
}

impl ObjectStore {
    fn bind(context: &Context, bucket: &str, stream: &str) -> ObjectStore {
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

    /// The bucket's configuration and state.
    pub async fn status(&self) -> Result<ObjectStoreStatus, ObjectError> {
        let info = self.context.stream_info(&self.stream).await?;
        Ok(ObjectStoreStatus::new(&self.bucket, info))
    }

    /// Seals the bucket.
    pub async fn seal(&self) -> Result<(), ObjectError> {
        let info = self.context.stream_info(&self.stream).await?;
        self.context
            .update_stream(&config::sealed(info.config))
            .await?;
        Ok(())
    }

    /// Stores what `data` yields as object `meta`: see
    /// [`crate::object::ObjectStore::put`] (streamed in chunks with a bounded window of
    /// acks; on failure the chunks written are purged).
    ///
    /// Dropping the future before it completes leaves the previous object as it was,
    /// but the chunks already stored stay (on a subject no info points at) until the
    /// bucket's TTL or a purge removes them: a drop cannot await a purge. nats.go and
    /// async-nats leave the same behind when a put is interrupted.
    pub async fn put<R: AsyncRead + Unpin + ?Sized>(
        &self,
        meta: impl Into<ObjectMeta>,
        data: &mut R,
    ) -> Result<ObjectInfo, ObjectError> {
        let meta = meta.into();
        let chunk_size = plan::check_put(&meta)?;
        let old = self.raw_info(&meta.name).await?;
        let nuid = info::nuid_from_inbox(&self.context.client().new_inbox());
        let subject = info::chunk_subject(&self.bucket, &nuid);
        let totals = match self.put_chunks(&subject, chunk_size, data).await {
            Ok(t) => t,
            Err(e) => {
                let _ = self.purge_subject(&subject).await;
                return Err(e);
            }
        };
        let info = plan::put_info(&self.bucket, &meta, nuid, chunk_size, totals);
        if let Err(e) = self.publish_info(&info).await {
            let _ = self.purge_subject(&subject).await;
            return Err(e);
        }
        if let Some(old) = plan::old_chunks(&self.bucket, old.as_ref(), &info.nuid) {
            self.purge_subject(&old).await?;
        }
        Ok(info)
    }

    /// [`put`](Self::put) of a byte slice.
    pub async fn put_bytes(
        &self,
        meta: impl Into<ObjectMeta>,
        data: &[u8],
    ) -> Result<ObjectInfo, ObjectError> {
        self.put(meta, &mut &data[..]).await
    }

    async fn put_chunks<R: AsyncRead + Unpin + ?Sized>(
        &self,
        subject: &str,
        chunk_size: u32,
        data: &mut R,
    ) -> Result<(u64, u64, String), ObjectError> {
        let max = chunk::window(chunk_size);
        let mut window: VecDeque<Response> = VecDeque::with_capacity(max);
        let mut chunker = Chunker::new(chunk_size);
        let outcome = self
            .publish_chunks(subject, data, &mut chunker, &mut window, max)
            .await;
        // Every chunk sent is waited for, also after a failure (see the blocking put).
        let mut acks = Ok(());
        while let Some(response) = window.pop_front() {
            acks = acks.and(wait_ack(response).await);
        }
        outcome?;
        acks?;
        Ok(chunker.finish())
    }

    async fn publish_chunks<R: AsyncRead + Unpin + ?Sized>(
        &self,
        subject: &str,
        data: &mut R,
        chunker: &mut Chunker,
        window: &mut VecDeque<Response>,
        max: usize,
    ) -> Result<(), ObjectError> {
        let client = self.context.client();
        let timeout = self.context.timeout();
        loop {
            let read = poll_fn(|cx| Pin::new(&mut *data).poll_read(cx, chunker.spare())).await;
            let n = match read {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ObjectError::Read(Arc::new(e))),
            };
            chunker.filled(n);
            if chunker.is_full() || n == 0 {
                if let Some(chunk) = chunker.take() {
                    if window.len() >= max {
                        if let Some(oldest) = window.pop_front() {
                            wait_ack(oldest).await?;
                        }
                    }
                    let response = client
                        .send_request(subject, None, chunk)
                        .await
                        .map_err(Error::from)?;
                    window.push_back(response.timeout(timeout));
                }
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    async fn publish_info(&self, info: &ObjectInfo) -> Result<(), ObjectError> {
        let subject = info::meta_subject(&self.bucket, &info.name);
        let opts = PublishOptions::new().headers(info::rollup_headers());
        self.context
            .publish_with(&subject, info.to_json()?, &opts)
            .await?
            .await?;
        Ok(())
    }

    async fn purge_subject(&self, subject: &str) -> Result<(), ObjectError> {
        let call =
            crate::stream::purge_stream_call(&self.stream, &PurgeOptions::new().filter(subject))?;
        self.context.call(call).await?;
        Ok(())
    }

    /// A reader of object `name`'s data, following links: see
    /// [`crate::object::ObjectStore::get`].
    pub async fn get(&self, name: &str) -> Result<ObjectReader, ObjectError> {
        let mut store = self.clone();
        let mut name = name.to_string();
        for _ in 0..=plan::MAX_LINK_DEPTH {
            let info = store.info(&name).await?;
            match plan::follow(&info)? {
                None => return ObjectReader::open(&store, info).await,
                Some((bucket, target)) => {
                    if bucket != store.bucket {
                        store = self.context.object_store(&bucket).await?;
                    }
                    name = target;
                }
            }
        }
        Err(ObjectError::TooManyLinks)
    }

    /// Object `name`'s data, read whole into memory (for small objects).
    pub async fn get_bytes(&self, name: &str) -> Result<Vec<u8>, ObjectError> {
        let mut reader = self.get(name).await?;
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Object `name`'s info; [`ObjectError::NotFound`] if none or deleted.
    pub async fn info(&self, name: &str) -> Result<ObjectInfo, ObjectError> {
        match self.raw_info(name).await? {
            Some(i) if !i.deleted => Ok(i),
            _ => Err(ObjectError::NotFound),
        }
    }

    /// Object `name`'s info, also when it is a deleted marker.
    pub async fn info_with_deleted(&self, name: &str) -> Result<ObjectInfo, ObjectError> {
        self.raw_info(name).await?.ok_or(ObjectError::NotFound)
    }

    async fn raw_info(&self, name: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        info::check_name(name)?;
        let subject = info::meta_subject(&self.bucket, name);
        let call = crate::stored::msg_get_call(&self.stream, None, Some(&subject))?;
        match self.context.call(call).await {
            Ok(m) => Ok(Some(ObjectInfo::from_json(&m.payload)?)),
            Err(e) if e.api_kind() == Some(ApiErrorKind::NoMessageFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The info of every object, deleted ones left out.
    pub async fn list(&self) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut watch = self
            .watch_with(ObjectWatchOptions::new().ignore_deletes())
            .await?;
        watch.initial_infos().await
    }

    /// Watches the bucket's infos: see [`crate::object::ObjectStore::watch`].
    pub async fn watch(&self) -> Result<ObjectWatch, ObjectError> {
        self.watch_with(ObjectWatchOptions::new()).await
    }

    /// [`watch`](Self::watch) with options.
    pub async fn watch_with(
        &self,
        options: ObjectWatchOptions,
    ) -> Result<ObjectWatch, ObjectError> {
        ObjectWatch::start(self, options).await
    }

    /// Deletes object `name` (a deleted marker; its chunks purged).
    pub async fn delete(&self, name: &str) -> Result<(), ObjectError> {
        let info = self.raw_info(name).await?.ok_or(ObjectError::NotFound)?;
        let nuid = info.nuid.clone();
        self.publish_info(&plan::deleted(info)).await?;
        self.purge_subject(&info::chunk_subject(&self.bucket, &nuid))
            .await
    }

    /// Changes object `name`'s name, description, headers and metadata: see
    /// [`crate::object::ObjectStore::update_meta`].
    pub async fn update_meta(
        &self,
        name: &str,
        meta: impl Into<ObjectMeta>,
    ) -> Result<ObjectInfo, ObjectError> {
        let meta = meta.into();
        let info = self.info(name).await?;
        let new = plan::updated(&info, &meta)?;
        let renamed = new.name != name;
        if renamed && self.raw_info(&new.name).await?.is_some_and(|i| !i.deleted) {
            return Err(ObjectError::AlreadyExists);
        }
        self.publish_info(&new).await?;
        if renamed {
            self.purge_subject(&info::meta_subject(&self.bucket, name))
                .await?;
        }
        Ok(new)
    }

    /// Makes `name` a link to the object `target`.
    pub async fn add_link(
        &self,
        name: &str,
        target: &ObjectInfo,
    ) -> Result<ObjectInfo, ObjectError> {
        self.link(name, plan::object_link(target)?).await
    }

    /// Makes `name` a link to the whole bucket `bucket`.
    pub async fn add_bucket_link(
        &self,
        name: &str,
        bucket: &str,
    ) -> Result<ObjectInfo, ObjectError> {
        let target = ObjectLink {
            bucket: bucket.to_string(),
            name: None,
        };
        self.link(name, target).await
    }

    async fn link(&self, name: &str, target: ObjectLink) -> Result<ObjectInfo, ObjectError> {
        info::check_name(name)?;
        let existing = self.raw_info(name).await?;
        let nuid = info::nuid_from_inbox(&self.context.client().new_inbox());
        let info = plan::link_info(&self.bucket, name, target, existing.as_ref(), nuid)?;
        self.publish_info(&info).await?;
        Ok(info)
    }
}

async fn wait_ack(response: Response) -> Result<(), ObjectError> {
    ack_from_reply(response.await)?;
    Ok(())
}
