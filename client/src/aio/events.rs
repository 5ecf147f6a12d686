//! [`Events`]: the connection's events as a stream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::event::Event;
use crate::event_queue::EventQueue;

/// The connection's [`Event`]s from the moment [`Client::events`](super::Client::events)
/// was called, in order; the stream ends after [`Event::Closed`].
///
/// Bounded: a stream nobody reads keeps the newest 1,024 events and counts the ones it
/// dropped ([`Events::missed`]), so it never holds unbounded memory and never loses the
/// final `Closed`.
#[derive(Debug)]
pub struct Events {
    queue: Arc<EventQueue>,
}

impl Events {
    pub(crate) fn new(queue: Arc<EventQueue>) -> Self {
        Events { queue }
    }

    /// Events dropped because this stream was not read (more than 1,024 waiting).
    pub fn missed(&self) -> u64 {
        self.queue.missed()
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.queue.poll_next(cx)
    }
}
