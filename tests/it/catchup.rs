//! `bts wait` (up, error, exit with a timeout, a failure) and `bts events --since`.

use std::time::Duration;

use crate::common::*;

#[test]
fn wait_returns_once_up_and_reports_failures_and_timeouts() {
    let p = Project::new(
        "tasks:\n  web:\n    cmd: exec sleep 300\n  job:\n    cmd: sleep 1.5; exit 3\n    autostart: false\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d", "web"]).code(), 0);
    let r = p.run(&["wait", "web"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("web: UP"), "{}", r.stdout);
    let r = p.run(&["wait", "web", "--for", "exit", "--timeout", "300ms"]);
    assert_eq!(r.code(), 124, "{}", r.all());
    assert!(r.stdout.contains("timed out after 300ms"), "{}", r.stdout);
    // A task that fails ends the wait with 1 and says what to do.
    assert_eq!(p.run(&["up", "job"]).code(), 0);
    let r = p.run(&["wait", "job", "--for", "exit", "--timeout", "20s"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stdout.contains("job: FAILED"), "{}", r.stdout);
    assert!(r.stdout.contains("next:"), "{}", r.stdout);
    let r = p.run(&["wait", "nope"]);
    assert_eq!(r.code(), 2, "{}", r.all());
}

#[test]
fn wait_for_error_returns_at_the_first_new_error_line() {
    let p = Project::new(
        "tasks:\n  api:\n    cmd: \"while [ ! -f go ]; do sleep 0.05; done; echo 'Error: cannot reach db'; exec sleep 300\"\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    wait_state(&p, "api", "UP");
    let mut w = p.spawn(&["wait", "api", "--for", "error", "--timeout", "30s"]);
    // Not before the line exists.
    assert!(
        w.wait_exit(Duration::from_millis(300)).is_none(),
        "{}",
        w.output()
    );
    p.write("go", "");
    let status = w.wait_exit(Duration::from_secs(20)).expect("wait returned");
    assert_eq!(status.code(), Some(0), "{}", w.output());
    assert!(
        w.stdout()
            .contains("api 1 error line, last: Error: cannot reach db"),
        "{}",
        w.stdout()
    );
}

#[test]
fn events_since_a_cursor_are_only_the_newer_ones() {
    let p = Project::new("tasks:\n  web:\n    cmd: exec sleep 300\n");
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "--wait"]).code(), 0);
    let first = p.run(&["events"]);
    assert_eq!(first.code(), 0, "{}", first.all());
    assert!(
        first.stdout.contains("web started as pid"),
        "{}",
        first.stdout
    );
    let cursor = first
        .stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("cursor: "))
        .expect("ends with a cursor")
        .to_string();
    let quiet = p.run(&["events", "--since", &cursor]);
    assert_eq!(
        quiet.stdout.trim(),
        format!("cursor: {cursor}"),
        "nothing new"
    );
    let r = p.run(&["restart", "web", "--wait"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let later = p.run(&["events", "--since", &cursor]);
    assert_eq!(later.code(), 0, "{}", later.all());
    assert_eq!(
        later.stdout.matches("web started as pid").count(),
        1,
        "{}",
        later.stdout
    );
    assert!(later.stdout.contains("web UP"), "{}", later.stdout);
    let next: u64 = later
        .stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("cursor: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(next > cursor.parse::<u64>().unwrap());
    let json = p.run(&["events", "--since", &cursor, "--json"]);
    let last: serde_json::Value =
        serde_json::from_str(json.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["cursor"], next);
    let bad = p.run(&["events", "--since", "yesterday"]);
    assert_eq!(bad.code(), 2, "{}", bad.all());
    assert!(bad.stderr.contains("is not a cursor"), "{}", bad.stderr);
}

#[test]
fn wait_for_exit_is_satisfied_when_the_stack_has_finished() {
    let p = Project::new(
        "tasks:\n  job:\n    cmd: sleep 0.5\n  later:\n    cmd: exec sleep 300\n    autostart: false\n",
    );
    let _g = DaemonGuard { project: &p };
    p.run(&["up", "-d"]);
    // Whether it catches the supervisor before or after it exits, the job ended well.
    let r = p.run(&["wait", "--for", "exit", "--timeout", "20s"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("job: EXITED"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("later"),
        "never-started tasks are not waited for: {}",
        r.stdout
    );
    let again = p.run(&["wait", "job", "--for", "exit"]);
    assert_eq!(again.code(), 0, "{}", again.all());
}
