//! `INFO` (what the server tells us) and `CONNECT` (what we tell it).

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The JSON body of a server `INFO`. Unknown fields are ignored; missing ones default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's unique id (an `N...` nkey).
    pub server_id: String,
    /// The server's name.
    pub server_name: String,
    /// The server's version, e.g. `2.15.1`.
    pub version: String,
    /// The Go version it was built with.
    pub go: String,
    /// The host the server listens on.
    pub host: String,
    /// The port the server listens on.
    pub port: u16,
    /// Protocol level; 1 supports async INFO and `echo`.
    pub proto: i32,
    /// Whether headers (`HPUB`/`HMSG`) are supported.
    pub headers: bool,
    /// The largest headers + payload the server accepts.
    pub max_payload: usize,
    /// Credentials must be sent.
    pub auth_required: bool,
    /// TLS is mandatory.
    pub tls_required: bool,
    /// TLS is offered but optional.
    pub tls_available: bool,
    /// The server demands a client certificate.
    pub tls_verify: bool,
    /// Client URLs (`host:port`) of the other servers in the cluster.
    pub connect_urls: Vec<String>,
    /// Lame duck mode: the server is about to shut down.
    pub ldm: bool,
    /// Challenge to sign for nkey/JWT auth.
    pub nonce: Option<String>,
    /// The id the server assigned to this connection.
    pub client_id: u64,
    /// The client's IP as the server sees it.
    pub client_ip: String,
    /// JetStream is enabled on this server.
    pub jetstream: bool,
    /// The JetStream domain.
    pub domain: Option<String>,
    /// The cluster name.
    pub cluster: Option<String>,
    /// Set on the INFO that follows the first PONG.
    pub connect_info: bool,
}

impl ServerInfo {
    /// Parses the JSON body of an INFO.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

/// The JSON body of `CONNECT`. `verbose` and `pedantic` are always false, `protocol` is 1,
/// `headers` and `no_responders` are true: see [`ConnectInfo::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConnectInfo {
    /// `+OK` after every op; always false.
    pub verbose: bool,
    /// Strict subject checking; always false.
    pub pedantic: bool,
    /// The client wants TLS.
    pub tls_required: bool,
    /// Connection name for monitoring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Client language.
    pub lang: String,
    /// Client version.
    pub version: String,
    /// Protocol level; always 1.
    pub protocol: u8,
    /// Deliver our own publishes to our own subscriptions.
    pub echo: bool,
    /// We understand `HMSG`.
    pub headers: bool,
    /// Send 503 status replies when a request has no responders.
    pub no_responders: bool,
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<Secret>,
    /// Token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<Secret>,
    /// User JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Public nkey (bare nkey auth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// The server nonce signed with the user's seed, base64url without padding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl ConnectInfo {
    /// The fixed fields every natsy CONNECT carries, with no auth.
    ///
    /// ```
    /// let c = natsy_proto::ConnectInfo::new();
    /// let json = serde_json::to_string(&c).unwrap();
    /// assert!(json.contains(r#""verbose":false"#) && json.contains(r#""no_responders":true"#));
    /// ```
    pub fn new() -> Self {
        ConnectInfo {
            verbose: false,
            pedantic: false,
            tls_required: false,
            name: None,
            lang: "rust-natsy".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: 1,
            echo: true,
            headers: true,
            no_responders: true,
            user: None,
            pass: None,
            auth_token: None,
            jwt: None,
            nkey: None,
            sig: None,
        }
    }
}

impl Default for ConnectInfo {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_parses_real_server_json_and_ignores_unknown_fields() {
        let json = br#"{"server_id":"NABC","server_name":"n1","version":"2.15.1","proto":1,
            "go":"go1.24","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,
            "jetstream":true,"client_id":5,"client_ip":"127.0.0.1","xkey":"XYZ",
            "connect_urls":["10.0.0.1:4222","10.0.0.2:4222"],"nonce":"abc","ldm":true}"#;
        let info = ServerInfo::from_json(json).unwrap();
        assert_eq!(info.max_payload, 1_048_576);
        assert_eq!(info.connect_urls.len(), 2);
        assert!(info.headers && info.jetstream && info.ldm);
        assert_eq!(info.nonce.as_deref(), Some("abc"));
        assert_eq!(info.port, 4222);
    }

    #[test]
    fn connect_carries_the_fixed_fields_and_auth() {
        let mut c = ConnectInfo::new();
        c.user = Some("alice".into());
        c.pass = Some(Secret::new("pw"));
        let v: serde_json::Value = serde_json::to_value(&c).unwrap();
        for (k, want) in [
            ("verbose", false),
            ("pedantic", false),
            ("headers", true),
            ("no_responders", true),
            ("echo", true),
        ] {
            assert_eq!(v[k], serde_json::Value::Bool(want), "{k}");
        }
        assert_eq!(v["protocol"], 1);
        assert_eq!(v["user"], "alice");
        assert_eq!(v["pass"], "pw");
        assert!(v.get("auth_token").is_none());
        assert!(!format!("{c:?}").contains("\"pw\""));
    }
}
