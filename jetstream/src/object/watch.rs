//! [`ObjectWatch`]: a bucket's infos on an ordered consumer — the newest of each object
//! first, then [`ObjectWatchEvent::InitialValuesDone`], then every change.

use std::time::{Duration, Instant};

use super::chunk::InitialValues;
use super::error::ObjectError;
use super::info::{self, ObjectInfo};
use super::store::ObjectStore;
use crate::consumer::DeliverPolicy;
use crate::ordered::OrderedConsumer;
use crate::ordered_machine::OrderedConfig;

/// What a watch reports. Defaults: the newest info of each object, deletes included
/// (nats.go's default `Watch`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectWatchOptions {
    /// Every stored info, not only the newest per object. nats.go: `IncludeHistory`.
    pub include_history: bool,
    /// Only changes from now on. nats.go: `UpdatesOnly`.
    pub updates_only: bool,
    /// Leave deleted markers out. nats.go: `IgnoreDeletes`.
    pub ignore_deletes: bool,
}

impl ObjectWatchOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `include_history`.
    pub fn include_history(mut self) -> Self {
        self.include_history = true;
        self
    }

    /// Sets `updates_only`.
    pub fn updates_only(mut self) -> Self {
        self.updates_only = true;
        self
    }

    /// Sets `ignore_deletes`.
    pub fn ignore_deletes(mut self) -> Self {
        self.ignore_deletes = true;
        self
    }

    /// The ordered consumer on bucket `bucket`'s infos.
    pub(crate) fn ordered_config(&self, bucket: &str) -> OrderedConfig {
        OrderedConfig {
            filter_subjects: vec![info::all_meta(bucket)],
            deliver_policy: if self.updates_only {
                DeliverPolicy::New
            } else if self.include_history {
                DeliverPolicy::All
            } else {
                DeliverPolicy::LastPerSubject
            },
            ..OrderedConfig::default()
        }
    }
}

/// One thing a watch reports.
// Not boxed: events are handed out one at a time and matched on; a box per info would
// cost an allocation each and a `*` in every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectWatchEvent {
    /// An object's info: a put, a meta update, a link, or (`deleted`) a delete.
    Info(ObjectInfo),
    /// Every info that existed when the watch started was reported (sent once, also
    /// when there were none; first with `updates_only`). nats.go sends `nil`.
    InitialValuesDone,
}

/// The filter and end-of-initial-values logic of a watch, shared with the async one.
#[derive(Debug)]
pub(crate) struct WatchState {
    initial: InitialValues,
    ignore_deletes: bool,
}

impl WatchState {
    pub(crate) fn new(options: &ObjectWatchOptions, initial_pending: u64) -> Self {
        WatchState {
            initial: InitialValues::new(initial_pending, options.updates_only),
            ignore_deletes: options.ignore_deletes,
        }
    }

    /// The marker, once, when due.
    pub(crate) fn poll_marker(&mut self) -> Option<ObjectWatchEvent> {
        self.initial
            .poll_marker()
            .then_some(ObjectWatchEvent::InitialValuesDone)
    }

    /// An info message with `pending` more after it: the event to report, if any.
    pub(crate) fn handle(
        &mut self,
        payload: &[u8],
        pending: u64,
    ) -> Result<Option<ObjectWatchEvent>, ObjectError> {
        self.initial.handle_info(pending);
        let info = ObjectInfo::from_json(payload)?;
        if info.deleted && self.ignore_deletes {
            return Ok(None);
        }
        Ok(Some(ObjectWatchEvent::Info(info)))
    }
}

/// A watch on a bucket ([`ObjectStore::watch`]): a blocking iterator of
/// [`ObjectWatchEvent`]s, plus [`ObjectWatch::next_timeout`]. It survives reconnects
/// (its ordered consumer is recreated where it left off).
#[derive(Debug)]
pub struct ObjectWatch {
    consumer: OrderedConsumer,
    state: WatchState,
    /// The marker due after the info just handed out (the one that ended the initial
    /// values).
    queued: Option<ObjectWatchEvent>,
    /// The iterator yielded its terminal error: it ends.
    ended: bool,
}

impl ObjectWatch {
    pub(crate) fn start(
        store: &ObjectStore,
        options: ObjectWatchOptions,
    ) -> Result<Self, ObjectError> {
        let consumer = store
            .context
            .ordered_consumer(&store.stream, options.ordered_config(&store.bucket))?;
        let state = WatchState::new(&options, consumer.initial_pending());
        Ok(ObjectWatch {
            consumer,
            state,
            queued: None,
            ended: false,
        })
    }

    /// The next event within `timeout`; `Ok(None)` if none came.
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ObjectWatchEvent>, ObjectError> {
        self.next_until(Some(crate::deadline::after(Instant::now(), timeout)))
    }

    fn next_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<ObjectWatchEvent>, ObjectError> {
        loop {
            if let Some(e) = self.queued.take() {
                return Ok(Some(e));
            }
            if let Some(marker) = self.state.poll_marker() {
                return Ok(Some(marker));
            }
            let Some((msg, seq)) = self.consumer.next_raw(deadline)? else {
                return Ok(None);
            };
            if let Some(event) = self.state.handle(msg.payload(), seq.pending)? {
                // The info that ended the initial values goes out before the marker.
                self.queued = self.state.poll_marker();
                return Ok(Some(event));
            }
        }
    }

    /// The infos before [`ObjectWatchEvent::InitialValuesDone`].
    pub(crate) fn initial_infos(&mut self) -> Result<Vec<ObjectInfo>, ObjectError> {
        let mut out = Vec::new();
        loop {
            match self.next_until(None)? {
                Some(ObjectWatchEvent::Info(i)) => out.push(i),
                Some(ObjectWatchEvent::InitialValuesDone) | None => return Ok(out),
            }
        }
    }
}

impl Iterator for ObjectWatch {
    type Item = Result<ObjectWatchEvent, ObjectError>;

    /// Yields the error that ends the watch once (a deleted bucket, a closed client),
    /// then `None`.
    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let item = self.next_until(None).transpose();
        self.ended = matches!(item, Some(Err(_)) | None);
        item
    }
}
