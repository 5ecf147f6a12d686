//! Handshake decisions, kept pure: whether to upgrade to TLS after INFO, and the CONNECT
//! body (credentials from the URL or the configured [`Auth`], nonce signatures).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::config::Auth;
use super::event::AttemptError;
use crate::info::{ConnectInfo, ServerInfo};
use crate::nkey::KeyPair;
use crate::url::ServerAddr;

/// Where a connection attempt is in the handshake (protocol digest §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No transport: before the first Dial, waiting to redial, or closed.
    Idle,
    /// `Dial` emitted; waiting for `handle_transport_connected`.
    Dialing,
    /// Transport up; the first op must be INFO.
    AwaitInfo,
    /// `UpgradeTls` emitted; waiting for `handle_tls_established`.
    UpgradingTls,
    /// `SignNonce` emitted; waiting for `handle_nonce_signature`.
    AwaitSignature,
    /// `CONNECT` and `PING` written; waiting for `PONG`.
    AwaitPong,
    /// Handshake done.
    Connected,
}

impl Phase {
    /// True while the driver holds a transport (or is opening one) for us.
    pub(crate) fn has_transport(self) -> bool {
        !matches!(self, Phase::Idle)
    }

    /// True between `Dial` and the handshake PONG.
    pub(crate) fn is_handshaking(self) -> bool {
        matches!(
            self,
            Phase::Dialing
                | Phase::AwaitInfo
                | Phase::UpgradingTls
                | Phase::AwaitSignature
                | Phase::AwaitPong
        )
    }
}

/// What to do about TLS once INFO arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsStep {
    /// Send CONNECT on the current transport.
    Proceed,
    /// Emit `UpgradeTls` and wait for the handshake.
    Upgrade,
    /// The client wants TLS and the server does not offer it.
    Unavailable,
}

/// Decides the TLS step (protocol digest §4.5). `want_tls`: the user or the URL asked for
/// TLS; `tls_active`: the transport is already encrypted (TLS-first).
pub(crate) fn tls_step(want_tls: bool, tls_active: bool, info: &ServerInfo) -> TlsStep {
    if tls_active {
        TlsStep::Proceed
    } else if want_tls && !info.tls_required && !info.tls_available {
        TlsStep::Unavailable
    } else if want_tls || info.tls_required {
        TlsStep::Upgrade
    } else {
        TlsStep::Proceed
    }
}

/// The settings CONNECT carries besides credentials.
#[derive(Debug, Clone)]
pub(crate) struct ConnectParams<'a> {
    pub(crate) name: Option<&'a str>,
    pub(crate) echo: bool,
    pub(crate) tls_required: bool,
}

/// Builds the CONNECT body for `server` after `info`.
///
/// User info in the server URL overrides user/password, token and NKey options; a JWT is
/// still sent (protocol digest §4.1). NKey and JWT need the INFO nonce. With
/// [`Auth::JwtSigner`], `signature` is what the driver's signer made of the nonce: the
/// signer is user code, so the driver calls it, never this crate.
pub(crate) fn connect_info(
    params: &ConnectParams<'_>,
    auth: &Auth,
    server: &ServerAddr,
    info: &ServerInfo,
    signature: Option<&[u8]>,
) -> Result<ConnectInfo, AttemptError> {
    let mut c = ConnectInfo::new();
    c.name = params.name.map(str::to_string);
    c.echo = params.echo;
    c.tls_required = params.tls_required;

    let url_userinfo = server.user.is_some() || server.token.is_some();
    if let Some(user) = &server.user {
        c.user = Some(user.clone());
        c.pass = server.pass.clone();
    } else if let Some(token) = &server.token {
        c.auth_token = Some(token.clone());
    }

    let nonce = || info.nonce.as_deref().ok_or(AttemptError::NkeyNotSupported);
    match auth {
        Auth::None => {}
        Auth::UserPassword { user, pass } => {
            if !url_userinfo {
                c.user = Some(user.clone());
                c.pass = Some(pass.clone());
            }
        }
        Auth::Token(token) => {
            if !url_userinfo {
                c.auth_token = Some(token.clone());
            }
        }
        Auth::NKey { seed } => {
            if !url_userinfo {
                let nonce = nonce()?;
                let kp = KeyPair::from_seed(seed.expose()).map_err(AttemptError::Nkey)?;
                c.nkey = Some(kp.public_key());
                c.sig = Some(kp.sign_nonce(nonce));
            }
        }
        Auth::Jwt { jwt, seed } => {
            let nonce = nonce()?;
            let kp = KeyPair::from_seed(seed.expose()).map_err(AttemptError::Nkey)?;
            c.jwt = Some(jwt.clone());
            c.sig = Some(kp.sign_nonce(nonce));
        }
        Auth::JwtSigner { jwt, .. } => {
            nonce()?;
            let signature = signature.ok_or(AttemptError::NkeyNotSupported)?;
            c.jwt = Some(jwt.clone());
            c.sig = Some(URL_SAFE_NO_PAD.encode(signature));
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(required: bool, available: bool) -> ServerInfo {
        ServerInfo {
            tls_required: required,
            tls_available: available,
            ..Default::default()
        }
    }

    #[test]
    fn tls_decision_table() {
        assert_eq!(
            tls_step(false, false, &info(false, false)),
            TlsStep::Proceed
        );
        assert_eq!(tls_step(false, false, &info(false, true)), TlsStep::Proceed);
        assert_eq!(tls_step(false, false, &info(true, false)), TlsStep::Upgrade);
        assert_eq!(tls_step(true, false, &info(false, true)), TlsStep::Upgrade);
        assert_eq!(tls_step(true, false, &info(true, false)), TlsStep::Upgrade);
        assert_eq!(
            tls_step(true, false, &info(false, false)),
            TlsStep::Unavailable
        );
        assert_eq!(tls_step(true, true, &info(false, false)), TlsStep::Proceed);
        assert_eq!(tls_step(false, true, &info(true, false)), TlsStep::Proceed);
    }
}
