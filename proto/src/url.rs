//! [`ServerAddr`]: a parsed `nats://` or `tls://` server URL.

use std::fmt;

use crate::error::UrlError;
use crate::secret::Secret;

/// The default client port.
pub const DEFAULT_PORT: u16 = 4222;

/// One server to connect to.
///
/// `Display` prints `scheme://host:port` and never the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerAddr {
    /// `tls://` was given: TLS is required.
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port (default 4222).
    pub port: u16,
    /// User from `nats://user:pass@host`, percent-decoded.
    pub user: Option<String>,
    /// Password from `nats://user:pass@host`, percent-decoded.
    pub pass: Option<Secret>,
    /// Token from `nats://token@host`, percent-decoded.
    pub token: Option<Secret>,
}

impl ServerAddr {
    /// Parses one URL. A missing scheme means `nats://`; a missing port means 4222.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let _ = url;
        todo!("policy helper")
    }

    /// Parses a comma-separated list of URLs.
    pub fn parse_list(urls: &str) -> Result<Vec<Self>, UrlError> {
        let _ = urls;
        todo!("policy helper")
    }

    /// `host:port`, the key servers are known by (IPv6 hosts in brackets).
    pub fn host_port(&self) -> String {
        todo!("policy helper")
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "tls" } else { "nats" };
        write!(f, "{scheme}://{}", self.host_port())
    }
}
