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
        StateDir { root: root.to_path_buf() }
    }

    /// Create the directory tree if needed.
    pub fn ensure(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("logs"))?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            fs::write(&ignore, "*\n")?;
        }
        Ok(StateDir { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn log_path(&self, task: &str) -> PathBuf {
        self.root.join("logs").join(format!("{task}.log"))
    }
}
