//! [`ConnectionConfig`] and [`Auth`]: every option of a [`Connection`](super::Connection),
//! with its default and its nats.go name.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::ReconnectDelay;
use crate::pool::PoolOptions;
use crate::secret::Secret;
use crate::server_op::ParserLimits;
use crate::url::ServerAddr;

/// Signs the server nonce (its ASCII bytes) and returns the raw 64-byte Ed25519 signature
/// (nats.go `SignatureHandler`).
pub type NonceSigner = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// The credentials sent in CONNECT. `Debug` never prints a secret.
///
/// User info in the server URL (`nats://user:pass@host`, `nats://token@host`) overrides
/// `UserPassword`, `Token` and `NKey` for that server; a JWT is still sent (protocol digest
/// §4.1).
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials (default).
    #[default]
    None,
    /// `user` and `pass` (nats.go `UserInfo`).
    UserPassword {
        /// Username.
        user: String,
        /// Password.
        pass: Secret,
    },
    /// `auth_token` (nats.go `Token`).
    Token(Secret),
    /// A bare NKey: CONNECT carries the public key and the signed nonce (nats.go `Nkey`).
    NKey {
        /// The user seed, `SU...`.
        seed: Secret,
    },
    /// A user JWT and its seed, as in a creds file (nats.go `UserCredentials`).
    Jwt {
        /// The user JWT.
        jwt: String,
        /// The user seed, `SU...`, that signs the nonce.
        seed: Secret,
    },
    /// A user JWT with a caller-supplied signer, e.g. a hardware key (nats.go `UserJWT`).
    JwtSigner {
        /// The user JWT.
        jwt: String,
        /// Signs the nonce.
        signer: NonceSigner,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("pass", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::NKey { .. } => f.write_str("NKey { seed: <redacted> }"),
            Self::Jwt { .. } => f.write_str("Jwt { jwt: <redacted>, seed: <redacted> }"),
            Self::JwtSigner { .. } => f.write_str("JwtSigner { jwt: <redacted>, signer: <fn> }"),
        }
    }
}

/// Everything a [`Connection`](super::Connection) needs to know up front.
///
/// ```
/// use natsy_proto::connection::ConnectionConfig;
/// let mut config = ConnectionConfig::default();
/// config.name = Some("orders-service".into());
/// assert_eq!(config.max_pings_out, 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// The explicit servers (nats.go `Servers`, with `Url` first). Default empty, which
    /// means `nats://127.0.0.1:4222`.
    pub servers: Vec<ServerAddr>,
    /// Shuffle, attempts per server, discovery (nats.go `NoRandomize`, `MaxReconnect`,
    /// `IgnoreDiscoveredServers`). Default [`PoolOptions::default`].
    pub pool: PoolOptions,
    /// The wait between passes over the pool (nats.go `ReconnectWait`, `ReconnectJitter`,
    /// `ReconnectJitterTLS`, `CustomReconnectDelay`). Default `None`:
    /// [`ReconnectDelay::new`] with `tls` set when TLS is wanted.
    pub delay: Option<ReconnectDelay>,
    /// The user wants TLS even if the URL says `nats://` (nats.go `Secure`). Default false.
    /// A `tls://` server URL also asks for it.
    pub tls_required: bool,
    /// Do the TLS handshake right after TCP connect, before INFO (nats.go
    /// `TLSHandshakeFirst`). Default false.
    pub tls_first: bool,
    /// Connection name shown in server monitoring (nats.go `Name`). Default `None`.
    pub name: Option<String>,
    /// Deliver our own publishes to our own subscriptions (nats.go `NoEcho` = false).
    /// Default true.
    pub echo: bool,
    /// Credentials (nats.go `UserInfo`, `Token`, `Nkey`, `UserCredentials`, `UserJWT`).
    /// Default [`Auth::None`]. Change with [`Connection::set_auth`](super::Connection::set_auth).
    pub auth: Auth,
    /// How often to PING the server while connected (nats.go `PingInterval`). Default
    /// 2 minutes. Zero turns keepalive off (no PINGs, no stale detection), as in
    /// nats.go.
    pub ping_interval: Duration,
    /// Unanswered PINGs tolerated before the connection is stale (nats.go `MaxPingsOut`).
    /// Default 2.
    pub max_pings_out: u32,
    /// Deadline for dial plus the whole handshake, INFO to PONG (nats.go `Timeout`).
    /// Default 2 s.
    pub connect_timeout: Duration,
    /// Bytes of publishes kept while disconnected (nats.go `ReconnectBufSize`). Default
    /// `Some(8 MiB)`; `None` disables it (nats.go -1): publishing while disconnected fails.
    pub reconnect_buffer_size: Option<usize>,
    /// Reconnect after losing an established connection (nats.go `AllowReconnect`).
    /// Default true.
    pub allow_reconnect: bool,
    /// If the first pass over the pool fails, keep trying as if reconnecting instead of
    /// closing (nats.go `RetryOnFailedConnect`). Default false.
    pub retry_on_failed_connect: bool,
    /// Bounds for the server-op parser. Default [`ParserLimits::default`]; the payload
    /// limit is lowered to the server's `max_payload` plus a margin once INFO arrives.
    pub parser_limits: ParserLimits,
    /// Seeds the one RNG behind every random choice (pool shuffle, jitter, inbox NUIDs),
    /// so a seed replays a run. Default 0; clients should pass a random seed.
    pub rng_seed: u64,
    /// Output marks for backpressure: above `high` bytes waiting for the transport,
    /// [`Connection::output_full`](super::Connection::output_full) says callers should
    /// wait (after queueing their op) until it is at or below `low`
    /// ([`output_drained`](super::Connection::output_drained)). Default 2 MiB / 1 MiB.
    ///
    /// Why 2 MiB: when the server is slower than the publisher the queue sits between
    /// the marks, so they set how much memory a publisher writes through; 8/4, 4/2,
    /// 1/0.5 and 0.5/0.25 MiB were all measured worse (BENCHMARKS.md).
    pub output_marks: OutputMarks,
    /// The first token of inboxes ([`Connection::new_inbox`](super::Connection::new_inbox)
    /// and the request muxer's), nats.go `CustomInboxPrefix`. Default `_INBOX`.
    pub inbox_prefix: String,
}

/// See [`ConnectionConfig::output_marks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputMarks {
    /// Above this many bytes queued, the output is full.
    pub high: usize,
    /// At or below this many, waiting callers go on.
    pub low: usize,
}

impl Default for OutputMarks {
    fn default() -> Self {
        OutputMarks {
            high: 2 * 1024 * 1024,
            low: 1024 * 1024,
        }
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            servers: Vec::new(),
            pool: PoolOptions::default(),
            delay: None,
            tls_required: false,
            tls_first: false,
            name: None,
            echo: true,
            auth: Auth::None,
            ping_interval: Duration::from_secs(120),
            max_pings_out: 2,
            connect_timeout: Duration::from_secs(2),
            reconnect_buffer_size: Some(8 * 1024 * 1024),
            allow_reconnect: true,
            retry_on_failed_connect: false,
            parser_limits: ParserLimits::default(),
            rng_seed: 0,
            inbox_prefix: crate::nuid::DEFAULT_INBOX_PREFIX.to_string(),
            output_marks: OutputMarks::default(),
        }
    }
}

impl ConnectionConfig {
    /// A default config for these servers.
    pub fn new(servers: Vec<ServerAddr>) -> Self {
        ConnectionConfig {
            servers,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_never_prints_secrets() {
        let cases = [
            Auth::UserPassword {
                user: "alice".into(),
                pass: Secret::new("pw-123"),
            },
            Auth::Token(Secret::new("tok-123")),
            Auth::NKey {
                seed: Secret::new("SUSEED123"),
            },
            Auth::Jwt {
                jwt: "eyJ.jwt.123".into(),
                seed: Secret::new("SUSEED123"),
            },
            Auth::JwtSigner {
                jwt: "eyJ.jwt.123".into(),
                signer: Arc::new(|_| vec![0; 64]),
            },
        ];
        for auth in cases {
            let s = format!("{auth:?}");
            for secret in ["pw-123", "tok-123", "SUSEED", "eyJ"] {
                assert!(!s.contains(secret), "{s}");
            }
        }
        let config = ConnectionConfig {
            auth: Auth::Token(Secret::new("tok-123")),
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains("tok-123"));
    }

    #[test]
    fn defaults_match_nats_go() {
        let c = ConnectionConfig::default();
        assert_eq!(c.ping_interval, Duration::from_secs(120));
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.reconnect_buffer_size, Some(8 * 1024 * 1024));
        assert!(c.echo && c.allow_reconnect && !c.retry_on_failed_connect);
    }
}
