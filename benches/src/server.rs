//! A local `nats-server` for benchmarks run without `--url`: found (or installed with
//! `tests/install-nats-server`), started with JetStream on a free loopback port and a
//! temporary store directory, and killed when dropped — or, on Ctrl-C, by
//! [`stop_started_servers`], which knows every server started and not yet dropped.
//!
//! [`LocalServer::start_with_websocket`] adds a plain-text `websocket` listener on a
//! second free port (for the comparison's WebSocket rows).
//!
//! Lookup order, the same as the test harness and `tests/install-nats-server`:
//! `$NATS_SERVER_BIN`, the repository's `.nats-server/`, then `PATH`.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why no server could be started.
#[derive(Debug)]
pub struct ServerError(pub String);

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerError {}

/// The repository root (the parent of `benches/`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `nats-server` without installing anything.
pub fn find_nats_server() -> Result<Option<PathBuf>, ServerError> {
    if let Some(v) = std::env::var_os("NATS_SERVER_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(v);
        // A set variable must be right: falling back would bench another server.
        return if is_executable(&path) {
            Ok(Some(path))
        } else {
            Err(ServerError(format!(
                "NATS_SERVER_BIN={} is not an executable file",
                path.display()
            )))
        };
    }
    let local = repo_root().join(".nats-server");
    for candidate in [local.join("nats-server"), local.join("pip/bin/nats-server")] {
        if is_executable(&candidate) {
            return Ok(Some(candidate));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if is_executable(&candidate) {
                return Ok(Some(candidate));
            }
        }
    }
    Ok(None)
}

/// Finds `nats-server`, installing the pinned one with `tests/install-nats-server` if
/// there is none.
pub fn find_or_install_nats_server() -> Result<PathBuf, ServerError> {
    if let Some(path) = find_nats_server()? {
        return Ok(path);
    }
    let script = repo_root().join("tests/install-nats-server");
    eprintln!(
        "nats-server not found; installing it with {}",
        script.display()
    );
    let out = Command::new(&script)
        .arg("--path")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| ServerError(format!("cannot run {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(ServerError(format!(
            "{} failed ({})",
            script.display(),
            out.status
        )));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ServerError(format!(
            "{} printed {}, which is not an executable file",
            script.display(),
            path.display()
        )))
    }
}

/// A running local server; killed (and its store removed) on drop.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    port: u16,
    /// The `websocket` listener's port, if it has one.
    ws_port: Option<u16>,
    dir: tempfile::TempDir,
}

/// A server process this program started, and its temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The server's process id.
    pub pid: u32,
    /// Its temporary directory (the JetStream store and the log).
    pub dir: PathBuf,
}

/// Every server started and not yet stopped.
static STARTED: Mutex<Vec<Started>> = Mutex::new(Vec::new());

fn started() -> MutexGuard<'static, Vec<Started>> {
    STARTED.lock().unwrap_or_else(|e| e.into_inner())
}

fn forget(pid: u32) {
    started().retain(|s| s.pid != pid);
}

/// Kills every server this program started and has not stopped (SIGKILL, then waits for
/// it), removes their directories, and returns what it stopped. Meant for Ctrl-C: the
/// registry stays locked until the returned guard is dropped, so a [`LocalServer`]
/// dropped meanwhile on another thread waits instead of killing a pid already reaped.
pub fn stop_started_servers() -> (Vec<Started>, MutexGuard<'static, Vec<Started>>) {
    let mut guard = started();
    let stopped = std::mem::take(&mut *guard);
    for s in &stopped {
        if let Some(pid) = i32::try_from(s.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        }
        let _ = std::fs::remove_dir_all(&s.dir);
    }
    (stopped, guard)
}

fn free_port() -> Result<u16, ServerError> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| ServerError(format!("no free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ServerError(format!("no free port: {e}")))
}

/// The configuration file of a server with a `websocket` listener on `port`: plain text
/// (`no_tls`, loopback only) and compression off, so a WebSocket row measures the
/// framing, not deflate (neither client offers it anyway). Everything else comes from
/// the command line.
pub fn websocket_config(port: u16) -> String {
    format!(
        "websocket {{\n  listen: \"127.0.0.1:{port}\"\n  no_tls: true\n  compression: false\n}}\n"
    )
}

/// Whether `port` accepts a TCP connection.
fn accepts(port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Whether something on `port` answers like a NATS server (sends an `INFO` line).
fn answers_info(port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut line = String::new();
    let mut reader = BufReader::new(stream.take(64 * 1024));
    reader.read_line(&mut line).is_ok() && line.starts_with("INFO ")
}

impl LocalServer {
    /// Starts `binary` with JetStream on a free loopback port and waits (up to 10 s)
    /// until it accepts clients. Tries a few ports in case another process takes the
    /// chosen one first.
    pub fn start(binary: &Path) -> Result<LocalServer, ServerError> {
        Self::start_listening(binary, false)
    }

    /// [`LocalServer::start`], plus a plain-text `websocket` listener (see
    /// [`websocket_config`]) on another free port: [`LocalServer::ws_url`].
    pub fn start_with_websocket(binary: &Path) -> Result<LocalServer, ServerError> {
        Self::start_listening(binary, true)
    }

    fn start_listening(binary: &Path, websocket: bool) -> Result<LocalServer, ServerError> {
        let mut last = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("natsy-bench-")
                .tempdir()
                .map_err(|e| ServerError(format!("no temporary directory: {e}")))?;
            let port = free_port()?;
            let log = dir.path().join("server.log");
            let mut command = Command::new(binary);
            let ws_port = if websocket {
                // The command line has no websocket flags: a file holds that block, and
                // the flags below (which win over a file) everything else.
                let ws_port = free_port()?;
                let conf = dir.path().join("server.conf");
                std::fs::write(&conf, websocket_config(ws_port))
                    .map_err(|e| ServerError(format!("cannot write {}: {e}", conf.display())))?;
                command.arg("-c").arg(conf);
                Some(ws_port)
            } else {
                None
            };
            let mut child = command
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir.path().join("js"))
                .arg("-l")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ServerError(format!("cannot start {}: {e}", binary.display())))?;
            started().push(Started {
                pid: child.id(),
                dir: dir.path().to_path_buf(),
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if answers_info(port) && ws_port.is_none_or(accepts) {
                    return Ok(LocalServer {
                        child,
                        port,
                        ws_port,
                        dir,
                    });
                }
                if let Ok(Some(status)) = child.try_wait() {
                    forget(child.id());
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    last = format!("nats-server exited ({status}): {}", text.trim());
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    forget(child.id());
                    last = format!("nats-server did not accept clients on port {port} in 10 s");
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(ServerError(last))
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The WebSocket URL, `ws://127.0.0.1:<port>`, of a server started with
    /// [`LocalServer::start_with_websocket`].
    pub fn ws_url(&self) -> Option<String> {
        self.ws_port.map(|p| format!("ws://127.0.0.1:{p}"))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its temporary directory: the JetStream store (`js/`) and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let mut guard = started();
        let pid = self.child.id();
        // Not in the registry: already killed and reaped by stop_started_servers.
        if guard.iter().any(|s| s.pid == pid) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            guard.retain(|s| s.pid != pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_root_holds_the_install_script() {
        assert!(repo_root().join("tests/install-nats-server").is_file());
        assert!(repo_root().join("benches/Cargo.toml").is_file());
    }

    #[test]
    fn stopping_with_nothing_started_stops_nothing() {
        let (stopped, _guard) = stop_started_servers();
        assert!(stopped.is_empty());
    }

    #[test]
    fn the_websocket_block_is_plain_text_on_loopback_without_compression() {
        assert_eq!(
            websocket_config(4443),
            "websocket {\n  listen: \"127.0.0.1:4443\"\n  no_tls: true\n  compression: false\n}\n"
        );
    }

    #[test]
    fn a_port_that_sends_no_info_is_not_a_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            use std::io::Write;
            s.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        });
        assert!(!answers_info(port));
        t.join().unwrap();
        assert!(!answers_info(free_port().unwrap()));
    }
}
