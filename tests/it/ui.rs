//! The dashboard in a real terminal (tmux): `bts ui` attached to a running stack and
//! `bts up --ui` owning one. What a person sees on the screen, what the keys do to the
//! tasks, and the terminal given back.

use crate::common::*;

/// `api` prints a numbered line every 100 ms, `needle-7` among them; `worker` sleeps.
fn manifest() -> String {
    format!(
        "name: shop\ntasks:\n  api:\n    cmd: \"i=0; while true; do i=$((i+1)); echo line $i; \
         [ $i = 7 ] && echo needle-7 found; sleep 0.1; done\"\n{}",
        sleeping("worker")
    )
}

fn pid_of(p: &Project, task: &str) -> i64 {
    task_status(p, task)["pid"].as_i64().unwrap_or(0)
}

#[test]
fn ui_shows_the_stack_searches_copies_restarts_and_q_leaves_it_running() {
    let p = Project::new(&manifest());
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let Some(t) = Tmux::bts(&p, "ui", 100, 30) else {
        return;
    };
    let screen = t.wait_screen("both tasks UP", |s| {
        s.lines().any(|l| l.contains(" api ") && l.contains("UP"))
            && s.lines()
                .any(|l| l.contains(" worker ") && l.contains("UP"))
    });
    assert!(screen.contains("bts · shop · attached"), "{screen}");
    assert!(t.alternate_on());
    // The selected task's log follows.
    t.wait_screen("api's log", |s| s.contains("── api log ── following"));
    t.wait_screen("needle-7", |s| s.contains("needle-7 found"));

    // `/` finds the line: the log title counts the matches.
    t.keys(&["/", "needle"]);
    t.wait_screen("the query typed in the footer", |s| s.contains("/needle▏"));
    t.keys(&["Enter"]);
    t.wait_screen("the match", |s| s.contains("/needle: 1 of 1"));
    // `c` copies the matches to the clipboard (OSC 52, kept by tmux as a buffer).
    t.keys(&["c"]);
    t.wait_screen("the copy's receipt", |s| s.contains("copied 1 lines"));
    let mut buffer = String::new();
    assert!(
        eventually(DEADLINE, || {
            buffer = t.paste_buffer();
            buffer.contains("needle-7 found")
        }),
        "clipboard: {buffer:?}"
    );
    assert!(!buffer.contains("line 6"), "only the match: {buffer:?}");

    // `r` restarts the selected task: its pid changes and the receipt is the footer.
    let before = pid_of(&p, "api");
    t.keys(&["r"]);
    let ok = eventually(DEADLINE, || {
        let now = pid_of(&p, "api");
        now != 0 && now != before
    });
    assert!(ok, "api was not restarted");
    t.wait_screen("the restart's receipt", |s| {
        s.contains("api: STARTING (pid")
    });

    // `q` leaves: the terminal is given back and the tasks run on.
    t.keys(&["q"]);
    let screen = t.wait_screen("bts ui exited", |s| s.contains("EXITED 0"));
    assert!(
        !t.alternate_on(),
        "still on the alternate screen:\n{screen}"
    );
    let restarted = pid_of(&p, "api");
    wait_state(&p, "api", "UP");
    assert_eq!(pid_of(&p, "api"), restarted);
    assert_eq!(task_status(&p, "worker")["status"], "UP");
}

#[test]
fn up_ui_owns_the_stack_q_stops_it_and_gives_the_terminal_back() {
    let p = Project::new(&manifest());
    let Some(t) = Tmux::bts(&p, "up --ui", 80, 24) else {
        return;
    };
    let _guard = DaemonGuard { project: &p };
    t.wait_screen("both tasks UP", |s| {
        s.contains("bts up --ui") && s.contains("2 UP")
    });
    let pids: Vec<i64> = ["api", "worker"].iter().map(|n| pid_of(&p, n)).collect();
    assert!(pids.iter().all(|&p| p > 0), "{pids:?}");
    // Down to `worker`, then stop it alone with `s`.
    t.keys(&["Down"]);
    t.wait_screen("worker selected", |s| s.contains("> worker UP"));
    t.keys(&["s"]);
    t.wait_screen("the stop receipt", |s| s.contains("worker: stopped"));
    wait_state(&p, "worker", "STOPPED");
    // `u` starts it again.
    t.keys(&["u"]);
    wait_state(&p, "worker", "UP");
    // `q` stops everything, as Ctrl-C does in the line stream.
    t.keys(&["q"]);
    let screen = t.wait_screen("bts up exited", |s| s.contains("EXITED 0"));
    assert!(screen.contains("every task of shop is stopped"), "{screen}");
    assert!(!t.alternate_on());
    for pid in pids {
        let gone = eventually(DEADLINE, || !alive(pid as i32));
        assert!(gone, "task pid {pid} outlived bts up --ui");
    }
}

#[test]
fn up_ui_approves_a_blocked_task_after_showing_it() {
    let p = Project::new(&format!(
        "tasks:\n  migrate:\n    cmd: trap '' TERM; echo migrated; sleep 60\n    \
         destructive: true\n    checkpoint: echo dumped\n    stop_timeout: 60s\n{}",
        sleeping("web")
    ));
    let Some(t) = Tmux::bts(&p, "up --ui migrate web", 100, 30) else {
        return;
    };
    let _guard = DaemonGuard { project: &p };
    // No line prompt under --ui: the task waits, BLOCKED, for the dashboard.
    t.wait_screen("migrate BLOCKED", |s| s.contains("> migrate BLOCKED"));
    t.keys(&["A"]);
    let screen = t.wait_screen("the approval prompt", |s| s.contains("[y/N]"));
    assert!(
        screen.contains("command: trap '' TERM; echo migrated; sleep 60"),
        "{screen}"
    );
    assert!(screen.contains("checkpoint first: echo dumped"), "{screen}");
    t.keys(&["y"]);
    wait_state(&p, "migrate", "UP");
    t.wait_screen("the checkpoint's and the task's lines", |s| {
        s.contains("dumped") && s.contains("migrated")
    });
    // Ctrl-C: a graceful stop, which `migrate` ignores (its stop_timeout is a minute);
    // a second Ctrl-C kills it at once.
    t.keys(&["C-c"]);
    t.wait_screen("the stop under way", |s| s.contains("stopping every task"));
    t.keys(&["C-c"]);
    t.wait_screen("bts up exited", |s| s.contains("EXITED"));
    assert!(!t.alternate_on());
}

#[test]
fn ui_without_a_supervisor_or_a_terminal_says_what_to_use() {
    let p = Project::new(&sleepers(&["api"]));
    let r = p.run(&["ui"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.stderr.contains("no supervisor is running"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("bts up --ui"), "{}", r.stderr);
    // Not a terminal: a clear error, and nothing started.
    let r = p.run(&["up", "--ui"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(
        r.stderr.contains("the dashboard needs a terminal"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("bts logs -f"), "{}", r.stderr);
    assert!(!p.file(".bts/state.json").exists());
    let up = p.run(&["up", "-d"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let r = p.run(&["ui"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(r.stderr.contains("needs a terminal"), "{}", r.stderr);
    // --ui with modes it replaces is a usage error.
    let r = p.run(&["up", "--ui", "--detach"]);
    assert_eq!(r.code(), 2, "{}", r.all());
}

#[cfg(target_os = "linux")]
#[test]
fn sigterm_gives_the_terminal_back_and_no_color_draws_without_colour() {
    let p = Project::new(&sleepers(&["api"]));
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    let Some(t) = Tmux::bts_env(&p, "NO_COLOR=1", "ui", 80, 24) else {
        return;
    };
    t.wait_screen("api UP", |s| s.contains("> api UP"));
    let escaped = t.screen_escaped();
    // Reversed and bold, never a colour: no SGR 30-37, 38, 90-97.
    let sgr = regex::Regex::new(r"\x1b\[([0-9;]*)m").unwrap();
    for c in sgr.captures_iter(&escaped) {
        for code in c[1].split(';').filter_map(|n| n.parse::<u32>().ok()) {
            assert!(
                !(30..=38).contains(&code) && !(90..=97).contains(&code),
                "a colour under NO_COLOR: {:?}",
                &c[0]
            );
        }
    }
    assert!(t.alternate_on());
    let pid = t.bts_pid().expect("the pid of bts ui");
    // SAFETY: a plain kill of the process this test started (found as the pane's child).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let screen = t.wait_screen("bts ui exited", |s| s.contains("EXITED"));
    assert!(!t.alternate_on(), "{screen}");
    assert_eq!(
        task_status(&p, "api")["status"],
        "UP",
        "bts ui leaves the tasks running"
    );
}
