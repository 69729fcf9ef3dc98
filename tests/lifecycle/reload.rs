//! A second `bts up` (or SIGHUP): add, change, remove, nothing; and `watch:` restarts.

use super::*;
use std::collections::BTreeSet;

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn reload(h: &mut Harness, tasks: Vec<Task>, selected: &[&str]) -> u64 {
    let selected = names(selected);
    h.request(|w| Request::Reload {
        waiter: Some(w),
        tasks,
        selected,
        full: true,
        approvals: vec![],
    })
}

#[test]
fn an_added_task_starts_and_the_answer_waits_for_it_to_settle() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let w = reload(&mut h, vec![task("a"), task("b")], &["a", "b"]);
    assert_eq!(h.spawns(&h.last.clone()), vec![("b".to_string(), true)]);
    h.spawned("b");
    assert!(h.answer(w).is_none());
    h.advance(secs(1));
    assert_eq!(
        h.answer(w),
        Some((vec!["starting b (new)".to_string()], false))
    );
}

#[test]
fn a_changed_task_restarts_and_an_unchanged_one_keeps_its_run() {
    let mut h = Harness::new(vec![task("a"), task("b")]);
    h.boot_and_spawn();
    let (run_a, run_b) = (h.run_of("a"), h.run_of("b"));
    let mut changed = task("b");
    changed.command = CommandSpec::Shell("sleep 9".into());
    reload(&mut h, vec![task("a"), changed], &["a", "b"]);
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("b".to_string(), StopWhy::Restart)]
    );
    h.exit("b", 143);
    h.spawned("b");
    assert_eq!(h.run_of("a"), run_a);
    assert_ne!(h.run_of("b"), run_b);
}

#[test]
fn a_removed_task_stops_and_no_longer_counts_for_dependencies() {
    let mut h = Harness::new(vec![task("a"), task("gone")]);
    h.boot_and_spawn();
    reload(&mut h, vec![task("a")], &["a"]);
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("gone".to_string(), StopWhy::User)]
    );
    let gone = 1;
    let run = match &h.core.slot(gone).phase {
        Phase::Running(r) => r.run,
        p => panic!("{p:?}"),
    };
    h.step(Event::Exited {
        task: gone,
        run,
        exit: ExitInfo::signal(15),
    });
    assert!(h.core.find("gone").is_none());
    // Re-added under the same name with a dependent: the removed one fails nothing.
    reload(
        &mut h,
        vec![
            task("a"),
            task("gone"),
            depends(task("c"), "gone", Condition::Started),
        ],
        &["a", "gone", "c"],
    );
    h.spawn_all();
    assert_eq!(h.state("c"), TaskState::Starting);
}

#[test]
fn nothing_changed_says_so() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let w = reload(&mut h, vec![task("a")], &["a"]);
    assert_eq!(
        h.answer(w),
        Some((
            vec!["nothing to do: every task is up to date".to_string()],
            false
        ))
    );
}

#[test]
fn a_failed_task_added_again_is_started_and_a_failure_makes_the_answer_fail() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    h.exit("a", 1);
    let w = reload(&mut h, vec![task("a")], &["a"]);
    h.spawned("a");
    h.exit("a", 1);
    assert_eq!(h.answer(w), Some((vec!["starting a".to_string()], true)));
}

#[test]
fn a_burst_of_file_changes_restarts_once_after_the_quiet_time() {
    let mut t = task("a");
    t.watch = vec!["src/**".into()];
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    for _ in 0..5 {
        h.step(Event::FileChanged {
            task: 0,
            path: "src/x.rs".into(),
        });
        h.advance(ms(100));
    }
    let restarts = |h: &Harness| {
        h.log
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Effect::Stop {
                        why: StopWhy::Restart,
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(restarts(&h), 0, "still changing");
    h.advance(bts::lifecycle::WATCH_DEBOUNCE);
    assert_eq!(restarts(&h), 1);
}

#[test]
fn a_change_starts_an_ended_task_again() {
    let mut t = task("a");
    t.watch = vec!["*.txt".into()];
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    h.exit("a", 1);
    h.step(Event::FileChanged {
        task: 0,
        path: "a.txt".into(),
    });
    h.advance(secs(1));
    assert!(
        h.log
            .iter()
            .filter(|e| matches!(e, Effect::Spawn { .. }))
            .count()
            == 2
    );
}

#[test]
fn a_second_up_is_answered_a_second_after_a_probed_task_started() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    h.advance(secs(2));
    let mut web = task("web");
    web.health = Some(Health {
        probe: Probe::Log("ready".into()),
        interval: secs(5),
        timeout: secs(2),
        retries: 3,
        start_period: secs(60),
    });
    let w = reload(&mut h, vec![task("a"), web], &["a", "web"]);
    h.spawn_all();
    assert!(h.answer(w).is_none());
    h.advance(secs(1));
    assert!(h.answer(w).is_some(), "settled: alive for a second");
    assert_eq!(
        h.state("web"),
        TaskState::Starting,
        "still waiting for its log line"
    );
}

fn add(h: &mut Harness, t: Task) -> u64 {
    h.request(|w| Request::Add {
        waiter: Some(w),
        task: Box::new(t),
        wait: false,
        approval: None,
    })
}

#[test]
fn an_adhoc_task_starts_and_is_answered_once_it_runs() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let w = add(&mut h, task("tool"));
    assert_eq!(h.spawns(&h.last.clone()), vec![("tool".to_string(), true)]);
    assert!(h.answer(w).is_none());
    h.spawned("tool");
    assert!(h.answer(w).is_some());
    assert_eq!(
        h.core.slot(h.id("tool")).origin,
        bts::lifecycle::Origin::Adhoc
    );
}

#[test]
fn adding_an_adhoc_task_again_replaces_and_restarts_it() {
    let mut h = Harness::new(vec![]);
    h.boot();
    add(&mut h, task("tool"));
    h.spawned("tool");
    let mut changed = task("tool");
    changed.command = CommandSpec::Shell("sleep 5".into());
    add(&mut h, changed);
    assert_eq!(
        h.stops(&h.last.clone()),
        vec![("tool".to_string(), StopWhy::Restart)]
    );
    h.exit("tool", 143);
    h.spawned("tool");
    assert_eq!(h.core.slot(h.id("tool")).task.command.display(), "sleep 5");
}

#[test]
fn a_reload_of_the_manifest_leaves_adhoc_tasks_alone() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    add(&mut h, task("tool"));
    h.spawned("tool");
    let run = h.run_of("tool");
    reload(&mut h, vec![task("a")], &["a"]);
    assert!(h.stops(&h.last.clone()).is_empty(), "{:?}", h.last);
    assert_eq!(h.run_of("tool"), run);
}

#[test]
fn a_task_that_only_moved_in_its_file_keeps_its_run() {
    let mut h = Harness::new(vec![task("a")]);
    h.boot_and_spawn();
    let run = h.run_of("a");
    let mut moved = task("a");
    moved.line = 42;
    let w = reload(&mut h, vec![moved], &["a"]);
    assert!(h.stops(&h.last.clone()).is_empty());
    assert_eq!(h.run_of("a"), run);
    assert_eq!(
        h.answer(w).unwrap().0,
        vec!["nothing to do: every task is up to date".to_string()]
    );
}

#[test]
fn a_manifest_task_takes_over_an_adhoc_one_of_its_name() {
    let mut h = Harness::new(vec![]);
    h.boot();
    add(&mut h, task("web"));
    h.spawned("web");
    reload(&mut h, vec![task("web")], &["web"]);
    assert_eq!(
        h.core.slot(h.id("web")).origin,
        bts::lifecycle::Origin::Manifest
    );
}

#[test]
fn a_reload_never_restarts_a_running_destructive_task() {
    let mut t = task("migrate");
    t.destructive = true;
    let opts = CoreOptions {
        approvals: vec![("migrate".into(), "--confirm".into())],
        ..Default::default()
    };
    let mut h = Harness::with(vec![t.clone()], &["migrate"], opts);
    h.boot_and_spawn();
    let run = h.run_of("migrate");
    let mut changed = t;
    changed.command = CommandSpec::Shell("other".into());
    let w = reload(&mut h, vec![changed], &["migrate"]);
    assert!(h.stops(&h.last.clone()).is_empty());
    assert_eq!(h.run_of("migrate"), run, "the same run goes on");
    let (messages, failed) = h.answer(w).expect("answered at once");
    assert_eq!(
        messages,
        ["migrate changed: not restarted (destructive; `bts restart migrate --yes` applies it)"]
    );
    assert!(!failed);
    assert_eq!(
        h.core.slot(0).task.command,
        CommandSpec::Shell("other".into()),
        "its next run uses the new definition"
    );
}
