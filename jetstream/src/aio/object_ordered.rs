//! The object store's handle on the async ordered consumer ([`OrderedConsumer`], the
//! same machine and driver steps as the blocking [`crate::OrderedConsumer`]), for chunk
//! reads and watches.
//!
//! Each wait takes the driver by value and hands it back with the outcome, so a reader
//! or stream can keep the wait as a boxed `'static` future between polls, and dropping
//! that future (at any point) drops the driver with it: nothing is left half-created.

use std::time::Instant;

use super::{Context, OrderedConsumer};
use crate::error::Error;
use crate::ordered_machine::{OrderedConfig, Sequences};

/// An ordered consumer driven from async code, waited on by value; see the
/// [module docs](self).
#[derive(Debug)]
pub(crate) struct AsyncOrdered {
    consumer: OrderedConsumer,
}

impl AsyncOrdered {
    /// Subscribes its inbox and creates the first consumer, so a missing stream fails
    /// here.
    pub(crate) async fn start(
        context: &Context,
        stream: &str,
        config: OrderedConfig,
    ) -> Result<Self, Error> {
        Ok(AsyncOrdered {
            consumer: context.ordered_consumer(stream, config).await?,
        })
    }

    /// Messages the first consumer had pending when it was created.
    pub(crate) fn initial_pending(&self) -> u64 {
        self.consumer.initial_pending()
    }

    /// The next message in order with its sequences, or `None` at `deadline`; the
    /// driver comes back with it. Once ended, every call returns the terminal error.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn next(
        mut self,
        deadline: Option<Instant>,
    ) -> (Self, Result<Option<(natsy::Message, Sequences)>, Error>) {
        let outcome = match deadline {
            None => std::future::poll_fn(|cx| self.consumer.poll_raw(cx))
                .await
                .map(Some),
            Some(d) => {
                let timeout = d.saturating_duration_since(Instant::now());
                self.consumer.next_raw_timeout(timeout).await
            }
        };
        (self, outcome)
    }
}
