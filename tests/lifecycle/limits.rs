//! Resource limits: what the core does with a limit hit, by `on_limit`.

use super::*;
use bts::lifecycle::{FailReason, Level, Origin};
use bts::limits::LimitHit;
use bts::manifest::{Limits, OnLimit};

const MB: u64 = 1 << 20;

fn limited(mut t: Task, on_limit: Option<OnLimit>) -> Task {
    t.limits = Limits {
        max_memory: Some(512 * MB),
        max_cpu: Some(150),
        on_limit,
    };
    t
}

fn memory() -> LimitHit {
    LimitHit::Memory {
        max_bytes: 512 * MB,
        rss_bytes: 530 * MB,
    }
}

fn cpu() -> LimitHit {
    LimitHit::Cpu {
        max_percent: 150,
        percent: 190,
        window_secs: 30,
    }
}

fn hit(h: &mut Harness, name: &str, what: LimitHit) -> Vec<Effect> {
    let run = h.run_of(name);
    let task = h.id(name);
    h.step(Event::LimitExceeded {
        task,
        run,
        hit: what,
    })
}

fn said(effects: &[Effect], level: Level) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Say { level: l, text } if *l == level => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn memory_restarts_by_default_even_without_a_restart_policy() {
    let mut h = Harness::new(vec![limited(task("web"), None)]);
    h.boot_and_spawn();
    let fx = hit(&mut h, "web", memory());
    assert_eq!(h.stops(&fx), vec![("web".to_string(), StopWhy::Limit)]);
    assert_eq!(
        said(&fx, Level::Error),
        ["web: memory limit 512 MB exceeded (rss 530 MB) — restarting it (on_limit: restart)"]
    );
    // A second report of the same run while it stops changes nothing.
    assert!(hit(&mut h, "web", memory()).is_empty());
    h.exit("web", 143);
    assert_eq!(h.state("web"), TaskState::Restarting);
    assert_eq!(h.core.slot(0).tracker.total, 1, "counts as a restart");
    let said_state = h.last.iter().any(|e| {
        matches!(e, Effect::State { note, .. } if note.contains("memory limit 512 MB exceeded (rss 530 MB); restart #1"))
    });
    assert!(said_state, "{:?}", h.last);
    h.advance(secs(1));
    assert_eq!(h.spawns(&h.last.clone()), vec![("web".to_string(), false)]);
}

#[test]
fn limit_restarts_count_toward_the_crash_loop() {
    let mut t = limited(task("web"), Some(OnLimit::Restart));
    t.max_restarts = 1;
    let mut h = Harness::new(vec![t]);
    h.boot_and_spawn();
    hit(&mut h, "web", memory());
    h.exit("web", 143);
    h.advance(secs(1));
    h.spawned("web");
    let fx = hit(&mut h, "web", memory());
    assert_eq!(
        said(&fx, Level::Error),
        ["web: memory limit 512 MB exceeded (rss 530 MB) — stopping it (on_limit: restart)"]
    );
    h.exit("web", 143);
    let reason = h.core.slot(0).phase.fail_reason().cloned();
    match reason {
        Some(FailReason::CrashLoop { last_run, .. }) => {
            assert_eq!(last_run, "memory limit 512 MB exceeded (rss 530 MB)")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn on_limit_stop_fails_the_task_with_the_limit_as_reason() {
    let mut h = Harness::new(vec![limited(
        restarting("web", RestartPolicy::Always),
        Some(OnLimit::Stop),
    )]);
    h.boot_and_spawn();
    let fx = hit(&mut h, "web", cpu());
    assert_eq!(h.stops(&fx), vec![("web".to_string(), StopWhy::Limit)]);
    h.exit("web", 143);
    assert_eq!(h.state("web"), TaskState::Failed);
    assert_eq!(
        h.core.slot(0).phase.detail("web", Origin::Manifest),
        "CPU limit 150% exceeded (190% over 30s)"
    );
    h.advance(secs(60));
    assert!(h.spawns(&h.last.clone()).is_empty(), "never restarted");
}

#[test]
fn cpu_warns_by_default_and_the_task_keeps_running() {
    let mut h = Harness::new(vec![limited(task("web"), None)]);
    h.boot_and_spawn();
    let before = h.run_of("web");
    let fx = hit(&mut h, "web", cpu());
    assert!(h.stops(&fx).is_empty());
    assert_eq!(
        said(&fx, Level::Warn),
        ["web: CPU limit 150% exceeded (190% over 30s) (on_limit: warn)"]
    );
    assert_eq!(h.run_of("web"), before);
    assert!(h.core.slot(0).phase.is_running_unstopped());
}

#[test]
fn a_destructive_task_is_stopped_not_restarted() {
    let mut t = limited(task("migrate"), None);
    t.destructive = true;
    let opts = CoreOptions {
        approvals: vec![("migrate".into(), "--confirm".into())],
        ..Default::default()
    };
    let mut h = Harness::with(vec![t], &["migrate"], opts);
    h.boot_and_spawn();
    hit(&mut h, "migrate", memory());
    h.exit("migrate", 143);
    assert!(matches!(
        h.core.slot(0).phase.fail_reason(),
        Some(FailReason::Limit { .. })
    ));
}

#[test]
fn a_hit_for_an_old_run_is_ignored() {
    let mut h = Harness::new(vec![limited(task("web"), None)]);
    h.boot_and_spawn();
    let run = h.run_of("web");
    let fx = h.step(Event::LimitExceeded {
        task: 0,
        run: RunId(run.0 + 7),
        hit: memory(),
    });
    assert!(fx.is_empty());
    assert!(h.core.slot(0).phase.is_running_unstopped());
}
