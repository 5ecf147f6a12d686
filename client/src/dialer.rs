//! Getting what a dial needs, away from the state lock: credentials (files are read and
//! providers called afresh for every attempt), the server's addresses (DNS), and a JWT
//! signer's signature of the server's nonce.
//!
//! Both can take arbitrarily long (a resolver that never answers, a provider that asks a
//! vault), so neither may run while user calls wait for the lock, nor on the loop thread,
//! which must keep firing timers: the attempt's `connect_timeout` (proto's handshake
//! timer, armed at `Dial`) is what bounds them. Work that is known to be quick (an IP
//! address, credentials already in memory) is done at once; anything else runs on a
//! short-lived thread that hands its [`Dialed`] back through a channel and wakes the loop.
//! A result that comes back after its attempt was given up is discarded by generation.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};

use natsy_proto::connection::{Auth, NonceSigner};
use natsy_proto::ServerAddr;

use crate::credentials::{AuthSource, CredentialsError};
use crate::shared::Shared;

/// Resolves a host name and port to socket addresses, tried in order (nats.go's
/// `CustomDialer` covers the same need). Called for every attempt, on a thread of its
/// own, never while the client's lock is held; `connect_timeout` bounds how long an
/// attempt waits for it.
pub type Resolver = Arc<dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The system resolver (`getaddrinfo` through `std::net::ToSocketAddrs`).
pub(crate) fn system_resolver() -> Resolver {
    Arc::new(|host, port| {
        use std::net::ToSocketAddrs;
        Ok((host, port).to_socket_addrs()?.collect())
    })
}

/// What the loop asks for when proto says `Dial`.
#[derive(Debug, Clone)]
pub(crate) struct DialRequest {
    pub(crate) generation: u64,
    pub(crate) server: ServerAddr,
    pub(crate) tls_name: String,
    pub(crate) tls_first: bool,
}

/// What came back: the credentials for this attempt (`None`: keep the ones proto has)
/// and the addresses to connect to.
pub(crate) struct Dialed {
    pub(crate) request: DialRequest,
    pub(crate) auth: Result<Option<Auth>, CredentialsError>,
    pub(crate) addrs: io::Result<Vec<SocketAddr>>,
}

/// What a dial thread hands back to the loop.
pub(crate) enum Gathered {
    /// What a dial needs.
    Dial(Box<Dialed>),
    /// A [`Signer`]'s signature of the nonce of the attempt of `generation`.
    Signature { generation: u64, signature: Vec<u8> },
}

/// Calls `signer` on `nonce` on a thread of its own (it is user code: a hardware key, a
/// remote signer) and sends the signature back; `false` if no thread could be started.
pub(crate) fn sign(
    generation: u64,
    nonce: String,
    signer: NonceSigner,
    done: &Sender<Gathered>,
    shared: Weak<Shared>,
) -> bool {
    let done = done.clone();
    std::thread::Builder::new()
        .name("natsy-sign".into())
        .spawn(move || {
            let signature = signer(nonce.as_bytes());
            let _ = done.send(Gathered::Signature {
                generation,
                signature,
            });
            if let Some(shared) = shared.upgrade() {
                let _ = shared.waker.wake();
            }
        })
        .is_ok()
}

/// Gathers what `request` needs. Returns it at once when nothing can block; otherwise
/// starts a thread that sends it on `done` and wakes the loop, and returns `None`.
pub(crate) fn start(
    request: DialRequest,
    auth: &AuthSource,
    first_auth: Option<Auth>,
    resolver: Option<&Resolver>,
    done: &Sender<Gathered>,
    shared: Weak<Shared>,
) -> Option<Dialed> {
    crate::trace::debug!(
        server = %request.server,
        tls_first = request.tls_first,
        "dialing"
    );
    let ip = request.server.host.parse::<IpAddr>().ok();
    let quick_auth =
        first_auth.is_some() || matches!(auth, AuthSource::None | AuthSource::Static(_));
    if quick_auth && ip.is_some() && resolver.is_none() {
        let addrs = ip.map(|ip| SocketAddr::new(ip, request.server.port));
        return Some(Dialed {
            auth: Ok(first_auth.or_else(|| static_auth(auth))),
            addrs: Ok(addrs.into_iter().collect()),
            request,
        });
    }
    let kept = request.clone();
    let auth = auth.clone();
    let resolver = resolver.cloned().unwrap_or_else(system_resolver);
    let done = done.clone();
    let spawned = std::thread::Builder::new()
        .name("natsy-dial".into())
        .spawn(move || {
            let auth = match first_auth {
                Some(first) => Ok(Some(first)),
                None => auth.resolve().map(Some),
            };
            let addrs = resolver(&request.server.host, request.server.port);
            let _ = done.send(Gathered::Dial(Box::new(Dialed {
                request,
                auth,
                addrs,
            })));
            if let Some(shared) = shared.upgrade() {
                // A failed wake means the loop is gone: nobody wants the result.
                let _ = shared.waker.wake();
            }
        });
    match spawned {
        Ok(_) => None,
        Err(e) => Some(Dialed {
            request: kept,
            auth: Ok(None),
            addrs: Err(io::Error::new(
                e.kind(),
                format!("cannot start a dial thread: {e}"),
            )),
        }),
    }
}

fn static_auth(auth: &AuthSource) -> Option<Auth> {
    match auth {
        AuthSource::Static(a) => Some(a.clone()),
        AuthSource::None => Some(Auth::None),
        _ => None,
    }
}
