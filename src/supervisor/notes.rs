//! The `NOTES.md` section the supervisor keeps up to date (`settings.notes`): the active
//! tasks as a table, then the recent ones on a line, between markers, the rest of the
//! file left byte for byte.

use std::path::Path;

use crate::digest::Digest;
use crate::state_file as state;

const BEGIN: &str = "<!-- bts:begin -->";
const END: &str = "<!-- bts:end -->";
const HEADING: &str = "## Background Tasks";

/// The notes section: active tasks as a table, then recent ones on a line.
pub(super) fn notes_section(
    project: &str,
    digests: &[Digest],
    url_of: impl Fn(&str) -> Option<String>,
) -> String {
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
            let url = url_of(&d.task).unwrap_or_default();
            let _ = writeln!(s, "| {} | {} | {} | {} |", d.task, d.status, ports, url);
        }
    }
    let recent: Vec<String> = digests
        .iter()
        .filter(|d| d.status.is_final())
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
