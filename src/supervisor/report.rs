//! What the supervisor reports on its own: digest files (`digests/<task>.json` and
//! `digest.json`, debounced after changes and every `digest_interval`), the periodic
//! digest block in the terminal, the `NOTES.md` section, and CPU/memory samples.

use std::path::Path;

use super::Supervisor;
use crate::digest::{self, Digest};
use crate::lifecycle::TaskState;
use crate::output::Level;
use crate::state_file as state;

const BEGIN: &str = "<!-- bts:begin -->";
const END: &str = "<!-- bts:end -->";
const HEADING: &str = "## Background Tasks";

impl Supervisor {
    /// Digests of the tasks this supervisor runs (selected, or ever started).
    fn live_digests(&self) -> Vec<Digest> {
        (0..self.slots.len())
            .filter(|&i| !self.slots[i].removed)
            .map(|i| self.digest(i))
            .collect()
    }

    /// Write every digest file and the notes section.
    pub(super) fn write_digests(&mut self) {
        let digests = self.live_digests();
        let dir = self.state_dir.digests_dir();
        let red = self.out.redactor();
        let result = std::fs::create_dir_all(&dir).and_then(|_| {
            for d in &digests {
                let json = serde_json::to_string_pretty(d).map_err(std::io::Error::other)?;
                state::write_atomic(
                    &dir.join(format!("{}.json", d.task)),
                    red.redact_str(&json).as_bytes(),
                )?;
            }
            let all = serde_json::json!({
                "project": self.project,
                "updated_at": crate::clock::now_rfc3339(),
                "tasks": digests,
            });
            let json = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
            state::write_atomic(
                &self.state_dir.digest_path(),
                red.redact_str(&json).as_bytes(),
            )
        });
        if let Err(e) = result {
            self.out
                .event(Level::Warn, &format!("cannot write digests: {e}"));
        }
        if let Some(notes) = self.notes.clone() {
            let section = red
                .redact_str(&notes_section(&self.project, &digests, self))
                .into_owned();
            if let Err(e) = update_notes(&notes, &section) {
                self.out.event(
                    Level::Warn,
                    &format!("cannot update {}: {e}", notes.display()),
                );
            }
        }
    }

    /// Every `digest_interval`: the digest block in the terminal, the files, and a new
    /// period for the error and warning counts.
    pub(super) fn periodic_digest(&mut self) {
        let digests: Vec<Digest> = self
            .live_digests()
            .into_iter()
            .filter(|d| !(d.status == TaskState::Stopped && d.detail == "not started"))
            .collect();
        self.out
            .event(Level::Info, &format!("digest of {} tasks:", digests.len()));
        for d in &digests {
            for line in digest::render_text(d).lines() {
                self.out.event(Level::Info, line);
            }
        }
        self.write_digests();
        for s in &self.slots {
            let mut st = s.stats.lock().unwrap_or_else(|e| e.into_inner());
            st.errors = 0;
            st.warnings = 0;
        }
    }

    /// Sample CPU and memory of every running task's group.
    pub(super) fn sample_usage(&mut self, procs: &[crate::process::table::Proc]) {
        let pgids: Vec<i32> = self
            .slots
            .iter()
            .filter_map(|s| s.run.as_ref().map(|r| r.pid))
            .collect();
        let usage = self.sampler.sample(procs, &pgids);
        for s in &mut self.slots {
            s.usage = s.run.as_ref().and_then(|r| usage.get(&r.pid).copied());
        }
    }
}

/// The notes section: active tasks as a table, then recent ones on a line.
fn notes_section(project: &str, digests: &[Digest], sup: &Supervisor) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "_Managed by bts for `{project}`: `bts status` for details, `bts logs TASK` for output._"
    );
    let _ = writeln!(s);
    let active: Vec<&Digest> = digests.iter().filter(|d| d.status.is_active()).collect();
    if active.is_empty() {
        let _ = writeln!(s, "No task is running.");
    } else {
        let _ = writeln!(s, "| task | state | port | url |");
        let _ = writeln!(s, "|---|---|---|---|");
        for d in active {
            let ports = d
                .ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let url = sup.http_url(&d.task).unwrap_or_default();
            let _ = writeln!(s, "| {} | {} | {} | {} |", d.task, d.status, ports, url);
        }
    }
    let recent: Vec<String> = digests
        .iter()
        .filter(|d| d.status.is_final())
        .filter(|d| d.detail != "not started")
        .map(|d| {
            if d.detail.is_empty() {
                format!("{} {}", d.task, d.status)
            } else {
                format!("{} {} ({})", d.task, d.status, d.detail)
            }
        })
        .collect();
    if !recent.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Recent: {}", recent.join("; "));
    }
    s
}

/// Replace the text between the markers (adding the section under `## Background Tasks`
/// when there are none), leaving the rest of the file byte for byte; written atomically,
/// and not at all when nothing changed.
pub fn update_notes(path: &Path, section: &str) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let block = format!("{BEGIN}\n{section}{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &old[..b], &old[e + END.len()..]),
        // A `## Background Tasks` heading without markers: the block goes under it.
        _ if old.lines().any(|l| l.trim_end() == HEADING) => {
            let at = old.find(HEADING).map_or(0, |i| i + HEADING.len());
            let at = old[at..].find('\n').map_or(old.len(), |n| at + n + 1);
            format!("{}\n{block}\n{}", &old[..at], &old[at..])
        }
        _ => {
            let mut s = old.clone();
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            if !s.is_empty() {
                s.push('\n');
            }
            s.push_str(&format!("{HEADING}\n\n{block}\n"));
            s
        }
    };
    if new == old {
        return Ok(());
    }
    state::write_atomic(path, new.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_keep_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("NOTES.md");
        std::fs::write(&p, "# Notes\n\nkeep me\r\n  exactly\n").unwrap();
        update_notes(&p, "one\n").unwrap();
        let first = std::fs::read_to_string(&p).unwrap();
        assert!(first.starts_with("# Notes\n\nkeep me\r\n  exactly\n\n## Background Tasks\n\n<!-- bts:begin -->\none\n<!-- bts:end -->\n"));
        std::fs::write(
            &p,
            first.replace("<!-- bts:end -->\n", "<!-- bts:end -->\ntail text\n"),
        )
        .unwrap();
        update_notes(&p, "two\n").unwrap();
        let second = std::fs::read_to_string(&p).unwrap();
        assert!(second.contains("<!-- bts:begin -->\ntwo\n<!-- bts:end -->\ntail text\n"));
        assert_eq!(second.matches("## Background Tasks").count(), 1);
        assert!(second.starts_with("# Notes\n\nkeep me\r\n  exactly\n"));
    }

    #[test]
    fn notes_go_under_an_existing_heading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("NOTES.md");
        std::fs::write(
            &p,
            "# N\n\n## Background Tasks\nhand written\n\n## Other\nx\n",
        )
        .unwrap();
        update_notes(&p, "s\n").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("## Background Tasks").count(), 1, "{text}");
        assert!(text.starts_with("# N\n\n## Background Tasks\n\n<!-- bts:begin -->\ns\n<!-- bts:end -->\nhand written\n\n## Other\nx\n"), "{text}");
        update_notes(&p, "t\n").unwrap();
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("<!-- bts:begin -->\nt\n<!-- bts:end -->\nhand written"));
    }

    #[test]
    fn notes_created_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("NOTES.md");
        update_notes(&p, "x\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "## Background Tasks\n\n<!-- bts:begin -->\nx\n<!-- bts:end -->\n"
        );
    }
}
