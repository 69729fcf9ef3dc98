//! GitHub Actions workflow commands: when `GITHUB_ACTIONS=true`, a FAILED task (and a
//! failed `up --wait`) also emits `::error title=bts <task>::…`, so the failure shows on
//! the run's summary page, and the task's last log lines in a collapsible `::group::`.

/// Whether we run inside GitHub Actions.
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The lines to print for a failed task: the error annotation, then its last log lines
/// in a group.
pub fn failure(task: &str, message: &str, last_lines: &[String]) -> String {
    let mut s = format!(
        "::error title={}::{}\n",
        escape_property(&format!("bts {task}")),
        escape_data(message)
    );
    if !last_lines.is_empty() {
        s.push_str(&format!(
            "::group::{} — last log lines\n",
            escape_data(task)
        ));
        for l in last_lines {
            // A log line that looks like a workflow command must not act as one.
            let l = if l.starts_with("::") {
                format!(" {l}")
            } else {
                l.clone()
            };
            s.push_str(&l);
            s.push('\n');
        }
        s.push_str("::endgroup::\n");
    }
    s
}

// Escaping as GitHub's toolkit does (actions/toolkit, command.ts).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape_and_escaping() {
        let s = super::failure(
            "api",
            "FAILED: 100% broken\nnext",
            &["boom".into(), "::set-output x".into()],
        );
        assert!(
            s.starts_with("::error title=bts api::FAILED: 100%25 broken%0Anext\n"),
            "{s}"
        );
        assert!(
            s.contains("::group::api — last log lines\nboom\n ::set-output x\n::endgroup::\n"),
            "{s}"
        );
    }
}
