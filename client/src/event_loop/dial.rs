//! Dialing: what the dialer threads gathered (credentials, addresses, a nonce signature)
//! is taken under the lock; requests seen under the lock are started once it is released.

use std::sync::Arc;
use std::time::Instant;

use natsy_proto::connection::{TransportError, TransportOp};

use super::EventLoop;
use crate::dialer::{self, Dialed, Gathered};
use crate::shared::Core;
use crate::transport::{self, Transport};
use crate::websocket::WsLayer;

impl EventLoop {
    /// Feeds what dial threads sent back; results of attempts proto gave up are dropped.
    pub(super) fn take_gathered(&mut self, core: &mut Core) {
        while let Ok(gathered) = self.dialed_rx.try_recv() {
            match gathered {
                Gathered::Dial(dialed) => self.finish_dial(core, *dialed),
                Gathered::Signature {
                    generation,
                    signature,
                } if generation == self.dial_generation => {
                    core.conn.handle_nonce_signature(Instant::now(), signature)
                }
                Gathered::Signature { .. } => {}
            }
        }
    }

    /// Starts a signature or a dial recorded under the lock, now that it is released:
    /// the signer and the credentials provider are user code, DNS may hang. True if
    /// something was started (the loop goes round again before it sleeps).
    pub(super) fn start_gathering(&mut self) -> bool {
        let shared = self.shared.clone();
        if let Some((generation, nonce, signer)) = self.sign_request.take() {
            if !dialer::sign(
                generation,
                nonce,
                signer,
                &self.dialed_tx,
                Arc::downgrade(&shared),
            ) {
                self.transport_failed(TransportError::new(
                    TransportOp::Connect,
                    std::io::ErrorKind::Other,
                    "cannot start a thread for the nonce signer",
                ));
            }
            return true;
        }
        let Some(request) = self.dial_request.take() else {
            return false;
        };
        let quick = dialer::start(
            request,
            &self.auth,
            self.first_auth.take(),
            self.resolver.as_ref(),
            &self.dialed_tx,
            Arc::downgrade(&shared),
        );
        if let Some(dialed) = quick {
            let mut core = shared.lock();
            self.finish_dial(&mut core, dialed);
            self.drive(&mut core);
        }
        true
    }

    /// Uses what the dialer gathered for the current attempt: its credentials, then a
    /// socket to the first address that takes a connect.
    pub(super) fn finish_dial(&mut self, core: &mut Core, dialed: Dialed) {
        if dialed.request.generation != self.dial_generation {
            return;
        }
        let now = Instant::now();
        match dialed.auth {
            Ok(Some(auth)) => core.conn.set_auth(auth),
            Ok(None) => {}
            Err(e) => {
                core.last_credentials_error = Some(e.clone());
                return core.conn.handle_credentials_error(now, e.to_string());
            }
        }
        let stream = dialed
            .addrs
            .map_err(|e| TransportError::io(TransportOp::Resolve, &e))
            .and_then(|addrs| {
                transport::connect(&addrs).map_err(|e| TransportError::io(TransportOp::Connect, &e))
            });
        match stream {
            Ok(stream) => {
                let request = dialed.request;
                let server = &request.server;
                let ws = server.websocket.then(|| {
                    WsLayer::new(&server.host, server.port, &server.path, self.ws_compression)
                });
                let mut transport =
                    Transport::new(stream, request.tls_first.then_some(request.tls_name), ws);
                match self.register(&mut transport) {
                    Ok(()) => self.transport = Some(transport),
                    Err(e) => core
                        .conn
                        .handle_transport_error(now, TransportError::io(TransportOp::Connect, &e)),
                }
            }
            Err(e) => core.conn.handle_transport_error(now, e),
        }
    }
}
