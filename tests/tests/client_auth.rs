//! Authentication of the `natsy` client against a real nats-server: user/password and token
//! (options and URL), NKey seeds, creds files and JWT signers in operator mode, credentials
//! refreshed on every reconnect, credentials from the environment, typed auth errors for
//! every mode, the auth-abort rule, and `Debug` that never leaks a secret.

use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::Arc;
use std::time::{Duration, Instant};

use natsy::{Auth, CloseReason, ConnectError, ConnectOptions, Event};
use natsy_proto::Secret;
use natsy_test_harness::events::{wait_for_event, with_events};
use natsy_test_harness::{KeyKind, KeyPair, NatsServer, OperatorSetup};

/// Publishes and receives one message, proving the connection is really usable.
fn round_trip(client: &natsy::Client) {
    let mut sub = client.subscribe("auth.check").unwrap();
    client.publish("auth.check", "ok").unwrap();
    client.flush().unwrap();
    let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(m.payload(), b"ok");
}

fn port_of(server: &NatsServer) -> u16 {
    server.port()
}

/// Options that fail fast: one attempt per server, short timeouts.
fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(Duration::from_secs(2))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
}

fn assert_auth_error(result: Result<natsy::Client, ConnectError>, what: &str) {
    match result {
        Err(e) => assert!(e.is_auth_error(), "{what}: not an auth error: {e:?}"),
        Ok(_) => panic!("{what}: connected with wrong credentials"),
    }
}

#[test]
fn user_and_password_via_options_and_url() {
    let server = NatsServer::builder()
        .user("alice", "p@ss/w:rd%")
        .start()
        .unwrap();
    let port = port_of(&server);

    let client = fast()
        .user_and_password("alice", "p@ss/w:rd%")
        .connect(server.url())
        .unwrap();
    round_trip(&client);

    // In the URL, with the special characters percent-encoded.
    let url = format!("nats://alice:p%40ss%2Fw%3Ard%25@127.0.0.1:{port}");
    let client = fast().connect(url.as_str()).unwrap();
    round_trip(&client);

    // URL credentials win over the options.
    let client = fast()
        .user_and_password("alice", "wrong")
        .connect(url.as_str())
        .unwrap();
    round_trip(&client);

    assert_auth_error(
        fast()
            .user_and_password("alice", "wrong")
            .connect(server.url()),
        "wrong password",
    );
    assert_auth_error(
        fast().connect(format!("nats://alice:nope@127.0.0.1:{port}")),
        "wrong password in URL",
    );
    assert_auth_error(fast().connect(server.url()), "no credentials");
}

#[test]
fn token_via_options_and_url() {
    let server = NatsServer::builder().token("t0k3n").start().unwrap();
    let port = port_of(&server);

    let client = fast().token("t0k3n").connect(server.url()).unwrap();
    round_trip(&client);

    let url = format!("nats://t0k3n@127.0.0.1:{port}");
    let client = fast().connect(url.as_str()).unwrap();
    round_trip(&client);

    // The URL's token overrides the option's.
    let client = fast().token("stale").connect(url.as_str()).unwrap();
    round_trip(&client);

    assert_auth_error(fast().token("wrong").connect(server.url()), "wrong token");
    assert_auth_error(
        fast().connect(format!("nats://wrong@127.0.0.1:{port}")),
        "wrong token in URL",
    );
}

#[test]
fn nkey_seed_as_string_and_file() {
    let user = KeyPair::generate(KeyKind::User);
    let server = NatsServer::builder()
        .nkey_user(&user.public_key())
        .start()
        .unwrap();

    let client = fast()
        .nkey(&user.seed())
        .unwrap()
        .connect(server.url())
        .unwrap();
    round_trip(&client);

    let dir = tempfile::tempdir().unwrap();
    let seed_file = dir.path().join("user.nk");
    std::fs::write(&seed_file, format!("{}\n", user.seed())).unwrap();
    let client = fast().nkey_file(&seed_file).connect(server.url()).unwrap();
    round_trip(&client);

    // A key of our own (proto's generator) that the server does not know.
    let mut rng = rand::rng();
    let stranger = natsy_proto::KeyPair::generate(natsy_proto::KeyType::User, &mut rng);
    assert_auth_error(
        fast()
            .nkey(stranger.seed().expose())
            .unwrap()
            .connect(server.url()),
        "unknown nkey",
    );
    // A malformed seed is refused before any connect.
    assert!(fast().nkey("SUNOTASEED").is_err());
    // A missing seed file is a credentials error, not an auth error.
    let missing = fast()
        .nkey_file(dir.path().join("missing.nk"))
        .connect(server.url());
    assert!(
        matches!(missing, Err(ConnectError::Credentials(_))),
        "{missing:?}"
    );
}

/// An operator-mode server (memory resolver) with account `A`.
fn operator_server() -> (OperatorSetup, KeyPair, NatsServer) {
    let mut setup = OperatorSetup::new();
    let account = setup.add_account("A", false);
    let server = NatsServer::builder()
        .raw_config(&setup.server_config())
        .monitoring()
        .start()
        .unwrap();
    (setup, account, server)
}

#[test]
fn creds_file_and_jwt_signer_in_operator_mode() {
    let (setup, account, server) = operator_server();
    let dir = tempfile::tempdir().unwrap();

    let user = setup.user(&account, "u1");
    let creds = dir.path().join("u1.creds");
    user.write_creds(&creds).unwrap();
    let client = fast()
        .credentials_file(&creds)
        .connect(server.url())
        .unwrap();
    round_trip(&client);

    // JWT plus a signing callback that never hands us the seed.
    let key = user.key().clone();
    let signs = Arc::new(AtomicUsize::new(0));
    let counted = signs.clone();
    let signer: natsy::Signer = Arc::new(move |nonce: &[u8]| {
        counted.fetch_add(1, Ordering::SeqCst);
        key.sign(nonce).to_vec()
    });
    let client = fast()
        .jwt(user.jwt(), signer)
        .connect(server.url())
        .unwrap();
    round_trip(&client);
    assert_eq!(signs.load(Ordering::SeqCst), 1);

    // A user issued by an account the server does not know.
    let rogue_account = KeyPair::generate(KeyKind::Account);
    let rogue = setup.user(&rogue_account, "rogue");
    let rogue_creds = dir.path().join("rogue.creds");
    rogue.write_creds(&rogue_creds).unwrap();
    assert_auth_error(
        fast().credentials_file(&rogue_creds).connect(server.url()),
        "creds of an unknown account",
    );
    // The right JWT with a signature by the wrong key.
    let wrong_key = KeyPair::generate(KeyKind::User);
    let bad_signer: natsy::Signer = Arc::new(move |nonce: &[u8]| wrong_key.sign(nonce).to_vec());
    assert_auth_error(
        fast().jwt(user.jwt(), bad_signer).connect(server.url()),
        "JWT signed by the wrong key",
    );
    // No credentials at all against an operator-mode server.
    assert_auth_error(fast().connect(server.url()), "no credentials");
}

/// The `authorized_user` of every connection in the server's `/connz`.
fn connected_users(server: &NatsServer) -> Vec<String> {
    let connz = server.monitor_json("/connz?auth=true").unwrap();
    connz["connections"]
        .as_array()
        .map(|conns| {
            conns
                .iter()
                .filter_map(|c| c["authorized_user"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `f` until it is true, up to 10 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rotated_creds_file_is_read_again_on_reconnect() {
    let (setup, account, mut server) = operator_server();
    let dir = tempfile::tempdir().unwrap();
    let u1 = setup.user(&account, "u1");
    let u2 = setup.user(&account, "u2");
    let creds = dir.path().join("user.creds");
    u1.write_creds(&creds).unwrap();

    let (opts, rx) = with_events(fast().credentials_file(&creds));
    let client = opts.connect(server.url()).unwrap();
    round_trip(&client);
    let u1_key = u1.key().public_key();
    let u2_key = u2.key().public_key();
    eventually("u1 in connz", || connected_users(&server).contains(&u1_key));

    // Rotate the file, then make the client reconnect.
    u2.write_creds(&creds).unwrap();
    server.restart().unwrap();
    wait_for_event(&rx, Duration::from_secs(10), |e| {
        matches!(e, Event::Reconnected { .. }).then_some(())
    });
    round_trip(&client);
    let users = connected_users(&server);
    assert!(users.contains(&u2_key), "{users:?}");
    assert!(!users.contains(&u1_key), "{users:?}");
}

#[test]
fn credentials_provider_is_called_on_every_reconnect() {
    let mut server = NatsServer::builder()
        .user("alice", "a-pass")
        .monitoring()
        .start()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    // First call: alice; later calls: bob, whom only the restarted server knows.
    let provider = move || {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        Ok(if n == 0 {
            Auth::UserPassword {
                user: "alice".into(),
                pass: Secret::new("a-pass"),
            }
        } else {
            Auth::UserPassword {
                user: "bob".into(),
                pass: Secret::new("b-pass"),
            }
        })
    };
    let (opts, rx) = with_events(fast().max_reconnects(None).credentials_provider(provider));
    let client = opts.connect(server.url()).unwrap();
    round_trip(&client);
    // Called once for the first connect (not once to check and once to dial).
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(before, 1);

    // The restarted server accepts bob only: reconnecting works only with fresh credentials.
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    let config = config
        .replace("\"alice\"", "\"bob\"")
        .replace("\"a-pass\"", "\"b-pass\"");
    assert!(config.contains("\"bob\""), "{config}");
    std::fs::write(server.config_path(), config).unwrap();
    server.restart().unwrap();

    wait_for_event(&rx, Duration::from_secs(10), |e| {
        matches!(e, Event::Reconnected { .. }).then_some(())
    });
    assert!(calls.load(Ordering::SeqCst) > before);
    round_trip(&client);
    eventually("bob in connz", || {
        connected_users(&server).contains(&"bob".to_string())
    });
}

#[test]
fn credentials_from_env() {
    // The only test that touches these variables; set and cleared here, in order.
    const VARS: [&str; 5] = [
        "NATS_CREDS",
        "NATS_NKEY",
        "NATS_TOKEN",
        "NATS_USER",
        "NATS_PASSWORD",
    ];
    let clear = || {
        for v in VARS {
            std::env::remove_var(v);
        }
    };

    let token_server = NatsServer::builder().token("env-token").start().unwrap();
    clear();
    std::env::set_var("NATS_TOKEN", "env-token");
    let opts = fast().credentials_from_env();
    clear();
    round_trip(&opts.clone().connect(token_server.url()).unwrap());
    assert!(!format!("{opts:?}").contains("env-token"));

    let user_server = NatsServer::builder()
        .user("envuser", "env-pass")
        .start()
        .unwrap();
    std::env::set_var("NATS_USER", "envuser");
    std::env::set_var("NATS_PASSWORD", "env-pass");
    let opts = fast().credentials_from_env();
    clear();
    round_trip(&opts.connect(user_server.url()).unwrap());

    let user = KeyPair::generate(KeyKind::User);
    let nkey_server = NatsServer::builder()
        .nkey_user(&user.public_key())
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let seed_file = dir.path().join("env.nk");
    std::fs::write(&seed_file, user.seed()).unwrap();
    std::env::set_var("NATS_NKEY", &seed_file);
    // NATS_NKEY is preferred over a token that is also set.
    std::env::set_var("NATS_TOKEN", "ignored");
    let opts = fast().credentials_from_env();
    clear();
    round_trip(&opts.connect(nkey_server.url()).unwrap());

    let (setup, account, op_server) = operator_server();
    let creds = dir.path().join("env.creds");
    setup.user(&account, "envu").write_creds(&creds).unwrap();
    std::env::set_var("NATS_CREDS", &creds);
    let opts = fast().credentials_from_env();
    clear();
    round_trip(&opts.connect(op_server.url()).unwrap());

    // Nothing set: nothing changes (a token set before stays).
    let opts = fast().token("env-token").credentials_from_env();
    round_trip(&opts.connect(token_server.url()).unwrap());
}

#[test]
fn the_same_auth_error_twice_closes_instead_of_retrying_for_ever() {
    // retry_on_failed_connect with unlimited attempts: only the auth rule can stop it.
    let server = NatsServer::builder().token("right").start().unwrap();
    let (opts, rx) = with_events(
        fast()
            .token("wrong")
            .retry_on_failed_connect()
            .max_reconnects(None),
    );
    let client = opts.connect(server.url()).unwrap();
    let reason = wait_for_event(&rx, Duration::from_secs(10), |e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(matches!(reason, CloseReason::AuthRejected(_)), "{reason:?}");
    assert_eq!(client.close_reason(), Some(reason));
    assert!(matches!(
        client.publish("x", "y"),
        Err(natsy::PublishError::Closed)
    ));
}

#[test]
fn credentials_rejected_after_a_restart_close_the_client() {
    let mut server = NatsServer::builder().user("alice", "old").start().unwrap();
    let (opts, rx) = with_events(
        fast()
            .user_and_password("alice", "old")
            .max_reconnects(None),
    );
    let client = opts.connect(server.url()).unwrap();
    round_trip(&client);

    let config = std::fs::read_to_string(server.config_path()).unwrap();
    std::fs::write(server.config_path(), config.replace("\"old\"", "\"new\"")).unwrap();
    server.restart().unwrap();

    let reason = wait_for_event(&rx, Duration::from_secs(15), |e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(matches!(reason, CloseReason::AuthRejected(_)), "{reason:?}");
}

#[test]
fn debug_of_options_never_shows_secrets() {
    let user = KeyPair::generate(KeyKind::User);
    let seed = user.seed();
    let password = "pw-SECRET-1234";
    let token = "tok-SECRET-5678";
    let cases = [
        format!(
            "{:?}",
            ConnectOptions::new().user_and_password("alice", password)
        ),
        format!("{:?}", ConnectOptions::new().token(token)),
        format!("{:?}", ConnectOptions::new().nkey(&seed).unwrap()),
        format!(
            "{:?}",
            ConnectOptions::new()
                .credentials_provider(move || Ok(Auth::Token(Secret::new("tok-SECRET-5678"))))
        ),
    ];
    for text in &cases {
        for secret in [password, token, seed.as_str()] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    assert!(cases[0].contains("alice"), "{}", cases[0]);
}
