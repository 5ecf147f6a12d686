//! [`Context`], [`Stream`] and [`Consumer`] for async code: the account, stream and
//! consumer APIs, each the shared call of the blocking API (built, checked and parsed in
//! one place) sent with an awaited request.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::account::{account_info_call, AccountInfo};
use crate::consumer::{
    consumer_info_call, consumer_names_call, create_consumer_call, delete_consumer_call,
    ConsumerConfig, ConsumerInfo,
};
use crate::context::ApiCall;
use crate::error::Error;
use crate::stored::{
    direct_get_next_request, direct_get_request, from_direct_reply, msg_get_call, StoredMessage,
};
use crate::stream::{
    check_subject_filter, create_stream_call, delete_message_call, delete_stream_call,
    exists_otherwise, page_call, purge_stream_call, stream_info_call, update_stream_call, Pager,
    PurgeOptions,
};
use crate::stream_config::StreamConfig;
use crate::stream_info::{stream_info_page_call, InfoPager, StreamInfo, StreamInfoOptions};

/// An async JetStream context on top of a [`natsy::aio::Client`]
/// (`async_nats::jetstream::Context`). Cheap to clone, as the blocking
/// [`Context`](crate::Context) it wraps: the same prefix, domain and timeout, the same
/// connection.
#[derive(Debug, Clone)]
pub struct Context {
    inner: crate::Context,
    client: natsy::aio::Client,
}

/// An async JetStream context with the default prefix `$JS.API` and a 5 s request
/// timeout (`async_nats::jetstream::new`).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = natsy::aio::connect("nats://127.0.0.1:4222").await?;
/// let js = natsy_jetstream::aio::new(client);
/// println!("streams: {}", js.account_info().await?.streams);
/// # Ok(()) }
/// ```
pub fn new(client: natsy::aio::Client) -> Context {
    Context {
        inner: crate::new(client.blocking().clone()),
        client,
    }
}

impl From<crate::Context> for Context {
    fn from(inner: crate::Context) -> Self {
        let client = natsy::aio::Client::from(inner.client().clone());
        Context { inner, client }
    }
}

impl Context {
    /// Uses the JetStream domain `domain` (`$JS.<domain>.API`).
    pub fn with_domain(self, domain: &str) -> Self {
        Context {
            inner: self.inner.with_domain(domain),
            client: self.client,
        }
    }

    /// Uses an explicit API prefix (for imported JetStream APIs).
    pub fn with_api_prefix(self, prefix: &str) -> Self {
        Context {
            inner: self.inner.with_api_prefix(prefix),
            client: self.client,
        }
    }

    /// Sets the timeout of API requests (default 5 s).
    pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
        Context {
            inner: self.inner.with_timeout(timeout),
            client: self.client,
        }
    }

    /// The client this context uses.
    pub fn client(&self) -> &natsy::aio::Client {
        &self.client
    }

    /// The same context for blocking code (same connection, prefix and timeout).
    pub fn blocking(&self) -> &crate::Context {
        &self.inner
    }

    /// The API prefix, without a trailing dot.
    pub fn api_prefix(&self) -> &str {
        self.inner.api_prefix()
    }

    /// The API request timeout.
    pub fn timeout(&self) -> std::time::Duration {
        self.inner.timeout()
    }

    /// The full subject of API endpoint `endpoint` (e.g. `STREAM.INFO.orders`).
    pub fn api_subject(&self, endpoint: &str) -> String {
        self.inner.api_subject(endpoint)
    }

    /// Sends a raw API request and returns the raw reply body, mapping "no responders"
    /// to [`Error::NotEnabled`]. Dropping the future forgets the request.
    pub async fn request_raw(&self, endpoint: &str, body: Bytes) -> Result<Bytes, Error> {
        let reply = self
            .client
            .request_timeout(self.api_subject(endpoint), body, self.timeout())
            .await?;
        Ok(reply.payload_bytes())
    }

    /// Sends an API request with a JSON body (or none) and parses the response, the
    /// server's error object as [`Error::Api`].
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: Option<&Req>,
    ) -> Result<Resp, Error> {
        let call = ApiCall::json(endpoint.to_string(), body)?;
        self.call(call).await
    }

    /// Sends a built call and parses its reply: the async wait of every API call.
    pub(crate) async fn call<R>(&self, call: ApiCall<R>) -> Result<R, Error> {
        let reply = self.request_raw(&call.endpoint, call.body).await?;
        (call.parse)(&reply)
    }

    /// The account's usage and limits: see [`crate::Context::account_info`].
    pub async fn account_info(&self) -> Result<AccountInfo, Error> {
        self.call(account_info_call()).await
    }

    // ---- Streams ----

    /// Creates a stream: see [`crate::Context::create_stream`].
    pub async fn create_stream(&self, config: &StreamConfig) -> Result<Stream, Error> {
        self.call(create_stream_call(config)?).await?;
        Ok(self.stream_handle(&config.name))
    }

    /// Creates the stream, or updates it if it exists with another configuration.
    pub async fn create_or_update_stream(&self, config: &StreamConfig) -> Result<Stream, Error> {
        match self.create_stream(config).await {
            Err(e) if exists_otherwise(&e) => self.update_stream(config).await,
            other => other,
        }
    }

    /// Updates an existing stream: see [`crate::Context::update_stream`].
    pub async fn update_stream(&self, config: &StreamConfig) -> Result<Stream, Error> {
        self.call(update_stream_call(config)?).await?;
        Ok(self.stream_handle(&config.name))
    }

    /// Binds to an existing stream (`async_nats` `get_stream`): checks now that it
    /// exists, never creates one.
    pub async fn get_stream(&self, name: &str) -> Result<Stream, Error> {
        self.stream_info(name).await?;
        Ok(self.stream_handle(name))
    }

    /// The stream's configuration and state (`STREAM.INFO`).
    pub async fn stream_info(&self, name: &str) -> Result<StreamInfo, Error> {
        self.call(stream_info_call(name)?).await
    }

    /// The stream's info with per-subject counts or deleted sequences: see
    /// [`crate::Context::stream_info_with`].
    pub async fn stream_info_with(
        &self,
        name: &str,
        options: &StreamInfoOptions,
    ) -> Result<StreamInfo, Error> {
        let mut pager = InfoPager::new();
        while let Some(offset) = pager.offset() {
            pager.add(
                self.call(stream_info_page_call(name, options, offset)?)
                    .await?,
            );
        }
        pager.finish()
    }

    /// Deletes a stream and its messages and consumers.
    pub async fn delete_stream(&self, name: &str) -> Result<(), Error> {
        self.call(delete_stream_call(name)?).await
    }

    /// Names of all streams (every page).
    pub async fn stream_names(&self) -> Result<Vec<String>, Error> {
        self.paged("STREAM.NAMES", None).await
    }

    /// Names of the streams that capture `subject` (wildcards allowed).
    pub async fn stream_names_by_subject(&self, subject: &str) -> Result<Vec<String>, Error> {
        check_subject_filter(subject)?;
        self.paged("STREAM.NAMES", Some(subject)).await
    }

    /// Info of all streams (every page).
    pub async fn streams(&self) -> Result<Vec<StreamInfo>, Error> {
        self.paged("STREAM.LIST", None).await
    }

    /// Info of the streams that capture `subject` (wildcards allowed).
    pub async fn streams_by_subject(&self, subject: &str) -> Result<Vec<StreamInfo>, Error> {
        check_subject_filter(subject)?;
        self.paged("STREAM.LIST", Some(subject)).await
    }

    async fn paged<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        subject: Option<&str>,
    ) -> Result<Vec<T>, Error> {
        let mut pager = Pager::new();
        while let Some(offset) = pager.offset() {
            let page = self
                .call(page_call::<T>(endpoint, subject, offset)?)
                .await?;
            let (items, total) = page.into_parts();
            pager.add(items, total);
        }
        Ok(pager.finish())
    }

    fn stream_handle(&self, name: &str) -> Stream {
        Stream {
            context: self.clone(),
            name: name.to_string(),
        }
    }

    // ---- Consumers ----

    async fn create_consumer_action(
        &self,
        stream: &str,
        config: &ConsumerConfig,
        action: &str,
    ) -> Result<Consumer, Error> {
        let info = self
            .call(create_consumer_call(stream, config, action)?)
            .await?;
        Ok(Consumer {
            context: self.clone(),
            stream: stream.to_string(),
            name: info.name.clone(),
            info,
            pin: Default::default(),
        })
    }

    /// Creates a consumer on `stream`: see [`crate::Context::create_consumer`].
    pub async fn create_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<Consumer, Error> {
        self.create_consumer_action(stream, &config, "create").await
    }

    /// Creates the consumer, or updates it to `config` if it exists.
    pub async fn create_or_update_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<Consumer, Error> {
        self.create_consumer_action(stream, &config, "").await
    }

    /// Updates an existing consumer; `ConsumerDoesNotExist` if it is missing.
    pub async fn update_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<Consumer, Error> {
        self.create_consumer_action(stream, &config, "update").await
    }

    /// Binds to an existing consumer: one `CONSUMER.INFO` now, nothing created.
    pub async fn get_consumer(&self, stream: &str, name: &str) -> Result<Consumer, Error> {
        let info = self.consumer_info(stream, name).await?;
        Ok(Consumer {
            context: self.clone(),
            stream: stream.to_string(),
            name: name.to_string(),
            info,
            pin: Default::default(),
        })
    }

    /// The current info of consumer `name` on `stream`.
    pub async fn consumer_info(&self, stream: &str, name: &str) -> Result<ConsumerInfo, Error> {
        self.call(consumer_info_call(stream, name)?).await
    }

    /// Deletes consumer `name` on `stream`.
    pub async fn delete_consumer(&self, stream: &str, name: &str) -> Result<(), Error> {
        self.call(delete_consumer_call(stream, name)?).await
    }

    /// The names of every consumer on `stream` (all pages).
    pub async fn consumer_names(&self, stream: &str) -> Result<Vec<String>, Error> {
        let mut pager = Pager::new();
        while let Some(offset) = pager.offset() {
            let (names, total) = self.call(consumer_names_call(stream, offset)?).await?;
            pager.add(names, total);
        }
        Ok(pager.finish())
    }
}

/// An async handle to a stream that existed when it was obtained: the async
/// [`crate::Stream`].
#[derive(Debug, Clone)]
pub struct Stream {
    pub(crate) context: Context,
    pub(crate) name: String,
}

impl Stream {
    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The context it was obtained from.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The stream's current configuration and state (`async_nats` `stream.info()`).
    pub async fn info(&self) -> Result<StreamInfo, Error> {
        self.context.stream_info(&self.name).await
    }

    /// The stream's info with per-subject counts or deleted sequences: see
    /// [`crate::Stream::info_with`].
    pub async fn info_with(&self, options: &StreamInfoOptions) -> Result<StreamInfo, Error> {
        self.context.stream_info_with(&self.name, options).await
    }

    /// Deletes message `seq`, leaving its bytes until compaction: see
    /// [`crate::Stream::delete_message`].
    pub async fn delete_message(&self, seq: u64) -> Result<(), Error> {
        self.context
            .call(delete_message_call(&self.name, seq, false)?)
            .await
    }

    /// Deletes message `seq` and overwrites its bytes: see
    /// [`crate::Stream::erase_message`].
    pub async fn erase_message(&self, seq: u64) -> Result<(), Error> {
        self.context
            .call(delete_message_call(&self.name, seq, true)?)
            .await
    }

    /// Removes every message; returns how many were purged.
    pub async fn purge(&self) -> Result<u64, Error> {
        self.purge_with(&PurgeOptions::new()).await
    }

    /// Removes the messages `options` selects; returns how many were purged.
    pub async fn purge_with(&self, options: &PurgeOptions) -> Result<u64, Error> {
        self.context
            .call(purge_stream_call(&self.name, options)?)
            .await
    }

    /// The message with sequence `seq`: see [`crate::Stream::get_message`].
    pub async fn get_message(&self, seq: u64) -> Result<StoredMessage, Error> {
        self.context
            .call(msg_get_call(&self.name, Some(seq), None)?)
            .await
    }

    /// The newest message on `subject`: see [`crate::Stream::get_last_message`].
    pub async fn get_last_message(&self, subject: &str) -> Result<StoredMessage, Error> {
        self.context
            .call(msg_get_call(&self.name, None, Some(subject))?)
            .await
    }

    /// The message with sequence `seq` by direct get: see [`crate::Stream::direct_get`].
    pub async fn direct_get(&self, seq: u64) -> Result<StoredMessage, Error> {
        self.direct(direct_get_request(&self.name, Some(seq), None)?)
            .await
    }

    /// The newest message on `subject` by direct get: see
    /// [`crate::Stream::direct_get_last`].
    pub async fn direct_get_last(&self, subject: &str) -> Result<StoredMessage, Error> {
        self.direct(direct_get_request(&self.name, None, Some(subject))?)
            .await
    }

    /// The first message on `subject` at or after `from_seq` by direct get: see
    /// [`crate::Stream::direct_get_next`].
    pub async fn direct_get_next(
        &self,
        subject: &str,
        from_seq: u64,
    ) -> Result<StoredMessage, Error> {
        self.direct(direct_get_next_request(&self.name, subject, from_seq)?)
            .await
    }

    async fn direct(&self, (endpoint, body): (String, Bytes)) -> Result<StoredMessage, Error> {
        let ctx = &self.context;
        let reply = ctx
            .client()
            .request_timeout(ctx.api_subject(&endpoint), body, ctx.timeout())
            .await?;
        from_direct_reply(&reply)
    }

    /// Deletes this stream.
    pub async fn delete(&self) -> Result<(), Error> {
        self.context.delete_stream(&self.name).await
    }

    /// [`Context::create_consumer`] on this stream.
    pub async fn create_consumer(&self, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.context.create_consumer(&self.name, config).await
    }

    /// [`Context::create_or_update_consumer`] on this stream.
    pub async fn create_or_update_consumer(
        &self,
        config: ConsumerConfig,
    ) -> Result<Consumer, Error> {
        self.context
            .create_or_update_consumer(&self.name, config)
            .await
    }

    /// [`Context::update_consumer`] on this stream.
    pub async fn update_consumer(&self, config: ConsumerConfig) -> Result<Consumer, Error> {
        self.context.update_consumer(&self.name, config).await
    }

    /// [`Context::get_consumer`] on this stream: bind only.
    pub async fn get_consumer(&self, name: &str) -> Result<Consumer, Error> {
        self.context.get_consumer(&self.name, name).await
    }

    /// [`Context::consumer_info`] on this stream.
    pub async fn consumer_info(&self, name: &str) -> Result<ConsumerInfo, Error> {
        self.context.consumer_info(&self.name, name).await
    }

    /// [`Context::delete_consumer`] on this stream.
    pub async fn delete_consumer(&self, name: &str) -> Result<(), Error> {
        self.context.delete_consumer(&self.name, name).await
    }

    /// [`Context::consumer_names`] on this stream.
    pub async fn consumer_names(&self) -> Result<Vec<String>, Error> {
        self.context.consumer_names(&self.name).await
    }
}

/// An async handle to a consumer that existed when it was obtained, with the info from
/// then: the async [`crate::Consumer`]. Pull with [`Consumer::fetch`] or
/// [`Consumer::messages`].
#[derive(Debug, Clone)]
pub struct Consumer {
    pub(crate) context: Context,
    pub(crate) stream: String,
    pub(crate) name: String,
    pub(crate) info: ConsumerInfo,
    /// The pin id of priority-group pulls, shared by the handle's clones.
    pub(crate) pin: crate::pull::PinSlot,
}

impl Consumer {
    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The context it was obtained from.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The info received when the handle was obtained (`async_nats` `cached_info`).
    pub fn cached_info(&self) -> &ConsumerInfo {
        &self.info
    }

    /// The consumer's current state (lag, pending acks, ...).
    pub async fn info(&self) -> Result<ConsumerInfo, Error> {
        self.context.consumer_info(&self.stream, &self.name).await
    }
}
