//! Unit tests of manifest validation: defaults, command forms, `defaults` merging, env
//! layers and env files, dependency conditions, signals, task names, and the
//! diagnostics (order, deduplication, hostile shapes).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::*;
use crate::manifest::diag::Diagnostic;
use crate::manifest::model::{CommandSpec, Condition, Manifest, RestartPolicy};
use crate::manifest::node::Pos;

fn env() -> BTreeMap<String, String> {
    [
        ("HOME", "/home/me"),
        ("CALLER", "c"),
        ("NODE_ENV", "production"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn load(src: &str) -> Result<Manifest, Vec<Diagnostic>> {
    validate(src, Path::new("/p/shop/bts.yaml"), &env())
}

fn errs(src: &str) -> Vec<Diagnostic> {
    load(src).expect_err("should be invalid")
}

#[test]
fn minimal_manifest_gets_documented_defaults() {
    let m = load("tasks:\n  api: {cmd: cargo run}\n").unwrap();
    assert_eq!(m.project, "shop");
    assert_eq!(m.settings.state_dir, Path::new("/p/shop/.bts"));
    assert_eq!(m.settings.digest_interval, Duration::from_secs(300));
    let t = &m.tasks[0];
    assert_eq!(t.command, CommandSpec::Shell("cargo run".into()));
    assert_eq!(t.cwd, Path::new("/p/shop"));
    assert_eq!((t.max_restarts, t.log_max_kb, t.log_keep), (5, 1024, 3));
    assert_eq!(t.stop_signal, libc::SIGTERM);
    assert_eq!(t.stop_timeout, Duration::from_secs(10));
    assert_eq!(t.checkpoint_timeout, Duration::from_secs(300));
    assert!(t.autostart && !t.destructive);
    assert_eq!(t.line, 2);
}

#[test]
fn exec_forms_and_shorthand() {
    let m = load(
        "tasks:\n  a: {cmd: pnpm, args: [dev, 3000]}\n  b: {cmd: [node, x.js]}\n  c: echo hi\n",
    )
    .unwrap();
    assert_eq!(
        m.tasks[0].command,
        CommandSpec::Exec {
            program: "pnpm".into(),
            args: vec!["dev".into(), "3000".into()]
        }
    );
    assert_eq!(
        m.tasks[1].command,
        CommandSpec::Exec {
            program: "node".into(),
            args: vec!["x.js".into()]
        }
    );
    assert_eq!(m.tasks[2].command, CommandSpec::Shell("echo hi".into()));
}

#[test]
fn defaults_merge_per_key_and_task_wins() {
    let m = load(
        "defaults:\n  restart: on-failure\n  backoff: 2s\n  env: {A: d, B: d}\ntasks:\n  a:\n    cmd: x\n    backoff: 3s\n    env: {B: t}\n",
    )
    .unwrap();
    let t = &m.tasks[0];
    assert_eq!(t.restart, RestartPolicy::OnFailure);
    assert_eq!(t.backoff, Duration::from_secs(3));
    assert_eq!(t.env["A"], "d");
    assert_eq!(t.env["B"], "t");
}

#[test]
fn env_layers_and_interpolation() {
    let m = load(
        "env:\n  NODE_ENV: development\n  URL: http://${HOST:-localhost}\ntasks:\n  a:\n    cmd: x\n    env:\n      MODE: ${NODE_ENV}\n      WHO: $CALLER\n      U: ${URL}/x\n      P: 3000\n      D: $$HOME\n",
    )
    .unwrap();
    let env = &m.tasks[0].env;
    assert_eq!(env["NODE_ENV"], "development");
    assert_eq!(
        env["MODE"], "development",
        "task env sees the manifest env over the caller's"
    );
    assert_eq!(env["WHO"], "c");
    assert_eq!(env["U"], "http://localhost/x");
    assert_eq!(env["P"], "3000");
    assert_eq!(env["D"], "$HOME");
}

#[test]
fn depends_on_conditions() {
    let m = load(
        "tasks:\n  db: {cmd: x, health: {tcp: 5432}}\n  q: {cmd: x}\n  api: {cmd: x, depends_on: [db, q]}\n  web: {cmd: x, depends_on: {api: completed, db: {condition: service_started}}}\n",
    )
    .unwrap();
    let api = m.task("api").unwrap();
    assert_eq!(api.depends_on[0].condition, Condition::Healthy);
    assert_eq!(api.depends_on[1].condition, Condition::Started);
    let web = m.task("web").unwrap();
    assert_eq!(web.depends_on[0].condition, Condition::Completed);
    assert_eq!(web.depends_on[1].condition, Condition::Started);
}

#[test]
fn signals_accept_several_spellings() {
    for s in ["SIGINT", "INT", "sigint", "SigInt"] {
        assert_eq!(parse_signal(s), Some(Signal::SIGINT), "{s}");
    }
    assert_eq!(parse_signal("SIGNOPE"), None);
}

#[test]
fn task_names() {
    assert!(valid_task_name("web-dev"));
    assert!(valid_task_name("1.a_b"));
    assert!(!valid_task_name("-x"));
    assert!(!valid_task_name("a b"));
    assert!(!valid_task_name(""));
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let d = errs("tasks:\n  a:\n    cmdd: x\n  b:\n    cmd: y\n    backoff: 5 parsecs\n    depends_on: [c]\n  c: {cmd: z, depends_on: [b]}\n");
    let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(d.len(), 4, "{msgs:#?}");
    assert!(msgs[0].contains("has no `cmd`"));
    assert!(msgs[1].contains("unknown key `cmdd`"));
    assert_eq!(d[1].hint.as_deref(), Some("did you mean `cmd`?"));
    assert!(msgs[2].contains("invalid duration `5 parsecs`"));
    assert!(
        msgs[3].contains("dependency cycle: b -> c -> b"),
        "{msgs:?}"
    );
}

#[test]
fn a_bad_default_is_reported_once() {
    let d = errs("defaults:\n  backoff: soon\ntasks:\n  a: {cmd: x}\n  b: {cmd: y}\n");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].pos, Some(Pos::at(2, 12)));
}

#[test]
fn hostile_shapes_do_not_panic() {
    for src in [
        "",
        "[]",
        "- a",
        "tasks:",
        "tasks: null",
        "tasks: [a, b]",
        "tasks: {a: }",
        "tasks: {a: [x]}",
        "tasks: {1: {cmd: x}, 2.5: {cmd: y}}",
        "tasks: {? [x] : {cmd: y}}",
        "tasks: {a: {cmd: {x: 1}}}",
        "tasks: {a: {cmd: []}}",
        "tasks: {a: {cmd: x, health: {}}}",
        "tasks: {a: {cmd: x, health: [x]}}",
        "tasks: {a: {cmd: x, ports: [0, -1, 65536, 99999999999999999999, x]}}",
        "tasks: {a: {cmd: x, depends_on: {b: {condition: {}}}}}",
        "tasks: {a: {cmd: x, env: {A: [1]}}}",
        "settings: 3\ntasks: {a: x}",
        "settings: {secrets: [1]}\ntasks: {a: x}",
        "env_file: [1, [2]]\ntasks: {a: x}",
        "\t\ttasks:",
        "version: 2",
    ] {
        let _ = load(src);
    }
}

#[test]
fn env_files_lose_to_the_caller_and_feed_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "FROM_FILE=file\nCALLER=file\nSHARED=one\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env.local"), "SHARED=two\n").unwrap();
    let calling: BTreeMap<String, String> = [("CALLER".to_string(), "caller".to_string())].into();
    let src = "env_file: [.env, .env.local]\nenv:\n  A: ${FROM_FILE}-${CALLER}-${SHARED}\ntasks:\n  t: {cmd: x, cwd: sub/../svc}\n";
    let m = validate(src, &dir.path().join("bts.yaml"), &calling).unwrap();
    let t = &m.tasks[0];
    assert_eq!(t.env["A"], "file-caller-two");
    assert_eq!(t.env["FROM_FILE"], "file");
    assert!(
        !t.env.contains_key("CALLER"),
        "the calling environment wins over env files"
    );
    assert_eq!(t.cwd, dir.path().join("svc"));
}
