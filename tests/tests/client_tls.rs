//! TLS of the `natsy` client against a real nats-server with certificates generated at test
//! time: verification with our CA (file or PEM bytes), `tls://` URLs, automatic upgrade of
//! a `nats://` URL, mutual TLS, TLS-first, a user-built rustls config, and clear, bounded
//! errors for a wrong CA, a wrong host name and a missing client certificate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use natsy::{ConnectError, ConnectOptions};
use natsy_test_harness::{NatsServer, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Publishes and receives one message, proving the connection is really usable.
fn round_trip(client: &natsy::Client) {
    let mut sub = client.subscribe("tls.check").unwrap();
    client.publish("tls.check", "ok").unwrap();
    client.flush().unwrap();
    let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(m.payload(), b"ok");
}

fn fast() -> ConnectOptions {
    ConnectOptions::new()
        .connect_timeout(Duration::from_secs(3))
        .reconnect_wait(Duration::from_millis(50))
        .reconnect_jitter(Duration::ZERO, Duration::ZERO)
}

/// Connects expecting a failure; checks it came well within the connect timeout and
/// returns its text.
fn connect_fails(opts: ConnectOptions, url: &str) -> String {
    let started = Instant::now();
    let err = match opts.connect(url) {
        Ok(_) => panic!("connected to {url} but should not have"),
        Err(e) => e,
    };
    // One attempt per URL, bounded by the 3 s connect timeout (+ slack for a loaded box).
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}: {err}",
        started.elapsed()
    );
    assert!(!err.is_auth_error(), "{err:?}");
    eprintln!("connect to {url} failed as expected: {err}");
    err.to_string()
}

fn tls_server(files: &TlsFiles) -> NatsServer {
    NatsServer::builder()
        .tls(files.server_tls())
        .start()
        .unwrap()
}

#[test]
fn server_tls_verified_with_our_ca_file_and_pem_bytes() {
    let files = TlsFiles::generate().unwrap();
    let server = tls_server(&files);
    assert_eq!(server.info().unwrap()["tls_required"], true);

    // CA file, tls:// URL.
    let client = fast()
        .root_certificates(files.ca_cert())
        .connect(server.tls_url())
        .unwrap();
    round_trip(&client);
    assert!(client.server_info().unwrap().tls_required);

    // CA as PEM bytes, by host name.
    let pem = std::fs::read(files.ca_cert()).unwrap();
    let client = fast()
        .root_certificates_pem(pem)
        .connect(format!("tls://localhost:{}", server.port()))
        .unwrap();
    round_trip(&client);

    // A plain nats:// URL to a server that requires TLS upgrades by itself.
    let client = fast()
        .root_certificates(files.ca_cert())
        .connect(server.url())
        .unwrap();
    round_trip(&client);
}

#[test]
fn user_built_rustls_config() {
    let files = TlsFiles::generate().unwrap();
    let server = tls_server(&files);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(files.ca_cert()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = fast()
        .tls_client_config(config)
        .connect(server.url())
        .unwrap();
    round_trip(&client);
}

#[test]
fn mutual_tls_with_and_without_a_client_certificate() {
    let files = TlsFiles::generate().unwrap();
    let server = NatsServer::builder()
        .tls(files.mutual_tls())
        .start()
        .unwrap();

    let client = fast()
        .root_certificates(files.ca_cert())
        .client_certificate(files.client_cert(), files.client_key())
        .connect(server.tls_url())
        .unwrap();
    round_trip(&client);

    // No client certificate: the server refuses the handshake; we fail cleanly.
    let text = connect_fails(fast().root_certificates(files.ca_cert()), &server.tls_url());
    assert!(text.contains("TLS") || text.contains("closed"), "{text}");

    // A client certificate from a CA the server does not trust.
    let text = connect_fails(
        fast()
            .root_certificates(files.ca_cert())
            .client_certificate(files.other_client_cert(), files.other_client_key()),
        &server.tls_url(),
    );
    assert!(text.contains("TLS") || text.contains("closed"), "{text}");
}

#[test]
fn tls_first() {
    let files = TlsFiles::generate().unwrap();
    let mut tls = files.server_tls();
    tls.handshake_first = true;
    let server = NatsServer::builder().tls(tls).start().unwrap();

    let client = fast()
        .root_certificates(files.ca_cert())
        .tls_first()
        .connect(server.url())
        .unwrap();
    round_trip(&client);
    assert!(client.server_info().unwrap().tls_required);
}

#[test]
fn wrong_ca_is_a_clear_certificate_error_without_hanging() {
    let files = TlsFiles::generate().unwrap();
    let server = tls_server(&files);
    let text = connect_fails(
        fast().root_certificates(files.other_ca_cert()),
        &server.tls_url(),
    );
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[test]
fn wrong_host_name_is_a_clear_error() {
    let files = TlsFiles::generate_for(&["other.natsy.test"]).unwrap();
    let ca = files.ca_cert();
    let server = NatsServer::builder()
        .tls(files.server_tls())
        .start()
        .unwrap();
    // The chain is trusted; only the name (127.0.0.1 / localhost) does not match.
    for url in [
        server.tls_url(),
        format!("tls://localhost:{}", server.port()),
    ] {
        let text = connect_fails(fast().root_certificates(&ca), &url);
        assert!(text.contains("certificate"), "{text}");
        assert!(text.contains("not valid for name"), "{text}");
    }
}

#[test]
fn tls_wanted_but_the_server_has_none() {
    let server = NatsServer::start().unwrap();
    let files = TlsFiles::generate().unwrap();
    let err = fast()
        .root_certificates(files.ca_cert())
        .connect(server.tls_url())
        .expect_err("must not connect in plain text");
    assert!(
        matches!(
            &err,
            ConnectError::Attempt { error, .. }
                if **error == natsy_proto::connection::AttemptError::TlsRequiredByClientButUnavailable
        ),
        "{err:?}"
    );
}

#[test]
fn tls_required_by_the_server_without_any_tls_option_uses_the_system_roots() {
    // No TLS option at all: like nats.go, the client still upgrades and verifies against
    // the system's roots, which do not know the test CA.
    let files = TlsFiles::generate().unwrap();
    let server = tls_server(&files);
    let text = connect_fails(fast(), &server.url());
    assert!(
        text.contains("UnknownIssuer") || text.contains("no trusted root certificates"),
        "{text}"
    );
}
