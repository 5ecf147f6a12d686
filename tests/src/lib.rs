//! The nats-server test harness. (Being written.)
