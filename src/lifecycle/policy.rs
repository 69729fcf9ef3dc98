//! The restart and health policies of one task as pure functions: callers pass `now`,
//! so backoff, crash loops and probe thresholds are tested without sleeping. The rules
//! are those of docs/behaviour.md#restarts and docs/behaviour.md#health-checks.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::exit::ExitInfo;
use super::reason::FailReason;
use crate::limits::LimitHit;
use crate::manifest::{RestartPolicy, Task};

/// Backoff never grows past this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the backoff.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);
/// A task without a probe is UP once it has stayed alive this long.
pub const NO_PROBE_UP_AFTER: Duration = Duration::from_secs(1);

/// Restart history of one task: when restarts happened (for the crash-loop window) and
/// how many in a row (for the backoff).
#[derive(Debug, Default, Clone)]
pub struct RestartTracker {
    restarts: VecDeque<Instant>,
    consecutive: u32,
    pub total: u32,
}

/// How a run ended (or stopped being useful) without anyone asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The process exited.
    Exit(ExitInfo),
    /// Its health check reported DOWN.
    Down,
    /// It went over a resource limit whose `on_limit` is `restart`.
    Limit(LimitHit),
}

impl Cause {
    pub fn describe(self) -> String {
        match self {
            Cause::Exit(e) => e.describe(),
            Cause::Down => "health check DOWN".to_string(),
            Cause::Limit(hit) => hit.to_string(),
        }
    }
}

/// What follows a run that ended by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterExit {
    Restart {
        delay: Duration,
    },
    /// Ended with 0 and no restart is due.
    Exited,
    Failed(FailReason),
}

/// Decide what follows a run that ended (or went DOWN) without anyone asking: restart
/// after a backoff, or a final state. `ran_for` is how long the run lasted.
pub fn after_exit(
    task: &Task,
    tracker: &mut RestartTracker,
    cause: Cause,
    ran_for: Duration,
    now: Instant,
) -> AfterExit {
    let failed = match cause {
        Cause::Exit(e) => !e.success(),
        Cause::Down | Cause::Limit(_) => true,
    };
    let wants = match task.restart {
        // `on_limit: restart` asks for the restart whatever the policy says.
        _ if matches!(cause, Cause::Limit(_)) => true,
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => failed,
        RestartPolicy::Always => true,
    };
    // Destructive tasks are never restarted automatically
    // (docs/behaviour.md#destructive-tasks).
    if !wants || task.destructive {
        return final_outcome(cause, ran_for);
    }
    if ran_for >= BACKOFF_RESET_AFTER {
        tracker.consecutive = 0;
    }
    while tracker
        .restarts
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) > task.restart_window)
    {
        tracker.restarts.pop_front();
    }
    if tracker.restarts.len() as u32 >= task.max_restarts {
        return AfterExit::Failed(FailReason::crash_loop(
            tracker.restarts.len(),
            task.restart_window,
            task.max_restarts,
            cause.describe(),
        ));
    }
    let delay = backoff_delay(task.backoff, tracker.consecutive);
    tracker.consecutive = tracker.consecutive.saturating_add(1);
    tracker.total += 1;
    tracker.restarts.push_back(now);
    AfterExit::Restart { delay }
}

fn final_outcome(cause: Cause, ran_for: Duration) -> AfterExit {
    match cause {
        Cause::Exit(e) if e.success() => AfterExit::Exited,
        Cause::Exit(e) => AfterExit::Failed(FailReason::Exit {
            code: e.code,
            signal: e.signal,
            ran_for_ms: ran_for.as_millis() as u64,
        }),
        Cause::Down => AfterExit::Failed(FailReason::HealthDown),
        Cause::Limit(hit) => AfterExit::Failed(FailReason::Limit { hit }),
    }
}

/// `base * 2^n`, capped at [`MAX_BACKOFF`].
pub fn backoff_delay(base: Duration, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Probe history of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HealthTracker {
    pub ever_ok: bool,
    pub failures: u32,
}

/// What a probe result means for the task's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    Up,
    Degraded,
    Down,
    /// A failure inside `start_period` before the first success: it does not count.
    Unchanged,
}

/// Fold one probe result into the tracker: the first success makes the task UP;
/// failures before it and inside `start_period` do not count; after that, a failure is
/// DEGRADED and `retries` in a row are DOWN; a success recovers.
pub fn on_probe(
    retries: u32,
    tracker: &mut HealthTracker,
    ok: bool,
    in_start_period: bool,
) -> HealthChange {
    if ok {
        tracker.ever_ok = true;
        tracker.failures = 0;
        return HealthChange::Up;
    }
    if in_start_period && !tracker.ever_ok {
        return HealthChange::Unchanged;
    }
    tracker.failures = tracker.failures.saturating_add(1);
    if tracker.failures >= retries.max(1) {
        HealthChange::Down
    } else {
        HealthChange::Degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{CommandSpec, Task};

    fn task(restart: RestartPolicy, max_restarts: u32) -> Task {
        Task {
            restart,
            max_restarts,
            restart_window: Duration::from_secs(600),
            ..Task::with_defaults("t", CommandSpec::Shell("false".into()), "/".into())
        }
    }

    const FAIL: Cause = Cause::Exit(ExitInfo {
        code: Some(1),
        signal: None,
    });
    const OK: Cause = Cause::Exit(ExitInfo {
        code: Some(0),
        signal: None,
    });

    #[test]
    fn never_policy_is_final() {
        let t = task(RestartPolicy::Never, 3);
        let mut tr = RestartTracker::default();
        let now = Instant::now();
        assert_eq!(
            after_exit(&t, &mut tr, OK, Duration::ZERO, now),
            AfterExit::Exited
        );
        assert!(matches!(
            after_exit(&t, &mut tr, FAIL, Duration::ZERO, now),
            AfterExit::Failed(FailReason::Exit { code: Some(1), .. })
        ));
    }

    #[test]
    fn on_failure_backs_off_then_crash_loops() {
        let t = task(RestartPolicy::OnFailure, 3);
        let mut tr = RestartTracker::default();
        let mut now = Instant::now();
        let mut delays = vec![];
        loop {
            match after_exit(&t, &mut tr, FAIL, Duration::from_millis(10), now) {
                AfterExit::Restart { delay } => {
                    delays.push(delay.as_secs());
                    now += delay;
                }
                other => {
                    assert!(
                        matches!(other, AfterExit::Failed(FailReason::CrashLoop { .. })),
                        "{other:?}"
                    );
                    break;
                }
            }
        }
        // max_restarts 3 = at most 4 runs in the window.
        assert_eq!(delays, vec![1, 2, 4]);
        let mut tr = RestartTracker::default();
        assert_eq!(
            after_exit(&t, &mut tr, OK, Duration::ZERO, now),
            AfterExit::Exited
        );
    }

    #[test]
    fn window_forgets_old_restarts_and_long_runs_reset_backoff() {
        let t = task(RestartPolicy::Always, 2);
        let mut tr = RestartTracker::default();
        let mut now = Instant::now();
        for _ in 0..2 {
            assert!(matches!(
                after_exit(&t, &mut tr, OK, Duration::ZERO, now),
                AfterExit::Restart { .. }
            ));
        }
        now += Duration::from_secs(601);
        assert_eq!(
            after_exit(&t, &mut tr, OK, Duration::from_secs(61), now),
            AfterExit::Restart {
                delay: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn a_restart_exactly_one_window_ago_still_counts() {
        let t = task(RestartPolicy::Always, 1);
        let mut tr = RestartTracker::default();
        let t0 = Instant::now();
        assert!(matches!(
            after_exit(&t, &mut tr, FAIL, Duration::ZERO, t0),
            AfterExit::Restart { .. }
        ));
        // restart_window is 600 s: the first restart is still inside it.
        assert!(matches!(
            after_exit(
                &t,
                &mut tr,
                FAIL,
                Duration::ZERO,
                t0 + Duration::from_secs(600)
            ),
            AfterExit::Failed(FailReason::CrashLoop { .. })
        ));
        let mut tr = RestartTracker::default();
        after_exit(&t, &mut tr, FAIL, Duration::ZERO, t0);
        assert!(matches!(
            after_exit(
                &t,
                &mut tr,
                FAIL,
                Duration::ZERO,
                t0 + Duration::from_millis(600_001)
            ),
            AfterExit::Restart { .. }
        ));
    }

    #[test]
    fn health_sequence() {
        let mut h = HealthTracker::default();
        assert_eq!(on_probe(3, &mut h, false, true), HealthChange::Unchanged);
        assert_eq!(on_probe(3, &mut h, true, true), HealthChange::Up);
        assert_eq!(on_probe(3, &mut h, false, true), HealthChange::Degraded);
        assert_eq!(on_probe(3, &mut h, false, false), HealthChange::Degraded);
        assert_eq!(on_probe(3, &mut h, false, false), HealthChange::Down);
        assert_eq!(on_probe(3, &mut h, true, false), HealthChange::Up);
        let mut fresh = HealthTracker::default();
        assert_eq!(
            on_probe(2, &mut fresh, false, false),
            HealthChange::Degraded
        );
    }

    #[test]
    fn backoff_caps() {
        assert_eq!(backoff_delay(Duration::from_secs(1), 10), MAX_BACKOFF);
        assert_eq!(
            backoff_delay(Duration::from_millis(100), 2),
            Duration::from_millis(400)
        );
        assert_eq!(backoff_delay(Duration::from_secs(1), u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn destructive_never_restarts() {
        let mut t = task(RestartPolicy::Always, 3);
        t.destructive = true;
        let mut tr = RestartTracker::default();
        assert!(matches!(
            after_exit(&t, &mut tr, FAIL, Duration::ZERO, Instant::now()),
            AfterExit::Failed(_)
        ));
    }
}
