//! `natsy-compare`: runs natsy-bench and the async-nats peer (and the nats.c peer, when
//! given) interleaved on one server and writes the table of medians into `BENCHMARKS.md`.
//! Use it through `benches/compare.sh`, which builds the programs in release mode first.

use std::process::ExitCode;

use natsy_benches::compare::{self, CaseRuns, Environment, Transport};
use natsy_benches::report::human_size;
use natsy_benches::server::{find_or_install_nats_server, repo_root, LocalServer};

fn main() -> ExitCode {
    let args = match compare::parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: natsy-compare --natsy PATH --async-nats PATH [--natsc PATH] \
                 [--natsy-async PATH] \
                 [--reps N] [--out FILE] [--url URL [--ws-url URL]] [--only pub,req,ws,...] \
                 [--command TEXT] \
                 [-- FLAGS...]"
            );
            return ExitCode::from(2);
        }
    };
    let cases: Vec<_> = compare::default_cases()
        .into_iter()
        .filter(|c| c.selected_by(&args.only))
        .collect();
    let websocket = cases.iter().any(|c| c.transport == Transport::WebSocket);
    let mut _server = None;
    let mut server_version = "a server given with --url".to_string();
    let mut ws_url = args.ws_url.clone();
    let url = match &args.url {
        Some(u) => u.clone(),
        None => {
            let started = find_or_install_nats_server().and_then(|bin| {
                if let Ok(out) = std::process::Command::new(&bin).arg("--version").output() {
                    server_version = String::from_utf8_lossy(&out.stdout).trim().to_string();
                }
                // The websocket listener only when a WebSocket case runs: the TCP rows
                // keep the server they always had.
                if websocket {
                    LocalServer::start_with_websocket(&bin)
                } else {
                    LocalServer::start(&bin)
                }
            });
            match started {
                Ok(s) => {
                    let url = s.url();
                    ws_url = s.ws_url();
                    _server = Some(s);
                    url
                }
                Err(e) => {
                    eprintln!("error: no server: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| {
            let runnable = c.transport == Transport::Tcp || ws_url.is_some();
            if !runnable {
                eprintln!("skipping {}: --url without --ws-url", c.label());
            }
            runnable
        })
        .collect();
    // Debian's libnats (3.4) has no WebSocket transport; a newer one may. One short
    // run says which, instead of a column of failed runs.
    let natsc_websocket = match (&args.natsc, &ws_url) {
        (Some(natsc), Some(ws)) if websocket => {
            let probe = compare::Case {
                scenario: "pub",
                size: 128,
                rate: None,
                msgs: Some(1),
                target: compare::Target::None,
                transport: Transport::WebSocket,
            };
            let r = compare::run_once(natsc, "nats.c", &probe, ws, &[], &args.natsy, 1);
            (!r.ok).then(|| {
                format!(
                    "the nats.c peer could not publish over `ws://` ({}); Debian's libnats \
                     3.4 has no WebSocket transport (it speaks plain NATS to the WebSocket \
                     port).",
                    r.error.as_deref().unwrap_or("no result")
                )
            })
        }
        _ => None,
    };
    if let Some(why) = &natsc_websocket {
        eprintln!("nats.c runs no WebSocket case: {why}");
    }
    let load_before = compare::load_average();
    let mut results = Vec::new();
    for case in cases {
        let mut runs = CaseRuns {
            case: case.clone(),
            natsy: Vec::new(),
            async_nats: Vec::new(),
            natsc: Vec::new(),
            natsy_async: Vec::new(),
        };
        let ws = case.transport == Transport::WebSocket;
        let natsc = args
            .natsc
            .as_ref()
            .filter(|_| compare::NATSC_SCENARIOS.contains(&case.scenario))
            .filter(|_| !ws || natsc_websocket.is_none());
        let url = match (ws, &ws_url) {
            (true, Some(w)) => w,
            _ => &url,
        };
        let mut programs = vec![("natsy", &args.natsy), ("async-nats", &args.async_nats)];
        programs.extend(natsc.map(|p| ("nats.c", p)));
        let natsy_async = args
            .natsy_async
            .as_ref()
            .filter(|_| compare::ASYNC_SCENARIOS.contains(&case.scenario));
        programs.extend(natsy_async.map(|p| ("natsy-async", p)));
        for rep in 1..=args.reps {
            for (client, program) in compare::round_order(programs.len(), rep).map(|i| programs[i])
            {
                let r =
                    compare::run_once(program, client, &case, url, &args.extra, &args.natsy, rep);
                eprintln!(
                    "{:<11} {:<13} {:>6} rep {rep}: {}",
                    client,
                    case.label(),
                    human_size(case.size),
                    if r.ok {
                        format!(
                            "{:>10.0} msgs/s  {:.3} cpu us/msg{}",
                            r.msgs_per_sec,
                            r.cpu_us_per_msg,
                            r.latency_us
                                .map(|p| format!("  p50 {:.1} us  p99 {:.1} us", p.p50, p.p99))
                                .unwrap_or_default()
                        )
                    } else {
                        format!("FAILED: {}", r.error.as_deref().unwrap_or("?"))
                    }
                );
                match client {
                    "natsy" => runs.natsy.push(r),
                    "async-nats" => runs.async_nats.push(r),
                    "natsy-async" => runs.natsy_async.push(r),
                    _ => runs.natsc.push(r),
                }
            }
        }
        results.push(runs);
    }
    let root = repo_root();
    let mut versions = compare::locked_versions(
        &std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default(),
        &["natsy"],
    );
    versions.extend(compare::locked_versions(
        &std::fs::read_to_string(root.join("benches/compare/Cargo.lock")).unwrap_or_default(),
        &["async-nats", "tokio"],
    ));
    if let Some(version) = args.natsc.as_ref().and_then(|p| {
        let out = std::process::Command::new(p)
            .arg("--version")
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }) {
        versions.push(version);
    }
    let commit = std::process::Command::new("git")
        .args([
            "-C",
            &root.to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let (Some(c), Some(first)) = (commit, versions.first_mut()) {
        first.push_str(&format!(" (commit {c})"));
    }
    let env = Environment {
        command: args.command.clone(),
        date: compare::utc_date(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu: compare::cpu_model(),
        load: (load_before, compare::load_average()),
        server: server_version,
        versions: versions.join(", "),
        reps: args.reps,
        natsc_websocket,
    };
    let section = compare::render(&env, &results);
    match &args.out {
        None => print!("{section}"),
        Some(path) => {
            let doc = std::fs::read_to_string(path).unwrap_or_default();
            if let Err(e) = std::fs::write(path, compare::splice(&doc, &section)) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            print!("{section}");
            eprintln!("wrote {}", path.display());
        }
    }
    let met = results.iter().all(|r| compare::verdict(r) != Some(false));
    if met {
        ExitCode::SUCCESS
    } else {
        eprintln!("some targets were missed (see the table)");
        ExitCode::from(3)
    }
}
