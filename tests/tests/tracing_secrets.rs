//! natsy's `tracing` output through a real nats-server: the dial and connection events are
//! recorded inside a span that names the connection, and no credential ever appears in
//! it, whether given as user/password (options and URL, and over TLS), token (options and
//! URL), NKey seed or creds file (JWT and seed). The TLS upgrade is traced too.
//!
//! The subscriber is a small recorder of our own: every span's and event's fields,
//! formatted as a subscriber would print them, into one shared text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use natsy::ConnectOptions;
use natsy_test_harness::{KeyKind, KeyPair, NatsServer, OperatorSetup, TlsFiles};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span and event recorded so far, one per line: `[span fields] LEVEL fields`.
#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, String>>,
    lines: Mutex<String>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut text = span.metadata().name().to_string();
        span.record(&mut Fields(&mut text));
        self.lines
            .lock()
            .unwrap()
            .push_str(&format!("span {text}\n"));
        self.spans.lock().unwrap().insert(id, text);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(text) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(text));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let spans = self.spans.lock().unwrap();
        let context: Vec<String> = CURRENT.with(|c| {
            c.borrow()
                .iter()
                .filter_map(|id| spans.get(id).cloned())
                .collect()
        });
        drop(spans);
        let mut line = format!("[{}] {}", context.join(" > "), event.metadata().level());
        event.record(&mut Fields(&mut line));
        line.push('\n');
        self.lines.lock().unwrap().push_str(&line);
    }

    fn enter(&self, span: &Id) {
        CURRENT.with(|c| c.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(at) = c.iter().rposition(|id| *id == span.into_u64()) {
                c.remove(at);
            }
        });
    }
}

static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();

/// The process-wide recorder, installed as the global subscriber on first use.
fn recorder() -> &'static Recorder {
    RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::default());
        struct Shared(&'static Recorder);
        impl Subscriber for Shared {
            fn enabled(&self, m: &Metadata<'_>) -> bool {
                self.0.enabled(m)
            }
            fn new_span(&self, s: &Attributes<'_>) -> Id {
                self.0.new_span(s)
            }
            fn record(&self, s: &Id, v: &Record<'_>) {
                self.0.record(s, v)
            }
            fn record_follows_from(&self, a: &Id, b: &Id) {
                self.0.record_follows_from(a, b)
            }
            fn event(&self, e: &Event<'_>) {
                self.0.event(e)
            }
            fn enter(&self, s: &Id) {
                self.0.enter(s)
            }
            fn exit(&self, s: &Id) {
                self.0.exit(s)
            }
        }
        tracing::subscriber::set_global_default(Shared(recorder))
            .expect("no other global subscriber in this test binary");
        recorder
    })
}

/// Connects with `options` to `url`, proves the connection works, closes it, and returns
/// the trace lines of that connection (those inside its span, found by its `name`).
fn traced_connection(options: ConnectOptions, name: &str, url: &str) -> String {
    let recorder = recorder();
    let client = options
        .name(name)
        .connect_timeout(Duration::from_secs(5))
        .connect(url)
        .unwrap();
    let mut sub = client.subscribe("trace.check").unwrap();
    client.publish("trace.check", "ok").unwrap();
    assert_eq!(
        sub.next_timeout(Duration::from_secs(5)).unwrap().payload(),
        b"ok"
    );
    client.close().unwrap();
    let all = recorder.lines.lock().unwrap().clone();
    let tag = format!("name={name:?}");
    let mine: Vec<&str> = all.lines().filter(|l| l.contains(&tag)).collect();
    mine.join("\n")
}

/// Asserts the dial and connect events were recorded inside the connection's span, naming
/// the server, and that none of `secrets` appears anywhere in the recorded output.
fn assert_traced_without(lines: &str, port: u16, secrets: &[&str]) {
    assert_traced_with_scheme(lines, "nats", port, secrets)
}

fn assert_traced_with_scheme(lines: &str, scheme: &str, port: u16, secrets: &[&str]) {
    let server = format!("server={scheme}://127.0.0.1:{port}");
    for what in [
        "message=dialing ",
        "message=TCP connected",
        "message=connected ",
    ] {
        assert!(
            lines.contains(what),
            "no {what} event in the trace:\n{lines}"
        );
    }
    assert!(lines.contains("natsy.connection conn="), "{lines}");
    assert!(
        lines
            .lines()
            .any(|l| l.contains("message=connected ") && l.contains(&server)),
        "the connected event does not name {server}:\n{lines}"
    );
    // Everything recorded, by every test of this binary so far.
    let everything = recorder().lines.lock().unwrap().clone();
    for secret in secrets {
        assert!(
            !everything.contains(secret),
            "secret {secret:?} appears in the trace output:\n{everything}"
        );
    }
}

#[test]
fn user_and_password_never_appear() {
    let password = "pw-Zq8Xv2Lk";
    let server = NatsServer::builder()
        .user("tracer", password)
        .start()
        .unwrap();
    let port = server.port();
    let lines = traced_connection(
        ConnectOptions::new().user_and_password("tracer", password),
        "trace-userpass",
        &server.url(),
    );
    assert_traced_without(&lines, port, &[password]);
    let url = format!("nats://tracer:{password}@127.0.0.1:{port}");
    let lines = traced_connection(ConnectOptions::new(), "trace-userpass-url", &url);
    assert_traced_without(&lines, port, &[password]);
}

#[test]
fn tokens_never_appear() {
    let token = "tok-Rm4Wq9Ts";
    let server = NatsServer::builder().token(token).start().unwrap();
    let port = server.port();
    let lines = traced_connection(
        ConnectOptions::new().token(token),
        "trace-token",
        &server.url(),
    );
    assert_traced_without(&lines, port, &[token]);
    let url = format!("nats://{token}@127.0.0.1:{port}");
    let lines = traced_connection(ConnectOptions::new(), "trace-token-url", &url);
    assert_traced_without(&lines, port, &[token]);
}

#[test]
fn nkey_seeds_never_appear() {
    let user = KeyPair::generate(KeyKind::User);
    let server = NatsServer::builder()
        .nkey_user(&user.public_key())
        .start()
        .unwrap();
    let seed = user.seed();
    let lines = traced_connection(
        ConnectOptions::new().nkey(&seed).unwrap(),
        "trace-nkey",
        &server.url(),
    );
    assert_traced_without(&lines, server.port(), &[&seed]);
}

#[test]
fn creds_files_never_appear() {
    let mut setup = OperatorSetup::new();
    let account = setup.add_account("A", false);
    let server = NatsServer::builder()
        .raw_config(&setup.server_config())
        .start()
        .unwrap();
    let user = setup.user(&account, "tracer");
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("tracer.creds");
    user.write_creds(&creds).unwrap();
    let lines = traced_connection(
        ConnectOptions::new().credentials_file(&creds),
        "trace-creds",
        &server.url(),
    );
    let seed = user.key().seed();
    assert_traced_without(&lines, server.port(), &[&seed, user.jwt()]);
}

#[test]
fn tls_upgrade_is_traced_and_passwords_over_tls_never_appear() {
    let password = "pw-Tls5Hn3Qa";
    let files = TlsFiles::generate().unwrap();
    let server = NatsServer::builder()
        .tls(files.server_tls())
        .user("tls-tracer", password)
        .start()
        .unwrap();
    let port = server.port();
    // A plain nats:// URL: the server's tls_required makes the client upgrade.
    let lines = traced_connection(
        ConnectOptions::new()
            .root_certificates(files.ca_cert())
            .user_and_password("tls-tracer", password),
        "trace-tls",
        &format!("nats://127.0.0.1:{port}"),
    );
    for what in ["message=TLS handshake started", "message=TLS established"] {
        assert!(lines.contains(what), "no {what} in the trace:\n{lines}");
    }
    // The URL said nats://, so that is the server the events name.
    assert_traced_with_scheme(&lines, "nats", port, &[password]);
}
