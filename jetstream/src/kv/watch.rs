//! [`Watch`]: a bucket's changes on an ordered consumer — the current values first, then
//! [`WatchEvent::InitialValuesDone`], then every change as it happens.

use std::time::{Duration, Instant};

use super::error::KvError;
use super::wire::{self, Entry, Operation};
use crate::consumer::DeliverPolicy;
use crate::ordered::OrderedConsumer;
use crate::ordered_machine::{OrderedConfig, Sequences};

/// What to watch and how. Defaults: the latest value of each key, deletes included,
/// values included (nats.go's default `Watch` options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Every stored revision, not only the latest. nats.go: `IncludeHistory`.
    pub include_history: bool,
    /// Only changes from now on, no initial values. nats.go: `UpdatesOnly`.
    pub updates_only: bool,
    /// Skip delete and purge markers. nats.go: `IgnoreDeletes`.
    pub ignore_deletes: bool,
    /// Keys, revisions and operations only, no values. nats.go: `MetaOnly`.
    pub meta_only: bool,
}

impl WatchOptions {
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

    /// Sets `meta_only`.
    pub fn meta_only(mut self) -> Self {
        self.meta_only = true;
        self
    }

    /// The ordered consumer for keys `subjects` (already prefixed).
    pub(crate) fn ordered_config(&self, subjects: Vec<String>) -> OrderedConfig {
        OrderedConfig {
            filter_subjects: subjects,
            deliver_policy: if self.updates_only {
                DeliverPolicy::New
            } else if self.include_history {
                DeliverPolicy::All
            } else {
                DeliverPolicy::LastPerSubject
            },
            headers_only: self.meta_only,
            ..OrderedConfig::default()
        }
    }
}

/// One thing a watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A value, delete or purge.
    Entry(Entry),
    /// Every entry that existed when the watch started has been reported (sent once,
    /// also when there were none; first for `updates_only`). nats.go sends `nil`.
    InitialValuesDone,
}

/// When the initial values are over, sans-IO: from the first consumer's pending count and
/// each entry's delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InitialValues {
    done: bool,
    marker_due: bool,
}

impl InitialValues {
    /// `pending`: what the first consumer had pending when created.
    pub(crate) fn new(pending: u64, updates_only: bool) -> Self {
        let empty = pending == 0 || updates_only;
        InitialValues {
            done: empty,
            marker_due: empty,
        }
    }

    /// An entry with `delta` newer entries after it was delivered.
    pub(crate) fn handle_entry(&mut self, delta: u64) {
        if !self.done && delta == 0 {
            self.done = true;
            self.marker_due = true;
        }
    }

    /// The marker, once, when due.
    pub(crate) fn poll_marker(&mut self) -> bool {
        std::mem::take(&mut self.marker_due)
    }
}

/// What the blocking [`Watch`] and the async one share, sans-IO: the bucket, the
/// options and the initial-values tracking; it turns each message the ordered consumer
/// hands out into the event to report, if any.
#[derive(Debug)]
pub(crate) struct WatchState {
    bucket: String,
    prefix: String,
    options: WatchOptions,
    initial: InitialValues,
}

impl WatchState {
    /// `initial_pending`: what the ordered consumer's first consumer had pending.
    pub(crate) fn new(
        bucket: &str,
        prefix: &str,
        options: WatchOptions,
        initial_pending: u64,
    ) -> Self {
        WatchState {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            options,
            initial: InitialValues::new(initial_pending, options.updates_only),
        }
    }

    /// The end-of-initial-values marker, once, when due: asked before every wait.
    pub(crate) fn poll_marker(&mut self) -> bool {
        self.initial.poll_marker()
    }

    /// The event for a message the ordered consumer handed out (`None`: skipped).
    pub(crate) fn handle(&mut self, msg: &natsy::Message, seq: Sequences) -> Option<WatchEvent> {
        self.initial.handle_entry(seq.pending);
        let entry = wire::entry_from_delivery(
            &self.bucket,
            &self.prefix,
            msg,
            seq.stream,
            seq.pending,
            seq.timestamp_ns,
        );
        if self.options.ignore_deletes && entry.operation != Operation::Put {
            return None;
        }
        Some(WatchEvent::Entry(entry))
    }
}

/// A watch on a bucket ([`Store::watch`](super::Store::watch)): a blocking iterator of
/// [`WatchEvent`]s, plus [`Watch::next_timeout`]. It survives reconnects and leader
/// changes (its ordered consumer is recreated from the last revision + 1).
#[derive(Debug)]
pub struct Watch {
    consumer: OrderedConsumer,
    state: WatchState,
    ended: bool,
}

impl Watch {
    pub(crate) fn new(consumer: OrderedConsumer, state: WatchState) -> Self {
        Watch {
            consumer,
            state,
            ended: false,
        }
    }

    /// Times the underlying ordered consumer was recreated.
    pub fn resets(&self) -> u64 {
        self.consumer.resets()
    }

    /// Waits up to `timeout` for the next event: `Ok(None)` if none came.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>, KvError> {
        self.next_until(Some(crate::deadline::after(Instant::now(), timeout)))
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<WatchEvent>, KvError> {
        loop {
            if self.state.poll_marker() {
                return Ok(Some(WatchEvent::InitialValuesDone));
            }
            let Some((msg, seq)) = self.consumer.next_raw(deadline)? else {
                return Ok(None);
            };
            if let Some(event) = self.state.handle(&msg, seq) {
                return Ok(Some(event));
            }
        }
    }
}

impl Iterator for Watch {
    type Item = Result<WatchEvent, KvError>;

    /// Blocks until the next event; yields the error that ends the watch once.
    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        match self.next_until(None) {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.ended = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_follows_the_last_initial_value() {
        let mut iv = InitialValues::new(3, false);
        assert!(!iv.poll_marker());
        iv.handle_entry(2);
        iv.handle_entry(1);
        assert!(!iv.poll_marker());
        iv.handle_entry(0);
        assert!(iv.poll_marker());
        assert!(!iv.poll_marker(), "once");
        iv.handle_entry(0);
        assert!(!iv.poll_marker(), "live updates bring no marker");
    }

    #[test]
    fn an_empty_bucket_or_updates_only_marks_at_once() {
        let mut iv = InitialValues::new(0, false);
        assert!(iv.poll_marker());
        let mut iv = InitialValues::new(10, true);
        assert!(iv.poll_marker());
        iv.handle_entry(0);
        assert!(!iv.poll_marker());
    }

    #[test]
    fn options_choose_the_deliver_policy() {
        let c = WatchOptions::new().ordered_config(vec!["$KV.b.>".into()]);
        assert_eq!(c.deliver_policy, DeliverPolicy::LastPerSubject);
        let c = WatchOptions::new().include_history().ordered_config(vec![]);
        assert_eq!(c.deliver_policy, DeliverPolicy::All);
        let c = WatchOptions::new()
            .updates_only()
            .meta_only()
            .ordered_config(vec![]);
        assert_eq!(c.deliver_policy, DeliverPolicy::New);
        assert!(c.headers_only);
    }
}
