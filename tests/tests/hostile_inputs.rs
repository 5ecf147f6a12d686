//! Every public entry point of proto, client and jetstream given hostile arguments:
//! subjects with spaces, CR/LF or empty tokens, bad queue names, CR/LF in headers,
//! oversized payloads, invalid UTF-8, bad URLs, bad creds files, malformed and expired
//! JWTs, wrong seeds and PEM garbage. Each row of the table must return its typed error
//! (checked with `matches!` against the exact variant), quickly, without a panic.
//!
//! Also here: no secret (a known password, token and seed) ever appears in `Debug`,
//! `Display` or error messages of options, auth, credentials, key pairs or errors; and
//! `#![forbid(unsafe_code)]` is at the top of every library crate.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::BytesMut;
use natsy::tls::TlsError;
use natsy::{
    Auth, ConnectError, ConnectOptions, CredentialsError, NextError, PublishError, RequestError,
    SubscribeError, SubscriptionEnded,
};
use natsy_jetstream::{Error as JsError, PublishOptions, StreamConfig};
use natsy_proto::connection::AttemptError;
use natsy_proto::{
    ClientOpParser, Credentials, CredsError, HeaderError, HeaderMap, NkeyError, ParserLimits,
    ProtocolError, Secret, ServerAddr, ServerOpParser, UrlError, ValidationError,
};
use natsy_test_harness::{
    KeyKind, KeyPair, NatsServer, OperatorSetup, Permissions, TlsFiles, User,
};

/// One row: a name and a call that reports whether it got the expected error, with the
/// `Debug` of what it got.
type Row<'a> = (&'static str, Box<dyn Fn() -> (bool, String) + 'a>);

macro_rules! row {
    ($name:expr, $call:expr, $expected:pat) => {
        (
            $name,
            Box::new(|| {
                let got = $call;
                // `Err(_)` rows accept any typed error of that entry point.
                #[allow(clippy::redundant_pattern_matching)]
                let ok = matches!(got, $expected);
                (ok, format!("{got:?}"))
            }) as Box<dyn Fn() -> (bool, String) + '_>,
        )
    };
}

/// Runs every row: each must match, must not panic and must return within 10 s.
fn run(rows: Vec<Row<'_>>) {
    let mut failures = Vec::new();
    for (name, call) in &rows {
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok((true, _)) => {}
            Ok((false, got)) => failures.push(format!("{name}: got {got}")),
            Err(_) => failures.push(format!("{name}: PANICKED")),
        }
        let took = started.elapsed();
        if took > Duration::from_secs(10) {
            failures.push(format!("{name}: took {took:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

fn headers(name: &str, value: &str) -> Result<HeaderMap, ValidationError> {
    let mut h = HeaderMap::new();
    h.insert(name, value)?;
    Ok(h)
}

fn parse_server(bytes: &[u8]) -> Result<(), ProtocolError> {
    let mut p = ServerOpParser::new(ParserLimits::default());
    let mut buf = BytesMut::from(bytes);
    p.parse(&mut buf).map(|_| ())
}

fn parse_client(bytes: &[u8]) -> Result<(), ProtocolError> {
    let mut p = ClientOpParser::new(ParserLimits::default());
    let mut buf = BytesMut::from(bytes);
    p.parse(&mut buf).map(|_| ())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A user JWT signed by `issuer` with the given `exp` (seconds since the epoch).
fn user_jwt(issuer: &KeyPair, user: &KeyPair, exp: Option<u64>) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = serde_json::json!({
        "jti": "HOSTILEJTI",
        "iat": now - 7200,
        "iss": issuer.public_key(),
        "name": "hostile",
        "sub": user.public_key(),
        "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                 "type": "user", "version": 2}
    });
    if let Some(exp) = exp {
        claims["exp"] = serde_json::json!(exp);
    }
    let signing_input = format!(
        "{}.{}",
        b64.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#),
        b64.encode(claims.to_string())
    );
    let sig = b64.encode(issuer.sign(signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

fn creds(jwt: &str, seed: &str) -> String {
    natsy_proto::creds::format(jwt, seed)
}

#[test]
fn proto_entry_points_return_typed_errors() {
    let user = KeyPair::generate(KeyKind::User);
    let account = KeyPair::generate(KeyKind::Account);
    let seed = user.seed();
    let mut flipped = seed.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let jwt = user_jwt(&account, &user, None);
    let long_line = format!("PUB {} 1\r\n", "a".repeat(100_000));
    let rows: Vec<Row<'_>> = vec![
        row!("url: empty", ServerAddr::parse(""), Err(_)),
        row!(
            "url list: empty",
            ServerAddr::parse_list(" , "),
            Err(UrlError::Empty)
        ),
        row!(
            "url: no host",
            ServerAddr::parse("nats://"),
            Err(UrlError::MissingHost)
        ),
        row!(
            "url: scheme",
            ServerAddr::parse("http://127.0.0.1:4222"),
            Err(UrlError::UnsupportedScheme(_))
        ),
        row!(
            "url: port",
            ServerAddr::parse("nats://h:99999"),
            Err(UrlError::InvalidPort)
        ),
        row!(
            "url: port text",
            ServerAddr::parse("nats://h:abc"),
            Err(UrlError::InvalidPort)
        ),
        row!(
            "url: percent",
            ServerAddr::parse("nats://us%zzer:pw@h:4222"),
            Err(UrlError::InvalidPercentEncoding)
        ),
        row!(
            "url: space in host",
            ServerAddr::parse("nats://a b:4222"),
            Err(_)
        ),
        row!(
            "subject: space",
            natsy_proto::subject::validate_publish_subject("a b"),
            Err(ValidationError::SubjectWhitespace)
        ),
        row!(
            "subject: CRLF",
            natsy_proto::subject::validate_publish_subject("a\r\nPUB x 1"),
            Err(ValidationError::SubjectWhitespace)
        ),
        row!(
            "subject: empty",
            natsy_proto::subject::validate_publish_subject(""),
            Err(ValidationError::EmptySubject)
        ),
        row!(
            "sub subject: empty token",
            natsy_proto::subject::validate_subscribe_subject("a..b"),
            Err(ValidationError::InvalidSubscribeSubject)
        ),
        row!(
            "sub subject: trailing dot",
            natsy_proto::subject::validate_subscribe_subject("a."),
            Err(ValidationError::InvalidSubscribeSubject)
        ),
        row!(
            "sub subject: > not last",
            natsy_proto::subject::validate_subscribe_subject("a.>.b"),
            Err(ValidationError::InvalidSubscribeSubject)
        ),
        row!(
            "reply: tab",
            natsy_proto::subject::validate_reply("r\tx"),
            Err(ValidationError::InvalidReply)
        ),
        row!(
            "queue: empty",
            natsy_proto::subject::validate_queue(""),
            Err(ValidationError::InvalidQueueName)
        ),
        row!(
            "header: CRLF in value",
            headers("X", "a\r\nInjected: 1"),
            Err(ValidationError::InvalidHeaderValue)
        ),
        row!(
            "header: LF in value",
            headers("X", "a\nb"),
            Err(ValidationError::InvalidHeaderValue)
        ),
        row!(
            "header: space in name",
            headers("Bad Name", "v"),
            Err(ValidationError::InvalidHeaderName)
        ),
        row!(
            "header: colon in name",
            headers("Na:me", "v"),
            Err(ValidationError::InvalidHeaderName)
        ),
        row!(
            "header: empty name",
            headers("", "v"),
            Err(ValidationError::InvalidHeaderName)
        ),
        row!(
            "header: CR in name",
            headers("N\r", "v"),
            Err(ValidationError::InvalidHeaderName)
        ),
        row!(
            "header block: garbage",
            natsy_proto::headers::parse_block(b"garbage\r\n\r\n"),
            Err(HeaderError::MissingVersionLine)
        ),
        row!(
            "header block: invalid UTF-8",
            natsy_proto::headers::parse_block(b"NATS/1.0\r\nK: \xff\xfe\r\n\r\n"),
            Err(HeaderError::InvalidUtf8)
        ),
        row!(
            "header block: unterminated",
            natsy_proto::headers::parse_block(b"NATS/1.0\r\nK: v\r\n"),
            Err(HeaderError::Unterminated)
        ),
        row!(
            "server op: invalid UTF-8 subject",
            parse_server(b"MSG \xff\xfe 1 1\r\na\r\n"),
            Err(ProtocolError::InvalidUtf8)
        ),
        row!(
            "server op: huge size",
            parse_server(b"MSG a 1 99999999999\r\n"),
            Err(ProtocolError::PayloadTooLarge { .. })
        ),
        row!(
            "server op: negative size",
            parse_server(b"MSG a 1 -1\r\n"),
            Err(ProtocolError::InvalidNumber { .. })
        ),
        row!(
            "server op: long line",
            parse_server(long_line.as_bytes()),
            Err(ProtocolError::ControlLineTooLong { .. })
        ),
        row!(
            "server op: unknown",
            parse_server(b"HELLO\r\n"),
            Err(ProtocolError::UnknownOp)
        ),
        row!(
            "server op: bad INFO",
            parse_server(b"INFO {not json\r\n"),
            Err(ProtocolError::InvalidJson { .. })
        ),
        row!(
            "server op: hdr > total",
            parse_server(b"HMSG a 1 10 5\r\n"),
            Err(ProtocolError::HeaderSizeExceedsTotal)
        ),
        row!(
            "server op: no terminator",
            parse_server(b"MSG a 1 1\r\naXY"),
            Err(ProtocolError::MissingPayloadTerminator)
        ),
        row!(
            "client op: too many PUB arguments",
            parse_client(b"PUB a b c d\r\n"),
            Err(ProtocolError::InvalidArguments { .. })
        ),
        row!(
            "client op: invalid UTF-8",
            parse_client(b"PUB \xc3\x28 1\r\na\r\n"),
            Err(ProtocolError::InvalidUtf8)
        ),
        row!(
            "creds: invalid UTF-8",
            Credentials::from_bytes(b"\xff\xfe\xfd"),
            Err(CredsError::NotUtf8)
        ),
        row!(
            "creds: empty",
            Credentials::parse(""),
            Err(CredsError::MissingJwt)
        ),
        row!(
            "creds: garbage",
            Credentials::parse("hello world"),
            Err(CredsError::MalformedJwt)
        ),
        row!(
            "creds: malformed JWT",
            Credentials::parse(&creds("not-a-jwt", &seed)),
            Err(CredsError::MalformedJwt)
        ),
        row!(
            "creds: no seed",
            Credentials::parse(&format!("{jwt}\n")),
            Err(CredsError::MissingSeed)
        ),
        row!(
            "creds: account seed",
            Credentials::parse(&creds(&jwt, &account.seed())),
            Err(CredsError::InvalidSeed(NkeyError::WrongKeyType { .. }))
        ),
        row!(
            "creds: corrupted seed",
            Credentials::parse(&creds(&jwt, &flipped)),
            Err(CredsError::InvalidSeed(_))
        ),
        row!("seed: empty", natsy_proto::KeyPair::from_seed(""), Err(_)),
        row!(
            "seed: public key",
            natsy_proto::KeyPair::from_seed(&user.public_key()),
            Err(NkeyError::NotASeed | NkeyError::InvalidPrefix)
        ),
        row!(
            "seed: checksum",
            natsy_proto::KeyPair::from_seed(&flipped),
            Err(NkeyError::InvalidChecksum | NkeyError::InvalidEncoding)
        ),
        row!(
            "seed: not base32",
            natsy_proto::KeyPair::from_seed("SU!!!!"),
            Err(NkeyError::InvalidEncoding)
        ),
        row!(
            "seed: wrong type",
            natsy_proto::KeyPair::from_seed_of_type(&account.seed(), natsy_proto::KeyType::User),
            Err(NkeyError::WrongKeyType { .. })
        ),
        row!(
            "public key: garbage",
            natsy_proto::nkey::decode_public_key("UGARBAGE"),
            Err(_)
        ),
        row!(
            "verify: garbage key",
            natsy_proto::nkey::verify("xyz", b"data", &[0; 64]),
            Err(_)
        ),
    ];
    run(rows);
}

#[test]
fn client_entry_points_return_typed_errors() {
    let server = NatsServer::builder().max_payload(1024).start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let user = KeyPair::generate(KeyKind::User);
    let account = KeyPair::generate(KeyKind::Account);
    let seed = user.seed();
    let jwt = user_jwt(&account, &user, None);
    let missing = dir.path().join("missing.creds");
    let not_utf8 = write(dir.path(), "bin.creds", b"\xff\xfe\x00garbage");
    let garbage = write(dir.path(), "garbage.creds", b"this is not a creds file");
    let bad_jwt = write(dir.path(), "badjwt.creds", creds("a.b", &seed).as_bytes());
    let acct_seed = write(
        dir.path(),
        "acct.creds",
        creds(&jwt, &account.seed()).as_bytes(),
    );
    let seed_bin = write(dir.path(), "seed.nk", b"\xff\xfe");
    let pem_garbage = write(dir.path(), "ca.pem", b"definitely not PEM");
    let tls = TlsFiles::generate().unwrap();
    let big = vec![b'x'; 2000];
    let url = server.url();
    let fast = || ConnectOptions::new().connect_timeout(Duration::from_secs(1));
    // Degenerate timeouts on a closed client: typed errors at once, no overflow panic.
    let closed = natsy::connect(server.url()).unwrap();
    let closed_sub = std::cell::RefCell::new(closed.subscribe("closed.sub").unwrap());
    closed.close().unwrap();
    // A user the server refuses some subjects; its requests wait up to 30 s, so a row
    // that waited for the timeout would fail the 10 s bound.
    let restricted = NatsServer::builder()
        .with_user(User::password("u", "p").with_permissions(Permissions {
            publish_deny: vec!["secret.>".into()],
            subscribe_deny: vec!["private.>".into()],
            ..Permissions::default()
        }))
        .start()
        .unwrap();
    let refused = ConnectOptions::new()
        .user_and_password("u", "p")
        .request_timeout(Duration::from_secs(30))
        .connect(restricted.url())
        .unwrap();

    let rows: Vec<Row<'_>> = vec![
        row!(
            "flush_timeout(Duration::MAX), closed",
            closed.flush_timeout(Duration::MAX),
            Err(natsy::FlushError::Closed)
        ),
        row!(
            "request_timeout(Duration::MAX), closed",
            closed.request_timeout("x", "y", Duration::MAX),
            Err(RequestError::Closed)
        ),
        row!(
            "next_timeout(Duration::MAX), closed",
            closed_sub.borrow_mut().next_timeout(Duration::MAX),
            Err(natsy::NextError::Ended(_))
        ),
        row!(
            "request_timeout(Duration::MAX), no responders",
            client.request_timeout("nobody.home", "y", Duration::MAX),
            Err(RequestError::NoResponders)
        ),
        row!(
            "ping_interval(ZERO): keepalive off, connects",
            fast().ping_interval(Duration::ZERO).connect(url.as_str()),
            Ok(_)
        ),
        row!(
            "drain_timeout(Duration::MAX)",
            fast()
                .drain_timeout(Duration::MAX)
                .connect(url.as_str())
                .map(|c| c.drain()),
            Ok(Ok(()))
        ),
        row!(
            "connect: empty URL",
            natsy::connect(""),
            Err(ConnectError::InvalidUrl(_))
        ),
        row!(
            "connect: no host",
            natsy::connect("nats://"),
            Err(ConnectError::InvalidUrl(UrlError::MissingHost))
        ),
        row!(
            "connect: scheme",
            natsy::connect("ftp://127.0.0.1:1"),
            Err(ConnectError::InvalidUrl(UrlError::UnsupportedScheme(_)))
        ),
        row!(
            "connect: port",
            natsy::connect("nats://127.0.0.1:70000"),
            Err(ConnectError::InvalidUrl(UrlError::InvalidPort))
        ),
        row!(
            "connect: empty list",
            natsy::connect(Vec::<String>::new()),
            Err(ConnectError::InvalidUrl(UrlError::Empty))
        ),
        row!(
            "publish: space",
            client.publish("a b", "x"),
            Err(PublishError::Validation(ValidationError::SubjectWhitespace))
        ),
        row!(
            "publish: CRLF injection",
            client.publish("a\r\nPUB evil 1", "x"),
            Err(PublishError::Validation(ValidationError::SubjectWhitespace))
        ),
        row!(
            "publish: empty",
            client.publish("", "x"),
            Err(PublishError::Validation(ValidationError::EmptySubject))
        ),
        row!(
            "publish: bad reply",
            client.publish_with_reply("a", "r r", "x"),
            Err(PublishError::Validation(ValidationError::InvalidReply))
        ),
        row!(
            "publish: empty reply",
            client.publish_with_reply("a", "", "x"),
            Err(PublishError::Validation(ValidationError::InvalidReply))
        ),
        row!(
            "publish: oversized",
            client.publish("a", big.clone()),
            Err(PublishError::Validation(
                ValidationError::MaxPayloadExceeded {
                    size: 2000,
                    max_payload: 1024
                }
            ))
        ),
        row!(
            "publish: oversized with headers",
            client.publish_with_headers("a", &headers("K", &"v".repeat(1100)).unwrap(), "x"),
            Err(PublishError::Validation(
                ValidationError::MaxPayloadExceeded { .. }
            ))
        ),
        row!(
            "subscribe: empty token",
            client.subscribe("a..b").map(|_| ()),
            Err(SubscribeError::Validation(
                ValidationError::InvalidSubscribeSubject
            ))
        ),
        row!(
            "subscribe: leading dot",
            client.subscribe(".a").map(|_| ()),
            Err(SubscribeError::Validation(
                ValidationError::InvalidSubscribeSubject
            ))
        ),
        row!(
            "subscribe: space",
            client.subscribe("a b").map(|_| ()),
            Err(SubscribeError::Validation(
                ValidationError::SubjectWhitespace
            ))
        ),
        row!(
            "subscribe: empty",
            client.subscribe("").map(|_| ()),
            Err(SubscribeError::Validation(ValidationError::EmptySubject))
        ),
        row!(
            "subscribe: wildcard inside token",
            client.subscribe("a.b*").map(|_| ()),
            Err(SubscribeError::Validation(
                ValidationError::InvalidSubscribeSubject
            ))
        ),
        row!(
            "queue: empty",
            client.queue_subscribe("a", "").map(|_| ()),
            Err(SubscribeError::Validation(
                ValidationError::InvalidQueueName
            ))
        ),
        row!(
            "queue: CRLF",
            client.queue_subscribe("a", "q\r\nUNSUB 1").map(|_| ()),
            Err(SubscribeError::Validation(
                ValidationError::InvalidQueueName
            ))
        ),
        row!(
            "request: space",
            client.request("a b", "x"),
            Err(RequestError::Publish(PublishError::Validation(
                ValidationError::SubjectWhitespace
            )))
        ),
        row!(
            "request: oversized",
            client.request("a", big.clone()),
            Err(RequestError::Publish(PublishError::Validation(
                ValidationError::MaxPayloadExceeded { .. }
            )))
        ),
        row!(
            "request: subject refused by permissions",
            refused.request("secret.plans", "x"),
            Err(RequestError::PermissionDenied(_))
        ),
        row!(
            "subscribe: subject refused by permissions",
            refused
                .subscribe("private.x")
                .map(|mut sub| sub.next_timeout(Duration::from_secs(30)).map(|_| ())),
            Ok(Err(NextError::Ended(SubscriptionEnded::PermissionDenied(
                _
            ))))
        ),
        row!(
            "nkey: garbage",
            ConnectOptions::new().nkey("garbage").map(|_| ()),
            Err(CredentialsError::Nkey(_))
        ),
        row!(
            "nkey: public key",
            ConnectOptions::new().nkey(&user.public_key()).map(|_| ()),
            Err(CredentialsError::Nkey(
                NkeyError::NotASeed | NkeyError::InvalidPrefix
            ))
        ),
        row!(
            "nkey: account seed",
            ConnectOptions::new().nkey(&account.seed()).map(|_| ()),
            Err(CredentialsError::Nkey(NkeyError::WrongKeyType { .. }))
        ),
        row!(
            "creds file: missing",
            fast().credentials_file(&missing).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Read { .. }))
        ),
        row!(
            "creds file: not UTF-8",
            fast().credentials_file(&not_utf8).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Creds(
                CredsError::NotUtf8
            )))
        ),
        row!(
            "creds file: garbage",
            fast().credentials_file(&garbage).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Creds(
                CredsError::MalformedJwt
            )))
        ),
        row!(
            "creds file: malformed JWT",
            fast().credentials_file(&bad_jwt).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Creds(
                CredsError::MalformedJwt
            )))
        ),
        row!(
            "creds file: account seed",
            fast().credentials_file(&acct_seed).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Creds(
                CredsError::InvalidSeed(_)
            )))
        ),
        row!(
            "nkey file: not UTF-8",
            fast().nkey_file(&seed_bin).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Nkey(_)))
        ),
        row!(
            "nkey file: missing",
            fast().nkey_file(&missing).connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Read { .. }))
        ),
        row!(
            "provider: fails",
            fast()
                .credentials_provider(|| Err("vault down".into()))
                .connect(url.as_str()),
            Err(ConnectError::Credentials(CredentialsError::Provider(_)))
        ),
        row!(
            "pem: garbage bytes",
            fast()
                .root_certificates_pem("garbage")
                .connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::NoCertificates))
        ),
        row!(
            "pem: garbage inside markers",
            fast()
                .root_certificates_pem(
                    "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"
                )
                .connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::InvalidCertificate(_)))
        ),
        row!(
            "pem: garbage file",
            fast().root_certificates(&pem_garbage).connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::NoCertificates))
        ),
        row!(
            "pem: missing file",
            fast().root_certificates(&missing).connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::Read { .. }))
        ),
        row!(
            "pem: garbage client key",
            fast()
                .root_certificates(tls.ca_cert())
                .client_certificate(tls.client_cert(), &pem_garbage)
                .connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::InvalidPrivateKey(_)))
        ),
        row!(
            "pem: key does not match cert",
            fast()
                .root_certificates(tls.ca_cert())
                .client_certificate(tls.client_cert(), tls.other_client_key())
                .connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::Config(_)))
        ),
        row!(
            "pem: a key given as a cert",
            fast()
                .root_certificates(tls.client_key())
                .connect(url.as_str()),
            Err(ConnectError::Tls(TlsError::NoCertificates))
        ),
    ];
    run(rows);
    // The client survived all of it.
    client.publish("still.ok", "x").unwrap();
    client.flush().unwrap();
}

/// Expired, unknown-issuer and badly signed JWTs against an operator-mode server: typed
/// authentication errors, not hangs.
#[test]
fn expired_forged_and_foreign_jwts_are_auth_errors() {
    let mut setup = OperatorSetup::new();
    let account = setup.add_account("APP", false);
    let server = NatsServer::builder()
        .raw_config(&setup.server_config())
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let user = KeyPair::generate(KeyKind::User);
    let past = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let expired = user_jwt(&account, &user, Some(past));
    let foreign = user_jwt(&KeyPair::generate(KeyKind::Account), &user, None);
    let valid = user_jwt(&account, &user, None);
    let mut forged = valid.clone();
    let sig_start = forged.rfind('.').unwrap() + 1;
    forged.replace_range(sig_start..sig_start + 4, "AAAA");
    let someone_else = KeyPair::generate(KeyKind::User);

    let case = |name: &str, jwt: &str, seed: &str| {
        let path = write(dir.path(), name, creds(jwt, seed).as_bytes());
        ConnectOptions::new()
            .connect_timeout(Duration::from_secs(2))
            .max_reconnects(Some(0))
            .credentials_file(path)
            .connect(server.url())
    };
    let url = server.url();
    let rows: Vec<Row<'_>> = vec![
        row!(
            "expired JWT",
            case("expired", &expired, &user.seed()),
            Err(ConnectError::Attempt { .. })
        ),
        row!(
            "JWT of an unknown account",
            case("foreign", &foreign, &user.seed()),
            Err(ConnectError::Attempt { .. })
        ),
        row!(
            "JWT with a forged signature",
            case("forged", &forged, &user.seed()),
            Err(ConnectError::Attempt { .. })
        ),
        row!(
            "right JWT, wrong user seed",
            case("wrongseed", &valid, &someone_else.seed()),
            Err(ConnectError::Attempt { .. })
        ),
        row!(
            "JWT signer returning garbage",
            ConnectOptions::new()
                .connect_timeout(Duration::from_secs(2))
                .jwt(valid.clone(), std::sync::Arc::new(|_: &[u8]| vec![1, 2, 3]))
                .connect(url.as_str()),
            Err(ConnectError::Attempt { .. })
        ),
    ];
    // Each is specifically an authentication failure.
    for (name, jwt, seed) in [
        ("expired2", &expired, user.seed()),
        ("foreign2", &foreign, user.seed()),
        ("forged2", &forged, user.seed()),
        ("wrongseed2", &valid, someone_else.seed()),
    ] {
        let err = case(name, jwt, &seed).unwrap_err();
        assert!(err.is_auth_error(), "{name}: {err:?}");
        if let ConnectError::Attempt { error, .. } = &err {
            assert!(
                matches!(**error, AttemptError::Auth(_)),
                "{name}: {error:?}"
            );
        }
    }
    run(rows);
    // And the valid one connects, so the rows above failed for the reason they name.
    let ok = case("valid", &valid, &user.seed()).unwrap();
    ok.flush().unwrap();
}

#[test]
fn jetstream_entry_points_return_typed_errors() {
    let server = NatsServer::builder()
        .jetstream()
        .max_payload(1024)
        .start()
        .unwrap();
    let js = natsy_jetstream::new(natsy::connect(server.url()).unwrap())
        .with_timeout(Duration::from_secs(2));
    // A user that may not ask for stream info, with a timeout past the 10 s bound.
    let restricted = NatsServer::builder()
        .jetstream()
        .with_user(User::password("u", "p").with_permissions(Permissions {
            publish_deny: vec!["$JS.API.STREAM.INFO.>".into()],
            ..Permissions::default()
        }))
        .start()
        .unwrap();
    let refused = natsy_jetstream::new(
        ConnectOptions::new()
            .user_and_password("u", "p")
            .connect(restricted.url())
            .unwrap(),
    )
    .with_timeout(Duration::from_secs(30));
    let stream = js
        .create_stream(&StreamConfig {
            subjects: vec!["h.>".into()],
            ..StreamConfig::new("HOSTILE")
        })
        .unwrap();
    let big = vec![b'x'; 2000];
    let rows: Vec<Row<'_>> = vec![
        row!(
            "stream name: empty",
            js.create_stream(&StreamConfig::new("")).map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "stream name: dot",
            js.create_stream(&StreamConfig::new("a.b")).map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "stream name: space",
            js.create_stream(&StreamConfig::new("a b")).map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "stream name: wildcard",
            js.get_stream("a*").map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "stream name: CRLF",
            js.stream_info("a\r\nb").map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "stream name: slash",
            js.delete_stream("../x"),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "msg id: CRLF",
            js.publish_with("h.a", "x", &PublishOptions::new().msg_id("a\r\nb")),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "expected stream: LF",
            js.publish_with("h.a", "x", &PublishOptions::new().expected_stream("S\nX")),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "publish: space",
            js.publish("h a", "x"),
            Err(
                JsError::Publish(PublishError::Validation(ValidationError::SubjectWhitespace))
                    | JsError::Request(RequestError::Publish(PublishError::Validation(
                        ValidationError::SubjectWhitespace
                    )))
            )
        ),
        row!(
            "publish: oversized",
            js.publish("h.a", big.clone()),
            Err(JsError::Publish(PublishError::Validation(
                ValidationError::MaxPayloadExceeded { .. }
            )) | JsError::Request(RequestError::Publish(PublishError::Validation(
                ValidationError::MaxPayloadExceeded { .. }
            ))))
        ),
        row!(
            "last message: empty subject",
            stream.get_last_message("").map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "direct get last: space",
            stream.direct_get_last("h a").map(|_| ()),
            Err(JsError::InvalidArgument(_))
        ),
        row!(
            "API subject refused by permissions",
            refused.stream_info("HOSTILE").map(|_| ()),
            Err(JsError::PermissionDenied(_))
        ),
        row!(
            "names by subject: space",
            js.stream_names_by_subject("h a").map(|_| ()),
            Err(_)
        ),
    ];
    run(rows);
}

// ---------------------------------------------------------------------------------------
// Secrets never printed.

const PASSWORD: &str = "pw-S3CRET-correct-horse";
const TOKEN: &str = "tok-S3CRET-battery-staple";

fn assert_no_secret(texts: &[String], secrets: &[&str]) {
    for text in texts {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "secret {secret:?} printed in: {text}"
            );
        }
    }
}

#[test]
fn no_secret_in_debug_display_or_errors() {
    let user = KeyPair::generate(KeyKind::User);
    let account = KeyPair::generate(KeyKind::Account);
    let seed = user.seed();
    let jwt = user_jwt(&account, &user, None);
    let secrets = [PASSWORD, TOKEN, seed.as_str()];
    let mut texts = Vec::new();

    // Options and auth values.
    let opts = [
        ConnectOptions::new().user_and_password("alice", PASSWORD),
        ConnectOptions::new().token(TOKEN),
        ConnectOptions::new().nkey(&seed).unwrap(),
        ConnectOptions::new().credentials_provider(|| Ok(Auth::Token(Secret::new(TOKEN)))),
        ConnectOptions::new().root_certificates_pem(seed.clone()),
    ];
    texts.extend(opts.iter().map(|o| format!("{o:?} {o:#?}")));
    let auths = [
        Auth::UserPassword {
            user: "alice".into(),
            pass: Secret::new(PASSWORD),
        },
        Auth::Token(Secret::new(TOKEN)),
        Auth::NKey {
            seed: Secret::new(seed.clone()),
        },
        Auth::Jwt {
            jwt: jwt.clone(),
            seed: Secret::new(seed.clone()),
        },
    ];
    texts.extend(auths.iter().map(|a| format!("{a:?} {a:#?}")));
    let secret = Secret::new(PASSWORD);
    texts.push(format!("{secret:?} {secret:#?}"));

    // Credentials and key pairs.
    let parsed = Credentials::parse(&creds(&jwt, &seed)).unwrap();
    texts.push(format!("{parsed:?} {parsed:#?}"));
    let kp = natsy_proto::KeyPair::from_seed(&seed).unwrap();
    texts.push(format!("{kp:?} {kp:#?}"));
    texts.push(format!("{:?}", kp.seed()));

    // Errors made from inputs that contain the secrets.
    let mut bad_seed = seed.clone();
    bad_seed.push('X');
    texts.push(format!(
        "{:?}",
        natsy_proto::KeyPair::from_seed(&bad_seed).err()
    ));
    let e = ConnectOptions::new().nkey(&bad_seed).err().unwrap();
    texts.push(format!("{e:?} {e}"));
    let creds_err = Credentials::parse(&creds("bad", &seed)).unwrap_err();
    texts.push(format!("{creds_err:?} {creds_err}"));
    let creds_err = Credentials::parse(&creds(&jwt, &bad_seed)).unwrap_err();
    texts.push(format!("{creds_err:?} {creds_err}"));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "x.creds", creds("bad", &seed).as_bytes());
    let e = ConnectOptions::new()
        .credentials_file(&path)
        .connect("nats://127.0.0.1:1")
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));
    let path = write(dir.path(), "x.nk", bad_seed.as_bytes());
    let e = ConnectOptions::new()
        .nkey_file(&path)
        .connect("nats://127.0.0.1:1")
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));

    // Rejected by a real server: the auth errors and events.
    let server = NatsServer::builder()
        .user("alice", "the-real-one")
        .start()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let e = ConnectOptions::new()
        .user_and_password("alice", PASSWORD)
        .max_reconnects(Some(0))
        .event_callback(move |ev| {
            let _ = tx.lock().unwrap().send(format!("{ev:?}"));
        })
        .connect(format!("nats://alice:{TOKEN}@127.0.0.1:{}", server.port()))
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));
    texts.extend(rx.try_iter());
    let e = ConnectOptions::new()
        .token(TOKEN)
        .connect(server.url())
        .unwrap_err();
    texts.push(format!("{e:?} {e}"));
    // URLs with user info: the parsed address must not print the password.
    let addr = ServerAddr::parse(&format!("nats://alice:{PASSWORD}@127.0.0.1:4222")).unwrap();
    texts.push(format!("{addr:?} {addr}"));
    let addr = ServerAddr::parse(&format!("nats://{TOKEN}@127.0.0.1:4222")).unwrap();
    texts.push(format!("{addr:?} {addr}"));

    assert_no_secret(&texts, &secrets);
    // The texts are not empty shells: the user name is shown where it is given.
    assert!(texts[0].contains("alice"), "{}", texts[0]);
}

#[test]
fn every_library_crate_forbids_unsafe_code() {
    let root = natsy_test_harness::repo_root();
    for lib in [
        "proto/src/lib.rs",
        "client/src/lib.rs",
        "jetstream/src/lib.rs",
        "tests/src/lib.rs",
    ] {
        let text = std::fs::read_to_string(root.join(lib)).unwrap();
        assert!(
            text.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]"),
            "{lib} lacks #![forbid(unsafe_code)]"
        );
    }
}
