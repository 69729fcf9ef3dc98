//! The stack hand-off: what `bts status` prints without task names. It is written for
//! whoever reads it between two steps of other work — a person glancing over, or an AI
//! agent that pays for every token: one line per task that is fine, a short block for
//! each task that needs attention (its state, why, its last error, what to do next, where
//! its log is), then alerts. Ten tasks of which two have problems fit in well under 500
//! tokens; past [`FOLD_FINE_AFTER`] fine tasks the rest fold into one line.
//! `bts status TASK…` and `--all` print the full digests instead (docs/behaviour.md).

use std::fmt::Write;
use std::time::Duration;

use crate::digest::{shorten, Digest};
use crate::lifecycle::TaskState;

/// Fine tasks listed one per line; those past it fold into `… N more UP: a, b, c`.
pub const FOLD_FINE_AFTER: usize = 20;
/// Names shown on a fold line before `…`.
const FOLD_NAMES: usize = 8;
/// Longest text of a reason or an error line.
const TEXT_MAX: usize = 120;

/// Whether a task needs a person's (or an agent's) attention now. A watcher is judged
/// by its latest cycle: failing needs attention, passing is fine whatever errors its
/// earlier cycles printed (docs/behaviour.md#cycles).
pub fn needs_attention(d: &Digest) -> bool {
    let bad_state = matches!(
        d.status,
        TaskState::Down
            | TaskState::Degraded
            | TaskState::Failed
            | TaskState::Blocked
            | TaskState::Restarting
    );
    let errors = match &d.cycle {
        Some(c) if c.completed > 0 => {
            c.failing() || (d.errors > 0 && !crate::digest::errors_outlived(d))
        }
        _ => d.errors > 0,
    };
    bad_state || (errors && d.status.is_running())
}

/// The hand-off of `digests`. `running`: a supervisor answered (else the states are
/// those it left). `url_of` names a task's http probe URL, shown on its line.
pub fn render(
    project: &str,
    digests: &[Digest],
    running: bool,
    url_of: impl Fn(&str) -> Option<String>,
) -> String {
    let (attention, fine): (Vec<&Digest>, Vec<&Digest>) =
        digests.iter().partition(|d| needs_attention(d));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{project}: {} task{}, {} fine, {} need{} attention{}",
        digests.len(),
        plural(digests.len()),
        fine.len(),
        attention.len(),
        if attention.len() == 1 { "s" } else { "" },
        if running {
            ""
        } else {
            " (no supervisor running: last known states)"
        }
    );
    let width = fine
        .iter()
        .take(FOLD_FINE_AFTER)
        .map(|d| d.task.len())
        .max()
        .unwrap_or(0);
    for d in fine.iter().take(FOLD_FINE_AFTER) {
        let _ = writeln!(s, "{}", fine_line(d, width, url_of(&d.task)).trim_end());
    }
    if fine.len() > FOLD_FINE_AFTER {
        let _ = writeln!(s, "{}", fold_line(&fine[FOLD_FINE_AFTER..]));
    }
    for d in &attention {
        s.push_str(&attention_block(d));
    }
    let errors: Vec<&str> = fine
        .iter()
        .filter(|d| d.errors > 0 && !crate::digest::errors_outlived(d))
        .map(|d| d.task.as_str())
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(
            s,
            "alert: error lines since the last digest in {} — `bts logs NAME --errors`",
            errors.join(", ")
        );
    }
    if !running {
        let _ = writeln!(s, "alert: start the stack with `bts up -d`");
    }
    if !attention.is_empty() || !fine.is_empty() {
        let _ = writeln!(s, "details: `bts status NAME` · all: `bts status --all`");
    }
    s
}

/// `web  UP  :3000  2h15m  http://127.0.0.1:3000/`
fn fine_line(d: &Digest, width: usize, url: Option<String>) -> String {
    let mut line = format!("{:<width$}  {:<8}", d.task, d.status.as_str());
    let ports: Vec<String> = d.ports.iter().map(|p| format!(":{p}")).collect();
    line.push_str(&format!("  {:<6}", ports.join(",")));
    if let Some(up) = d.uptime {
        line.push_str(&format!(
            "  {}",
            crate::clock::short_duration(Duration::from_secs(up))
        ));
    }
    match d.status {
        TaskState::Up | TaskState::Starting => {
            if let Some(u) = url {
                line.push_str(&format!("  {u}"));
            }
        }
        // PENDING, STOPPED, EXITED: why, in a few words.
        _ if !d.detail.is_empty() => line.push_str(&format!("  {}", shorten(&d.detail, 60))),
        _ => {}
    }
    line
}

/// `… 14 more UP: a, b, c, …`, or by state when they differ.
fn fold_line(rest: &[&Digest]) -> String {
    let names: Vec<&str> = rest.iter().map(|d| d.task.as_str()).collect();
    let shown = names
        .iter()
        .take(FOLD_NAMES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if names.len() > FOLD_NAMES {
        ", …"
    } else {
        ""
    };
    let same = rest.iter().all(|d| d.status == rest[0].status);
    let what = if same {
        rest[0].status.as_str().to_string()
    } else {
        "fine".to_string()
    };
    format!("… {} more {what}: {shown}{more}", rest.len())
}

/// The block of a task that needs attention.
fn attention_block(d: &Digest) -> String {
    let mut s = String::new();
    let mut head = format!("! {}  {}", d.task, d.status.as_str());
    // A BLOCKED task's detail is its approve command, which `next` says already.
    if !d.detail.is_empty() && d.status != TaskState::Blocked {
        head.push_str(&format!("  {}", shorten(&d.detail, TEXT_MAX)));
    }
    if d.restarts > 0 {
        head.push_str(&format!("  (restarts {})", d.restarts));
    }
    let _ = writeln!(s, "{head}");
    if let Some(c) = d.cycle.as_ref().filter(|c| c.failing()) {
        let _ = writeln!(
            s,
            "  {}",
            shorten(&crate::digest::cycle_line(c), TEXT_MAX + 20)
        );
    } else if let Some(e) = &d.last_error {
        let time = e.time.get(11..19).unwrap_or(&e.time);
        let _ = writeln!(s, "  last error ({time}): {}", shorten(&e.line, TEXT_MAX));
    } else if d.errors > 0 {
        let _ = writeln!(s, "  {} error lines since the last digest", d.errors);
    }
    if let Some(n) = &d.next_action {
        let _ = writeln!(s, "  next: {n}");
    }
    let _ = writeln!(
        s,
        "  log: {}",
        crate::digest::relative(&d.log_path).display()
    );
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::LastError;

    fn up(name: &str, port: Option<u16>) -> Digest {
        Digest {
            task: name.into(),
            status: TaskState::Up,
            ports: port.into_iter().collect(),
            uptime: Some(8100),
            pid: Some(100),
            log_path: format!("/x/.bts/logs/{name}.log").into(),
            ..Default::default()
        }
    }

    #[test]
    fn watchers_are_judged_by_their_latest_cycle() {
        use crate::cycles::CycleDigest;
        let mut tsc = up("tsc", None);
        tsc.errors = 61;
        tsc.cycle = Some(CycleDigest {
            state: crate::cycles::CycleState::Passing,
            since: "2026-11-30T01:18:18.000Z".into(),
            failing_before: 3,
            completed: 4,
            ..Default::default()
        });
        let mut vitest = up("vitest", None);
        vitest.cycle = Some(CycleDigest {
            state: crate::cycles::CycleState::Failing,
            since: "2026-11-30T01:18:13.000Z".into(),
            errors: 1,
            first_error: Some(crate::cycles::ErrorLine {
                line: "src/math.test.ts:5:17".into(),
                time: "2026-11-30T01:18:13.000Z".into(),
            }),
            completed: 2,
            ..Default::default()
        });
        assert!(
            !needs_attention(&tsc),
            "passing: fine, earlier errors are history"
        );
        assert!(needs_attention(&vitest));
        let text = render("app", &[tsc, vitest], true, |_| None);
        assert!(
            text.contains("2 tasks, 1 fine, 1 needs attention"),
            "{text}"
        );
        assert!(text.contains("Build: failing since"), "{text}");
        assert!(text.contains("src/math.test.ts:5:17"), "{text}");
        assert!(!text.contains("alert: error lines"), "{text}");
    }

    #[test]
    fn fine_tasks_are_one_line_and_problems_a_block() {
        let mut api = up("api", Some(4000));
        api.status = TaskState::Failed;
        api.detail = "crash loop: 5 restarts within 5m".into();
        api.restarts = 5;
        api.next_action = Some("it keeps crashing: read `bts logs api --errors`".into());
        api.last_error = Some(LastError {
            line: "TypeError: x is undefined".into(),
            time: "2026-11-30T14:02:11.000Z".into(),
        });
        let text = render("shop", &[up("web", Some(3000)), api], true, |t| {
            (t == "web").then(|| "http://127.0.0.1:3000/".to_string())
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "shop: 2 tasks, 1 fine, 1 needs attention");
        assert_eq!(
            lines[1],
            "web  UP        :3000   2h 15m  http://127.0.0.1:3000/"
        );
        assert!(lines[2].starts_with("! api  FAILED  crash loop"), "{text}");
        assert!(text.contains("  last error (14:02:11): TypeError: x is undefined"));
        assert!(text.contains("  next: it keeps crashing"));
        assert!(text.contains("  log: /x/.bts/logs/api.log"));
    }

    #[test]
    fn many_fine_tasks_fold() {
        let all: Vec<Digest> = (0..30).map(|i| up(&format!("w{i:02}"), None)).collect();
        let text = render("big", &all, true, |_| None);
        assert_eq!(text.lines().count(), 1 + FOLD_FINE_AFTER + 1 + 1, "{text}");
        assert!(
            text.contains("… 10 more UP: w20, w21, w22, w23, w24, w25, w26, w27, …"),
            "{text}"
        );
    }

    #[test]
    fn errors_on_a_running_task_need_attention() {
        let mut web = up("web", None);
        web.errors = 3;
        assert!(needs_attention(&web));
        let mut done = up("job", None);
        done.status = TaskState::Exited;
        done.errors = 3;
        assert!(
            !needs_attention(&done),
            "an ended task's old errors are history"
        );
        let text = render("p", &[done], false, |_| None);
        assert!(text.contains("no supervisor running"), "{text}");
        assert!(text.contains("alert: error lines since the last digest in job"));
    }
}
