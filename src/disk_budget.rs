//! The disk budget of the state dir (`settings.max_disk`, docs/behaviour.md#disk-budget):
//! what `.bts/` holds in all, and which files may go when that is over the budget —
//! archives (`archive/`) and rotated logs (`logs/*.log.N.gz`), oldest first. The current
//! logs, the audit log and everything else are counted but never removed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::state_dir::StateDir;

/// Share of the budget from which `bts status` shows the state dir's size.
pub const SHOW_FROM: f64 = 0.8;

/// A file the budget may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removable {
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// What the state dir holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of every regular file under it.
    pub total: u64,
    /// Archives and rotations, in no order.
    pub removable: Vec<Removable>,
}

/// What one pass of the budget did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Removed files and their sizes, oldest first.
    pub removed: Vec<(PathBuf, u64)>,
    /// The state dir's size after the pass.
    pub total: u64,
}

/// Walk the state dir (symlinks are not followed).
pub fn measure(sd: &StateDir) -> Usage {
    let mut usage = Usage::default();
    let archives = sd.archive_dir();
    let logs = sd.logs_dir();
    walk(sd.root(), &mut |path, meta| {
        usage.total += meta.len();
        // An archive being written (`….gz.tmp.PID`) is not removable yet.
        let writing = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".tmp"));
        let in_archive = path.parent() == Some(archives.as_path()) && !writing;
        let rotation = path.parent() == Some(logs.as_path()) && is_rotation(path);
        if in_archive || rotation {
            usage.removable.push(Removable {
                path: path.to_path_buf(),
                bytes: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    });
    usage
}

/// `web.log.2.gz`: a rotation of a task's log.
fn is_rotation(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(stem) = name.strip_suffix(".gz") else {
        return false;
    };
    stem.rsplit_once('.')
        .is_some_and(|(log, n)| log.ends_with(".log") && n.parse::<u32>().is_ok())
}

fn walk(dir: &Path, visit: &mut impl FnMut(&Path, &std::fs::Metadata)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        let path = e.path();
        if meta.is_dir() {
            walk(&path, visit);
        } else if meta.is_file() {
            visit(&path, &meta);
        }
    }
}

/// The files to remove so that `usage` fits in `max` bytes: oldest first, as few as
/// needed. When even all of them would not do, all of them.
pub fn plan(usage: &Usage, max: u64) -> Vec<Removable> {
    if usage.total <= max {
        return vec![];
    }
    let mut candidates = usage.removable.clone();
    candidates.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.path.cmp(&b.path)));
    let mut total = usage.total;
    let mut out = vec![];
    for c in candidates {
        if total <= max {
            break;
        }
        total = total.saturating_sub(c.bytes);
        out.push(c);
    }
    out
}

/// Measure the state dir and remove what the plan says.
pub fn enforce(sd: &StateDir, max: u64) -> Pruned {
    let usage = measure(sd);
    let mut pruned = Pruned {
        removed: vec![],
        total: usage.total,
    };
    for r in plan(&usage, max) {
        // A file gone meanwhile (a second supervisor's pass) is fine.
        if std::fs::remove_file(&r.path).is_ok() {
            pruned.total = pruned.total.saturating_sub(r.bytes);
            pruned.removed.push((r.path, r.bytes));
        }
    }
    pruned
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(path: &Path, bytes: usize, age_secs: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![b'x'; bytes]).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
    }

    #[test]
    fn oldest_archives_and_rotations_go_first_never_current_logs_or_audit() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::at(dir.path());
        let logs = sd.logs_dir();
        let archive = sd.archive_dir();
        file(&logs.join("web.log"), 5000, 1000);
        file(&sd.audit_path(), 3000, 2000);
        file(&logs.join("web.log.1.gz"), 1000, 50);
        file(&logs.join("web.log.2.gz"), 1000, 100);
        file(&archive.join("web-2026-11-29T101010Z.log.gz"), 2000, 500);
        file(&archive.join("web-2026-11-30T101010Z.log.gz"), 2000, 10);
        let usage = measure(&sd);
        assert_eq!(usage.total, 14_000);
        assert_eq!(usage.removable.len(), 4);
        // 14,000 into 10,000: the oldest archive (2,000), then the oldest rotation
        // (1,000), then the next rotation (1,000).
        let plan: Vec<String> = plan(&usage, 10_000)
            .iter()
            .map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            plan,
            [
                "web-2026-11-29T101010Z.log.gz",
                "web.log.2.gz",
                "web.log.1.gz"
            ]
        );
        assert!(super::plan(&usage, 14_000).is_empty(), "within the budget");
        // Over even with everything removable gone: all of it, never the rest.
        let pruned = enforce(&sd, 1000);
        assert_eq!(pruned.removed.len(), 4);
        assert_eq!(pruned.total, 8000);
        assert!(logs.join("web.log").exists() && sd.audit_path().exists());
        assert_eq!(measure(&sd).total, 8000);
    }

    #[test]
    fn rotations_are_told_from_other_files() {
        assert!(is_rotation(Path::new("logs/web.log.3.gz")));
        assert!(is_rotation(Path::new("logs/my.api.log.12.gz")));
        assert!(!is_rotation(Path::new("logs/web.log")));
        assert!(!is_rotation(Path::new("logs/web.log.gz")));
        assert!(!is_rotation(Path::new("logs/web.log.x.gz")));
        assert!(!is_rotation(Path::new("logs/web.1.gz")));
    }
}
