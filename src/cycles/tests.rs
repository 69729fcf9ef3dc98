//! Every preset on short output samples written for these tests (shaped like each
//! tool's output, not copied logs), and the tracker's verdicts.

use super::*;
use std::time::{Duration, UNIX_EPOCH};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

/// Feed `lines` (an `!` prefix marks an error line) through a preset; the digest after.
fn run(preset: &str, lines: &[&str]) -> CycleDigest {
    let p = PRESETS.iter().find(|p| p.name == preset).unwrap();
    let m = Markers::preset(p);
    let mut t = CycleTracker::new(p.name);
    for (i, l) in lines.iter().enumerate() {
        let (error, text) = match l.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, *l),
        };
        t.line(text, m.of(text.as_bytes()), error, at(i as u64));
    }
    t.digest()
}

#[test]
fn commands_choose_presets() {
    let name = |c: &str| preset_for(c).map(|p| p.name);
    assert_eq!(name("npx tsc --noEmit --watch"), Some("tsc"));
    assert_eq!(name("pnpm vitest --watch"), Some("vitest"));
    assert_eq!(name("npx vite --port 5173"), Some("web"));
    assert_eq!(name("npx jest --watch"), Some("jest"));
    assert_eq!(name("next dev -p 3000"), Some("web"));
    assert_eq!(name("cargo watch -x check"), Some("cargo"));
    assert_eq!(name("ptw -- -q"), Some("pytest"));
    assert_eq!(name("npx esw -w src"), Some("eslint"));
    assert_eq!(name("prettier --check --watch ."), Some("prettier"));
    assert_eq!(name("node server.js"), None);
    assert_eq!(name("./tscope"), None, "a whole word only");
}

#[test]
fn tsc_fails_with_the_located_error_then_passes() {
    let d = run(
        "tsc",
        &[
            "1:18:10 AM - Starting compilation in watch mode...",
            "1:18:11 AM - Found 0 errors. Watching for file changes.",
            "1:18:12 AM - File change detected. Starting incremental compilation...",
            "!src/math.ts(1,68): error TS2304: Cannot find name 'y'.",
            "!1:18:13 AM - Found 1 error. Watching for file changes.",
        ],
    );
    assert_eq!((d.state.as_str(), d.errors), ("failing", 1));
    assert_eq!(
        d.first_error.unwrap().line,
        "src/math.ts(1,68): error TS2304: Cannot find name 'y'."
    );
    assert_eq!(
        d.error_lines,
        ["src/math.ts(1,68): error TS2304: Cannot find name 'y'."]
    );
    assert_eq!(d.completed, 2);

    let d = run(
        "tsc",
        &[
            "File change detected. Starting incremental compilation...",
            "!src/a.ts(1,1): error TS1: x",
            "!Found 1 error. Watching for file changes.",
            "File change detected. Starting incremental compilation...",
            "!src/a.ts(2,1): error TS1: y",
            "!Found 1 error. Watching for file changes.",
            "File change detected. Starting incremental compilation...",
            "Found 0 errors. Watching for file changes.",
        ],
    );
    assert_eq!(
        (d.state.as_str(), d.errors, d.failing_before),
        ("passing", 0, 2)
    );
    assert!(d.first_error.is_none() && d.error_lines.is_empty());
}

#[test]
fn vitest_and_jest_verdicts() {
    let d = run(
        "vitest",
        &[
            " DEV  v2.1.0 /app",
            " ❯ src/math.test.ts (1 test | 1 failed) 3ms",
            "!AssertionError: expected 3 to be 4",
            "  ❯ src/math.test.ts:5:17",
            " Test Files  1 failed (1)",
        ],
    );
    // The location under the error (not an error line itself) goes with it.
    assert_eq!((d.state.as_str(), d.errors), ("failing", 1));
    assert_eq!(
        d.first_error.unwrap().line,
        "AssertionError: expected 3 to be 4 — ❯ src/math.test.ts:5:17"
    );
    let d = run(
        "vitest",
        &[
            " RERUN  src/math.ts x1",
            " ✓ src/math.test.ts (1 test) 2ms",
            " Test Files  1 passed (1)",
        ],
    );
    assert_eq!(d.state.as_str(), "passing");
    let d = run(
        "jest",
        &[
            "Determining test suites to run...",
            "!  ● adds › works",
            "Test Suites: 1 failed, 1 passed, 2 total",
            "Tests:       1 failed, 3 passed, 4 total",
        ],
    );
    assert_eq!(d.state.as_str(), "failing");
    let d = run(
        "jest",
        &[
            "RUNS  src/a.test.js",
            "Test Suites: 2 passed, 2 total",
            "Tests:       1 todo, 4 passed, 5 total",
        ],
    );
    assert_eq!(d.state.as_str(), "passing");
}

#[test]
fn web_cargo_lint_and_pytest_verdicts() {
    assert_eq!(
        run("web", &["webpack compiling...", "!Failed to compile."])
            .state
            .as_str(),
        "failing"
    );
    assert_eq!(
        run("web", &["○ Compiling / ...", "✓ Compiled / in 1.2s"])
            .state
            .as_str(),
        "passing"
    );
    assert_eq!(
        run("web", &["10:01:02 [vite] hmr update /src/App.tsx"])
            .state
            .as_str(),
        "passing"
    );
    assert_eq!(
        run("web", &["webpack 5.9.0 compiled with 1 warning in 320 ms"])
            .state
            .as_str(),
        "passing"
    );
    let d = run(
        "cargo",
        &[
            "[Running 'cargo check']",
            "    Checking app v0.1.0 (/app)",
            "!error[E0425]: cannot find value `x` in this scope",
            "  --> src/main.rs:2:13",
            "!error: could not compile `app` (bin \"app\") due to 1 previous error",
            "[Finished running. Exit status: 101]",
        ],
    );
    assert_eq!(d.state.as_str(), "failing");
    assert_eq!(
        d.first_error.unwrap().line,
        "error[E0425]: cannot find value `x` in this scope — --> src/main.rs:2:13"
    );
    // `cargo watch -x test`: built (Finished), then the tests decide.
    let d = run(
        "cargo",
        &[
            "[Running 'cargo test']",
            "    Finished `test` profile [unoptimized] target(s) in 0.5s",
            "test adds ... FAILED",
            "!error: test failed, to rerun pass `--lib`",
            "[Finished running. Exit status: 101]",
        ],
    );
    assert_eq!((d.state.as_str(), d.completed), ("failing", 1));
    let ok = [
        "[Running 'cargo check']",
        "    Finished `dev` profile [unoptimized] target(s) in 0.5s",
        "[Finished running. Exit status: 0]",
    ];
    assert_eq!(run("cargo", &ok).state.as_str(), "passing");
    assert_eq!(
        run("eslint", &["!✖ 2 problems (2 errors, 0 warnings)"])
            .state
            .as_str(),
        "failing"
    );
    assert_ne!(
        run("eslint", &["✖ 2 problems (0 errors, 2 warnings)"])
            .state
            .as_str(),
        "failing"
    );
    assert_eq!(
        run("eslint", &["✓ Clean (10:01:02)"]).state.as_str(),
        "passing"
    );
    let pretty = [
        "Checking formatting...",
        "All matched files use Prettier code style!",
    ];
    assert_eq!(run("prettier", &pretty).state.as_str(), "passing");
    let ugly = [
        "Checking formatting...",
        "[warn] Code style issues found in the above file.",
    ];
    assert_eq!(run("prettier", &ugly).state.as_str(), "failing");
    let failed = [
        "Running: py.test",
        "!FAILED tests/test_a.py::test_x - assert 1 == 2",
        "========= 1 failed, 2 passed in 0.12s =========",
    ];
    assert_eq!(run("pytest", &failed).state.as_str(), "failing");
    assert_eq!(
        run(
            "pytest",
            &["Running: py.test", "========= 3 passed in 0.10s ========="]
        )
        .state
        .as_str(),
        "passing"
    );
    assert_eq!(
        run(
            "pytest",
            &["Running: py.test", "==== 3 passed, 1 skipped in 0.10s ===="]
        )
        .state
        .as_str(),
        "passing"
    );
}

#[test]
fn a_cycle_under_way_is_running_and_says_the_last_verdict() {
    let d = run(
        "tsc",
        &[
            "Found 0 errors. Watching for file changes.",
            "File change detected. Starting incremental compilation...",
        ],
    );
    assert_eq!(
        (d.state.as_str(), d.last.map(CycleState::as_str)),
        ("running", Some("passing"))
    );
    let d = run("tsc", &["Starting compilation in watch mode..."]);
    assert_eq!((d.state.as_str(), d.completed), ("running", 0));
}

#[test]
fn located_and_summary_lines() {
    assert!(is_located("src/math.ts(1,68): error TS2304"));
    assert!(is_located("  --> src/main.rs:2:13"));
    assert!(is_located("app/models/user.rb:12:in `save'"));
    assert!(is_located("  File \"app.py\", line 3, in <module>"));
    assert!(is_located("    at Object.<anonymous> (/app/x.js:3:9)"));
    assert!(!is_located("Found 1 error. Watching for file changes."));
    assert!(!is_located("connecting to 127.0.0.1:5432"));
    assert!(is_summary(
        "1:18:13 AM - Found 1 error. Watching for file changes."
    ));
    assert!(is_summary(
        "error: could not compile `app` due to 1 previous error"
    ));
    assert!(!is_summary(
        "src/math.ts(1,68): error TS2304: Cannot find name"
    ));
    assert!(!is_summary("TypeError: x is not a function"));
}

#[test]
fn the_newest_source_change_skips_what_builds_write() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let old = SystemTime::now() - Duration::from_secs(3600);
    let write = |rel: &str, t: SystemTime| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    write("src/math.ts", old);
    let newer = SystemTime::now();
    for built in [
        ".vite/vitest/results.json",
        "node_modules/x/index.js",
        "dist/math.js",
        "target/debug/app",
        "tsconfig.tsbuildinfo",
        "app/__pycache__/m.pyc",
    ] {
        write(built, newer);
    }
    let seen = newest_source_change(root, 1000).unwrap();
    assert!(
        seen < old + Duration::from_secs(1),
        "only the source counts"
    );
    assert_eq!(newest_source_change(&root.join("missing"), 1000), None);
}

#[test]
fn a_verdict_without_a_start_is_a_cycle_of_its_own_unless_repeated_at_once() {
    // vite: every `hmr update` is a passing cycle, also after another one.
    let m = Markers::preset(PRESETS.iter().find(|p| p.name == "web").unwrap());
    let mut t = CycleTracker::new("web");
    let hmr = "10:01:02 [vite] hmr update /src/App.tsx";
    t.line(hmr, m.of(hmr.as_bytes()), false, at(0));
    t.line(hmr, m.of(hmr.as_bytes()), false, at(5));
    assert_eq!(t.digest().completed, 2);
    // The same verdict again with nothing between: one cycle.
    let cm = Markers::preset(PRESETS.iter().find(|p| p.name == "cargo").unwrap());
    let mut t = CycleTracker::new("cargo");
    let (a, b) = (
        "error: could not compile `app`",
        "[Finished running. Exit status: 101]",
    );
    let when = at(0);
    t.line(a, cm.of(a.as_bytes()), false, when);
    t.line(
        b,
        cm.of(b.as_bytes()),
        false,
        when + Duration::from_millis(20),
    );
    assert_eq!(t.digest().completed, 1);
}

#[test]
fn escapes_are_stripped_for_the_markers() {
    let raw = b"\x1bc\x1b[3J \x1b[36mRERUN\x1b[39m  src/math.ts x1";
    let plain = strip_escapes(raw);
    assert_eq!(&plain[..], b" RERUN  src/math.ts x1");
    let m = Markers::preset(PRESETS.iter().find(|p| p.name == "vitest").unwrap());
    assert_eq!(m.of(&plain), Some(Marker::Start));
    assert!(matches!(
        strip_escapes(b"plain"),
        std::borrow::Cow::Borrowed(_)
    ));
}
