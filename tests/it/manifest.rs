//! Loader rules, each through the real binary: `bts check` on a
//! manifest with one problem must name it, point at its line and column, show a hint,
//! exit 1, and never panic.

use std::path::Path;
use std::time::Duration;

use crate::common::Invocation;

/// What a finished `bts` run printed.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `bts args…` in `dir` with a hard timeout and a clean environment for bts.
pub fn bts(dir: &Path, args: &[&str]) -> Out {
    bts_with(Invocation::bts(dir, args).timeout(Duration::from_secs(30)))
}

/// Run a prepared invocation; a panic of bts fails the test.
pub fn bts_with(inv: &Invocation) -> Out {
    let out = inv.run();
    let o = Out {
        code: out.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    };
    assert!(
        !o.stderr.contains("panicked") && !o.stderr.contains("RUST_BACKTRACE"),
        "bts panicked:\n{}",
        o.stderr
    );
    o
}

/// Write `yaml` as bts.yaml in a fresh temp dir and run `bts -f bts.yaml check` there.
pub fn check(yaml: &str) -> (tempfile::TempDir, Out) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bts.yaml"), yaml).expect("write manifest");
    let out = bts(dir.path(), &["-f", "bts.yaml", "check"]);
    (dir, out)
}

/// `check` must fail (exit 1) with a diagnostic containing `message`, located at
/// `bts.yaml:line:col`, and a hint containing `hint`.
#[track_caller]
fn expect_diag(yaml: &str, message: &str, line: usize, col: usize, hint: &str) -> String {
    let (_dir, out) = check(yaml);
    assert_eq!(out.code, 1, "exit code; stderr:\n{}", out.stderr);
    let err = out.stderr;
    let at = err
        .find(message)
        .unwrap_or_else(|| panic!("no `{message}` in:\n{err}"));
    let block = &err[at..];
    let block = &block[..block[1..].find("\nerror: ").map_or(block.len(), |e| e + 1)];
    assert!(
        block.contains(&format!("--> bts.yaml:{line}:{col}\n")),
        "wanted bts.yaml:{line}:{col} in:\n{block}"
    );
    assert!(block.contains("^"), "no caret in:\n{block}");
    assert!(
        block.contains("= hint: ") && block.contains(hint),
        "wanted hint `{hint}` in:\n{block}"
    );
    err
}

#[test]
fn yaml_syntax_error_stops_with_its_location() {
    let err = expect_diag(
        "tasks:\n  api:\n    cmd: echo\n   bad: [1\n",
        "invalid YAML",
        4,
        7,
        "indentation",
    );
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
}

#[test]
fn tabs_get_a_specific_hint() {
    expect_diag(
        "tasks:\n\tapi:\n\t\tcmd: echo\n",
        "invalid YAML",
        2,
        2,
        "tabs",
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let err = expect_diag(
        "tasks:\n  api:\n    cmdd: echo hi\n",
        "unknown key `cmdd` in task `api`",
        3,
        5,
        "did you mean `cmd`?",
    );
    assert!(
        err.contains(" 3 |     cmdd: echo hi\n   |     ^^^^\n"),
        "{err}"
    );
}

#[test]
fn unknown_top_level_and_settings_keys() {
    expect_diag(
        "task:\n  api: {cmd: x}\n",
        "unknown key `task` at the top level",
        1,
        1,
        "did you mean `tasks`?",
    );
    expect_diag(
        "settings:\n  state-dir: x\ntasks: {a: {cmd: x}}\n",
        "unknown key `state-dir`",
        2,
        3,
        "`state_dir`",
    );
}

#[test]
fn an_image_is_one_word() {
    expect_diag(
        "defaults:\n  image: node 20\ntasks:\n  api: x\n",
        "`image` in `defaults` is not an image reference (it has a space)",
        2,
        10,
        "node:20-alpine",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    image: \"\"\n",
        "is empty",
        4,
        12,
        "give it a value",
    );
}

#[test]
fn wrong_types() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    autostart: maybe\n",
        "must be true or false",
        4,
        16,
        "`true` or `false`",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    ports: {a: 1}\n",
        "must be a list of port numbers, found a map",
        4,
        12,
        "ports: [3000]",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    ports: [\"3000\"]\n",
        "must be a number, found a string",
        4,
        13,
        "without quotes",
    );
    expect_diag("tasks: [a, b]\n", "`tasks` must be a map", 1, 8, "tasks:");
}

#[test]
fn bad_duration() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    backoff: 5 parsecs\n",
        "invalid duration `5 parsecs`",
        4,
        14,
        "`1m 30s`",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    stop_timeout: 10\n",
        "has no unit",
        4,
        19,
        "`10s`",
    );
}

#[test]
fn bad_signal() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    stop_signal: SIGTREM\n",
        "unknown signal `SIGTREM`",
        4,
        18,
        "did you mean `SIGTERM`?",
    );
}

#[test]
fn port_out_of_range() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    ports: [4000, 70000]\n",
        "port 70000",
        4,
        19,
        "1 to 65535",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    ports: [0]\n",
        "port 0",
        4,
        13,
        "1 to 65535",
    );
}

#[test]
fn same_port_on_two_tasks() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    ports: [4000]\n  web:\n    cmd: y\n    ports: [3000, 4000]\n",
        "port 4000 is declared by tasks `api` and `web`",
        7,
        19,
        "line 4",
    );
}

#[test]
fn invalid_regexes() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    errors: ['(oops']\n",
        "invalid regex `(oops`",
        4,
        14,
        "escape",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    health: {log: 'a[b'}\n",
        "invalid regex `a[b`",
        4,
        19,
        "escape",
    );
    expect_diag(
        "settings:\n  secrets:\n    redact: ['sk_(']\ntasks: {a: {cmd: x}}\n",
        "invalid regex `sk_(`",
        3,
        14,
        "escape",
    );
}

#[test]
fn unknown_dependency() {
    expect_diag(
        "tasks:\n  db: {cmd: x}\n  api:\n    cmd: y\n    depends_on: [dbb]\n",
        "task `api` depends on unknown task `dbb`",
        5,
        18,
        "did you mean `db`?",
    );
}

#[test]
fn dependency_cycle_is_printed() {
    expect_diag(
        "tasks:\n  a:\n    cmd: x\n    depends_on: [b]\n  b:\n    cmd: y\n    depends_on: {a: started}\n",
        "dependency cycle: a -> b -> a",
        4,
        18,
        "depends_on",
    );
}

#[test]
fn empty_cmd() {
    expect_diag(
        "tasks:\n  api:\n    cmd: \"  \"\n",
        "empty `cmd` in task `api`",
        3,
        10,
        "cmd: npm run dev",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: []\n",
        "empty `cmd` in task `api`",
        3,
        10,
        "cmd:",
    );
    expect_diag(
        "tasks:\n  api:\n    ports: [1234]\n",
        "task `api` has no `cmd`",
        2,
        3,
        "cmd:",
    );
}

#[test]
fn invalid_task_name() {
    expect_diag(
        "tasks:\n  web dev:\n    cmd: x\n",
        "invalid task name `web dev`",
        2,
        3,
        "letters, digits",
    );
    expect_diag(
        "tasks:\n  _x: {cmd: x}\n",
        "invalid task name `_x`",
        2,
        3,
        "start with a letter or digit",
    );
}

#[test]
fn health_needs_exactly_one_probe() {
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    health:\n      interval: 2s\n",
        "has no probe",
        4,
        5,
        "`http: <url>`",
    );
    expect_diag(
        "tasks:\n  api:\n    cmd: x\n    health:\n      http: http://127.0.0.1:1/\n      tcp: 4000\n",
        "has several probes (`http`, `tcp`)",
        6,
        7,
        "keep",
    );
}

#[test]
fn undefined_variable_without_default() {
    let err = expect_diag(
        "env:\n  URL: postgres://${BTS_TEST_SURELY_UNSET_VAR}/db\ntasks: {a: {cmd: x}}\n",
        "undefined variable `BTS_TEST_SURELY_UNSET_VAR`",
        2,
        19,
        "${BTS_TEST_SURELY_UNSET_VAR:-value}",
    );
    let caret = format!("   | {}{}\n", " ".repeat(18), "^".repeat(28));
    assert!(err.contains(&caret), "{err}");
}

#[test]
fn missing_env_file() {
    expect_diag(
        "env_file: [.env.local]\ntasks: {a: {cmd: x}}\n",
        "env file `.env.local` not found",
        1,
        12,
        "create it",
    );
}

#[test]
fn only_version_1_exists() {
    expect_diag(
        "version: 2\ntasks: {a: {cmd: x}}\n",
        "unsupported `version: 2`",
        1,
        10,
        "version: 1",
    );
}

#[test]
fn defaults_are_reported_at_their_own_location_once() {
    let err = expect_diag(
        "defaults:\n  restart: sometimes\ntasks:\n  a: {cmd: x}\n  b: {cmd: y}\n",
        "invalid `restart`",
        2,
        12,
        "`on-failure`",
    );
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
}

#[test]
fn hostile_files_are_diagnosed_not_panicked_on() {
    for yaml in [
        "",
        "[]\n",
        "- a\n",
        "tasks:\n",
        "tasks: null\n",
        "tasks: {a: }\n",
        "tasks: {1: {cmd: 2}, a: [x]}\n",
        "\u{feff}x: [\n",
        "tasks: {a: {cmd: x, env: {A: [1]}}}\n",
    ] {
        let (_dir, out) = check(yaml);
        assert_eq!(out.code, 1, "{yaml:?}:\n{}", out.stderr);
        assert!(
            out.stderr.starts_with("error: "),
            "{yaml:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn no_manifest_is_a_usage_error_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bts(dir.path(), &["check"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no bts.yaml found"), "{}", out.stderr);
    assert!(out.stderr.contains("-f PATH"), "{}", out.stderr);
}

#[test]
fn manifest_is_found_in_a_parent_directory_and_via_bts_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bts.yml"), "tasks:\n  a: {cmd: echo}\n").expect("write");
    let sub = dir.path().join("x/y");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let out = bts(&sub, &["check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("bts.yml — 1 task, no problems"),
        "{}",
        out.stdout
    );

    std::fs::write(dir.path().join("other.yaml"), "tasks:\n  a: {cmdd: echo}\n").expect("write");
    let out = bts_with(Invocation::bts(dir.path(), &["check"]).env("BTS_FILE", "other.yaml"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("--> other.yaml:2:7"), "{}", out.stderr);
}
