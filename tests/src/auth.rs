//! Users, permissions and accounts as they appear in a nats-server config file, and their
//! rendering to config text.

use std::fmt::Write as _;

/// Quotes a string for a nats-server config file (JSON string syntax, which the config
/// parser accepts).
pub(crate) fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Publish/subscribe permissions of one user (`permissions { ... }` in the config).
///
/// Empty lists are left out of the config, so `Permissions::default()` grants everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects the user may publish to (`publish.allow`).
    pub publish_allow: Vec<String>,
    /// Subjects the user may not publish to (`publish.deny`).
    pub publish_deny: Vec<String>,
    /// Subjects the user may subscribe to (`subscribe.allow`).
    pub subscribe_allow: Vec<String>,
    /// Subjects the user may not subscribe to (`subscribe.deny`).
    pub subscribe_deny: Vec<String>,
    /// Allow publishing to the reply subjects of received requests (`allow_responses: true`).
    pub allow_responses: bool,
}

impl Permissions {
    fn render(&self) -> String {
        // The config parser needs a `,` (or a newline) between the entries of a map.
        let section = |name: &str, allow: &[String], deny: &[String]| -> Option<String> {
            let mut entries = Vec::new();
            if !allow.is_empty() {
                entries.push(format!("allow: {}", quote_list(allow)));
            }
            if !deny.is_empty() {
                entries.push(format!("deny: {}", quote_list(deny)));
            }
            (!entries.is_empty()).then(|| format!("{name}: {{ {} }}", entries.join(", ")))
        };
        let mut entries: Vec<String> = [
            section("publish", &self.publish_allow, &self.publish_deny),
            section("subscribe", &self.subscribe_allow, &self.subscribe_deny),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.allow_responses {
            entries.push("allow_responses: true".to_string());
        }
        format!("permissions: {{ {} }}", entries.join(", "))
    }
}

/// One entry of a `users: [...]` list: a user/password pair or an nkey user.
///
/// `Debug` does not print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    user: Option<String>,
    password: Option<String>,
    nkey: Option<String>,
    permissions: Option<Permissions>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("nkey", &self.nkey)
            .field("permissions", &self.permissions)
            .finish()
    }
}

impl User {
    /// A user that logs in with `user` and `password` (plain text in the config).
    pub fn password(user: &str, password: &str) -> Self {
        User {
            user: Some(user.to_string()),
            password: Some(password.to_string()),
            nkey: None,
            permissions: None,
        }
    }

    /// A user that logs in by signing the server's nonce with the nkey whose public key
    /// (`U...`) is given.
    pub fn nkey(public_key: &str) -> Self {
        User {
            user: None,
            password: None,
            nkey: Some(public_key.to_string()),
            permissions: None,
        }
    }

    /// Restricts what the user may publish and subscribe to.
    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = Some(permissions);
        self
    }

    pub(crate) fn render(&self) -> String {
        let mut fields = Vec::new();
        if let Some(u) = &self.user {
            fields.push(format!("user: {}", quote(u)));
        }
        if let Some(p) = &self.password {
            fields.push(format!("password: {}", quote(p)));
        }
        if let Some(n) = &self.nkey {
            fields.push(format!("nkey: {}", quote(n)));
        }
        if let Some(perms) = &self.permissions {
            fields.push(perms.render());
        }
        format!("{{ {} }}", fields.join(", "))
    }
}

/// Renders a `users: [...]` list, one user per line.
pub(crate) fn render_users(users: &[User], indent: &str) -> String {
    let mut out = format!("{indent}users: [\n");
    for u in users {
        let _ = writeln!(out, "{indent}  {}", u.render());
    }
    let _ = writeln!(out, "{indent}]");
    out
}

/// JetStream resource limits (server-wide or per account). `None` leaves the server's
/// default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JetStreamLimits {
    /// Bytes of memory storage (`max_mem`; `max_memory_store` server-wide).
    pub max_mem: Option<u64>,
    /// Bytes of file storage (`max_file`; `max_file_store` server-wide).
    pub max_file: Option<u64>,
    /// Number of streams (`max_streams`; accounts only).
    pub max_streams: Option<u64>,
    /// Number of consumers (`max_consumers`; accounts only).
    pub max_consumers: Option<u64>,
}

impl JetStreamLimits {
    pub(crate) fn render_account(&self) -> String {
        let mut fields = Vec::new();
        if let Some(v) = self.max_mem {
            fields.push(format!("max_mem: {v}"));
        }
        if let Some(v) = self.max_file {
            fields.push(format!("max_file: {v}"));
        }
        if let Some(v) = self.max_streams {
            fields.push(format!("max_streams: {v}"));
        }
        if let Some(v) = self.max_consumers {
            fields.push(format!("max_consumers: {v}"));
        }
        if fields.is_empty() {
            "enabled".to_string()
        } else {
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

/// Whether an account may use JetStream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccountJetStream {
    /// No `jetstream` key: the account does not get JetStream (server default for
    /// configured accounts).
    #[default]
    Unset,
    /// `jetstream: enabled` or, with limits, `jetstream: { max_mem: .., ... }`.
    Enabled(JetStreamLimits),
    /// `jetstream: disabled`.
    Disabled,
}

/// One account of the `accounts { ... }` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    name: String,
    users: Vec<User>,
    jetstream: AccountJetStream,
}

impl Account {
    /// An account called `name` with no users and no JetStream.
    pub fn new(name: &str) -> Self {
        Account {
            name: name.to_string(),
            users: Vec::new(),
            jetstream: AccountJetStream::Unset,
        }
    }

    /// Adds a user/password user to the account.
    pub fn user(mut self, user: &str, password: &str) -> Self {
        self.users.push(User::password(user, password));
        self
    }

    /// Adds any [`User`] (nkey user, user with permissions) to the account.
    pub fn with_user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Enables JetStream for the account with the given limits
    /// (`JetStreamLimits::default()` for the server's defaults).
    pub fn jetstream(mut self, limits: JetStreamLimits) -> Self {
        self.jetstream = AccountJetStream::Enabled(limits);
        self
    }

    /// Disables JetStream for the account explicitly (`jetstream: disabled`).
    pub fn jetstream_disabled(mut self) -> Self {
        self.jetstream = AccountJetStream::Disabled;
        self
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn render(&self) -> String {
        let mut out = format!("  {}: {{\n", quote(&self.name));
        if !self.users.is_empty() {
            out.push_str(&render_users(&self.users, "    "));
        }
        match self.jetstream {
            AccountJetStream::Unset => {}
            AccountJetStream::Enabled(limits) => {
                let _ = writeln!(out, "    jetstream: {}", limits.render_account());
            }
            AccountJetStream::Disabled => out.push_str("    jetstream: disabled\n"),
        }
        out.push_str("  }\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn user_renders_only_set_fields() {
        assert_eq!(
            User::password("a", "b").render(),
            r#"{ user: "a", password: "b" }"#
        );
        assert_eq!(User::nkey("UABC").render(), r#"{ nkey: "UABC" }"#);
    }

    #[test]
    fn permissions_render_allow_and_deny() {
        let p = Permissions {
            publish_allow: vec!["a.>".into()],
            subscribe_deny: vec!["b".into()],
            allow_responses: true,
            ..Permissions::default()
        };
        let u = User::password("u", "p").with_permissions(p).render();
        assert_eq!(
            u,
            r#"{ user: "u", password: "p", permissions: { publish: { allow: ["a.>"] }, subscribe: { deny: ["b"] }, allow_responses: true } }"#
        );
        let both = Permissions {
            publish_allow: vec!["a".into()],
            publish_deny: vec!["b".into()],
            ..Permissions::default()
        };
        let u = User::password("u", "p").with_permissions(both).render();
        assert!(
            u.contains(r#"publish: { allow: ["a"], deny: ["b"] }"#),
            "{u}"
        );
    }

    #[test]
    fn account_renders_jetstream_limits_and_disabled() {
        let a = Account::new("A")
            .user("a", "pa")
            .jetstream(JetStreamLimits {
                max_mem: Some(1024),
                max_streams: Some(2),
                ..JetStreamLimits::default()
            })
            .render();
        assert!(
            a.contains("jetstream: { max_mem: 1024, max_streams: 2 }"),
            "{a}"
        );
        assert!(a.contains(r#"{ user: "a", password: "pa" }"#), "{a}");
        let b = Account::new("B").jetstream_disabled().render();
        assert!(b.contains("jetstream: disabled"), "{b}");
        let c = Account::new("C")
            .jetstream(JetStreamLimits::default())
            .render();
        assert!(c.contains("jetstream: enabled"), "{c}");
    }

    #[test]
    fn debug_hides_passwords() {
        let s = format!("{:?}", User::password("u", "hunter2"));
        assert!(!s.contains("hunter2"), "{s}");
    }
}
