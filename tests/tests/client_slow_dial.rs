//! Nothing slow runs under the client's lock: a resolver that never answers and a
//! credentials provider that takes seconds (and calls the client) must not hold up
//! `publish`, `connection_state` or `close`, and `connect_timeout` bounds both. DNS is
//! tested without a network through `ConnectOptions::resolver`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use natsy::{Auth, ConnectError, ConnectOptions, Event, State};
use natsy_test_harness::events::{wait_for_event, with_events};
use natsy_test_harness::NatsServer;

/// Far longer than any bound the tests check: a call that waited for it is caught.
const HANG: Duration = Duration::from_secs(20);
/// What a call that must not wait may take on a loaded machine.
const PROMPT: Duration = Duration::from_secs(2);

/// A resolver that hangs on `hang.invalid` (until `release` is set or `HANG` passes)
/// and resolves anything else normally.
fn hanging_resolver(
    release: Arc<AtomicBool>,
) -> impl Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static {
    move |host, port| {
        if host == "hang.invalid" {
            let until = Instant::now() + HANG;
            while !release.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            return Err(std::io::Error::other("the resolver gave up"));
        }
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let v = f();
    let took = started.elapsed();
    assert!(took < PROMPT, "{what} took {took:?}");
    v
}

#[test]
fn connect_timeout_bounds_a_resolver_that_never_answers() {
    let release = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let result = ConnectOptions::new()
        .connect_timeout(Duration::from_secs(1))
        .resolver(hanging_resolver(release.clone()))
        .connect("nats://hang.invalid:4222");
    let took = started.elapsed();
    release.store(true, Ordering::Relaxed);
    match result {
        Err(ConnectError::Attempt { error, .. }) => {
            assert_eq!(*error, natsy::proto::connection::AttemptError::Timeout)
        }
        other => panic!("expected a timed-out attempt, got {other:?}"),
    }
    assert!(took < Duration::from_secs(5), "connect took {took:?}");
}

#[test]
fn user_calls_do_not_wait_for_a_dial_that_hangs_in_dns() {
    let mut server = NatsServer::start().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let (options, events) = with_events(
        ConnectOptions::new()
            .no_randomize()
            .connect_timeout(Duration::from_secs(1))
            .reconnect_wait(Duration::from_millis(50))
            .reconnect_jitter(Duration::ZERO, Duration::ZERO)
            .max_reconnects(None)
            .resolver(hanging_resolver(release.clone())),
    );
    let client = options
        .connect(vec![
            server.url(),
            format!("nats://hang.invalid:{}", server.port()),
        ])
        .unwrap();
    server.kill_hard();
    wait_for_event(&events, Duration::from_secs(10), |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    // Attempts now alternate between a refused port and a resolver that hangs: calls
    // must go on meanwhile, publishes into the reconnect buffer.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut published = 0;
    while Instant::now() < deadline {
        timed("publish", || client.publish("slow.dial", "x").unwrap());
        published += 1;
        let state = timed("connection_state", || client.connection_state());
        assert_eq!(state, State::Reconnecting);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(client.statistics().out_messages, published);
    assert!(
        client.buffered() > 0,
        "the publishes wait in the reconnect buffer"
    );

    // Close while an attempt may be stuck in the resolver.
    let closed = timed("close", || client.close());
    // What waited in the reconnect buffer is reported, not dropped silently.
    assert_eq!(closed.unwrap_err().discarded.messages, published);
    assert_eq!(client.connection_state(), State::Closed);
    release.store(true, Ordering::Relaxed);
}

#[test]
fn a_slow_provider_that_calls_the_client_blocks_nothing() {
    let mut server = NatsServer::builder().token("rotating").start().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let me: Arc<Mutex<Option<natsy::Client>>> = Arc::default();
    let (options, events) = with_events(
        ConnectOptions::new()
            .connect_timeout(Duration::from_secs(5))
            .reconnect_wait(Duration::from_millis(50))
            .reconnect_jitter(Duration::ZERO, Duration::ZERO)
            .max_reconnects(None)
            .credentials_provider({
                let calls = calls.clone();
                let me = me.clone();
                move || {
                    if calls.fetch_add(1, Ordering::SeqCst) > 0 {
                        // A provider may call its own client, and take its time.
                        let state = me.lock().unwrap().as_ref().map(|c| c.connection_state());
                        assert_ne!(state, Some(State::Connected));
                        std::thread::sleep(Duration::from_millis(1500));
                    }
                    Ok(Auth::Token("rotating".to_string().into()))
                }
            }),
    );
    let client = options.connect(server.url()).unwrap();
    *me.lock().unwrap() = Some(client.clone());
    let sub_client = ConnectOptions::new()
        .token("rotating")
        .connect(server.url())
        .unwrap();

    server.kill_hard();
    wait_for_event(&events, Duration::from_secs(10), |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    server.start_again().unwrap();
    // The provider is asleep in most of this window: publishing must not wait for it.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut published = 0u64;
    while Instant::now() < deadline {
        timed("publish", || client.publish("slow.provider", "x").unwrap());
        published += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_for_event(&events, Duration::from_secs(15), |e| {
        matches!(e, Event::Reconnected { .. }).then_some(())
    });
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "the provider ran per attempt"
    );
    // Everything published while the provider slept was buffered and is sent now.
    let mut sub = sub_client.subscribe("slow.provider").unwrap();
    sub_client.flush().unwrap();
    client.publish("slow.provider", "last").unwrap();
    client.flush().unwrap();
    assert_eq!(
        sub.next_timeout(Duration::from_secs(5)).unwrap().payload(),
        b"last"
    );
    assert_eq!(client.statistics().out_messages, published + 1);
    me.lock().unwrap().take();
}

#[test]
fn a_slow_jwt_signer_that_calls_the_client_blocks_nothing() {
    let mut setup = natsy_test_harness::OperatorSetup::new();
    let account = setup.add_account("A", false);
    let mut server = NatsServer::builder()
        .raw_config(&setup.server_config())
        .start()
        .unwrap();
    let user = setup.user(&account, "signer");
    let key = user.key().clone();
    let signs = Arc::new(AtomicUsize::new(0));
    let me: Arc<Mutex<Option<natsy::Client>>> = Arc::default();
    let signer: natsy::Signer = {
        let signs = signs.clone();
        let me = me.clone();
        Arc::new(move |nonce: &[u8]| {
            if signs.fetch_add(1, Ordering::SeqCst) > 0 {
                // A signer (a hardware key, say) may be slow and may call its client.
                let state = me.lock().unwrap().as_ref().map(|c| c.connection_state());
                assert_ne!(state, Some(State::Connected));
                std::thread::sleep(Duration::from_millis(1500));
            }
            key.sign(nonce).to_vec()
        })
    };
    let (options, events) = with_events(
        ConnectOptions::new()
            .connect_timeout(Duration::from_secs(5))
            .reconnect_wait(Duration::from_millis(50))
            .reconnect_jitter(Duration::ZERO, Duration::ZERO)
            .max_reconnects(None),
    );
    let client = options
        .jwt(user.jwt(), signer)
        .connect(server.url())
        .unwrap();
    *me.lock().unwrap() = Some(client.clone());
    server.kill_hard();
    wait_for_event(&events, Duration::from_secs(10), |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    server.start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        timed("publish", || client.publish("slow.signer", "x").unwrap());
        timed("connection_state", || client.connection_state());
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_for_event(&events, Duration::from_secs(15), |e| {
        matches!(e, Event::Reconnected { .. }).then_some(())
    });
    assert!(signs.load(Ordering::SeqCst) >= 2, "signed per attempt");
    client.flush().unwrap();
    me.lock().unwrap().take();
}
