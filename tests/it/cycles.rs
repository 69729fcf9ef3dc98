//! Watchers' cycles (docs/behaviour.md#cycles), with a shell script that mimics a
//! watcher through a custom `cycle:` block: the digest shows the latest verdict with
//! its located error, and `bts wait --for cycle` returns it.

use crate::common::*;

pub const WATCHER: &str = r#"tasks:
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

/// Where `.ci/run` installed the pinned typescript and vitest (`BTS_TEST_NODE_BIN`, or
/// `.ci/node` of this checkout); `None` with a visible SKIPPED line elsewhere, a
/// failure under `CI=true`.
fn node_bin() -> Option<std::path::PathBuf> {
    let from_env = std::env::var_os("BTS_TEST_NODE_BIN").map(std::path::PathBuf::from);
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/node/node_modules/.bin");
    let bin = from_env.or_else(|| local.join("tsc").is_file().then_some(local));
    if bin
        .as_ref()
        .is_some_and(|b| b.join("tsc").is_file() && b.join("vitest").is_file())
        && on_path("node").is_some()
    {
        return bin;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("typescript and vitest not installed under CI=true: .ci/run installs them (BTS_TEST_NODE_BIN)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: real tsc and vitest: no node, or no typescript/vitest in .ci/node (run `npm install --prefix .ci/node typescript@5.6.3 vitest@2.1.8`)"
    );
    None
}

/// `bts wait tsc vitest --for cycle` with a minute to answer.
fn wait_both(p: &Project) -> Finished {
    p.run(&[
        "wait",
        "tsc",
        "vitest",
        "--for",
        "cycle",
        "--timeout",
        "60s",
    ])
}

/// tsc --watch and vitest --watch on a tiny project: a type error, then its fix.
#[test]
fn real_tsc_and_vitest_report_failing_then_passing() {
    let Some(bin) = node_bin() else {
        return;
    };
    let p = Project::new(&format!(
        "tasks:\n  tsc:\n    cmd: {b}/tsc --noEmit --watch --preserveWatchOutput -p .\n  vitest:\n    cmd: {b}/vitest --watch\n    env: {{CI: ''}}\n",
        b = bin.display()
    ));
    p.write(
        "tsconfig.json",
        r#"{"compilerOptions":{"strict":true,"noEmit":true,"target":"es2020","module":"esnext","moduleResolution":"bundler"},"include":["src"],"exclude":["src/*.test.ts"]}"#,
    );
    let good = "export const add = (a: number, b: number): number => a + b;\n";
    p.write("src/math.ts", good);
    p.write(
        "src/math.test.ts",
        "import { expect, test } from \"vitest\";\nimport { add } from \"./math\";\ntest(\"adds\", () => { expect(add(1, 2)).toBe(3); });\n",
    );
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let first = wait_both(&p);
    assert_eq!(first.code(), 0, "{}", first.all());

    p.write(
        "src/math.ts",
        "export const add = (a: number, b: number): number => a + b + y;\n",
    );
    let r = wait_both(&p);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("src/math.ts(1,62): error TS2304: Cannot find name 'y'."),
        "{}",
        r.all()
    );
    let d = task_status(&p, "tsc");
    assert_eq!(d["cycle"]["state"], "failing", "{d:#}");
    assert!(
        d["cycle"]["first_error"]["line"]
            .as_str()
            .unwrap()
            .starts_with("src/math.ts(1,62): error TS2304"),
        "{d:#}"
    );
    assert_eq!(task_status(&p, "vitest")["cycle"]["state"], "failing");

    p.write("src/math.ts", good);
    let r = wait_both(&p);
    assert_eq!(r.code(), 0, "{}", r.all());
    for t in ["tsc", "vitest"] {
        let d = task_status(&p, t);
        assert_eq!(d["cycle"]["state"], "passing", "{d:#}");
        assert!(
            d["next_action"].is_null(),
            "no error next action when passing: {d:#}"
        );
    }
}
