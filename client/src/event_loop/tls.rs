//! TLS over the current transport, for TLS-first dials and for upgrades after INFO
//! alike: one way to start it and one to step the handshake.

use std::sync::Arc;
use std::time::Instant;

use natsy_proto::connection::{TransportError, TransportOp};
use rustls::ClientConfig;

use super::EventLoop;
use crate::shared::Core;
use crate::transport::Phase;

impl EventLoop {
    /// Starts TLS towards `name` (`first`: before INFO) and steps the handshake.
    pub(super) fn start_tls(&mut self, core: &mut Core, name: &str, first: bool) {
        let config = match self.tls_config() {
            Ok(config) => config,
            Err(e) => return self.fail_transport(core, e),
        };
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        // Only the loop writes through TLS.
        core.direct = None;
        if let Err(e) = t.start_tls(config, name, first) {
            let e = TransportError::new(
                TransportOp::Tls,
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            );
            return self.fail_transport(core, e);
        }
        self.step_handshake(core);
    }

    /// Moves the handshake on with what the socket has; once it is done, tells proto
    /// (connected for TLS-first, TLS established for an upgrade).
    pub(super) fn step_handshake(&mut self, core: &mut Core) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        let Phase::TlsHandshake { first } = t.phase else {
            return;
        };
        match t.drive_handshake() {
            Ok(true) => {
                t.phase = Phase::Open;
                let now = Instant::now();
                if first {
                    core.conn.handle_transport_connected(now);
                } else {
                    core.conn.handle_tls_established(now);
                }
                // Records that arrived with the last handshake message may hold data.
                self.read_more = true;
            }
            Ok(false) => {}
            Err(e) => self.fail_transport(core, TransportError::io(TransportOp::Tls, &e)),
        }
    }

    /// The configuration built from the user's options; when there is none (a server
    /// required TLS nobody asked for), verification against the system's roots, as
    /// nats.go does.
    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, TransportError> {
        if let Some(config) = &self.tls_config {
            return Ok(config.clone());
        }
        let config =
            crate::tls::client_config(&crate::tls::TlsOptions::default()).map_err(|e| {
                TransportError::new(
                    TransportOp::Tls,
                    std::io::ErrorKind::InvalidInput,
                    format!("the server requires TLS: {e}"),
                )
            })?;
        self.tls_config = Some(config.clone());
        Ok(config)
    }
}
