//! Kernel enforcement of task limits through cgroup v2 (docs/behaviour.md#resource-limits).
//!
//! Where bts runs in a cgroup v2 subtree it may write to (a delegated one: `systemd-run
//! --user --scope -p Delegate=yes bts up`, a systemd service with `Delegate=yes`), it
//! moves itself into a leaf `bts-supervisor`, enables the memory and cpu controllers for
//! its subtree and runs each limited task's run in a child cgroup of its own, with
//! `memory.max` (`memory.high` for `on_limit: warn`), `memory.oom.group` and `cpu.max`
//! set from the limits. The kernel then holds the line between two samples, and an OOM
//! kill is read back from `memory.events`. Everywhere else (cgroup v1, a subtree shared
//! with other processes, containers, macOS) [`setup`] says why not, and the sampler
//! enforces the limits alone. Never needs root.

use std::path::{Path, PathBuf};

use crate::manifest::{Limits, OnLimit};

/// Where task cgroups are made: our own cgroup, with bts moved into a leaf of it.
#[derive(Debug, Clone)]
pub struct CgroupRoot {
    dir: PathBuf,
}

/// The cgroup of one run.
#[derive(Debug)]
pub struct TaskCgroup {
    dir: PathBuf,
}

/// `0::/user.slice/…` of /proc/self/cgroup: the v2 path of this process.
pub fn own_v2_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::trim)
}

/// `cpu.max` for a share of one core: quota and period in microseconds.
pub fn cpu_max(percent: u32) -> String {
    const PERIOD: u64 = 100_000;
    format!("{} {PERIOD}", u64::from(percent) * PERIOD / 100)
}

/// The OOM kills counted in a `memory.events` file.
pub fn oom_kills(memory_events: &str) -> u64 {
    memory_events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Try to take a delegated cgroup v2 subtree for the tasks; `Err` says why not.
#[cfg(target_os = "linux")]
pub fn setup() -> Result<CgroupRoot, String> {
    setup_at(Path::new("/sys/fs/cgroup"))
}

#[cfg(not(target_os = "linux"))]
pub fn setup() -> Result<CgroupRoot, String> {
    Err("cgroups are a Linux feature".into())
}

#[cfg(target_os = "linux")]
fn setup_at(mount: &Path) -> Result<CgroupRoot, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    if !mount.join("cgroup.controllers").exists() {
        return Err("no cgroup v2 hierarchy at /sys/fs/cgroup (cgroup v1 or none)".into());
    }
    let own =
        std::fs::read_to_string("/proc/self/cgroup").map_err(|e| io("/proc/self/cgroup", e))?;
    let rel = own_v2_path(&own).ok_or("this process is in no cgroup v2 group")?;
    let dir = mount.join(rel.trim_start_matches('/'));
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
        .map_err(|e| io(&dir.display().to_string(), e))?;
    for c in ["memory", "cpu"] {
        if !controllers.split_whitespace().any(|x| x == c) {
            return Err(format!(
                "the {c} controller is not delegated to {}",
                dir.display()
            ));
        }
    }
    // Only a cgroup without processes of its own may enable controllers for its
    // children: bts moves into a leaf first, and other processes must not be there.
    let leaf = dir.join("bts-supervisor");
    std::fs::create_dir_all(&leaf).map_err(|e| {
        io(
            &format!("{} is not writable (not delegated)", dir.display()),
            e,
        )
    })?;
    // bts and its own children (the watchdog) move into the leaf; anyone else there
    // (the shell of a terminal's scope) means the group is not bts's to divide.
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    let me = std::process::id() as i32;
    let pids: Vec<i32> = procs
        .lines()
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    let ours = |pid: i32| pid == me || super::table::read(pid).is_some_and(|p| p.ppid == me);
    if pids.iter().any(|&p| !ours(p)) {
        let _ = std::fs::remove_dir(&leaf);
        return Err(format!(
            "{} holds other processes too (run bts in its own scope: systemd-run --user --scope -p Delegate=yes bts up)",
            dir.display()
        ));
    }
    for pid in pids.iter().copied().filter(|&p| p != me).chain([me]) {
        std::fs::write(leaf.join("cgroup.procs"), pid.to_string())
            .map_err(|e| io("joining bts-supervisor", e))?;
    }
    if let Err(e) = std::fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu") {
        return Err(io("enabling the memory and cpu controllers", e));
    }
    Ok(CgroupRoot { dir })
}

impl CgroupRoot {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Make the cgroup of a run of `task` with its limits set.
    pub fn task_group(&self, task: &str, run: u64, limits: &Limits) -> std::io::Result<TaskCgroup> {
        let dir = self.dir.join(format!("task-{task}-{run}"));
        std::fs::create_dir_all(&dir)?;
        let group = TaskCgroup { dir };
        if let Some(max) = limits.max_memory {
            let key = match limits.on_memory() {
                // Warn only: reclaim pressure above the limit, never a kill.
                OnLimit::Warn => "memory.high",
                _ => "memory.max",
            };
            std::fs::write(group.dir.join(key), max.to_string())?;
            if key == "memory.max" {
                // Without it the kernel swaps a leaking task out instead of stopping it,
                // and neither the kernel nor the sampler ever sees the limit passed.
                let _ = std::fs::write(group.dir.join("memory.swap.max"), "0");
            }
            // The whole task goes when the kernel kills, as one unit (no half-killed
            // process tree).
            let _ = std::fs::write(group.dir.join("memory.oom.group"), "1");
        }
        if let Some(cpu) = limits.max_cpu {
            std::fs::write(group.dir.join("cpu.max"), cpu_max(cpu))?;
        }
        Ok(group)
    }
}

impl TaskCgroup {
    /// The `cgroup.procs` file a child writes `0` to, between fork and exec, to join.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// OOM kills in this run's cgroup so far.
    pub fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("memory.events"))
            .map(|s| oom_kills(&s))
            .unwrap_or(0)
    }

    /// Remove the (empty) cgroup once the run is over.
    pub fn remove(self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_v2_path_and_memory_events() {
        let cg = "12:pids:/x\n0::/user.slice/user-1000.slice/app.slice/bts.scope\n";
        assert_eq!(
            own_v2_path(cg),
            Some("/user.slice/user-1000.slice/app.slice/bts.scope")
        );
        assert_eq!(own_v2_path("4:memory:/x\n"), None);
        let events = "low 0\nhigh 3\nmax 12\noom 2\noom_kill 1\noom_group_kill 1\n";
        assert_eq!(oom_kills(events), 1);
        assert_eq!(oom_kills("low 0\n"), 0);
    }

    #[test]
    fn cpu_max_is_quota_and_period() {
        assert_eq!(cpu_max(150), "150000 100000");
        assert_eq!(cpu_max(50), "50000 100000");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_missing_v2_hierarchy_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let why = setup_at(dir.path()).unwrap_err();
        assert!(why.contains("no cgroup v2"), "{why}");
    }

    /// The decisions of [`setup_at`] and what [`CgroupRoot::task_group`] writes, on a
    /// fake hierarchy (plain files standing for the kernel's).
    #[cfg(target_os = "linux")]
    #[test]
    fn setup_and_task_groups_on_a_fake_hierarchy() {
        let mount = tempfile::tempdir().unwrap();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let Some(rel) = own_v2_path(&own) else {
            return; // not even in a v2 group: nothing to fake
        };
        let dir = mount.path().join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(mount.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let me = std::process::id().to_string();
        // Without the cpu controller delegated.
        std::fs::write(dir.join("cgroup.controllers"), "memory pids\n").unwrap();
        let why = setup_at(mount.path()).unwrap_err();
        assert!(why.contains("the cpu controller is not delegated"), "{why}");
        // Another process in the same cgroup (pid 1 is nobody's child of ours).
        std::fs::write(dir.join("cgroup.controllers"), "cpuset cpu memory\n").unwrap();
        std::fs::write(dir.join("cgroup.procs"), format!("1\n{me}\n")).unwrap();
        let why = setup_at(mount.path()).unwrap_err();
        assert!(why.contains("holds other processes too"), "{why}");
        assert!(
            !dir.join("bts-supervisor").exists(),
            "the leaf is not left behind"
        );
        // Alone: bts joins its leaf and enables the controllers.
        std::fs::write(dir.join("cgroup.procs"), format!("{me}\n")).unwrap();
        let root = setup_at(mount.path()).unwrap();
        assert_eq!(root.dir(), dir.as_path());
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&dir.join("bts-supervisor/cgroup.procs")), me);
        assert_eq!(read(&dir.join("cgroup.subtree_control")), "+memory +cpu");
        // A run's group: memory.max (memory.high for warn), oom.group, cpu.max.
        let limits = Limits {
            max_memory: Some(64 << 20),
            max_cpu: Some(150),
            on_limit: None,
        };
        let g = root.task_group("web", 7, &limits).unwrap();
        let gdir = dir.join("task-web-7");
        assert_eq!(read(&gdir.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(read(&gdir.join("memory.oom.group")), "1");
        assert_eq!(read(&gdir.join("memory.swap.max")), "0");
        assert_eq!(read(&gdir.join("cpu.max")), "150000 100000");
        assert_eq!(g.procs_file(), gdir.join("cgroup.procs"));
        std::fs::write(gdir.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
        assert_eq!(g.oom_kills(), 1);
        let warn = Limits {
            on_limit: Some(OnLimit::Warn),
            max_cpu: None,
            ..limits
        };
        root.task_group("api", 8, &warn).unwrap();
        assert!(dir.join("task-api-8/memory.high").exists());
        assert!(!dir.join("task-api-8/memory.max").exists());
        assert!(!dir.join("task-api-8/cpu.max").exists());
    }
}
