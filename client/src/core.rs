//! [`Core`]: everything behind the client's one lock — proto's `Connection` and the
//! driver's tables that map proto's ids to waiting threads.

use std::collections::HashMap;
use std::sync::Arc;

use natsy_proto::connection::{AttemptError, CloseReason, Connection, FlushId, Lease, RequestId};
use natsy_proto::{ServerAddr, Sid};

use crate::error::{PermissionError, PermissionOperation};
use crate::reply_slot::ReplySlot;
use crate::sub_queue::{SubQueue, SubscriptionEnded};
use crate::wakers::{Timers, WakerSet};

/// How the first connect went, for `connect` to return.
#[derive(Debug, Clone)]
pub(crate) enum FirstConnect {
    Pending,
    Connected,
    Failed(Box<(Option<(ServerAddr, AttemptError)>, CloseReason)>),
}

/// Where a flush stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushState {
    Pending,
    Done,
    Failed,
}

/// Everything behind the one lock.
pub(crate) struct Core {
    pub(crate) conn: Connection,
    pub(crate) subs: HashMap<Sid, Arc<SubQueue>>,
    pub(crate) flushes: HashMap<FlushId, FlushState>,
    /// The reply slot of each request proto's muxer has waiting.
    pub(crate) replies: HashMap<RequestId, Arc<ReplySlot>>,
    /// Subscriptions that end when the server refuses a publish to one of the subjects
    /// listed (`Subscription::end_on_refused_publish`).
    pub(crate) publish_watches: HashMap<Sid, Vec<String>>,
    /// The loop has been woken (or will look at the output anyway): no need to wake it.
    pub(crate) wake_pending: bool,
    /// While the loop sleeps with nothing to write on an open plain-TCP connection: a
    /// second handle on its socket, through which a requester about to wait writes its
    /// request itself ([`write_now_or_wake`](crate::event_loop::write_now_or_wake)).
    pub(crate) direct: Option<Arc<std::net::TcpStream>>,
    /// The direct writer's lease on the output, kept for its allocation.
    pub(crate) direct_lease: Lease,
    pub(crate) first_connect: FirstConnect,
    /// Publishers waiting for the outgoing queue to drain (backpressure).
    pub(crate) publish_waiters: usize,
    pub(crate) last_attempt_error: Option<(ServerAddr, AttemptError)>,
    /// Why the dialer last failed to get credentials (for `connect` to return it typed).
    pub(crate) last_credentials_error: Option<crate::CredentialsError>,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) slow_consumer_drops: u64,
    /// Async waits for what `Shared::changed` signals (connect, flushes, close).
    pub(crate) changed_wakers: WakerSet,
    /// Async publishers waiting for room, as `Shared::drained` waiters.
    pub(crate) room_wakers: WakerSet,
    /// Deadlines of async waits, served by the loop thread.
    pub(crate) timers: Timers,
    /// Subscriptions answered on the loop thread by natsy's own code (service discovery):
    /// no reader, no thread, no user code.
    pub(crate) responders: HashMap<Sid, Arc<dyn Responder>>,
}

/// Answers requests on the loop thread, under the lock: only natsy's own quick code (a
/// snapshot serialised to JSON), never user code.
pub(crate) trait Responder: Send + Sync {
    /// The reply body for a request to `subject`, or `None` to stay silent.
    fn answer(&self, subject: &str) -> Option<bytes::Bytes>;
}

impl Core {
    pub(crate) fn new(conn: Connection) -> Self {
        Core {
            conn,
            subs: HashMap::new(),
            flushes: HashMap::new(),
            replies: HashMap::new(),
            publish_watches: HashMap::new(),
            wake_pending: false,
            direct: None,
            direct_lease: Lease::new(),
            first_connect: FirstConnect::Pending,
            publish_waiters: 0,
            last_attempt_error: None,
            last_credentials_error: None,
            closed: None,
            slow_consumer_drops: 0,
            changed_wakers: WakerSet::default(),
            room_wakers: WakerSet::default(),
            timers: Timers::default(),
            responders: HashMap::new(),
        }
    }

    /// Someone waits for the outgoing queue to drain (a blocked publisher or a task).
    pub(crate) fn room_wanted(&self) -> bool {
        self.publish_waiters > 0 || !self.room_wakers.is_empty()
    }

    /// Forgets subscription `sid` (its queue and what it watches); the queue, if any.
    pub(crate) fn remove_sub(&mut self, sid: Sid) -> Option<Arc<SubQueue>> {
        self.publish_watches.remove(&sid);
        self.subs.remove(&sid)
    }

    /// The server refused a publish to a subject: end every subscription watching that
    /// subject (`Subscription::end_on_refused_publish`), unsubscribing it. (Requests to
    /// it were failed by proto's muxer.)
    pub(crate) fn publish_refused(&mut self, e: &PermissionError) {
        if e.operation() != PermissionOperation::Publish {
            return;
        }
        let subject = e.subject();
        let ended: Vec<Sid> = self
            .publish_watches
            .iter()
            .filter(|(_, subjects)| subjects.iter().any(|s| s == subject))
            .map(|(sid, _)| *sid)
            .collect();
        for sid in ended {
            if let Some(q) = self.remove_sub(sid) {
                q.close(SubscriptionEnded::PermissionDenied(e.clone()));
            }
            // Nothing more is wanted: drop the interest on the server too.
            let _ = self.conn.unsubscribe(sid, None);
        }
    }
}
