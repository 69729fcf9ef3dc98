//! Live reload (docs/behaviour.md#live-reload): with `settings.reload` (the default in
//! the foreground), a saved change to the manifest is applied like a second `bts up` —
//! new tasks start, changed ones restart, removed ones stop, unchanged ones keep their
//! run. Saves are debounced; a save that leaves the bytes as they were does nothing; an
//! invalid edit is reported with its file and line and changes nothing.

use std::time::Duration;

use tokio::time::Instant;

use crate::output::Level;

use super::executor::{Msg, Supervisor};

/// Quiet time after the last save before the manifest is read (an editor's save is
/// often several events).
pub(super) const RELOAD_DEBOUNCE: Duration = Duration::from_millis(300);

impl Supervisor {
    /// Watch the manifest when live reload is on.
    pub(super) fn start_manifest_watch(&mut self) {
        if !self.opts.live_reload {
            return;
        }
        self.manifest_bytes = manifest_hash(&self.manifest_path, &self.manifest_includes);
        let tx = self.tx.clone();
        let mut files = vec![self.manifest_path.clone()];
        files.extend(self.manifest_includes.iter().cloned());
        match crate::filewatch::watch_files(&files, move || {
            let _ = tx.send(Msg::ManifestChanged);
        }) {
            Ok(w) => self.manifest_watch = Some(w),
            Err(e) => self.out.event(
                Level::Warn,
                &format!("live reload is off: {e} (SIGHUP or a second `bts up` still reload)"),
            ),
        }
    }

    /// A save was seen: read the manifest once the saves have stopped.
    pub(super) fn manifest_changed(&mut self) {
        self.reload_at = Some(Instant::now() + RELOAD_DEBOUNCE);
    }

    /// The saves stopped: apply the manifest if its bytes (or its included files')
    /// changed.
    pub(super) fn live_reload(&mut self) {
        self.reload_at = None;
        let now = manifest_hash(&self.manifest_path, &self.manifest_includes);
        if now == self.manifest_bytes {
            return;
        }
        self.manifest_bytes = now;
        let path = self.manifest_path.clone();
        let shown = crate::digest::relative(&path).display().to_string();
        self.out
            .event(Level::Info, &format!("{shown} changed: applying it"));
        let patterns = self.opts.patterns.clone();
        let before = self.manifest_includes.clone();
        // Like a second `bts up` of the whole file: changed tasks restart even when this
        // supervisor was started with task names.
        let result = self.reload(&path, &patterns, &[], false, None, true);
        if self.manifest_includes != before {
            // Another set of files: watch (and hash) those.
            self.manifest_watch = None;
            self.start_manifest_watch();
        }
        if let Err(r) = result {
            // The diagnostics name the file, line and column.
            let why = r.error.as_deref().unwrap_or("it has errors");
            self.out.event(
                Level::Error,
                &format!("{shown} not applied, nothing changed:\n{why}"),
            );
        }
    }
}

/// The bytes of the manifest and the files it includes, hashed (`None` when the
/// manifest cannot be read: a save in progress).
fn manifest_hash(path: &std::path::Path, includes: &[std::path::PathBuf]) -> Option<u64> {
    let mut all = std::fs::read(path).ok()?;
    for f in includes {
        all.extend_from_slice(&std::fs::read(f).unwrap_or_default());
        all.push(0);
    }
    Some(crate::hash::fnv1a(&all))
}
