//! The state directory (`.bts/` by default): created on first use with mode 0700 and a
//! `.gitignore` of `*` so it is never committed; knows where each file lives.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state dir at `root`, without touching the disk.
    pub fn at(root: &Path) -> Self {
        StateDir {
            root: root.to_path_buf(),
        }
    }

    /// Create the directory tree if needed.
    pub fn ensure(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(StateDir::at(root).logs_dir())?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            fs::write(&ignore, "*\n")?;
        }
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `logs/`: each task's current log and its rotations.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `logs/<task>.log`.
    pub fn log_path(&self, task: &str) -> PathBuf {
        self.logs_dir().join(format!("{task}.log"))
    }

    /// `state.json`: the supervisor and every task's process (see `state_file`).
    pub fn state_path(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// `events.jsonl`: start receipts, state changes, stop receipts.
    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    /// `audit.log`: destructive approvals, checkpoints and results.
    pub fn audit_path(&self) -> PathBuf {
        self.root.join("audit.log")
    }

    /// `supervisor.log`: the output of a detached supervisor.
    pub fn supervisor_log_path(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }

    /// `digest.json`: the digest of every task.
    pub fn digest_path(&self) -> PathBuf {
        self.root.join("digest.json")
    }

    /// `digests/`: one `<task>.json` digest per task.
    pub fn digests_dir(&self) -> PathBuf {
        self.root.join("digests")
    }

    /// `archive/`: gzipped logs of stopped runs and `bts archive-logs`.
    pub fn archive_dir(&self) -> PathBuf {
        self.root.join("archive")
    }

    /// `supervisor.lock`: the file the supervisor lock is taken on.
    fn lock_path(&self) -> PathBuf {
        self.root.join("supervisor.lock")
    }
}

/// The supervisor's exclusive lock on its state dir, held for its whole life (an OS file
/// lock, so it is released even if the supervisor is killed).
pub struct SupervisorLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl StateDir {
    /// Take the supervisor lock; `Ok(None)` when another supervisor holds it.
    pub fn try_lock(&self) -> io::Result<Option<SupervisorLock>> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(SupervisorLock { _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io::Error::from(e)),
        }
    }

    /// Whether a supervisor holds the lock right now.
    pub fn supervisor_running(&self) -> bool {
        if !self.lock_path().exists() {
            return false;
        }
        matches!(self.try_lock(), Ok(None))
    }

    /// Wait (polling the lock) until no supervisor holds it, at most `timeout`; whether
    /// it is gone.
    pub fn wait_until_no_supervisor(&self, timeout: std::time::Duration) -> bool {
        let end = std::time::Instant::now() + timeout;
        while self.supervisor_running() {
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        true
    }

    /// Where the control socket goes: in the state dir, or — when that path is too long
    /// for a Unix socket (~104 bytes on macOS, 108 on Linux) — a name hashed from it in a
    /// private directory under `$XDG_RUNTIME_DIR` or /tmp.
    pub fn socket_path(&self) -> io::Result<PathBuf> {
        let direct = self.root.join("bts.sock");
        if direct.as_os_str().len() < 100 {
            return Ok(direct);
        }
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let dir = base.join(format!("bts-{}", nix::unistd::getuid()));
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let h = crate::hash::fnv1a(self.root.as_os_str().as_encoded_bytes());
        Ok(dir.join(format!("{h:016x}.sock")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_state_dir_gets_a_short_private_socket_path() {
        let short = StateDir::at(Path::new("/tmp/p/.bts"));
        assert_eq!(
            short.socket_path().unwrap(),
            Path::new("/tmp/p/.bts/bts.sock")
        );
        let deep = format!("/tmp/{}/.bts", "d".repeat(150));
        let long = StateDir::at(Path::new(&deep));
        let sock = long.socket_path().unwrap();
        assert!(sock.as_os_str().len() < 100, "{}", sock.display());
        assert!(sock.extension().is_some_and(|e| e == "sock"));
        let dir = sock.parent().unwrap();
        assert_eq!(
            fs::metadata(dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Stable: the same state dir always maps to the same socket.
        assert_eq!(long.socket_path().unwrap(), sock);
    }
}
