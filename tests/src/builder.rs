//! [`ServerBuilder`]: the options of one test server and their rendering to a nats-server
//! config file.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::auth::{quote, render_users, Account, JetStreamLimits, User};
use crate::{HarnessError, NatsServer, TlsOptions};

/// The ports and cluster wiring a config is rendered for; chosen by the starter, not by
/// the test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Client port.
    pub(crate) port: u16,
    /// Monitoring (HTTP) port, if enabled.
    pub(crate) monitor_port: Option<u16>,
    /// WebSocket port, if enabled.
    pub(crate) ws_port: Option<u16>,
    /// Cluster name, route port, and the route ports of the other nodes.
    pub(crate) cluster: Option<ClusterLayout>,
}

/// The cluster part of a [`Layout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClusterLayout {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) routes: Vec<u16>,
}

/// Options for one nats-server; [`ServerBuilder::start`] launches it.
///
/// Every server listens on 127.0.0.1 only, on a port the harness picks. Get a builder from
/// [`NatsServer::builder`]:
///
/// ```no_run
/// use natsy_test_harness::NatsServer;
/// let server = NatsServer::builder()
///     .jetstream()
///     .user("alice", "s3cret")
///     .max_payload(64 * 1024)
///     .start()?;
/// println!("connect to {}", server.url());
/// # Ok::<(), natsy_test_harness::HarnessError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServerBuilder {
    pub(crate) server_name: Option<String>,
    pub(crate) jetstream: Option<JetStreamLimits>,
    pub(crate) users: Vec<User>,
    pub(crate) token: Option<String>,
    pub(crate) no_auth_user: Option<String>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) system_account: Option<String>,
    pub(crate) tls: Option<TlsOptions>,
    pub(crate) max_payload: Option<u32>,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) ping_max: Option<u32>,
    pub(crate) lame_duck_duration: Option<Duration>,
    pub(crate) lame_duck_grace_period: Option<Duration>,
    pub(crate) monitoring: bool,
    pub(crate) trace: bool,
    pub(crate) raw_config: Vec<String>,
    /// A `websocket` listener: `Some(None)` plain (`no_tls`), `Some(Some(tls))` with TLS.
    pub(crate) websocket: Option<Option<TlsOptions>>,
    /// The `websocket` listener compresses (`compression: true`) for clients that offer
    /// `permessage-deflate`.
    pub(crate) websocket_compression: bool,
}

/// Writes a duration the way the config parser reads one ("1500ms").
fn duration(d: Duration) -> String {
    quote(&format!("{}ms", d.as_millis()))
}

impl ServerBuilder {
    /// A builder for a plain server: no auth, no TLS, no JetStream.
    pub fn new() -> Self {
        ServerBuilder::default()
    }

    /// Sets `server_name` (required by clustered JetStream; the cluster sets it itself).
    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = Some(name.to_string());
        self
    }

    /// Enables JetStream with file storage in the server's own temp dir
    /// (`jetstream { store_dir: ... }`), which survives [`NatsServer::restart`].
    pub fn jetstream(self) -> Self {
        self.jetstream_with_limits(JetStreamLimits::default())
    }

    /// Enables JetStream with server-wide `max_memory_store`/`max_file_store` limits
    /// (`max_streams`/`max_consumers` only apply to accounts and are ignored here).
    pub fn jetstream_with_limits(mut self, limits: JetStreamLimits) -> Self {
        self.jetstream = Some(limits);
        self
    }

    /// Requires user/password auth and adds this user (`authorization { users: [...] }`).
    pub fn user(self, user: &str, password: &str) -> Self {
        self.with_user(User::password(user, password))
    }

    /// Adds an nkey user by public key (`U...`) to the global `authorization` block.
    pub fn nkey_user(self, public_key: &str) -> Self {
        self.with_user(User::nkey(public_key))
    }

    /// Adds any [`User`] (e.g. one with permissions) to the global `authorization` block.
    pub fn with_user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Requires token auth (`authorization { token: ... }`). The server refuses a config
    /// with both a token and users.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// Sets `no_auth_user`: clients that send no credentials are logged in as this user.
    pub fn no_auth_user(mut self, user: &str) -> Self {
        self.no_auth_user = Some(user.to_string());
        self
    }

    /// Adds an account (with its users and JetStream limits) to `accounts { ... }`.
    pub fn account(mut self, account: Account) -> Self {
        self.accounts.push(account);
        self
    }

    /// Sets `system_account` (the account must be added with [`ServerBuilder::account`]).
    pub fn system_account(mut self, name: &str) -> Self {
        self.system_account = Some(name.to_string());
        self
    }

    /// Serves TLS on the client port (see [`crate::TlsFiles`] for generated material).
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets `max_payload` in bytes (server default 1 MiB).
    pub fn max_payload(mut self, bytes: u32) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Sets how often the server pings clients (`ping_interval`, server default 2 min).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = Some(interval);
        self
    }

    /// Sets how many unanswered pings close a client (`ping_max`, server default 2).
    pub fn ping_max(mut self, max: u32) -> Self {
        self.ping_max = Some(max);
        self
    }

    /// Sets `lame_duck_duration` (how long lame duck mode spreads client closes over,
    /// server default 2 min) and `lame_duck_grace_period` (wait before the first close,
    /// server default 10 s). The server refuses a duration under 30 s; the grace period
    /// must be shorter than the duration.
    pub fn lame_duck(mut self, duration: Duration, grace_period: Duration) -> Self {
        self.lame_duck_duration = Some(duration);
        self.lame_duck_grace_period = Some(grace_period);
        self
    }

    /// Enables the HTTP monitoring port (`/varz`, `/connz`, `/routez`, `/jsz`, ...);
    /// see [`NatsServer::monitor_port`]. Cluster nodes always have it.
    pub fn monitoring(mut self) -> Self {
        self.monitoring = true;
        self
    }

    /// Turns on `debug` and `trace` logging in the server's log file.
    pub fn trace(mut self) -> Self {
        self.trace = true;
        self
    }

    /// Appends config text verbatim, after everything the builder generates. This is the
    /// escape hatch for anything without a method, e.g. operator mode:
    ///
    /// ```text
    /// operator: "eyJ0eXAi..."
    /// system_account: "ADSYS..."
    /// resolver: MEMORY
    /// resolver_preload: { ADSYS...: "eyJ0eXAi...", ... }
    /// ```
    ///
    /// Do not set `listen`, `port`, `http` or `cluster` here: the harness owns those.
    pub fn raw_config(mut self, text: &str) -> Self {
        self.raw_config.push(text.to_string());
        self
    }

    /// True when the server will not send a plain-text `INFO` on connect
    /// (TLS `handshake_first`).
    pub(crate) fn sends_info_first(&self) -> bool {
        !self.tls.as_ref().is_some_and(|t| t.handshake_first)
    }

    /// Adds a plain-text `websocket` listener (`no_tls: true`) on its own port, with the
    /// server's authorization: see [`NatsServer::ws_url`].
    pub fn websocket(mut self) -> Self {
        self.websocket = Some(None);
        self
    }

    /// Adds a plain-text `websocket` listener that compresses what it sends to clients
    /// that offer `permessage-deflate` (`compression: true`).
    pub fn websocket_compression(mut self) -> Self {
        self.websocket = Some(None);
        self.websocket_compression = true;
        self
    }

    /// Adds a `websocket` listener with TLS: see [`NatsServer::wss_url`].
    pub fn websocket_tls(mut self, tls: TlsOptions) -> Self {
        self.websocket = Some(Some(tls));
        self
    }

    /// Starts the server and waits until it is ready (see [`NatsServer`]).
    pub fn start(self) -> Result<NatsServer, HarnessError> {
        NatsServer::start_with(self)
    }

    /// Renders the config file for `layout`, with the JetStream store under `dir`.
    pub(crate) fn render(&self, layout: &Layout, dir: &Path) -> String {
        let mut c = String::from("# Generated by natsy-test-harness.\n");
        let _ = writeln!(c, "listen: \"127.0.0.1:{}\"", layout.port);
        if let Some(port) = layout.monitor_port {
            let _ = writeln!(c, "http: \"127.0.0.1:{port}\"");
        }
        if let Some(name) = &self.server_name {
            let _ = writeln!(c, "server_name: {}", quote(name));
        }
        if self.trace {
            c.push_str("debug: true\ntrace: true\n");
        }
        if let Some(v) = self.max_payload {
            let _ = writeln!(c, "max_payload: {v}");
        }
        if let Some(v) = self.ping_interval {
            let _ = writeln!(c, "ping_interval: {}", duration(v));
        }
        if let Some(v) = self.ping_max {
            let _ = writeln!(c, "ping_max: {v}");
        }
        if let Some(v) = self.lame_duck_duration {
            let _ = writeln!(c, "lame_duck_duration: {}", duration(v));
        }
        if let Some(v) = self.lame_duck_grace_period {
            let _ = writeln!(c, "lame_duck_grace_period: {}", duration(v));
        }
        if let Some(limits) = &self.jetstream {
            c.push_str("jetstream {\n");
            let store = dir.join("jetstream");
            let _ = writeln!(c, "  store_dir: {}", quote(&store.to_string_lossy()));
            if let Some(v) = limits.max_mem {
                let _ = writeln!(c, "  max_memory_store: {v}");
            }
            if let Some(v) = limits.max_file {
                let _ = writeln!(c, "  max_file_store: {v}");
            }
            c.push_str("}\n");
        }
        if !self.users.is_empty() || self.token.is_some() {
            c.push_str("authorization {\n");
            if let Some(t) = &self.token {
                let _ = writeln!(c, "  token: {}", quote(t));
            }
            if !self.users.is_empty() {
                c.push_str(&render_users(&self.users, "  "));
            }
            c.push_str("}\n");
        }
        if !self.accounts.is_empty() {
            c.push_str("accounts {\n");
            for a in &self.accounts {
                c.push_str(&a.render());
            }
            c.push_str("}\n");
        }
        if let Some(name) = &self.system_account {
            let _ = writeln!(c, "system_account: {}", quote(name));
        }
        if let Some(name) = &self.no_auth_user {
            let _ = writeln!(c, "no_auth_user: {}", quote(name));
        }
        if let Some(tls) = &self.tls {
            c.push_str(&tls.render());
        }
        if let Some(cluster) = &layout.cluster {
            c.push_str("cluster {\n");
            let _ = writeln!(c, "  name: {}", quote(&cluster.name));
            let _ = writeln!(c, "  listen: \"127.0.0.1:{}\"", cluster.port);
            let routes: Vec<String> = cluster
                .routes
                .iter()
                .map(|p| quote(&format!("nats-route://127.0.0.1:{p}")))
                .collect();
            let _ = writeln!(c, "  routes: [{}]", routes.join(", "));
            c.push_str("}\n");
        }
        if let (Some(ws), Some(port)) = (&self.websocket, layout.ws_port) {
            c.push_str("websocket {\n");
            let _ = writeln!(c, "  listen: \"127.0.0.1:{port}\"");
            match ws {
                None => c.push_str("  no_tls: true\n"),
                Some(tls) => c.push_str(&tls.render()),
            }
            if self.websocket_compression {
                c.push_str("  compression: true\n");
            }
            c.push_str("}\n");
        }
        for raw in &self.raw_config {
            c.push_str(raw);
            if !raw.ends_with('\n') {
                c.push('\n');
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            port: 4000,
            monitor_port: None,
            ws_port: None,
            cluster: None,
        }
    }

    #[test]
    fn plain_config_only_listens_on_loopback() {
        let c = ServerBuilder::new().render(&layout(), Path::new("/d"));
        assert!(c.contains("listen: \"127.0.0.1:4000\""), "{c}");
        assert!(!c.contains("jetstream"), "{c}");
        assert!(!c.contains("authorization"), "{c}");
        assert!(!c.contains("http"), "{c}");
    }

    #[test]
    fn options_show_up_in_the_config() {
        let c = ServerBuilder::new()
            .jetstream()
            .token("tok")
            .max_payload(1024)
            .ping_interval(Duration::from_millis(1500))
            .ping_max(3)
            .lame_duck(Duration::from_secs(5), Duration::from_secs(1))
            .raw_config("# extra")
            .render(
                &Layout {
                    port: 4000,
                    monitor_port: Some(8000),
                    ws_port: None,
                    cluster: Some(ClusterLayout {
                        name: "c".into(),
                        port: 6000,
                        routes: vec![6001, 6002],
                    }),
                },
                Path::new("/d"),
            );
        for want in [
            "http: \"127.0.0.1:8000\"",
            "store_dir: \"/d/jetstream\"",
            "token: \"tok\"",
            "max_payload: 1024",
            "ping_interval: \"1500ms\"",
            "ping_max: 3",
            "lame_duck_duration: \"5000ms\"",
            "lame_duck_grace_period: \"1000ms\"",
            "listen: \"127.0.0.1:6000\"",
            "routes: [\"nats-route://127.0.0.1:6001\", \"nats-route://127.0.0.1:6002\"]",
            "# extra\n",
        ] {
            assert!(c.contains(want), "{want} missing in:\n{c}");
        }
    }

    #[test]
    fn handshake_first_means_no_plain_info() {
        assert!(ServerBuilder::new().sends_info_first());
        let mut tls = TlsOptions::new("/c", "/k");
        tls.handshake_first = true;
        assert!(!ServerBuilder::new().tls(tls).sends_info_first());
    }
}
