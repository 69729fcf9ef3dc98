//! `bts check`: every manifest problem at once, then the environment checks (cwd, command
//! on PATH, ports free), exit 1 on any problem and an `ok:` line otherwise.

use super::manifest::{bts, check};

#[test]
fn reports_every_problem_of_the_file_at_once() {
    let yaml = "\
tasks:
  api:
    cmdd: echo hi
    cmd: echo
  worker:
    cmd: echo
    backoff: soon
    depends_on: [web]
  web:
    cmd: echo
    depends_on: [worker]
";
    let (_dir, out) = check(yaml);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let err = &out.stderr;
    for (msg, at) in [
        ("unknown key `cmdd` in task `api`", "bts.yaml:3:5"),
        ("invalid duration `soon`", "bts.yaml:7:14"),
        ("dependency cycle: worker -> web -> worker", "bts.yaml:8:18"),
    ] {
        let i = err
            .find(msg)
            .unwrap_or_else(|| panic!("no `{msg}` in:\n{err}"));
        assert!(err[i..].contains(at), "no {at} after `{msg}` in:\n{err}");
    }
    assert!(err.contains("error: bts.yaml has 3 problems"), "{err}");
    // In file order.
    assert!(err.find("cmdd").unwrap() < err.find("soon").unwrap());
    assert!(err.find("soon").unwrap() < err.find("cycle").unwrap());
}

#[test]
fn a_valid_manifest_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("svc")).expect("mkdir");
    std::fs::write(dir.path().join(".env"), "GREETING=hello\n").expect("env file");
    std::fs::write(
        dir.path().join("bts.yaml"),
        "\
version: 1
name: shop
env_file: .env
env:
  MSG: ${GREETING} ${WHO:-world}
settings:
  output: full
  digest_interval: 1m 30s
  secrets: {public: [\"PUBLIC_*\"], mask: [\"*_PW\"], redact: ['sk_live_[0-9a-zA-Z]{24}']}
defaults:
  restart: on-failure
tasks:
  db:
    cmd: [sh, -c, 'exec sleep 60']
    health: {cmd: 'true', interval: 500ms}
  api:
    cmd: FOO=1 exec sh -c 'echo $FOO'
    wd: svc
    depends_on: {db: healthy}
    stop_signal: INT
  migrate:
    cmd: echo migrate
    destructive: true
    restart: never
    autostart: false
  ready:
    cmd: cd svc && ls
    depends_on: [api]
",
    )
    .expect("write");
    let out = bts(dir.path(), &["-f", "bts.yaml", "check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "ok: bts.yaml — 4 tasks, no problems\n");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn a_destructive_task_with_restart_is_a_warning_not_an_error() {
    let (_dir, out) =
        check("tasks:\n  migrate:\n    cmd: echo\n    destructive: true\n    restart: always\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: task `migrate` is destructive"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("1 task, no problems (1 warning)"),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_cwd() {
    let (_dir, out) = check("tasks:\n  web:\n    cmd: echo hi\n    cwd: apps/nope\n");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error: task `web`: cwd "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("apps/nope does not exist"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--> bts.yaml:2\n"), "{}", out.stderr);
    assert!(out.stderr.contains("= hint: create it"), "{}", out.stderr);
}

#[test]
fn command_not_on_path() {
    let (_dir, out) = check(
        "tasks:\n  a:\n    cmd: FOO=1 exec definitely-not-a-command-xyz --flag\n  b:\n    cmd: definitely-not-a-command-xyz\n    args: [x]\n  c:\n    cmd: ./bin/missing\n  ok:\n    cmd: if true; then echo; fi\n",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let err = &out.stderr;
    for task in ["a", "b"] {
        assert!(
            err.contains(&format!(
                "error: task `{task}`: command `definitely-not-a-command-xyz` not found on PATH"
            )),
            "{err}"
        );
    }
    assert!(
        err.contains("error: task `c`: command `./bin/missing` not found"),
        "{err}"
    );
    assert!(
        err.contains("= hint: install `definitely-not-a-command-xyz`"),
        "{err}"
    );
    assert!(!err.contains("task `ok`"), "{err}");
    assert!(err.contains("3 problems"), "{err}");
}

#[test]
fn the_task_path_is_used_for_lookup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("tools");
    std::fs::create_dir(&bin).expect("mkdir");
    let tool = bin.join("my-tool-xyz");
    std::fs::write(&tool, "#!/bin/sh\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let yaml = format!(
        "tasks:\n  a:\n    cmd: my-tool-xyz\n    env: {{PATH: \"{}:/usr/bin:/bin\"}}\n",
        bin.display()
    );
    std::fs::write(dir.path().join("bts.yaml"), yaml).expect("write");
    let out = bts(dir.path(), &["-f", "bts.yaml", "check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Without the task's PATH the tool is not found.
    std::fs::write(
        dir.path().join("bts.yaml"),
        "tasks:\n  a:\n    cmd: my-tool-xyz\n",
    )
    .expect("write");
    let out = bts(dir.path(), &["-f", "bts.yaml", "check"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn busy_port_names_its_holder_and_a_free_port() {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (_dir, out) = check(&format!(
        "tasks:\n  web:\n    cmd: echo\n    ports: [{port}]\n"
    ));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let err = &out.stderr;
    assert!(
        err.contains(&format!("error: task `web`: port {port} is in use")),
        "{err}"
    );
    if cfg!(target_os = "linux") {
        let me = std::process::id();
        assert!(err.contains(&format!("in use by pid {me} (")), "{err}");
    }
    let suggested: u16 = err
        .split("or use ")
        .nth(1)
        .and_then(|s| s.split(" (free)").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no free port suggested in:\n{err}"));
    assert_ne!(suggested, port);
    drop(listener);
}

#[test]
fn redirections_are_not_taken_for_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("bts.yaml");
    std::fs::write(
        &m,
        "tasks:\n  a:\n    cmd: exec 2>&1; echo ok\n  b:\n    cmd: '>&2 echo hi'\n  c:\n    cmd: exec >&- 2>&-; sleep 1\n",
    )
    .unwrap();
    let out = bts(dir.path(), &["-f", m.to_str().unwrap(), "check"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}
