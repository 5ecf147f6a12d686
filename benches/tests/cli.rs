//! natsy-bench as a user runs it: a mistyped flag gets a suggestion, CSV and JSON come
//! out parseable, Ctrl-C during a run stops the nats-server the tool started and
//! removes its store, and `ws://` URLs work; natsy-compare's WebSocket rows end to end.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use natsy_benches::report::{CsvRecord, RunResult};
use natsy_benches::server::{find_or_install_nats_server, LocalServer};

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_natsy-bench"))
}

#[test]
fn the_scenarios_of_the_websocket_rows_run_over_a_ws_url() {
    let bin = find_or_install_nats_server().unwrap();
    let server = LocalServer::start_with_websocket(&bin).unwrap();
    let ws = server.ws_url().expect("a websocket listener");
    assert!(ws.starts_with("ws://127.0.0.1:"), "{ws}");
    let out = bench()
        .args(["pub", "pubsub", "req", "sub", "--url", &ws])
        .args(["--msgs", "300", "--json", "--no-progress"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let runs: Vec<RunResult> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done: Vec<(&str, bool, u64)> = runs
        .iter()
        .map(|r| (r.scenario.as_str(), r.ok, r.msgs))
        .collect();
    assert_eq!(
        done,
        [
            ("pub", true, 300),
            ("pubsub", true, 300),
            ("req", true, 300),
            ("sub", true, 300)
        ]
    );
}

#[test]
fn natsy_compare_runs_the_websocket_rows_on_a_server_it_starts() {
    // natsy-bench stands in for the async-nats peer: same flags, same output.
    let me = env!("CARGO_BIN_EXE_natsy-bench");
    let out = Command::new(env!("CARGO_BIN_EXE_natsy-compare"))
        .args(["--natsy", me, "--async-nats", me, "--reps", "1"])
        .args(["--only", "ws-pub,ws-req", "--", "--msgs", "200"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Over WebSocket (`ws://`)"), "{text}");
    assert!(text.contains("| pub (ws) | 128B |"), "{text}");
    assert!(text.contains("| req (ws) p50 | 128B |"), "{text}");
    assert!(
        !text.contains("FAILED") && !text.contains("Failed runs"),
        "{text}"
    );
    // Only WebSocket cases: no TCP table.
    assert!(!text.contains("| scenario | size |"), "{text}");
}

#[test]
fn a_mistyped_flag_is_refused_with_a_suggestion() {
    let out = bench().args(["pub", "--mgs", "10"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'--mgs'"), "{err}");
    assert!(err.contains("similar argument exists: '--msgs'"), "{err}");
    assert!(out.stdout.is_empty());

    let out = bench().arg("pubsbu").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("similar value exists: 'pubsub'"), "{err}");
}

#[test]
fn csv_and_json_output_parse_back() {
    let out = bench()
        .args(["pub", "req", "--msgs", "200", "--csv", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "--quiet: {out:?}");
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let records: Vec<CsvRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].scenario.as_str(), records[0].msgs),
        ("pub", 200)
    );
    assert!(records.iter().all(|r| r.ok && r.client == "natsy"));
    assert!(records[0].p50_us.is_none() && records[1].p50_us.is_some());

    let out = bench()
        .args(["pub", "--msgs", "200", "--format", "json", "--reps", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let runs: Vec<RunResult> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        runs.iter().map(|r| r.rep).collect::<Vec<_>>(),
        [1, 2],
        "{text}"
    );
}

/// What `--verbose` says about the server it started: its pid and store directory.
fn parse_started(line: &str) -> Option<(u32, PathBuf)> {
    let rest = line.strip_prefix("started nats-server pid ")?;
    let (pid, rest) = rest.split_once(' ')?;
    let (_, rest) = rest.split_once(", store ")?;
    let dir = rest.strip_suffix(" (stopped at exit)")?;
    Some((pid.parse().ok()?, PathBuf::from(dir)))
}

#[test]
fn ctrl_c_stops_the_server_it_started_and_removes_its_store() {
    // A billion messages: still running whenever the signal comes.
    let mut child = bench()
        .args(["pub", "--msgs", "1000m", "--verbose", "--no-progress"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let mut started = None;
    for line in rx.iter() {
        if let Some(s) = parse_started(&line) {
            started = Some(s);
        }
        if line.starts_with("run: pub") {
            break;
        }
    }
    let (pid, dir) = started.expect("--verbose names the server it started");
    assert!(
        PathBuf::from(format!("/proc/{pid}")).exists(),
        "server {pid} runs"
    );
    assert!(dir.is_dir(), "{} exists", dir.display());

    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // A bound, not a timing assertion: the handler stops everything at once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("natsy-bench did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{lines:?}");
    let last = lines.last().map(String::as_str).unwrap_or("");
    assert!(last.contains("interrupted"), "{lines:?}");
    assert!(last.contains(&format!("pid {pid}")), "{lines:?}");
    // The handler killed and reaped the server before exiting: its pid is gone.
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "server {pid} still runs"
    );
    assert!(!dir.exists(), "{} was not removed", dir.display());
}
