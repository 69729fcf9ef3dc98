//! The terminal budget of `--output summary`: how many lines each task may print,
//! shared fairly between all tasks.
//!
//! Ordinary lines (and notes) spend tokens. Each task has its own bucket of
//! [`TASK_BURST`] tokens refilled at its fair share, [`FAIR_RATE`] / active tasks
//! (active: asked for tokens in the last [`ACTIVE_WINDOW`]); a task coming back from
//! silence refills at no less than [`IDLE_RATE`], so its first lines get through however
//! busy the others are. Beyond its own bucket a task may borrow from a shared pool of
//! [`POOL_BURST`] tokens (refilled at [`POOL_RATE`]), at most [`TASK_BORROW`] at a time
//! (that allowance refills at a fair share of [`POOL_RATE`]). So one task bursts ~80
//! lines, starting tasks share ~100 extra lines, and a long flood gets ~20 lines/s in all:
//! bounded by `tasks × TASK_BURST + POOL_BURST + (FAIR_RATE + POOL_RATE) × seconds`.
//! Error and warning lines bypass that budget but are capped per task at [`ERROR_RATE`]
//! lines/s after a burst of [`ERROR_BURST`].

use std::time::{Duration, Instant};

/// Tokens in each task's own bucket (and what it starts with).
pub const TASK_BURST: f64 = 20.0;
/// Lines per second shared fairly by the active tasks' own buckets.
pub const FAIR_RATE: f64 = 16.0;
/// The least refill rate of a task that was silent for [`ACTIVE_WINDOW`].
pub const IDLE_RATE: f64 = 5.0;
/// A task is active (counts in the fair split) this long after it last had output.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(2);
/// The shared pool that lets tasks burst beyond their own bucket.
pub const POOL_BURST: f64 = 100.0;
/// Refill of the pool; the tasks' borrowing allowances share it like [`FAIR_RATE`].
pub const POOL_RATE: f64 = 4.0;
/// How much one task may hold borrowed from the pool (so one flood cannot empty it).
pub const TASK_BORROW: f64 = 60.0;
/// Error and warning lines per task: burst, then lines per second.
pub const ERROR_BURST: f64 = 40.0;
pub const ERROR_RATE: f64 = 20.0;

#[derive(Debug, Clone, Copy)]
struct TaskTokens {
    own: f64,
    /// How much more this task may borrow from the pool.
    borrow: f64,
    errors: f64,
    refilled: Option<Instant>,
    errors_refilled: Option<Instant>,
    last_output: Option<Instant>,
}

impl Default for TaskTokens {
    fn default() -> Self {
        TaskTokens {
            own: TASK_BURST,
            borrow: TASK_BORROW,
            errors: ERROR_BURST,
            refilled: None,
            errors_refilled: None,
            last_output: None,
        }
    }
}

/// The terminal budget shared by all tasks (wrap it in a `Mutex`; take once per batch).
#[derive(Debug)]
pub struct Budget {
    pool: f64,
    pool_refilled: Option<Instant>,
    /// Indexed by the caller's task number; grows on demand.
    tasks: Vec<TaskTokens>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new()
    }
}

fn secs_since(now: Instant, then: Option<Instant>) -> f64 {
    then.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
}

impl Budget {
    pub fn new() -> Self {
        Budget {
            pool: POOL_BURST,
            pool_refilled: None,
            tasks: Vec::new(),
        }
    }

    fn task(&mut self, task: usize) -> &mut TaskTokens {
        if task >= self.tasks.len() {
            self.tasks.resize(task + 1, TaskTokens::default());
        }
        &mut self.tasks[task]
    }

    /// How many of `wanted` ordinary lines task `task` may show now.
    pub fn take(&mut self, task: usize, wanted: u32, now: Instant) -> u32 {
        if wanted == 0 {
            return 0;
        }
        self.pool = (self.pool + secs_since(now, self.pool_refilled) * POOL_RATE).min(POOL_BURST);
        self.pool_refilled = Some(now);
        self.task(task);
        let is_active = |t: &TaskTokens| {
            t.last_output
                .is_some_and(|l| now.saturating_duration_since(l) <= ACTIVE_WINDOW)
        };
        let others = self
            .tasks
            .iter()
            .enumerate()
            .filter(|&(i, t)| i != task && is_active(t))
            .count();
        let t = &mut self.tasks[task];
        let active = (others + 1) as f64;
        let share = FAIR_RATE / active;
        let rate = if is_active(t) {
            share
        } else {
            share.max(IDLE_RATE)
        };
        let dt = secs_since(now, t.refilled);
        t.own = (t.own + dt * rate).min(TASK_BURST);
        // The allowance refills at a fair share of the pool's rate too: otherwise whichever
        // flood happens to ask first after each refill would get all of it.
        t.borrow = (t.borrow + dt * POOL_RATE / active).min(TASK_BORROW);
        t.refilled = Some(now);
        t.last_output = Some(now);

        let wanted = f64::from(wanted);
        let own = wanted.min(t.own.floor());
        t.own -= own;
        let borrowed = (wanted - own)
            .min(self.pool.floor())
            .min(t.borrow.floor())
            .max(0.0);
        t.borrow -= borrowed;
        self.pool -= borrowed;
        // Both are whole numbers no greater than `wanted`, a u32.
        (own + borrowed) as u32
    }

    /// How many of `wanted` error or warning lines task `task` may show now.
    pub fn take_errors(&mut self, task: usize, wanted: u32, now: Instant) -> u32 {
        if wanted == 0 {
            return 0;
        }
        let t = self.task(task);
        t.errors = (t.errors + secs_since(now, t.errors_refilled) * ERROR_RATE).min(ERROR_BURST);
        t.errors_refilled = Some(now);
        let n = f64::from(wanted).min(t.errors.floor());
        t.errors -= n;
        n as u32
    }
}
