//! Starts and stops real `nats-server` processes for natsy's integration tests.
//!
//! The binary is found by [`find_nats_server`]: `$NATS_SERVER_BIN`, then the repository's
//! `.nats-server/` folder (run `tests/install-nats-server` to fill it), then `PATH`.
//! Every server binds 127.0.0.1 only, on ports picked by [`free_port`], with its config,
//! logs and JetStream store in its own temp dir, so tests can run in parallel.
//!
//! ```no_run
//! use natsy_test_harness::{NatsCluster, NatsServer, TlsFiles};
//!
//! // A plain server; killed when `server` is dropped, even if the test panics.
//! let server = NatsServer::start()?;
//! assert_eq!(server.info()?["headers"], true);
//!
//! // JetStream + user/password auth, restarted on the same port with its store intact.
//! let mut js = NatsServer::builder().jetstream().user("u", "p").start()?;
//! js.restart()?;
//!
//! // Mutual TLS with certificates generated for this test.
//! let tls = TlsFiles::generate()?;
//! let secure = NatsServer::builder().tls(tls.mutual_tls()).start()?;
//!
//! // Three routed nodes.
//! let cluster = NatsCluster::start(3, NatsServer::builder())?;
//! # Ok::<(), natsy_test_harness::HarnessError>(())
//! ```
//!
//! For operator mode (JWT auth with a memory resolver), [`OperatorSetup`] issues the
//! operator, accounts and users and renders the config text for
//! [`ServerBuilder::raw_config`].
//!
//! Set `NATSY_KEEP_SERVER_DIRS=1` to keep the servers' temp dirs for debugging.

#![forbid(unsafe_code)]

mod auth;
mod binary;
mod builder;
mod certs;
pub mod chaos;
mod chaos_watch;
mod cluster;
mod error;
pub mod events;
mod interop;
mod jwt;
mod nkeys;
mod ports;
pub mod probe;
mod proxy;
mod resources;
mod runtime;
mod server;
pub mod signal;
mod tls;

pub use auth::{Account, AccountJetStream, JetStreamLimits, Permissions, User};
pub use binary::{find_nats_server, project_local_candidates, repo_root, NATS_SERVER_BIN_ENV};
pub use builder::ServerBuilder;
pub use certs::TlsFiles;
pub use cluster::{NatsCluster, CLUSTER_FORM_TIMEOUT};
pub use error::HarnessError;
pub use interop::InteropPeer;
pub use jwt::{OperatorSetup, UserCreds};
pub use nkeys::{KeyKind, KeyPair};
pub use ports::{free_port, free_ports, PORT_RETRIES};
pub use proxy::{Direction, FaultProxy};
pub use resources::ProcessStats;
pub use runtime::tokio_multi_thread;
pub use server::{NatsServer, KEEP_DIRS_ENV, START_TIMEOUT, STOP_TIMEOUT};
pub use tls::TlsOptions;

/// The README's examples, compiled (and the runnable one run) as doctests so they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
