//! Resource limits of a running task (docs/behaviour.md#resource-limits): what a limit hit
//! is, as data, and the watch that turns usage samples into warnings and hits.
//!
//! Memory is the group's resident memory at a sample. CPU is the group's CPU time over a
//! sliding window (`settings.cpu_window`): a task is over `max_cpu` only when the average
//! over a whole window is, so a start-up burst is not a runaway. At 80 % of a limit the
//! task is *near* it (its digest says so); over it, the watch reports one hit per run
//! and limit, and the core decides what follows (`on_limit`).

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::manifest::size::size_text;
use crate::manifest::{Limits, OnLimit};

/// Share of a limit at which a task is warned about.
pub const NEAR: f64 = 0.8;

/// A limit a run went over, with the measured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "limit", rename_all = "snake_case")]
pub enum LimitHit {
    Memory {
        max_bytes: u64,
        rss_bytes: u64,
    },
    Cpu {
        max_percent: u32,
        percent: u32,
        window_secs: u64,
    },
    /// The kernel killed the run at its cgroup's `memory.max` (kernel enforcement).
    OomKill {
        max_bytes: u64,
    },
}

impl LimitHit {
    /// What the task's `on_limit` makes of this hit.
    pub fn action(&self, limits: &Limits) -> OnLimit {
        match self.kind() {
            LimitKind::Memory => limits.on_memory(),
            LimitKind::Cpu => limits.on_cpu(),
        }
    }

    /// Which limit it passed.
    pub fn kind(&self) -> LimitKind {
        match self {
            LimitHit::Memory { .. } | LimitHit::OomKill { .. } => LimitKind::Memory,
            LimitHit::Cpu { .. } => LimitKind::Cpu,
        }
    }
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            LimitHit::Memory {
                max_bytes,
                rss_bytes,
            } => write!(
                f,
                "memory limit {} exceeded (rss {})",
                size_text(max_bytes),
                size_text(rss_bytes)
            ),
            LimitHit::Cpu {
                max_percent,
                percent,
                window_secs,
            } => write!(
                f,
                "CPU limit {max_percent}% exceeded ({percent}% over {window_secs}s)"
            ),
            LimitHit::OomKill { max_bytes } => write!(
                f,
                "memory limit {} reached: killed by the kernel (OOM)",
                size_text(max_bytes)
            ),
        }
    }
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Memory,
    Cpu,
}

impl LimitKind {
    /// `memory` or `cpu` (the key's name after `max_`).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Memory => "memory",
            LimitKind::Cpu => "cpu",
        }
    }
}

/// A limit a run is near (80 % or more, not over), with what to say: `uses 420 MB of
/// 512 MB memory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Near {
    pub kind: LimitKind,
    pub text: String,
}

/// What a sample says about one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitReport {
    /// Near a limit now.
    pub near: Vec<Near>,
    /// Limits passed for the first time this run.
    pub hits: Vec<LimitHit>,
}

/// The limit watch of one run: its CPU history and which limits it has passed.
#[derive(Debug)]
pub struct LimitWatch {
    limits: Limits,
    window: Duration,
    /// (when, CPU ticks of the group), oldest first, spanning at least the window.
    cpu: VecDeque<(Instant, u64)>,
    memory_hit: bool,
    cpu_hit: bool,
}

impl LimitWatch {
    pub fn new(limits: Limits, window: Duration) -> Self {
        LimitWatch {
            limits,
            window,
            cpu: VecDeque::new(),
            memory_hit: false,
            cpu_hit: false,
        }
    }

    /// Take a sample of the run's group: `cpu_ticks` (utime + stime, cumulative),
    /// `rss` bytes, at `now`; `ticks_per_sec` of the system clock.
    pub fn observe(
        &mut self,
        now: Instant,
        cpu_ticks: u64,
        rss: u64,
        ticks_per_sec: f64,
    ) -> LimitReport {
        let mut report = LimitReport::default();
        if let Some(max) = self.limits.max_memory {
            if rss > max {
                if !self.memory_hit {
                    self.memory_hit = true;
                    report.hits.push(LimitHit::Memory {
                        max_bytes: max,
                        rss_bytes: rss,
                    });
                }
            } else if rss as f64 >= max as f64 * NEAR {
                report.near.push(Near {
                    kind: LimitKind::Memory,
                    text: format!("uses {} of {} memory", size_text(rss), size_text(max)),
                });
            }
        }
        if let Some(max) = self.limits.max_cpu {
            self.cpu.push_back((now, cpu_ticks));
            // Keep one sample at or before the window's start, so the window is whole.
            while self.cpu.len() > 2
                && self
                    .cpu
                    .get(1)
                    .is_some_and(|s| now.saturating_duration_since(s.0) >= self.window)
            {
                self.cpu.pop_front();
            }
            let (t0, c0) = self.cpu[0];
            let span = now.saturating_duration_since(t0);
            if span >= self.window && ticks_per_sec > 0.0 && !span.is_zero() {
                let pct = cpu_ticks.saturating_sub(c0) as f64 / ticks_per_sec / span.as_secs_f64()
                    * 100.0;
                if pct > f64::from(max) {
                    if !self.cpu_hit {
                        self.cpu_hit = true;
                        report.hits.push(LimitHit::Cpu {
                            max_percent: max,
                            percent: pct.round() as u32,
                            window_secs: span.as_secs(),
                        });
                    }
                } else if pct >= f64::from(max) * NEAR {
                    report.near.push(Near {
                        kind: LimitKind::Cpu,
                        text: format!("uses {:.0}% of {max}% CPU over {}s", pct, span.as_secs()),
                    });
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn limits(mem: Option<u64>, cpu: Option<u32>) -> Limits {
        Limits {
            max_memory: mem,
            max_cpu: cpu,
            on_limit: None,
        }
    }

    #[test]
    fn memory_is_near_at_80_percent_and_hit_once_over() {
        let t0 = Instant::now();
        let mut w = LimitWatch::new(limits(Some(100 * MB), None), Duration::from_secs(30));
        assert_eq!(w.observe(t0, 0, 79 * MB, 100.0), LimitReport::default());
        let r = w.observe(t0, 0, 80 * MB, 100.0);
        assert_eq!(r.near[0].text, "uses 80 MB of 100 MB memory");
        assert_eq!((r.near.len(), r.near[0].kind), (1, LimitKind::Memory));
        assert!(r.hits.is_empty());
        let r = w.observe(t0, 0, 101 * MB, 100.0);
        assert_eq!(
            r.hits,
            [LimitHit::Memory {
                max_bytes: 100 * MB,
                rss_bytes: 101 * MB
            }]
        );
        assert_eq!(
            r.hits[0].to_string(),
            "memory limit 100 MB exceeded (rss 101 MB)"
        );
        // Once per run: the core is already acting on it.
        assert!(w.observe(t0, 0, 120 * MB, 100.0).hits.is_empty());
        // Exactly at the limit is not over it.
        let mut w = LimitWatch::new(limits(Some(100 * MB), None), Duration::from_secs(30));
        assert!(w.observe(t0, 0, 100 * MB, 100.0).hits.is_empty());
    }

    #[test]
    fn cpu_counts_only_over_a_whole_window() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = LimitWatch::new(limits(None, Some(150)), Duration::from_secs(10));
        // 200 % (2 s of CPU per second, 100 ticks/s) — but the window is not whole yet.
        for s in 0..10 {
            assert_eq!(w.observe(at(s), s * 200, 0, 100.0), LimitReport::default());
        }
        let r = w.observe(at(10), 2000, 0, 100.0);
        assert_eq!(
            r.hits,
            [LimitHit::Cpu {
                max_percent: 150,
                percent: 200,
                window_secs: 10
            }]
        );
        assert_eq!(
            r.hits[0].to_string(),
            "CPU limit 150% exceeded (200% over 10s)"
        );
        assert!(w.observe(at(11), 2200, 0, 100.0).hits.is_empty());
    }

    #[test]
    fn a_burst_is_averaged_out_and_near_is_said() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = LimitWatch::new(limits(None, Some(100)), Duration::from_secs(10));
        // 3 s at 300 %, then idle: 90 % over the first 10 s — near, not over.
        let mut ticks = 0;
        for s in 0..=10 {
            let r = w.observe(at(s), ticks, 0, 100.0);
            if s == 10 {
                assert!(r.hits.is_empty(), "{r:?}");
                assert_eq!(r.near[0].text, "uses 90% of 100% CPU over 10s");
                assert_eq!((r.near.len(), r.near[0].kind), (1, LimitKind::Cpu));
            }
            if s < 3 {
                ticks += 300;
            }
        }
        // The window slides: 20 s later, the burst is out of it.
        for s in 11..=30 {
            let r = w.observe(at(s), ticks, 0, 100.0);
            if s == 30 {
                assert_eq!(r, LimitReport::default());
            }
        }
        // The history stays bounded by the window.
        assert!(w.cpu.len() <= 12, "{}", w.cpu.len());
    }

    #[test]
    fn no_limits_no_reports() {
        let t0 = Instant::now();
        let mut w = LimitWatch::new(limits(None, None), Duration::from_secs(10));
        assert_eq!(
            w.observe(t0, 1 << 40, 1 << 40, 100.0),
            LimitReport::default()
        );
        assert!(w.cpu.is_empty());
    }
}
