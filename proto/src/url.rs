//! [`ServerAddr`]: a parsed `nats://` or `tls://` server URL.
//!
//! This module owns URL parsing for the server list: scheme, host (name, IPv4 or bracketed
//! IPv6), port, and the credentials that may ride in the user info. Parsing is strict: anything
//! that is not a plain `scheme://[userinfo@]host[:port][/]` is a typed [`UrlError`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::UrlError;
use crate::secret::Secret;

/// The default client port.
pub const DEFAULT_PORT: u16 = 4222;

/// One server to connect to.
///
/// `Display` prints `scheme://host:port` and never the credentials.
///
/// ```
/// use natsy_proto::ServerAddr;
/// let a = ServerAddr::parse("tls://alice:s%40cret@[::1]:4333/").unwrap();
/// assert!(a.tls);
/// assert_eq!(a.host, "::1");
/// assert_eq!(a.host_port(), "[::1]:4333");
/// assert_eq!(a.user.as_deref(), Some("alice"));
/// assert_eq!(a.pass.as_ref().map(|p| p.expose()), Some("s@cret"));
/// assert_eq!(a.to_string(), "tls://[::1]:4333");
/// ```
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
    /// `ws://` or `wss://`: NATS over WebSocket (RFC 6455) to a server's `websocket`
    /// listener; `tls` says which of the two.
    pub websocket: bool,
    /// The HTTP path of a WebSocket URL (`/` when none was given); empty otherwise.
    pub path: String,
}

impl ServerAddr {
    /// Parses one URL. A missing scheme means `nats://`; a missing port means 4222.
    ///
    /// Accepted: `[nats|tls://][user:pass@|token@]host[:port][/]`, and
    /// `ws|wss://[user:pass@|token@]host[:port][/path]` (default port 80 / 443), the scheme
    /// case-insensitive, surrounding whitespace ignored. `host` is a name, an IPv4 address
    /// or an IPv6 address in brackets. The user info is percent-decoded.
    ///
    /// # Errors
    ///
    /// [`UrlError::UnsupportedScheme`] for any scheme but `nats`/`tls`,
    /// [`UrlError::MissingHost`] for an empty host, [`UrlError::InvalidHost`] for a host
    /// with characters a host cannot have (or a path, query or fragment),
    /// [`UrlError::InvalidPort`] for a port that is not 1..=65535, and
    /// [`UrlError::InvalidPercentEncoding`] for a broken `%XX` escape or user info that
    /// does not decode to UTF-8.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        let (tls, websocket, rest) = match url.find("://") {
            Some(i) => {
                let scheme = url[..i].to_ascii_lowercase();
                let (tls, websocket) = match scheme.as_str() {
                    "nats" => (false, false),
                    "tls" => (true, false),
                    "ws" => (false, true),
                    "wss" => (true, true),
                    _ => return Err(UrlError::UnsupportedScheme(url[..i].to_string())),
                };
                (tls, websocket, &url[i + 3..])
            }
            None => (false, false, url),
        };
        // Only a WebSocket URL has a path (the HTTP request's).
        let (authority, path) = match rest.find('/') {
            Some(i) if websocket => (&rest[..i], rest[i..].to_string()),
            _ => (rest.strip_suffix('/').unwrap_or(rest), String::new()),
        };
        let path = if websocket && path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        if authority.contains(['/', '?', '#']) || path.contains([' ', '#']) {
            return Err(UrlError::InvalidHost);
        }
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port)?;
        let explicit_port = match host_port.rfind(']') {
            Some(i) => host_port[i + 1..].starts_with(':'),
            None => host_port.contains(':'),
        };
        // nats.go's WebSocket default ports, when none is given.
        let port = match (websocket, tls, explicit_port) {
            (true, false, false) => 80,
            (true, true, false) => 443,
            _ => port,
        };
        let mut addr = ServerAddr {
            tls,
            host,
            port,
            user: None,
            pass: None,
            token: None,
            websocket,
            path,
        };
        match userinfo {
            None | Some("") => {}
            Some(info) => match info.split_once(':') {
                Some((user, pass)) => {
                    addr.user = Some(percent_decode(user)?);
                    addr.pass = Some(Secret::new(percent_decode(pass)?));
                }
                None => addr.token = Some(Secret::new(percent_decode(info)?)),
            },
        }
        Ok(addr)
    }

    /// Parses a comma-separated list of URLs.
    ///
    /// Whitespace around each entry is ignored, and so are empty entries (a trailing comma).
    ///
    /// # Errors
    ///
    /// [`UrlError::Empty`] when there is no entry at all, else the first entry's error.
    ///
    /// ```
    /// use natsy_proto::ServerAddr;
    /// let list = ServerAddr::parse_list(" nats://a:4222 , b ,tls://c:1").unwrap();
    /// let keys: Vec<String> = list.iter().map(|s| s.host_port()).collect();
    /// assert_eq!(keys, ["a:4222", "b:4222", "c:1"]);
    /// ```
    pub fn parse_list(urls: &str) -> Result<Vec<Self>, UrlError> {
        let list = urls
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(UrlError::Empty);
        }
        Ok(list)
    }

    /// `host:port`, the key servers are known by (IPv6 hosts in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// True when the host is an IPv4 or IPv6 address rather than a name.
    ///
    /// A TLS certificate cannot be checked against a bare IP learned from a cluster, so the
    /// pool remembers a host name for such servers (see `Attempt::tls_name`).
    pub fn is_ip_host(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }

    /// True when the URL carried credentials (user and password, or a token).
    pub fn has_userinfo(&self) -> bool {
        self.user.is_some() || self.pass.is_some() || self.token.is_some()
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.websocket, self.tls) {
            (false, false) => "nats",
            (false, true) => "tls",
            (true, false) => "ws",
            (true, true) => "wss",
        };
        write!(f, "{scheme}://{}", self.host_port())?;
        if self.websocket && self.path != "/" {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

/// Splits `host[:port]` or `[v6][:port]`, validating both parts.
fn split_host_port(s: &str) -> Result<(String, u16), UrlError> {
    if let Some(inner) = s.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or(UrlError::InvalidHost)?;
        if v6.is_empty() {
            return Err(UrlError::MissingHost);
        }
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidHost);
        }
        let port = match after {
            "" => DEFAULT_PORT,
            _ => parse_port(after.strip_prefix(':').ok_or(UrlError::InvalidHost)?)?,
        };
        return Ok((v6.to_string(), port));
    }
    // Two colons mean an IPv6 address without brackets: ambiguous, refused.
    if s.bytes().filter(|&b| b == b':').count() > 1 {
        return Err(UrlError::InvalidHost);
    }
    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if !valid_name(host) {
        return Err(UrlError::InvalidHost);
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => parse_port(p)?,
    };
    Ok((host.to_string(), port))
}

/// A host name (letters, digits, `-`, `_`, `.`) or a dotted IPv4 address.
fn valid_name(host: &str) -> bool {
    let charset_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !charset_ok {
        return false;
    }
    // Something that looks like an IPv4 address (digits and dots only) must be one.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    true
}

/// A decimal port from 1 to 65535, digits only.
fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort),
        Ok(port) => Ok(port),
    }
}

/// Strict percent-decoding: every `%` must be followed by two hex digits, and the
/// result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(UrlError::InvalidPercentEncoding),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::InvalidPercentEncoding)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ServerAddr {
        ServerAddr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn schemes_hosts_and_default_port() {
        let cases: &[(&str, bool, &str, u16)] = &[
            ("nats://demo.nats.io:4222", false, "demo.nats.io", 4222),
            ("NATS://demo.nats.io", false, "demo.nats.io", 4222),
            ("tls://secure.example:4443", true, "secure.example", 4443),
            ("TlS://h", true, "h", 4222),
            ("localhost:5000", false, "localhost", 5000),
            ("localhost", false, "localhost", 4222),
            ("127.0.0.1", false, "127.0.0.1", 4222),
            ("nats://10.1.2.3:65535/", false, "10.1.2.3", 65535),
            ("nats://[::1]:4222", false, "::1", 4222),
            ("[fe80::1]", false, "fe80::1", 4222),
            ("tls://[2001:db8::7]:1/", true, "2001:db8::7", 1),
            ("  nats://my_host-1.local:7  ", false, "my_host-1.local", 7),
        ];
        for &(url, tls, host, port) in cases {
            let a = parse(url);
            assert_eq!((a.tls, a.host.as_str(), a.port), (tls, host, port), "{url}");
            assert!(!a.has_userinfo(), "{url}");
        }
    }

    #[test]
    fn typed_errors() {
        let cases: &[(&str, UrlError)] = &[
            ("http://host", UrlError::UnsupportedScheme("http".into())),
            ("http://host:80", UrlError::UnsupportedScheme("http".into())),
            ("://host", UrlError::UnsupportedScheme(String::new())),
            ("nats://", UrlError::MissingHost),
            ("nats://:4222", UrlError::MissingHost),
            ("nats://user:pass@", UrlError::MissingHost),
            ("nats://[]:4222", UrlError::MissingHost),
            ("", UrlError::MissingHost),
            ("nats://host:", UrlError::InvalidPort),
            ("nats://host:0", UrlError::InvalidPort),
            ("nats://host:65536", UrlError::InvalidPort),
            ("nats://host:+42", UrlError::InvalidPort),
            ("nats://host:42a", UrlError::InvalidPort),
            ("nats://[::1]:x", UrlError::InvalidPort),
            ("nats://host:4222/path", UrlError::InvalidHost),
            ("nats://host?x=1", UrlError::InvalidHost),
            ("nats://host#frag", UrlError::InvalidHost),
            ("nats://host//", UrlError::InvalidHost),
            ("nats://ho st", UrlError::InvalidHost),
            ("nats://::1", UrlError::InvalidHost),
            ("nats://[::1", UrlError::InvalidHost),
            ("nats://[::1]4222", UrlError::InvalidHost),
            ("nats://[not-v6]:1", UrlError::InvalidHost),
            ("nats://999.1.1.1", UrlError::InvalidHost),
            ("nats://h\u{e9}te", UrlError::InvalidHost),
            ("nats://u:p%zz@host", UrlError::InvalidPercentEncoding),
            ("nats://tok%4@host", UrlError::InvalidPercentEncoding),
            ("nats://tok%@host", UrlError::InvalidPercentEncoding),
            ("nats://%ff%fe@host", UrlError::InvalidPercentEncoding),
        ];
        for (url, err) in cases {
            assert_eq!(ServerAddr::parse(url).as_ref(), Err(err), "{url}");
        }
    }

    #[test]
    fn user_and_password_are_percent_decoded() {
        let a = parse("nats://al%69ce:p%40ss%3Aw%2Fd@host:1");
        assert_eq!(a.user.as_deref(), Some("alice"));
        assert_eq!(a.pass.as_ref().map(Secret::expose), Some("p@ss:w/d"));
        assert_eq!(a.token, None);
        assert_eq!(a.host_port(), "host:1");

        // Only the first colon separates user from password; the last @ ends the userinfo.
        let a = parse("nats://u:a:b@c@host");
        assert_eq!(a.user.as_deref(), Some("u"));
        assert_eq!(a.pass.as_ref().map(Secret::expose), Some("a:b@c"));

        let a = parse("nats://u:@host");
        assert_eq!(a.user.as_deref(), Some("u"));
        assert_eq!(a.pass.as_ref().map(Secret::expose), Some(""));

        let a = parse("nats://%E2%82%ACuro:x@host");
        assert_eq!(a.user.as_deref(), Some("\u{20ac}uro"));
    }

    #[test]
    fn userinfo_without_colon_is_a_token() {
        let a = parse("tls://s3cr%2Ft0ken@[::1]:4333");
        assert_eq!(a.token.as_ref().map(Secret::expose), Some("s3cr/t0ken"));
        assert_eq!((a.user.as_ref(), a.pass.as_ref()), (None, None));
        // An empty userinfo carries nothing.
        assert!(!parse("nats://@host").has_userinfo());
    }

    #[test]
    fn display_and_debug_never_show_credentials() {
        for url in [
            "nats://bob:hunter2@host:4222",
            "tls://hunter2@[::1]",
            "hunter2@10.0.0.1",
        ] {
            let a = parse(url);
            let shown = a.to_string();
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains('@'), "{shown}");
            let debug = format!("{a:?}");
            assert!(!debug.contains("hunter2"), "{debug}");
        }
        assert_eq!(
            parse("nats://bob:hunter2@host").to_string(),
            "nats://host:4222"
        );
        assert_eq!(parse("tls://t@[::1]:5").to_string(), "tls://[::1]:5");
    }

    #[test]
    fn websocket_urls_have_paths_and_default_ports() {
        let cases = [
            ("ws://h.example:8080", false, 8080, "/"),
            ("wss://h.example", true, 443, "/"),
            ("ws://[::1]/nats/ws", false, 80, "/nats/ws"),
            ("WSS://u:p@h.example:9443/x", true, 9443, "/x"),
        ];
        for (url, tls, port, path) in cases {
            let a = parse(url);
            assert!(a.websocket, "{url}");
            assert_eq!((a.tls, a.port, a.path.as_str()), (tls, port, path), "{url}");
        }
        assert_eq!(parse("ws://h:1/p").to_string(), "ws://h:1/p");
        assert_eq!(parse("wss://h").to_string(), "wss://h:443");
        assert!(!parse("nats://h:1").websocket);
        assert_eq!(parse("nats://h:1").path, "");
        // Only WebSocket URLs have paths.
        assert_eq!(
            ServerAddr::parse("nats://h:1/p"),
            Err(UrlError::InvalidHost)
        );
    }

    #[test]
    fn host_port_brackets_ipv6_and_round_trips() {
        for url in ["nats://[::1]:4222", "tls://h.example:9", "nats://1.2.3.4:5"] {
            let a = parse(url);
            assert_eq!(a.to_string(), url);
            assert_eq!(parse(&a.host_port()).host_port(), a.host_port());
        }
    }

    #[test]
    fn ip_hosts_are_recognised() {
        assert!(parse("10.0.0.1").is_ip_host());
        assert!(parse("[::1]").is_ip_host());
        assert!(parse("[2001:db8::1]:5").is_ip_host());
        assert!(!parse("localhost").is_ip_host());
        assert!(!parse("nats-1.cluster.local").is_ip_host());
    }

    #[test]
    fn lists_trim_and_skip_empty_entries() {
        let l = ServerAddr::parse_list("nats://a:1, tls://b:2 ,\tc ,").unwrap();
        let keys: Vec<_> = l.iter().map(|a| (a.tls, a.host_port())).collect();
        assert_eq!(
            keys,
            [
                (false, "a:1".to_string()),
                (true, "b:2".to_string()),
                (false, "c:4222".to_string())
            ]
        );
        assert_eq!(ServerAddr::parse_list(""), Err(UrlError::Empty));
        assert_eq!(ServerAddr::parse_list(" , ,"), Err(UrlError::Empty));
        assert_eq!(
            ServerAddr::parse_list("a, http://b"),
            Err(UrlError::UnsupportedScheme("http".into()))
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_display_hides_userinfo(s in "\\PC{0,40}") {
            if let Ok(a) = ServerAddr::parse(&s) {
                proptest::prop_assert!(!a.to_string().contains('@'));
                proptest::prop_assert!(a.port != 0);
                proptest::prop_assert!(!a.host.is_empty());
            }
            let _ = ServerAddr::parse_list(&s);
        }

        #[test]
        fn percent_encoded_credentials_round_trip(user in "\\PC{0,12}", pass in "\\PC{0,12}") {
            let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
            let a = ServerAddr::parse(&format!("nats://{}:{}@h", enc(&user), enc(&pass))).unwrap();
            proptest::prop_assert_eq!(a.user.as_deref(), Some(user.as_str()));
            proptest::prop_assert_eq!(a.pass.as_ref().map(Secret::expose), Some(pass.as_str()));
        }
    }
}
