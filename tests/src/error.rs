//! The one error type of the harness, [`HarnessError`], with messages meant to be read in a
//! failing test's output.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Everything that can go wrong while finding, configuring, starting or probing a
/// nats-server.
///
/// `Debug` prints the same text as `Display`, so `result.unwrap()` in a test shows the
/// server's log tail in readable form instead of one escaped string.
#[non_exhaustive]
pub enum HarnessError {
    /// No `nats-server` binary was found in any of the searched places.
    BinaryNotFound {
        /// Every place that was looked at, in lookup order.
        searched: Vec<String>,
    },
    /// `NATS_SERVER_BIN` is set but does not name an executable file.
    BinaryEnvInvalid {
        /// The value of the variable.
        path: PathBuf,
    },
    /// An I/O operation of the harness itself failed (temp dir, config file, spawn, ...).
    Io {
        /// What the harness was doing, e.g. "writing the config file".
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The server process exited before it became ready.
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The end of its console output and log file.
        log_tail: String,
    },
    /// The server did not accept connections and send `INFO` within the time limit.
    StartTimeout {
        /// How long the harness waited.
        waited: Duration,
        /// The end of its console output and log file.
        log_tail: String,
    },
    /// A probe (raw `INFO` read, monitoring HTTP request) got an answer it did not expect.
    Probe {
        /// What was probed, e.g. "GET /routez on 127.0.0.1:8222".
        what: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// Generating the test TLS certificates failed.
    Certificate(rcgen::Error),
    /// The cluster's routes (or its JetStream meta group) did not come up in time.
    ClusterNotFormed {
        /// What was still missing when the time ran out.
        detail: String,
    },
}

impl HarnessError {
    /// Builds an [`HarnessError::Io`] from what the harness was doing and the error.
    pub fn io(action: impl Into<String>, source: io::Error) -> Self {
        HarnessError::Io {
            action: action.into(),
            source,
        }
    }

    /// True when the server failed because its listen port was already taken; the harness
    /// then retries with fresh ports.
    pub fn is_address_in_use(&self) -> bool {
        match self {
            HarnessError::Exited { log_tail, .. } | HarnessError::StartTimeout { log_tail, .. } => {
                log_tail.contains("address already in use")
            }
            _ => false,
        }
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::BinaryNotFound { searched } => {
                write!(
                    f,
                    "no nats-server binary found; run `tests/install-nats-server` from the \
                     repository root (or set NATS_SERVER_BIN). Searched: {}",
                    searched.join(", ")
                )
            }
            HarnessError::BinaryEnvInvalid { path } => write!(
                f,
                "NATS_SERVER_BIN is set to {} but that is not an executable file; fix it or \
                 unset it and run `tests/install-nats-server`",
                path.display()
            ),
            HarnessError::Io { action, source } => write!(f, "{action}: {source}"),
            HarnessError::Exited { status, log_tail } => {
                write!(
                    f,
                    "nats-server exited early ({status}); log tail:\n{log_tail}"
                )
            }
            HarnessError::StartTimeout { waited, log_tail } => write!(
                f,
                "nats-server did not become ready within {waited:?}; log tail:\n{log_tail}"
            ),
            HarnessError::Probe { what, detail } => write!(f, "{what}: {detail}"),
            HarnessError::Certificate(e) => write!(f, "generating test certificates: {e}"),
            HarnessError::ClusterNotFormed { detail } => {
                write!(f, "cluster did not form in time: {detail}")
            }
        }
    }
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Io { source, .. } => Some(source),
            HarnessError::Certificate(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for HarnessError {
    fn from(e: rcgen::Error) -> Self {
        HarnessError::Certificate(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn address_in_use_is_recognised_from_the_log() {
        let taken = HarnessError::Exited {
            status: ExitStatus::from_raw(256),
            log_tail: "[FTL] Error listening on port: 127.0.0.1:4222, \"listen tcp \
                       127.0.0.1:4222: bind: address already in use\""
                .to_string(),
        };
        assert!(taken.is_address_in_use());
        let other = HarnessError::Exited {
            status: ExitStatus::from_raw(256),
            log_tail: "Parse error on line 1".to_string(),
        };
        assert!(!other.is_address_in_use());
    }

    #[test]
    fn debug_is_the_readable_message() {
        let e = HarnessError::StartTimeout {
            waited: Duration::from_secs(10),
            log_tail: "line one\nline two".to_string(),
        };
        assert_eq!(format!("{e:?}"), e.to_string());
        assert!(format!("{e:?}").contains("line one\nline two"));
    }
}
