//! Finds the `nats-server` executable: `NATS_SERVER_BIN`, then the repository's own
//! `.nats-server/` folder (filled by `tests/install-nats-server`), then `PATH`.

use std::env;
use std::path::{Path, PathBuf};

use crate::HarnessError;

/// The environment variable that names the `nats-server` binary explicitly.
pub const NATS_SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The places inside the repository's `.nats-server/` folder where
/// `tests/install-nats-server` may have put the binary, in lookup order.
pub fn project_local_candidates() -> Vec<PathBuf> {
    let base = repo_root().join(".nats-server");
    vec![
        base.join("nats-server"),
        base.join("pip").join("bin").join("nats-server"),
    ]
}

/// Finds the `nats-server` binary.
///
/// Lookup order: the `NATS_SERVER_BIN` environment variable (an error if set to something
/// that is not an executable file), then [`project_local_candidates`], then every
/// directory of `PATH`. The error message tells the reader to run
/// `tests/install-nats-server`.
pub fn find_nats_server() -> Result<PathBuf, HarnessError> {
    if let Some(value) = env::var_os(NATS_SERVER_BIN_ENV) {
        if !value.is_empty() {
            let path = PathBuf::from(value);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(HarnessError::BinaryEnvInvalid { path })
            };
        }
    }
    let mut searched = vec![format!("${NATS_SERVER_BIN_ENV} (unset)")];
    for candidate in project_local_candidates() {
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        searched.push(candidate.display().to_string());
    }
    if let Some(path_var) = env::var_os("PATH") {
        for dir in env::split_paths(&path_var) {
            let candidate = dir.join("nats-server");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    searched.push("every directory of $PATH".to_string());
    Err(HarnessError::BinaryNotFound { searched })
}

/// True when `path` is a regular file with an execute bit set.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match path.metadata() {
        Ok(meta) => meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_local_candidates_live_in_the_repo_root() {
        for c in project_local_candidates() {
            assert!(c.starts_with(repo_root().join(".nats-server")), "{c:?}");
        }
        assert!(repo_root().join("Cargo.toml").is_file());
    }

    #[test]
    fn a_non_executable_file_is_not_a_binary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nats-server");
        std::fs::write(&file, "not a program").unwrap();
        assert!(!is_executable(&file));
        assert!(!is_executable(dir.path()));
    }
}
