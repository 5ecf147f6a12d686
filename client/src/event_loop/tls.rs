//! The transport's handshakes: TLS (for TLS-first dials and for upgrades after INFO
//! alike: one way to start it and one to step it) and the WebSocket upgrade after it.

#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Instant;

use natsy_proto::connection::{TransportError, TransportOp};

use super::EventLoop;
use crate::shared::Core;
#[cfg(feature = "tls")]
use crate::tls::ClientConfig;
use crate::transport::Phase;

impl EventLoop {
    /// Without the `tls` feature: a server that requires TLS (or TLS-first) fails the
    /// attempt with [`TlsError::Disabled`](crate::tls::TlsError::Disabled)'s words.
    #[cfg(not(feature = "tls"))]
    pub(super) fn start_tls(&mut self, core: &mut Core, _name: &str, _first: bool) {
        let e = TransportError::new(
            TransportOp::Tls,
            std::io::ErrorKind::Unsupported,
            crate::tls::TlsError::Disabled.to_string(),
        );
        self.fail_transport(core, e);
    }

    /// Starts TLS towards `name` (`first`: before INFO) and steps the handshake.
    #[cfg(feature = "tls")]
    pub(super) fn start_tls(&mut self, core: &mut Core, name: &str, first: bool) {
        crate::trace::debug!(tls_name = name, first, "TLS handshake started");
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
                crate::trace::debug!("TLS established");
                t.phase = Phase::Open;
                let now = Instant::now();
                if first {
                    self.transport_up(core);
                } else {
                    core.conn.handle_tls_established(now);
                }
                // Records that arrived with the last handshake message may hold data.
                self.read_more = true;
            }
            Ok(false) => {}
            Err(e) => {
                crate::trace::warning!(error = %e, "TLS handshake failed");
                self.fail_transport(core, TransportError::io(TransportOp::Tls, &e))
            }
        }
    }

    /// The transport is up (TCP, and TLS if TLS-first): upgrade it to WebSocket for a
    /// WebSocket server, else tell proto.
    pub(super) fn transport_up(&mut self, core: &mut Core) {
        match self.transport.as_mut() {
            Some(t) if t.ws.is_some() => {
                t.start_ws();
                self.step_ws_handshake(core);
            }
            Some(_) => core.conn.handle_transport_connected(Instant::now()),
            None => {}
        }
    }

    /// Moves the WebSocket upgrade on; once it is done, proto hears the transport is up.
    pub(super) fn step_ws_handshake(&mut self, core: &mut Core) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        if !matches!(t.phase, Phase::WsHandshake) {
            return;
        }
        match t.drive_ws_handshake() {
            Ok(true) => {
                t.phase = Phase::Open;
                core.conn.handle_transport_connected(Instant::now());
                // Frames that came with the response (the INFO) are already read.
                self.read_more = true;
            }
            Ok(false) => {}
            Err(e) => self.fail_transport(core, TransportError::io(TransportOp::Connect, &e)),
        }
    }

    /// The configuration built from the user's options; when there is none (a server
    /// required TLS nobody asked for), verification against the system's roots, as
    /// nats.go does.
    #[cfg(feature = "tls")]
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
