//! [`ConnectOptions`]: every connection option, its default and its nats.go name.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use natsy_proto::connection::{Auth, ConnectionConfig};
use natsy_proto::{PoolOptions, ReconnectDelay, Secret, ServerAddr};

use crate::client::Client;
use crate::credentials::{self, AuthSource, CredentialsError, Signer};
use crate::dialer::Resolver;
use crate::error::ConnectError;
use crate::event::Event;
use crate::tls::{Pem, TlsOptions};
use natsy_proto::PendingLimits;

/// Called with every [`Event`], in order, on the client's event thread.
pub type EventCallback = Arc<dyn Fn(Event) + Send + Sync>;

/// A user-supplied reconnect delay: given the number of completed passes over the server
/// pool, how long to wait before the next pass.
pub type ReconnectDelayFn = Arc<dyn Fn(u32) -> Duration + Send + Sync>;

/// Options for [`ConnectOptions::connect`]. Every setter names its default and its nats.go
/// equivalent.
///
/// ```no_run
/// use std::time::Duration;
/// let client = natsy::ConnectOptions::new()
///     .name("billing")
///     .user_and_password("alice", "s3cret")
///     .reconnect_wait(Duration::from_secs(1))
///     .connect("nats://127.0.0.1:4222")?;
/// # Ok::<(), natsy::ConnectError>(())
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    pub(crate) name: Option<String>,
    pub(crate) no_echo: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_pings_out: u32,
    pub(crate) allow_reconnect: bool,
    pub(crate) max_reconnects: Option<u32>,
    pub(crate) reconnect_wait: Duration,
    pub(crate) reconnect_jitter: Duration,
    pub(crate) reconnect_jitter_tls: Duration,
    pub(crate) reconnect_delay: Option<ReconnectDelayFn>,
    pub(crate) no_randomize: bool,
    pub(crate) prefer_first_server: bool,
    pub(crate) ignore_discovered_servers: bool,
    pub(crate) retry_on_failed_connect: bool,
    pub(crate) reconnect_buffer_size: Option<usize>,
    pub(crate) inbox_prefix: String,
    pub(crate) drain_timeout: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) pending_limits: PendingLimits,
    pub(crate) auth: AuthSource,
    pub(crate) tls: TlsOptions,
    pub(crate) event_callback: Option<EventCallback>,
    pub(crate) resolver: Option<Resolver>,
    pub(crate) websocket_compression: bool,
    #[cfg(all(feature = "tokio", unix))]
    pub(crate) tokio_runtime: Option<tokio::runtime::Handle>,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("name", &self.name)
            .field("no_echo", &self.no_echo)
            .field("connect_timeout", &self.connect_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("max_pings_out", &self.max_pings_out)
            .field("allow_reconnect", &self.allow_reconnect)
            .field("max_reconnects", &self.max_reconnects)
            .field("reconnect_wait", &self.reconnect_wait)
            .field("reconnect_buffer_size", &self.reconnect_buffer_size)
            .field("inbox_prefix", &self.inbox_prefix)
            .field("websocket_compression", &self.websocket_compression)
            .field("tokio_runtime", &self.drives_on_tokio())
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            name: None,
            no_echo: false,
            connect_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(120),
            max_pings_out: 2,
            allow_reconnect: true,
            max_reconnects: Some(60),
            reconnect_wait: Duration::from_secs(2),
            reconnect_jitter: Duration::from_millis(100),
            reconnect_jitter_tls: Duration::from_secs(1),
            reconnect_delay: None,
            no_randomize: false,
            prefer_first_server: false,
            ignore_discovered_servers: false,
            retry_on_failed_connect: false,
            reconnect_buffer_size: Some(8 * 1024 * 1024),
            inbox_prefix: natsy_proto::nuid::DEFAULT_INBOX_PREFIX.to_string(),
            drain_timeout: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            pending_limits: PendingLimits::default(),
            auth: AuthSource::None,
            tls: TlsOptions::default(),
            resolver: None,
            websocket_compression: false,
            #[cfg(all(feature = "tokio", unix))]
            tokio_runtime: None,
            event_callback: None,
        }
    }
}

impl ConnectOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connection name shown in server monitoring. Default none (nats.go `Name`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Over `ws://` and `wss://`, offer `permessage-deflate` so a server configured with
    /// `websocket { compression: true }` compresses what it sends (nats.go
    /// `Compression`). Default false. natsy inflates the server's messages as they
    /// stream in; its own frames go uncompressed, which the extension allows per message.
    /// No effect on `nats://` and `tls://` servers.
    ///
    /// ```no_run
    /// let client = natsy::ConnectOptions::new()
    ///     .websocket_compression(true)
    ///     .connect("ws://127.0.0.1:8080")?;
    /// # Ok::<(), natsy::ConnectError>(())
    /// ```
    pub fn websocket_compression(mut self, on: bool) -> Self {
        self.websocket_compression = on;
        self
    }

    /// Drives the connection as a task on this tokio runtime instead of on a thread of
    /// natsy's own (the `tokio` feature, Unix). Its socket and timers then run on the
    /// runtime's reactor: a message or a reply wakes the awaiting task from the worker
    /// that read it, without the thread switch and worker unpark that waking it from
    /// natsy's loop thread costs (BENCHMARKS.md has the numbers). Everything else is the
    /// same connection: the blocking API works on it too, from threads that are not the
    /// runtime's workers.
    ///
    /// The runtime needs its IO and time drivers (`enable_all`). A runtime that shuts
    /// down closes the connection (`Closed`, every waiter released). Without this
    /// option natsy needs no runtime at all.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = natsy::ConnectOptions::new()
    ///     .tokio_runtime(tokio::runtime::Handle::current())
    ///     .connect_async("nats://127.0.0.1:4222")
    ///     .await?;
    /// let reply = client.request("time.now", "").await?;
    /// # Ok(()) }
    /// ```
    #[cfg(all(feature = "tokio", unix))]
    pub fn tokio_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.tokio_runtime = Some(runtime);
        self
    }

    /// Whether the connection runs on a tokio runtime ([`Self::tokio_runtime`]).
    fn drives_on_tokio(&self) -> bool {
        #[cfg(all(feature = "tokio", unix))]
        return self.tokio_runtime.is_some();
        #[cfg(not(all(feature = "tokio", unix)))]
        false
    }

    /// Do not deliver this connection's own publishes to its subscriptions. Default false
    /// (nats.go `NoEcho`).
    pub fn no_echo(mut self) -> Self {
        self.no_echo = true;
        self
    }

    /// Deadline for dialing plus the whole handshake (INFO → CONNECT → PONG). Default 2 s
    /// (nats.go `Timeout`).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often the client pings the server. Default 2 min (nats.go `PingInterval`).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Unanswered pings before the connection is declared stale. Default 2
    /// (nats.go `MaxPingsOutstanding`).
    pub fn max_pings_out(mut self, max: u32) -> Self {
        self.max_pings_out = max;
        self
    }

    /// Never reconnect: a lost connection closes the client. Default: reconnect
    /// (nats.go `NoReconnect`).
    pub fn no_reconnect(mut self) -> Self {
        self.allow_reconnect = false;
        self
    }

    /// Reconnect attempts per server before it is dropped; `None` = for ever. Default
    /// `Some(60)` (nats.go `MaxReconnects`, -1 for ever).
    pub fn max_reconnects(mut self, max: Option<u32>) -> Self {
        self.max_reconnects = max;
        self
    }

    /// Wait between passes over the server pool. Default 2 s (nats.go `ReconnectWait`).
    pub fn reconnect_wait(mut self, wait: Duration) -> Self {
        self.reconnect_wait = wait;
        self
    }

    /// Upper bounds of the random jitter added to `reconnect_wait`, for plain and TLS
    /// connections. Default 100 ms and 1 s (nats.go `ReconnectJitter`).
    pub fn reconnect_jitter(mut self, plain: Duration, tls: Duration) -> Self {
        self.reconnect_jitter = plain;
        self.reconnect_jitter_tls = tls;
        self
    }

    /// Replaces wait + jitter with a function of the number of completed passes. Default
    /// none (nats.go `CustomReconnectDelay`).
    ///
    /// Unlike the credentials provider, resolver and signer, this is a policy function
    /// the protocol core evaluates while planning the next attempt, with the client's
    /// lock held: it must only compute a duration (no IO, no sleeping, no calls into
    /// the client).
    pub fn reconnect_delay(mut self, f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        self.reconnect_delay = Some(Arc::new(f));
        self
    }

    /// Try servers in the order given instead of shuffling them. Default: shuffle all of
    /// them, so clients spread over a cluster (nats.go `DontRandomize`).
    pub fn no_randomize(mut self) -> Self {
        self.no_randomize = true;
        self
    }

    /// Always try the first URL given first; the others are still shuffled. Default off:
    /// every server is shuffled so that clients sharing one list spread over the cluster
    /// (nats.go: the `Url` option is tried first, `Servers` are shuffled).
    pub fn prefer_first_server(mut self) -> Self {
        self.prefer_first_server = true;
        self
    }

    /// Ignore servers the cluster advertises in INFO. Default false
    /// (nats.go `IgnoreDiscoveredServers`).
    pub fn ignore_discovered_servers(mut self) -> Self {
        self.ignore_discovered_servers = true;
        self
    }

    /// If the first connect fails, return a client that keeps trying in the background.
    /// Default false (nats.go `RetryOnFailedConnect`).
    pub fn retry_on_failed_connect(mut self) -> Self {
        self.retry_on_failed_connect = true;
        self
    }

    /// Bytes of publishes buffered while disconnected; `None` disables the buffer, so
    /// publishing while disconnected fails at once. Default `Some(8 MiB)`
    /// (nats.go `ReconnectBufSize`, -1 disables).
    pub fn reconnect_buffer_size(mut self, size: Option<usize>) -> Self {
        self.reconnect_buffer_size = size;
        self
    }

    /// Prefix of inbox subjects used for replies. Default `_INBOX` (nats.go `CustomInboxPrefix`).
    pub fn inbox_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.inbox_prefix = prefix.into();
        self
    }

    /// How long `drain` may take before the client closes anyway. Default 30 s
    /// (nats.go `DrainTimeout`).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Default deadline of `flush`. Default 10 s (nats.go `FlushTimeout`).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Default deadline of `request`. Default 10 s (nats.go passes it per call; async-nats
    /// `request_timeout`, 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Pending limits of each subscription. Default 524,288 messages and 64 MiB
    /// (nats.go `SetPendingLimits` defaults).
    pub fn pending_limits(mut self, limits: PendingLimits) -> Self {
        self.pending_limits = limits;
        self
    }

    /// User and password (nats.go `UserInfo`). Credentials in the URL take precedence.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = AuthSource::Static(Auth::UserPassword {
            user: user.into(),
            pass: Secret::new(password.into()),
        });
        self
    }

    /// A token (nats.go `Token`). A token in the URL takes precedence.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthSource::Static(Auth::Token(Secret::new(token.into())));
        self
    }

    /// An NKey user seed (`SU...`) given as a string (nats.go `Nkey`). Checked now.
    pub fn nkey(mut self, seed: &str) -> Result<Self, CredentialsError> {
        self.auth = AuthSource::Static(credentials::nkey_auth(seed)?);
        Ok(self)
    }

    /// An NKey seed read from a file at every connect (nats.go `NkeyOptionFromSeed`).
    pub fn nkey_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = AuthSource::NKeyFile(path.into());
        self
    }

    /// A creds file (user JWT + seed), read at every connect so rotated files are picked up
    /// (nats.go `UserCredentials`).
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = AuthSource::CredsFile(path.into());
        self
    }

    /// A user JWT and a callback that signs the server's nonce (nats.go `UserJWT`).
    pub fn jwt(mut self, jwt: impl Into<String>, signer: Signer) -> Self {
        self.auth = AuthSource::Static(Auth::JwtSigner {
            jwt: jwt.into(),
            signer,
        });
        self
    }

    /// A function called before every (re)connect to get fresh credentials
    /// (nats.go `TokenHandler` / `UserInfoHandler` / `UserJWT` callbacks, in one).
    ///
    /// It runs on a dial thread of its own, never with the client's lock held, so it may
    /// take its time (the attempt's `connect_timeout` bounds how long the attempt waits
    /// for it; publishing meanwhile goes on into the reconnect buffer) and may call the
    /// client it belongs to: any method, though a blocking one (`flush`, `request`)
    /// made while disconnected only returns once connected again or timed out, and
    /// the attempt waiting for the provider times out first.
    pub fn credentials_provider(
        mut self,
        provider: impl Fn() -> Result<Auth, String> + Send + Sync + 'static,
    ) -> Self {
        self.auth = AuthSource::Provider(Arc::new(provider));
        self
    }

    /// Takes credentials from the environment, so nothing is hard-coded. The first set
    /// variable wins: `NATS_CREDS` (creds file path), `NATS_NKEY` (seed file path),
    /// `NATS_TOKEN`, `NATS_USER` with `NATS_PASSWORD`. With none set, nothing changes.
    pub fn credentials_from_env(self) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(path) = var("NATS_CREDS") {
            self.credentials_file(path)
        } else if let Some(path) = var("NATS_NKEY") {
            self.nkey_file(path)
        } else if let Some(token) = var("NATS_TOKEN") {
            self.token(token)
        } else if let (Some(user), Some(pass)) = (var("NATS_USER"), var("NATS_PASSWORD")) {
            self.user_and_password(user, pass)
        } else {
            self
        }
    }

    /// Use TLS even if the server does not require it (nats.go `Secure`). Default false;
    /// a `tls://` URL sets it too.
    pub fn require_tls(mut self) -> Self {
        self.tls.required = true;
        self
    }

    /// Do the TLS handshake before reading INFO (nats.go `TLSHandshakeFirst`). Implies TLS.
    pub fn tls_first(mut self) -> Self {
        self.tls.first = true;
        self.tls.required = true;
        self
    }

    /// Trust the CA certificates in this PEM file instead of the system's
    /// (nats.go `RootCAs`). May be given several times. Implies TLS: no connection of
    /// this client runs in plain text.
    pub fn root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.root_certs.push(Pem::File(path.into()));
        self
    }

    /// Trust the CA certificates in this PEM text (nats.go `RootCAs` from memory).
    /// Implies TLS.
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certs.push(Pem::Bytes(pem.into()));
        self
    }

    /// Client certificate chain and private key PEM files, for mutual TLS
    /// (nats.go `ClientCert`). Implies TLS.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls.client_cert = Some((Pem::File(cert.into()), Pem::File(key.into())));
        self
    }

    /// A complete rustls configuration (nats.go `Secure(tlsConfig)`). Implies TLS. Only
    /// with the `tls` feature.
    #[cfg(feature = "tls")]
    pub fn tls_client_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls.config = Some(Arc::new(config));
        self.tls.required = true;
        self
    }

    /// Resolves server host names with `resolver` instead of the system's resolver
    /// (nats.go's `CustomDialer` serves the same purpose; also a way to test DNS without
    /// a network). Called for every attempt, including IP addresses, on a dial thread,
    /// never under the client's lock; `connect_timeout` bounds the wait for it.
    ///
    /// ```no_run
    /// use std::net::ToSocketAddrs;
    /// let client = natsy::ConnectOptions::new()
    ///     .resolver(|host, port| {
    ///         let host = if host == "nats.internal" { "127.0.0.1" } else { host };
    ///         Ok((host, port).to_socket_addrs()?.collect())
    ///     })
    ///     .connect("nats://nats.internal:4222")?;
    /// # Ok::<(), natsy::ConnectError>(())
    /// ```
    pub fn resolver(
        mut self,
        resolver: impl Fn(&str, u16) -> std::io::Result<Vec<std::net::SocketAddr>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Receive connection events on a channel, in order; the channel is unbounded, so no
    /// event is lost however slowly it is read.
    ///
    /// ```no_run
    /// let (tx, events) = std::sync::mpsc::channel();
    /// let client = natsy::ConnectOptions::new().event_sender(tx).connect("nats://127.0.0.1:4222")?;
    /// for event in events.try_iter() {
    ///     println!("{event:?}");
    /// }
    /// # Ok::<(), natsy::ConnectError>(())
    /// ```
    pub fn event_sender(self, sender: std::sync::mpsc::Sender<Event>) -> Self {
        self.event_callback(move |event| {
            // The receiver was dropped: the application no longer listens.
            let _ = sender.send(event);
        })
    }

    /// Receive connection events on a callback, in order, on the client's event thread
    /// (nats.go's `DisconnectErrHandler`, `ReconnectHandler`, ... in one).
    pub fn event_callback(mut self, f: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.event_callback = Some(Arc::new(f));
        self
    }

    /// Connects. `servers` is one URL, a comma-separated list, or anything
    /// [`ToServerAddrs`] accepts. Blocks until connected (or, with
    /// `retry_on_failed_connect`, until the first attempt has been made).
    pub fn connect(self, servers: impl ToServerAddrs) -> Result<Client, ConnectError> {
        let servers = servers
            .to_server_addrs()
            .map_err(ConnectError::InvalidUrl)?;
        Client::connect(servers, self)
    }

    /// The proto configuration for these options.
    pub(crate) fn connection_config(
        &self,
        servers: Vec<ServerAddr>,
        seed: u64,
    ) -> ConnectionConfig {
        let tls = self.tls.wanted() || servers.iter().any(|s| s.tls);
        let delay = ReconnectDelay {
            wait: self.reconnect_wait,
            jitter: if tls {
                self.reconnect_jitter_tls
            } else {
                self.reconnect_jitter
            },
            custom: self.reconnect_delay.clone(),
        };
        let mut config = ConnectionConfig::new(servers);
        config.pool = PoolOptions {
            randomize: !self.no_randomize,
            keep_first: self.prefer_first_server,
            max_reconnects: self.max_reconnects,
            ignore_discovered: self.ignore_discovered_servers,
        };
        config.delay = Some(delay);
        config.tls_required = tls;
        config.tls_first = self.tls.first;
        config.name = self.name.clone();
        config.echo = !self.no_echo;
        config.ping_interval = self.ping_interval;
        config.max_pings_out = self.max_pings_out;
        config.connect_timeout = self.connect_timeout;
        config.reconnect_buffer_size = self.reconnect_buffer_size;
        config.allow_reconnect = self.allow_reconnect;
        config.retry_on_failed_connect = self.retry_on_failed_connect;
        config.rng_seed = seed;
        config.inbox_prefix = self.inbox_prefix.clone();
        config
    }
}

/// Anything that names the servers to connect to.
pub trait ToServerAddrs {
    /// The parsed server addresses.
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError>;
}

impl ToServerAddrs for str {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError> {
        ServerAddr::parse_list(self)
    }
}

impl ToServerAddrs for &str {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError> {
        ServerAddr::parse_list(self)
    }
}

impl ToServerAddrs for String {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError> {
        ServerAddr::parse_list(self)
    }
}

impl<T: AsRef<str>> ToServerAddrs for Vec<T> {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError> {
        self.as_slice().to_server_addrs()
    }
}

impl<T: AsRef<str>> ToServerAddrs for [T] {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError> {
        let mut out = Vec::new();
        for url in self {
            out.extend(ServerAddr::parse_list(url.as_ref())?);
        }
        if out.is_empty() {
            return Err(natsy_proto::UrlError::Empty);
        }
        Ok(out)
    }
}

impl ToServerAddrs for ServerAddr {
    fn to_server_addrs(&self) -> Result<Vec<ServerAddr>, natsy_proto::UrlError> {
        Ok(vec![self.clone()])
    }
}
