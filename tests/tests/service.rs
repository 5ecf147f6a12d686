//! Services (ADR-32) against a real nats-server: discovery of all, by name and by id with
//! the ADR's JSON; endpoints, groups and queue groups; error headers and stats; stats
//! under concurrent load across instances; stop while requests are in flight (none lost,
//! none answered twice); the async forms.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natsy::service::{
    self, Builder, EndpointOptions, QueueGroup, ServiceError, ERROR_CODE_HEADER, ERROR_HEADER,
};
use natsy::RequestError;
use natsy_test_harness::NatsServer;

const WINDOW: Duration = Duration::from_millis(300);

/// Answers every request of `endpoint` on its own thread: `re-<payload>`, or a 400
/// service error for an empty payload.
fn serve(endpoint: service::Endpoint) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut answered = 0;
        for req in endpoint {
            answered += 1;
            if req.payload().is_empty() {
                req.respond_error(400, "empty request", "").unwrap();
            } else {
                let mut body = b"re-".to_vec();
                body.extend_from_slice(req.payload());
                req.respond(body).unwrap();
            }
        }
        answered
    })
}

#[test]
fn discovery_by_all_name_and_id_with_the_adr_json() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let meta: HashMap<String, String> = [("region".to_string(), "eu".to_string())].into();
    let calc = Builder::new()
        .description("arithmetic")
        .metadata(meta.clone())
        .start(&client, "calc", "1.2.3")
        .unwrap();
    let _add = serve(calc.group("calc").endpoint("add").unwrap());
    let _neg = serve(
        calc.endpoint_with(
            "negate",
            EndpointOptions::new()
                .subject("calc.neg")
                .queue_group(QueueGroup::None)
                .metadata([("unary".to_string(), "yes".to_string())].into()),
        )
        .unwrap(),
    );
    let other = Builder::new().start(&client, "other", "0.1.0").unwrap();
    client.flush().unwrap();

    let asker = natsy::connect(server.url()).unwrap();
    let all = service::discover_ping(&asker, None, None, WINDOW).unwrap();
    let mut names: Vec<_> = all.responses.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["calc", "other"]);
    assert_eq!(all.unreadable, 0);

    let by_name = service::discover_ping(&asker, Some("calc"), None, WINDOW).unwrap();
    assert_eq!(by_name.responses.len(), 1);
    let ping = &by_name.responses[0];
    assert_eq!(
        (ping.kind.as_str(), ping.id.as_str()),
        (service::wire::PING_RESPONSE, calc.id())
    );
    assert_eq!((ping.version.as_str(), &ping.metadata), ("1.2.3", &meta));

    let info = service::discover_info(&asker, Some("calc"), Some(calc.id()), WINDOW).unwrap();
    assert_eq!(info.responses.len(), 1);
    let info = &info.responses[0];
    assert_eq!(info.kind, service::wire::INFO_RESPONSE);
    assert_eq!(info.description, "arithmetic");
    let eps: Vec<_> = info
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.subject.as_str(), e.queue_group.as_str()))
        .collect();
    assert_eq!(eps, [("add", "calc.add", "q"), ("negate", "calc.neg", "")]);
    assert_eq!(info.endpoints[1].metadata["unary"], "yes");

    // The raw JSON, as another client's tooling reads it.
    let raw = asker
        .request(&format!("$SRV.INFO.other.{}", other.id()), "")
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(raw.payload()).unwrap();
    assert_eq!(json["type"], "io.nats.micro.v1.info_response");
    assert_eq!(json["endpoints"], serde_json::json!([]));
    assert_eq!(json["metadata"], serde_json::json!({}));

    // An id that is not ours: nobody answers.
    let none = service::discover_ping(&asker, Some("calc"), Some("NOTANID"), WINDOW).unwrap();
    assert!(none.responses.is_empty());
}

#[test]
fn errors_carry_the_service_headers_and_stats_count_them() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let svc = Builder::new().start(&client, "echo", "1.0.0").unwrap();
    let endpoint = svc.endpoint("echo").unwrap();
    endpoint.set_stats_data(Some(serde_json::json!({"cache": "warm"})));
    let _t = serve(endpoint);
    client.flush().unwrap();

    let asker = natsy::connect(server.url()).unwrap();
    assert_eq!(asker.request("echo", "hi").unwrap().payload(), b"re-hi");
    let err = asker.request("echo", "").unwrap();
    let headers = err.headers().unwrap().unwrap();
    assert_eq!(headers.get(ERROR_HEADER), Some("empty request"));
    assert_eq!(headers.get(ERROR_CODE_HEADER), Some("400"));
    assert_eq!(
        asker.request("echo", "again").unwrap().payload(),
        b"re-again"
    );

    let stats = service::discover_stats(&asker, Some("echo"), None, WINDOW).unwrap();
    let s = &stats.responses[0];
    assert_eq!(s.kind, service::wire::STATS_RESPONSE);
    assert!(
        humantime::parse_rfc3339(&s.started).is_ok(),
        "{}",
        s.started
    );
    let e = &s.endpoints[0];
    assert_eq!((e.num_requests, e.num_errors), (3, 1));
    assert_eq!(e.last_error, "400:empty request");
    assert!(e.processing_time > 0);
    assert_eq!(e.average_processing_time, e.processing_time / 3);
    assert_eq!(e.data, Some(serde_json::json!({"cache": "warm"})));
    assert_eq!(svc.stats().endpoints[0].num_requests, 3);

    svc.reset();
    let e = &svc.stats().endpoints[0];
    assert_eq!(
        (e.num_requests, e.num_errors, e.last_error.as_str()),
        (0, 0, "")
    );
}

#[test]
fn stats_add_up_under_concurrent_load_across_instances() {
    let server = NatsServer::start().unwrap();
    let mut workers = Vec::new();
    let mut services = Vec::new();
    for _ in 0..3 {
        let c = natsy::connect(server.url()).unwrap();
        let s = Builder::new().start(&c, "work", "2.0.0").unwrap();
        workers.push(serve(s.endpoint("job").unwrap()));
        c.flush().unwrap();
        services.push((c, s));
    }
    let asker = natsy::connect(server.url()).unwrap();
    let replies = Arc::new(Mutex::new(HashSet::new()));
    std::thread::scope(|s| {
        for t in 0..8 {
            let (asker, replies) = (&asker, &replies);
            s.spawn(move || {
                for i in 0..250 {
                    let body = format!("{t}-{i}");
                    let r = asker.request("job", body.clone()).unwrap();
                    assert_eq!(r.payload(), format!("re-{body}").as_bytes());
                    assert!(replies.lock().unwrap().insert(body), "answered twice");
                }
            });
        }
    });
    assert_eq!(replies.lock().unwrap().len(), 2000);
    let stats = service::discover_stats(&asker, Some("work"), None, WINDOW).unwrap();
    assert_eq!(stats.responses.len(), 3);
    let total: u64 = stats
        .responses
        .iter()
        .map(|s| s.endpoints[0].num_requests)
        .sum();
    assert_eq!(total, 2000, "the queue group split them, each counted once");
    assert!(stats
        .responses
        .iter()
        .all(|s| s.endpoints[0].num_errors == 0));
}

#[test]
fn stop_with_requests_in_flight_loses_none_and_answers_none_twice() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let svc = Builder::new().start(&client, "slow", "1.0.0").unwrap();
    let endpoint = svc.endpoint("slow").unwrap();
    let handler = std::thread::spawn(move || {
        let mut answered = 0;
        for req in endpoint {
            std::thread::sleep(Duration::from_millis(2));
            let body = req.payload_bytes();
            req.respond(body).unwrap();
            answered += 1;
        }
        answered
    });
    client.flush().unwrap();

    let asker = natsy::connect(server.url()).unwrap();
    let pending: Vec<_> = (0..200)
        .map(|i| asker.send_request("slow", None, format!("{i}")).unwrap())
        .collect();
    asker.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    svc.stop().unwrap();
    assert!(svc.is_stopped());
    // Every request the server delivered before the UNSUB is answered, once.
    let answered_by_handler = handler.join().unwrap();
    let mut answered = HashSet::new();
    for (i, p) in pending.into_iter().enumerate() {
        let r = p.wait_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(r.payload(), format!("{i}").as_bytes());
        assert!(answered.insert(i));
    }
    assert_eq!(answered_by_handler, 200, "none lost");
    // Stopped: no endpoint, no discovery.
    assert_eq!(
        asker.request("slow", "late").unwrap_err(),
        RequestError::NoResponders
    );
    assert!(service::discover_ping(&asker, Some("slow"), None, WINDOW)
        .unwrap()
        .responses
        .is_empty());
    assert_eq!(svc.endpoint("more").unwrap_err(), ServiceError::Stopped);
}

#[test]
fn without_a_queue_group_every_instance_gets_every_request() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    let a = Builder::new()
        .queue_group(QueueGroup::None)
        .start(&client, "bcast", "1.0.0")
        .unwrap();
    let b = Builder::new()
        .queue_group(QueueGroup::None)
        .start(&client, "bcast", "1.0.0")
        .unwrap();
    let (mut ea, mut eb) = (a.endpoint("tick").unwrap(), b.endpoint("tick").unwrap());
    client.flush().unwrap();
    client.publish("tick", "x").unwrap();
    client.flush().unwrap();
    assert!(ea.next_timeout(Duration::from_secs(5)).is_ok());
    assert!(eb.next_timeout(Duration::from_secs(5)).is_ok());
    assert_eq!(a.info().endpoints[0].queue_group, "");
}

#[test]
fn bad_names_versions_and_subjects_are_typed_errors() {
    let server = NatsServer::start().unwrap();
    let client = natsy::connect(server.url()).unwrap();
    assert!(matches!(
        Builder::new().start(&client, "bad name", "1.0.0"),
        Err(ServiceError::InvalidName(_))
    ));
    assert!(matches!(
        Builder::new().start(&client, "ok", "1.0"),
        Err(ServiceError::InvalidVersion { .. })
    ));
    let svc = Builder::new().start(&client, "ok", "1.0.0-beta.1").unwrap();
    assert!(matches!(
        svc.endpoint("a.b"),
        Err(ServiceError::InvalidName(_))
    ));
    assert!(matches!(
        svc.endpoint_with("e", EndpointOptions::new().subject("bad..subject")),
        Err(ServiceError::InvalidSubject { .. })
    ));
    assert!(matches!(
        svc.group("g.>").endpoint("e"),
        Err(ServiceError::InvalidSubject { .. })
    ));
}

#[test]
fn async_endpoints_and_discovery() {
    use futures_util::StreamExt;
    let server = NatsServer::start().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = natsy::aio::connect(server.url()).await.unwrap();
            let svc = Builder::new()
                .start(client.blocking(), "aecho", "1.0.0")
                .unwrap();
            let mut endpoint = svc.group("a").endpoint("echo").unwrap().into_stream();
            tokio::spawn(async move {
                while let Some(req) = endpoint.next().await {
                    if req.payload().is_empty() {
                        req.respond_error_async(422, "nothing", "").await.unwrap();
                    } else {
                        let body = req.payload_bytes();
                        req.respond_async(body).await.unwrap();
                    }
                }
            });
            client.flush().await.unwrap();
            assert_eq!(client.request("a.echo", "x").await.unwrap().payload(), b"x");
            let e = client.request("a.echo", "").await.unwrap();
            assert_eq!(
                e.headers().unwrap().unwrap().get(ERROR_CODE_HEADER),
                Some("422")
            );
            let found = service::aio::discover_stats(&client, Some("aecho"), None, WINDOW)
                .await
                .unwrap();
            assert_eq!(found.responses[0].endpoints[0].num_requests, 2);
            assert_eq!(found.responses[0].endpoints[0].last_error, "422:nothing");
            svc.stop_async().await.unwrap();
            assert_eq!(
                client.request("a.echo", "x").await.unwrap_err(),
                RequestError::NoResponders
            );
        });
}
