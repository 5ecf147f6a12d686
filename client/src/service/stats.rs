//! Per-endpoint counters, shared by the endpoint's requests (which count) and the
//! discovery responder (which reports).

use std::sync::Mutex;
use std::time::Duration;

use super::wire::EndpointStats;

#[derive(Debug, Default)]
struct Counters {
    requests: u64,
    errors: u64,
    last_error: String,
    processing: Duration,
    data: Option<serde_json::Value>,
}

/// One endpoint's counters behind a small lock (never held across anything slow).
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    counters: Mutex<Counters>,
}

impl StatsCell {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request was taken from the endpoint.
    pub(crate) fn request(&self) {
        self.lock().requests += 1;
    }

    /// A request was finished after `took`; `error` is `code:description` if it failed.
    pub(crate) fn finished(&self, took: Duration, error: Option<String>) {
        let mut c = self.lock();
        c.processing = c.processing.saturating_add(took);
        if let Some(e) = error {
            c.errors += 1;
            c.last_error = e;
        }
    }

    pub(crate) fn set_data(&self, data: Option<serde_json::Value>) {
        self.lock().data = data;
    }

    pub(crate) fn reset(&self) {
        let mut c = self.lock();
        let data = c.data.take();
        *c = Counters {
            data,
            ..Counters::default()
        };
    }

    /// The counters in the ADR's shape, for an endpoint named and placed as given.
    pub(crate) fn snapshot(&self, name: &str, subject: &str, queue_group: &str) -> EndpointStats {
        let c = self.lock();
        let processing = u64::try_from(c.processing.as_nanos()).unwrap_or(u64::MAX);
        EndpointStats {
            name: name.to_string(),
            subject: subject.to_string(),
            queue_group: queue_group.to_string(),
            num_requests: c.requests,
            num_errors: c.errors,
            last_error: c.last_error.clone(),
            processing_time: processing,
            average_processing_time: processing.checked_div(c.requests).unwrap_or(0),
            data: c.data.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_truncate_errors_keep_the_last_and_reset_keeps_data() {
        let s = StatsCell::default();
        assert_eq!(s.snapshot("e", "s", "q").average_processing_time, 0);
        for _ in 0..3 {
            s.request();
        }
        s.finished(Duration::from_nanos(10), None);
        s.finished(Duration::from_nanos(10), Some("400:bad".into()));
        s.finished(Duration::from_nanos(1), Some("500:worse".into()));
        s.set_data(Some(serde_json::json!({"k": 1})));
        let snap = s.snapshot("e", "s", "q");
        assert_eq!((snap.num_requests, snap.num_errors), (3, 2));
        assert_eq!(snap.processing_time, 21);
        assert_eq!(snap.average_processing_time, 7);
        assert_eq!(snap.last_error, "500:worse");
        s.reset();
        let snap = s.snapshot("e", "s", "q");
        assert_eq!(
            (snap.num_requests, snap.num_errors, snap.processing_time),
            (0, 0, 0)
        );
        assert_eq!(snap.last_error, "");
        assert_eq!(snap.data, Some(serde_json::json!({"k": 1})));
    }
}
