//! `watch:` — restart a task when files under its cwd change. One recursive OS watcher
//! (inotify, FSEvents, …) per task; events are filtered by the task's globs (relative to
//! its cwd) with `.git/`, `node_modules/` and the state dir ignored, and handed to the
//! supervisor, which debounces them.

use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use notify::{EventKind, RecursiveMode, Watcher};

/// Directories whose changes never restart a task.
const IGNORED_DIRS: [&str; 2] = [".git", "node_modules"];

/// Keeps the OS watcher alive; dropping it stops watching.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Watch `cwd` recursively; `on_change` gets the path (relative to `cwd`) of every
/// created, modified, renamed or removed file that matches `globs`.
pub fn start(
    cwd: &Path,
    globs: &[String],
    state_dir: &Path,
    on_change: impl Fn(PathBuf) + Send + 'static,
) -> Result<FileWatch, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|e| format!("bad watch glob `{g}`: {e}"))?);
    }
    let set: GlobSet = b.build().map_err(|e| e.to_string())?;
    // Canonical paths: events come with the real path even when cwd is reached through
    // a symlink (/tmp on macOS).
    let root = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let state = state_dir
        .canonicalize()
        .unwrap_or_else(|_| state_dir.to_path_buf());
    let base = root.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Some(event) = changed(res) else { return };
        for path in event.paths {
            if let Some(rel) = relevant(&base, &state, &set, &path) {
                on_change(rel);
            }
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", cwd.display()))?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e}", cwd.display()))?;
    Ok(FileWatch { _watcher: watcher })
}

/// Watch these files (the manifest and the files it includes): `on_change` is called for
/// each event on one of them. Each file's directory is watched, not the file itself, so
/// an editor that saves by writing a new file and renaming it over the old one is seen.
pub fn watch_files(
    files: &[PathBuf],
    on_change: impl Fn() + Send + 'static,
) -> Result<FileWatch, String> {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let wanted: Vec<PathBuf> = files.iter().map(|f| canon(f)).collect();
    let mut dirs: Vec<PathBuf> = wanted
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    let names = wanted.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Some(event) = changed(res) else { return };
        if event.paths.iter().any(|p| names.iter().any(|n| n == p)) {
            on_change();
        }
    })
    .map_err(|e| format!("cannot watch the manifest: {e}"))?;
    for d in &dirs {
        watcher
            .watch(d, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", d.display()))?;
    }
    Ok(FileWatch { _watcher: watcher })
}

/// An event that changed files (created, modified, renamed or removed them).
fn changed(res: notify::Result<notify::Event>) -> Option<notify::Event> {
    let event = res.ok()?;
    matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    )
    .then_some(event)
}

/// The path relative to `root` if it matches the globs and is not ignored.
fn relevant(root: &Path, state_dir: &Path, set: &GlobSet, path: &Path) -> Option<PathBuf> {
    if path.starts_with(state_dir) {
        return None;
    }
    let rel = path.strip_prefix(root).ok()?;
    let ignored = rel
        .components()
        .any(|c| matches!(c, Component::Normal(n) if IGNORED_DIRS.iter().any(|d| n == *d)));
    (!ignored && set.is_match(rel)).then(|| rel.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_glob_and_ignores() {
        let set = {
            let mut b = GlobSetBuilder::new();
            b.add(Glob::new("src/**/*.ts").unwrap());
            b.add(Glob::new("*.toml").unwrap());
            b.build().unwrap()
        };
        let root = Path::new("/p");
        let state = Path::new("/p/.bts");
        let r = |p: &str| relevant(root, state, &set, Path::new(p));
        assert_eq!(r("/p/src/a/b.ts"), Some(PathBuf::from("src/a/b.ts")));
        assert_eq!(r("/p/Cargo.toml"), Some(PathBuf::from("Cargo.toml")));
        assert_eq!(r("/p/src/a/b.js"), None);
        assert_eq!(r("/p/node_modules/x/src/y.ts"), None);
        assert_eq!(r("/p/.bts/x.toml"), None);
        assert_eq!(r("/p/.git/config.toml"), None);
        assert_eq!(r("/elsewhere/x.toml"), None);
    }
}
