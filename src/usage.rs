//! CPU and memory of each task's process group, sampled every few seconds off the output
//! path, from the process table the supervisor reads once per tick (Linux); other
//! systems report nothing (the columns show `-`).

use std::collections::HashMap;
use std::time::Instant;

use crate::process::table::Proc;

/// CPU time and resident memory summed over the members of one process group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupUsage {
    /// utime + stime in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

/// Successive samples, to turn CPU ticks into a percentage of one core.
#[derive(Debug, Default)]
pub struct Sampler {
    last: HashMap<i32, (u64, Instant)>,
}

impl Sampler {
    /// Sample `groups` (process group, when its run started); returns `(cpu_percent,
    /// rss_bytes)` per group. A group's first sample averages its CPU over its run so
    /// far, so a run of 200 ms already has a figure.
    pub fn sample(
        &mut self,
        procs: &[Proc],
        groups: &[(i32, tokio::time::Instant)],
    ) -> HashMap<i32, (Option<f32>, u64)> {
        let now = Instant::now();
        let pgids: Vec<i32> = groups.iter().map(|g| g.0).collect();
        let usage = sum_groups(procs, &pgids);
        let tick = ticks_per_second();
        let mut out = HashMap::new();
        for (&pg, u) in &usage {
            let since_start = groups
                .iter()
                .find(|g| g.0 == pg)
                .map(|g| (0, g.1.into_std()));
            let cpu = self
                .last
                .get(&pg)
                .copied()
                .or(since_start)
                .and_then(|(ticks, at)| {
                    let secs = now.duration_since(at).as_secs_f64();
                    (secs > 0.0 && tick > 0.0).then(|| {
                        (u.cpu_ticks.saturating_sub(ticks) as f64 / tick / secs * 100.0) as f32
                    })
                });
            out.insert(pg, (cpu, u.rss_bytes));
        }
        self.last = usage
            .iter()
            .map(|(&pg, u)| (pg, (u.cpu_ticks, now)))
            .collect();
        out
    }
}

/// Clock ticks per second of the CPU times in the process table (0 where unknown).
#[cfg(target_os = "linux")]
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn ticks_per_second() -> f64 {
    0.0
}

/// Sum CPU time and resident memory over the members of each wanted group.
pub fn sum_groups(procs: &[Proc], pgids: &[i32]) -> HashMap<i32, GroupUsage> {
    let mut out: HashMap<i32, GroupUsage> =
        pgids.iter().map(|&p| (p, GroupUsage::default())).collect();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    for p in procs {
        if let Some(u) = out.get_mut(&p.pgid) {
            u.cpu_ticks += p.cpu_ticks;
            u.rss_bytes += p.rss_pages * page;
        }
    }
    out
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn own_group_has_memory() {
        let pg = nix::unistd::getpgrp().as_raw();
        let mut s = Sampler::default();
        let started = tokio::time::Instant::now() - std::time::Duration::from_secs(1);
        let first = s.sample(&crate::process::table::all(), &[(pg, started)]);
        let (cpu, rss) = first[&pg];
        assert!(
            cpu.is_some(),
            "the first sample averages over the run so far"
        );
        assert!(rss > 0);
        let second = s.sample(&crate::process::table::all(), &[(pg, started)]);
        assert!(second[&pg].0.is_some());
    }
}
