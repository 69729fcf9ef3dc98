//! The guarantees of the README, each tested from the outside through the built binary:
//! destructive tasks through a running supervisor and at a terminal prompt.

use crate::common::extra::*;
use crate::common::*;

// ---------------------------------------------------------------------------------------
// Destructive tasks

const MIGRATE: &str = "tasks:
  web:
    cmd: exec sleep 300
  seed:
    cmd: echo seed >> runs.txt
    destructive: true
  migrate:
    cmd: echo migrate >> runs.txt
    destructive: true
    autostart: false
";

fn runs(p: &Project) -> Vec<String> {
    p.read("runs.txt").lines().map(str::to_string).collect()
}

/// Guards "destructive tasks never run unapproved" through a running supervisor: a
/// second `bts up` (`seed`, selected by default) or `bts up migrate` without approval
/// leaves the task BLOCKED, exits 1 and prints the command that approves it;
/// `bts up --yes` and `bts up --confirm migrate` sent to the supervisor run it, once.
#[test]
fn a_destructive_task_through_a_running_supervisor() {
    let p = Project::new(MIGRATE);
    let _g = DaemonGuard { project: &p };
    let first = p.run(&["up", "-d"]);
    assert_eq!(first.code(), 1, "seed is BLOCKED: {}", first.all());
    assert!(
        first.stdout.contains("bts up --confirm seed"),
        "{}",
        first.all()
    );
    wait_state(&p, "web", "UP");

    let mut expected: Vec<String> = vec![];
    for (task, again, approve) in [
        ("seed", &["up"][..], &["up", "--yes"][..]),
        (
            "migrate",
            &["up", "migrate"],
            &["up", "--confirm", "migrate"],
        ),
    ] {
        let r = p.run(again);
        assert_eq!(r.code(), 1, "{again:?}: {}", r.all());
        assert!(
            r.stdout.contains(&format!("bts up --confirm {task}")),
            "{again:?} prints the approve command: {}",
            r.all()
        );
        assert_eq!(task_status(&p, task)["status"], "BLOCKED");
        assert_eq!(runs(&p), expected, "{task} did not run unapproved");

        let ok = p.run(approve);
        assert_eq!(ok.code(), 0, "{approve:?}: {}", ok.all());
        assert!(
            ok.stdout.contains(&format!("starting {task}")),
            "{approve:?}: {}",
            ok.stdout
        );
        wait_state(&p, task, "EXITED");
        expected.push(task.to_string());
        assert_eq!(runs(&p), expected, "{approve:?} ran it once");
    }
    let audit = p.read(".bts/audit.log");
    let approvals = audit.lines().filter(|l| l.contains("\"approved\"")).count();
    assert_eq!(approvals, 2, "{audit}");
}

/// Guards the `y` at the prompt of a foreground `bts up` on a terminal: `y` runs the
/// task, anything else leaves it BLOCKED (and `bts up` exits 1).
#[cfg(target_os = "linux")]
#[test]
fn the_prompt_on_a_terminal_approves_with_y_only() {
    let p =
        Project::new("tasks:\n  migrate:\n    cmd: echo run >> runs.txt\n    destructive: true\n");
    let mut yes = Pty::bts(&p, &["up"], &[("NO_COLOR", "1")]);
    yes.wait_for("Run it? [y/N]");
    yes.type_text("y\n");
    let code = yes.wait_exit(DEADLINE).expect("bts up ends");
    assert_eq!(code.code(), Some(0), "{}", yes.output());
    assert!(yes.output().contains("migrate: EXITED"), "{}", yes.output());
    assert_eq!(runs(&p), ["run"]);
    assert!(p.read(".bts/audit.log").contains("\"how\":\"prompt\""));

    let mut no = Pty::bts(&p, &["up"], &[("NO_COLOR", "1")]);
    no.wait_for("Run it? [y/N]");
    no.type_text("n\n");
    let code = no.wait_exit(DEADLINE).expect("bts up ends");
    assert_eq!(code.code(), Some(1), "{}", no.output());
    assert!(
        no.output()
            .contains("migrate: BLOCKED — approve with: bts up --confirm migrate"),
        "{}",
        no.output()
    );
    assert_eq!(runs(&p), ["run"], "not run on n");
}
