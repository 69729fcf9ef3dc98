//! Watchers' cycles (docs/behaviour.md#cycles), with a shell script that mimics a
//! watcher through a custom `cycle:` block: the digest shows the latest verdict with
//! its located error, and `bts wait --for cycle` returns it.

use crate::common::*;

const WATCHER: &str = r#"tasks:
  w:
    cmd: |
      prev=
      while :; do
        cur=$(cat src.txt 2>/dev/null)
        if [ "$cur" != "$prev" ]; then
          prev=$cur
          echo "build started"
          case "$cur" in
            *bad*) echo "src.txt:3:5: error: bad thing"; echo "1 error; build failed" ;;
            *) echo "build ok" ;;
          esac
        fi
        sleep 0.1
      done
    cycle: {start: build started, ok: build ok, fail: build failed}
"#;

#[test]
fn the_digest_and_wait_follow_the_latest_verdict() {
    let p = Project::new(WATCHER);
    p.write("src.txt", "good\n");
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };

    // A bad edit: the wait returns 1 with the located error line.
    p.write("src.txt", "bad\n");
    let r = p.run(&["wait", "w", "--for", "cycle", "--timeout", "20s"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.stdout.contains("w: Build: failing since"), "{}", r.all());
    assert!(
        r.stdout.contains("  src.txt:3:5: error: bad thing"),
        "{}",
        r.all()
    );
    let d = task_status(&p, "w");
    assert_eq!(d["cycle"]["state"], "failing", "{d:#}");
    assert_eq!(
        d["cycle"]["first_error"]["line"],
        "src.txt:3:5: error: bad thing"
    );
    // The summary line does not replace the located one as the last error.
    assert_eq!(
        d["last_error"]["line"], "src.txt:3:5: error: bad thing",
        "{d:#}"
    );
    assert!(
        d["next_action"]
            .as_str()
            .unwrap()
            .contains("the build is failing"),
        "{d:#}"
    );

    // The fix: 0, passing after one failing cycle, no error next action.
    p.write("src.txt", "good again\n");
    let r = p.run(&["wait", "w", "--for", "cycle", "--timeout", "20s"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout.contains("Build: passing since") && r.stdout.contains("(after 1 failing cycle)"),
        "{}",
        r.all()
    );
    let d = task_status(&p, "w");
    assert_eq!(d["cycle"]["state"], "passing", "{d:#}");
    assert!(d["next_action"].is_null(), "{d:#}");
    let text = p.run(&["status", "w"]);
    assert!(
        text.stdout.contains("Build: passing since"),
        "{}",
        text.all()
    );
    assert!(!text.stdout.contains("check the errors"), "{}", text.all());

    // Nothing edited since that verdict: it is the answer, at once.
    let r = p.run(&["wait", "w", "--for", "cycle", "--timeout", "3s"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    // An edit the watcher does not build: no verdict on it within the timeout, 124.
    p.write("notes.txt", "not a source of w\n");
    let r = p.run(&["wait", "w", "--for", "cycle", "--timeout", "2s"]);
    assert_eq!(r.code(), 124, "{}", r.all());
    assert!(
        r.stdout.contains("no new cycle verdict from w"),
        "{}",
        r.all()
    );
}

#[test]
fn wait_for_cycle_refuses_a_task_without_cycles() {
    let p = Project::new(&sleepers(&["db"]));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let r = p.run(&["wait", "db", "--for", "cycle", "--timeout", "2s"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(
        r.all().contains("no build/test cycles in the output of db"),
        "{}",
        r.all()
    );
}

#[test]
fn bad_cycle_blocks_are_located_errors() {
    let p = Project::new("tasks:\n  w:\n    cmd: x\n    cycle: {ok: '(unclosed', fail: x}\n");
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.all().contains("bts.yaml:4:"), "{}", r.all());
    let p = Project::new("tasks:\n  w:\n    cmd: x\n    cycle: {start: x}\n");
    let r = p.run(&["check"]);
    assert!(
        r.all().contains("needs `ok` and `fail` regexes"),
        "{}",
        r.all()
    );
    let p = Project::new("tasks:\n  w:\n    cmd: x\n    cycle: sometimes\n");
    let r = p.run(&["check"]);
    assert!(
        r.all().contains("`off` or a map of `start`, `ok`, `fail`"),
        "{}",
        r.all()
    );
}
