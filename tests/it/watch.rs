//! `watch:` restarts and GitHub Actions annotations (issue 7, items 2 and 5).

use std::time::Duration;

use crate::common::*;

#[test]
fn a_watched_change_restarts_the_task_and_an_ignored_one_does_not() {
    let p = Project::new(
        "tasks:\n  dev:\n    cmd: echo run >> runs.txt; echo dev-up; exec sleep 300\n    watch: [\"src/**/*.ts\"]\n",
    );
    p.write("src/app.ts", "v1");
    p.write("node_modules/dep/index.ts", "v1");
    let runs = || p.read("runs.txt").lines().count();
    let mut r = p.spawn(&["up"]);
    r.wait_for("dev: UP");
    // Ignored: node_modules, other extensions, the state dir.
    p.write("node_modules/dep/index.ts", "v2");
    p.write("src/notes.md", "v2");
    p.write(".bts/something.ts", "v2");
    // A restart would come ~300 ms after a change.
    assert!(
        stays(Duration::from_millis(800), || runs() == 1),
        "{}",
        r.output()
    );
    // A burst of saves restarts once.
    p.write("src/app.ts", "v2");
    p.write("src/app.ts", "v3");
    r.wait_for("dev: src/app.ts changed — restarting");
    assert!(eventually(DEADLINE, || runs() == 2));
    assert!(
        stays(Duration::from_millis(600), || runs() == 2),
        "debounced: {}",
        r.output()
    );
}

#[test]
fn a_destructive_task_is_never_restarted_by_a_watch() {
    let p = Project::new(
        "tasks:\n  seed:\n    cmd: echo run >> runs.txt; exec sleep 300\n    destructive: true\n    watch: [\"*.sql\"]\n",
    );
    let mut r = p.spawn(&["up", "--yes"]);
    r.wait_for("seed: UP");
    p.write("data.sql", "x");
    let runs = || p.read("runs.txt").lines().count();
    assert!(
        stays(Duration::from_millis(800), || runs() == 1
            && !r.stdout().contains("changed")),
        "{}",
        r.output()
    );
}

#[test]
fn github_actions_get_error_annotations_and_a_log_group() {
    let p = Project::new("tasks:\n  api:\n    cmd: |\n      echo 'connecting to db'; echo 'fatal: refused'; exit 2\n");
    let out = p.cmd(&["up"]).env("GITHUB_ACTIONS", "true").run();
    let stdout = &out.stdout;
    assert!(
        stdout.contains("::error title=bts api::FAILED%3A")
            || stdout.contains("::error title=bts api::FAILED:"),
        "{stdout}"
    );
    assert!(stdout.contains("::group::api — last log lines"), "{stdout}");
    assert!(stdout.contains("fatal: refused\n::endgroup::"), "{stdout}");

    // And `up --wait`.
    let _g = DaemonGuard { project: &p };
    let out = p.cmd(&["up", "--wait"]).env("GITHUB_ACTIONS", "true").run();
    assert_eq!(out.code(), 1, "{}", out.all());
    let stdout = &out.stdout;
    assert!(
        stdout.contains("::error title=bts api::bts up --wait"),
        "{stdout}"
    );
    assert!(stdout.contains("::endgroup::"), "{stdout}");
    // Without GITHUB_ACTIONS: no workflow commands.
    let plain = p.run(&["up"]);
    assert!(!plain.stdout.contains("::error"));
}
