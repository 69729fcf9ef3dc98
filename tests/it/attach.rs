//! `tty: true` and `bts attach` (docs/behaviour.md#attach): the task runs on a terminal,
//! a client in a real terminal (tmux) types into it and detaches with Ctrl-], one client
//! at a time.

use std::io::{BufRead, BufReader, Write};

use crate::common::*;

const READER: &str =
    "tasks:\n  reader:\n    cmd: 'while read l; do echo \"got= $l\"; done'\n    tty: true\n  plain:\n    cmd: exec sleep 300\n";

/// One raw control request, as a second client would send it.
fn raw_attach(p: &Project, task: &str) -> serde_json::Value {
    let socket = p.state().expect("state.json").socket;
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    let req = serde_json::json!({"op": "attach", "task": task, "who": "the test"});
    s.write_all(format!("{req}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

#[test]
fn a_tty_task_sees_a_terminal_and_a_piped_one_does_not() {
    let p = Project::new(
        "tasks:\n  t:\n    cmd: if [ -t 0 ]; then echo has-tty; else echo no-tty; fi; exec sleep 300\n    tty: true\n  p:\n    cmd: if [ -t 0 ]; then echo has-tty; else echo no-tty; fi; exec sleep 300\n",
    );
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/t.log")
        .contains("has-tty")));
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/p.log")
        .contains("no-tty")));
}

#[test]
fn attach_types_into_the_task_and_detaches_leaving_it_running() {
    let p = Project::new(READER);
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let pid = task_status(&p, "reader")["pid"].as_i64();
    let Some(t) = Tmux::bts(&p, "attach reader", 100, 20) else {
        return;
    };
    t.wait_screen("the attach banner", |s| s.contains("attached to reader"));
    t.keys(&["hello there", "Enter"]);
    t.wait_screen("the task's answer", |s| s.contains("got= hello there"));
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/reader.log")
        .contains("got= hello there")));

    // A second client is refused with who holds it; a task without `tty` names the key.
    let second = raw_attach(&p, "reader");
    assert_eq!(second["ok"], false, "{second}");
    let error = second["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("task `reader` is attached by pid "),
        "{second}"
    );
    let plain = raw_attach(&p, "plain");
    assert!(
        plain["error"]
            .as_str()
            .unwrap_or_default()
            .contains("has no terminal"),
        "{plain}"
    );
    assert!(
        plain["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("tty: true"),
        "{plain}"
    );

    t.keys(&["C-]"]);
    let screen = t.wait_screen("the detach", |s| s.contains("EXITED"));
    assert!(
        screen.contains("detached from reader (it keeps running)"),
        "{screen}"
    );
    assert!(screen.contains("EXITED 0"), "{screen}");
    let d = task_status(&p, "reader");
    assert_eq!(
        (d["status"].as_str(), d["pid"].as_i64()),
        (Some("UP"), pid),
        "{d:#}"
    );
    // Free again: the next client is taken.
    assert!(eventually(DEADLINE, || raw_attach(&p, "reader")["ok"] == true));
}

#[test]
fn attach_without_a_terminal_says_so() {
    let p = Project::new(READER);
    let r = p.run(&["attach", "reader"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(
        r.all().contains("bts attach needs a terminal"),
        "{}",
        r.all()
    );
    assert!(r.all().contains("bts logs TASK -f"), "{}", r.all());
}

/// `tty: true` on a destructive task is allowed; it still waits for its approval.
#[test]
fn a_destructive_tty_task_still_needs_its_approval() {
    let p = Project::new(
        "tasks:\n  console:\n    cmd: exec sleep 300\n    tty: true\n    destructive: true\n",
    );
    assert_eq!(p.run(&["check"]).code(), 0);
    let up = p.run(&["up", "-d"]);
    let _guard = DaemonGuard { project: &p };
    assert!(matches!(up.code(), 0 | 1), "{}", up.all());
    let d = wait_state(&p, "console", "BLOCKED");
    assert!(d["pid"].is_null(), "{d:#}");
}
