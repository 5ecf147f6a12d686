//! [`NatsServer`]: one real nats-server process, from spawn to kill.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::builder::Layout;
use crate::{find_nats_server, free_ports, probe, signal, HarnessError, ServerBuilder};

/// How long [`NatsServer`] waits for a started server to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`NatsServer::stop`] waits after SIGTERM before it sends SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Set this environment variable (to anything) to keep every server's temp dir (config,
/// log, JetStream store) after the test; the path is printed to stderr.
pub const KEEP_DIRS_ENV: &str = "NATSY_KEEP_SERVER_DIRS";

/// How many bytes of log the error messages and panic reports show.
const LOG_TAIL_BYTES: u64 = 4096;

/// A running nats-server process listening on 127.0.0.1 only.
///
/// Each server has its own temp dir holding `nats-server.conf`, `nats-server.log` (the
/// server log, `-l`), `console.log` (its stdout/stderr, where config errors go) and, with
/// JetStream, the `jetstream/` store. The process is killed (SIGKILL, by pid) when the
/// value is dropped, also when a test panics; during a panic the log tail is printed to
/// stderr, so it shows up in the failing test's output.
///
/// A server is *ready* when its own log says "Server is ready", its client port accepts
/// connections and (unless TLS `handshake_first` is set) it sends an `INFO` line.
#[derive(Debug)]
pub struct NatsServer {
    bin: PathBuf,
    dir: TempDir,
    layout: Layout,
    sends_info_first: bool,
    jetstream: bool,
    child: Option<Child>,
    pid: u32,
}

impl NatsServer {
    /// Starts a plain server (no auth, TLS or JetStream).
    pub fn start() -> Result<Self, HarnessError> {
        ServerBuilder::new().start()
    }

    /// A builder for a server with options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// Starts `builder`'s server on fresh ports, retrying with new ports when a port was
    /// taken by someone else between picking and binding.
    pub(crate) fn start_with(builder: ServerBuilder) -> Result<Self, HarnessError> {
        let bin = find_nats_server()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wanted =
                1 + usize::from(builder.monitoring) + usize::from(builder.websocket.is_some());
            let ports = free_ports(wanted)?;
            let mut extra = ports[1..].iter().copied();
            let layout = Layout {
                port: ports[0],
                monitor_port: builder.monitoring.then(|| extra.next()).flatten(),
                ws_port: builder.websocket.is_some().then(|| extra.next()).flatten(),
                cluster: None,
            };
            let mut server = NatsServer::prepare(&bin, &builder, layout)?;
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(e) if e.is_address_in_use() && attempt < crate::PORT_RETRIES => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates the temp dir and writes the config, without starting the process.
    pub(crate) fn prepare(
        bin: &Path,
        builder: &ServerBuilder,
        layout: Layout,
    ) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("natsy-nats-server-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the server temp dir", e))?;
        let config = builder.render(&layout, dir.path());
        let server = NatsServer {
            bin: bin.to_path_buf(),
            dir,
            layout,
            sends_info_first: builder.sends_info_first(),
            jetstream: builder.jetstream.is_some(),
            child: None,
            pid: 0,
        };
        fs::write(server.config_path(), config)
            .map_err(|e| HarnessError::io("writing the server config file", e))?;
        Ok(server)
    }

    /// Spawns the process with the existing config and waits until it is ready.
    pub(crate) fn spawn_and_wait(&mut self) -> Result<(), HarnessError> {
        self.spawn()?;
        self.wait_ready(START_TIMEOUT)
    }

    fn spawn(&mut self) -> Result<(), HarnessError> {
        let console = File::options()
            .create(true)
            .append(true)
            .open(self.console_path())
            .map_err(|e| HarnessError::io("opening console.log", e))?;
        let console_err = console
            .try_clone()
            .map_err(|e| HarnessError::io("opening console.log", e))?;
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_path())
            .arg("-l")
            .arg(self.log_path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawning {}", self.bin.display()), e))?;
        self.pid = child.id();
        self.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let started = Instant::now();
        let ready_line = format!("[{}] ", self.pid);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(HarnessError::Exited {
                        status,
                        log_tail: self.log_tail(),
                    });
                }
            }
            if self.log_says_ready(&ready_line) && self.port_answers() {
                return Ok(());
            }
            if started.elapsed() > timeout {
                let log_tail = self.log_tail();
                self.kill_child();
                return Err(HarnessError::StartTimeout {
                    waited: timeout,
                    log_tail,
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// True when this process (by pid prefix) logged "Server is ready".
    fn log_says_ready(&self, pid_prefix: &str) -> bool {
        fs::read_to_string(self.log_path())
            .map(|log| {
                log.lines()
                    .any(|l| l.starts_with(pid_prefix) && l.ends_with("Server is ready"))
            })
            .unwrap_or(false)
    }

    fn port_answers(&self) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.layout.port));
        if self.sends_info_first {
            return probe::read_info(self.layout.port, Duration::from_millis(500)).is_ok();
        }
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.layout.port)
    }

    /// `tls://127.0.0.1:<port>`, for clients that should insist on TLS.
    pub fn tls_url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.layout.port)
    }

    /// `ws://127.0.0.1:<websocket port>` (with [`ServerBuilder::websocket`]).
    ///
    /// [`ServerBuilder::websocket`]: crate::ServerBuilder::websocket
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.layout.ws_port.unwrap_or(0))
    }

    /// `wss://127.0.0.1:<websocket port>` (with [`ServerBuilder::websocket_tls`]).
    ///
    /// [`ServerBuilder::websocket_tls`]: crate::ServerBuilder::websocket_tls
    pub fn wss_url(&self) -> String {
        format!("wss://127.0.0.1:{}", self.layout.ws_port.unwrap_or(0))
    }

    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.layout.port
    }

    /// The client address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.layout.port))
    }

    /// The HTTP monitoring port, if enabled ([`ServerBuilder::monitoring`], cluster nodes).
    pub fn monitor_port(&self) -> Option<u16> {
        self.layout.monitor_port
    }

    /// The cluster (route) port, for cluster nodes.
    pub fn cluster_port(&self) -> Option<u16> {
        self.layout.cluster.as_ref().map(|c| c.port)
    }

    /// The process id of the most recently started process (it may have exited since).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// True while the process is running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Ok while the process runs; [`HarnessError::Exited`] (with the log tail) if it died,
    /// [`HarnessError::Probe`] if it was stopped on purpose.
    pub fn ensure_running(&mut self) -> Result<(), HarnessError> {
        let Some(child) = self.child.as_mut() else {
            return Err(HarnessError::Probe {
                what: self.url(),
                detail: "the server is stopped".to_string(),
            });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(HarnessError::Exited {
                    status,
                    log_tail: self.log_tail(),
                })
            }
            Err(e) => Err(HarnessError::io("checking the server process", e)),
        }
    }

    /// The server's temp dir (config, logs, JetStream store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.conf")
    }

    /// The server's log file (`-l`).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// The process's stdout and stderr (config errors end up here).
    pub fn console_path(&self) -> PathBuf {
        self.dir.path().join("console.log")
    }

    /// The JetStream store dir, when JetStream is enabled.
    pub fn store_dir(&self) -> Option<PathBuf> {
        self.jetstream.then(|| self.dir.path().join("jetstream"))
    }

    /// The last few KiB of the console output and the log file, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for (name, path) in [
            ("console.log", self.console_path()),
            ("nats-server.log", self.log_path()),
        ] {
            let tail = read_tail(&path, LOG_TAIL_BYTES);
            if !tail.trim().is_empty() {
                out.push_str(&format!("--- {name} ({}) ---\n{tail}\n", path.display()));
            }
        }
        if out.is_empty() {
            out.push_str("(no output)");
        }
        out
    }

    /// Connects to the client port and returns the `INFO` JSON the server sends (a TLS
    /// `handshake_first` server sends none, so this times out there).
    pub fn info(&self) -> Result<Value, HarnessError> {
        probe::read_info(self.layout.port, Duration::from_secs(2))
    }

    /// `GET <path>` on the monitoring port, parsed as JSON (e.g. `"/varz"`, `"/routez"`).
    pub fn monitor_json(&self, path: &str) -> Result<Value, HarnessError> {
        let port = self
            .layout
            .monitor_port
            .ok_or_else(|| HarnessError::Probe {
                what: format!("GET {path}"),
                detail: "monitoring is not enabled on this server".to_string(),
            })?;
        probe::http_get_json(port, path, Duration::from_secs(2))
    }

    /// Stops the server gracefully: SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL.
    /// Does nothing if it is not running.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        signal::send(self.pid, "TERM")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(());
                }
            }
        }
    }

    /// Stops the server (gracefully) and starts it again on the same ports with the same
    /// config and temp dir, so a JetStream file store survives.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop()?;
        self.spawn_and_wait()
    }

    /// Starts the server again after [`NatsServer::stop`] or [`NatsServer::kill_hard`]
    /// (same ports, config and temp dir). Does nothing if it is running.
    pub fn start_again(&mut self) -> Result<(), HarnessError> {
        if self.is_running() {
            return Ok(());
        }
        self.spawn_and_wait()
    }

    /// Kills the server with SIGKILL (no shutdown, no flush) and reaps it.
    pub fn kill_hard(&mut self) {
        self.kill_child();
    }

    /// Puts the server into lame duck mode (`nats-server --signal ldm=<pid>`): it stops
    /// accepting clients, sends `INFO` with `"ldm":true` and closes clients over
    /// `lame_duck_duration` (see [`ServerBuilder::lame_duck`]).
    pub fn signal_lame_duck(&self) -> Result<(), HarnessError> {
        let status = Command::new(&self.bin)
            .arg("--signal")
            .arg(format!("ldm={}", self.pid))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| HarnessError::io("running nats-server --signal ldm", e))?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::Probe {
                what: format!("nats-server --signal ldm={}", self.pid),
                detail: format!("exited with {status}"),
            })
        }
    }

    /// Asks the server to reload its config file (SIGHUP). Edit [`NatsServer::config_path`]
    /// first.
    pub fn reload(&self) -> Result<(), HarnessError> {
        signal::send(self.pid, "HUP")
    }

    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill_child();
        if thread::panicking() {
            eprintln!(
                "nats-server {} (pid {}) at test failure:\n{}",
                self.url(),
                self.pid,
                self.log_tail()
            );
        }
        if std::env::var_os(KEEP_DIRS_ENV).is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("kept nats-server dir {}", self.dir.path().display());
        }
    }
}

/// The last `max` bytes of a file, lossily decoded; empty if it cannot be read.
fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}
