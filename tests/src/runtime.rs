//! The tokio runtime the async tests run on: two workers, as on the 2-core CI machine,
//! with IO and timers (the tokio driver needs both).

/// A multi-thread tokio runtime with two workers and every driver enabled.
pub fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the tests")
}
