//! The process table, read from /proc on Linux: the one parser of `/proc/<pid>/stat`
//! that group liveness, process start times, resource usage and escapee tracking share.
//! Elsewhere the table is empty and callers fall back to what the OS offers.

/// One process, from its `stat` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Start time in clock ticks since boot: with the pid, it names one process.
    pub start: u64,
    /// Exited, waiting to be reaped (or being torn down).
    pub zombie: bool,
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
    pub rss_pages: u64,
}

/// Parse a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after the last `)` (proc(5)).
pub fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    Some(Proc {
        pid,
        ppid: num(4)? as i32,
        pgid: num(5)? as i32,
        sid: num(6)? as i32,
        start: num(22)? as u64,
        zombie: matches!(f.first(), Some(&"Z") | Some(&"X")),
        cpu_ticks: (num(14).unwrap_or(0) + num(15).unwrap_or(0)) as u64,
        rss_pages: num(24).unwrap_or(0).max(0) as u64,
    })
}

/// One process, if it exists (Linux).
#[cfg(target_os = "linux")]
pub fn read(pid: i32) -> Option<Proc> {
    use std::io::Read;
    // A stat line is a few hundred bytes: room for it up front makes this one read
    // (and the read that sees the end), not the small probing reads of an empty buffer;
    // the sampler reads every process on the machine this way.
    let mut buf = Vec::with_capacity(1024);
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read_to_end(&mut buf)
        .ok()?;
    parse_stat(pid, std::str::from_utf8(&buf).ok()?)
}

#[cfg(not(target_os = "linux"))]
pub fn read(_pid: i32) -> Option<Proc> {
    None
}

/// Every process (Linux); empty elsewhere.
#[cfg(target_os = "linux")]
pub fn all() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read)
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn all() -> Vec<Proc> {
    vec![]
}

/// A process and its descendants, found through each thread's `children` list instead
/// of a scan of every process: the once-a-second sample of the tasks with limits reads a
/// few files per task, not the whole table. (Descendants re-parented away from the tree
/// are found by the full scan every few seconds.)
#[cfg(target_os = "linux")]
pub fn tree(root: i32) -> Vec<Proc> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(pid) = stack.pop() {
        // A bound, should the lists ever loop (a pid reused mid-walk).
        if !seen.insert(pid) || seen.len() > 100_000 {
            continue;
        }
        let Some(p) = read(pid) else { continue };
        out.push(p);
        let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in threads.flatten() {
            let Ok(kids) = std::fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            stack.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<i32>().ok()),
            );
        }
    }
    out
}

#[cfg(not(target_os = "linux"))]
pub fn tree(_root: i32) -> Vec<Proc> {
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000 250 0";
        let p = parse_stat(42, stat).unwrap();
        assert_eq!(
            (p.ppid, p.pgid, p.sid, p.start, p.cpu_ticks, p.rss_pages),
            (1, 42, 42, 12345, 10, 250)
        );
        assert!(!p.zombie);
        assert!(
            parse_stat(1, "1 (x) Z 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 5 0 0 0")
                .unwrap()
                .zombie
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_itself() {
        let me = read(std::process::id() as i32).unwrap();
        assert_eq!(me.pgid, nix::unistd::getpgrp().as_raw());
        assert!(all().iter().any(|p| p.pid == me.pid));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_tree_holds_the_descendants() {
        use std::os::unix::process::CommandExt;
        /// Kills the shell's whole group, on every path out of the test.
        struct Group(i32);
        impl Drop for Group {
            fn drop(&mut self) {
                // SAFETY: killpg on a group this test made.
                unsafe { libc::killpg(self.0, libc::SIGKILL) };
            }
        }
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let group = Group(pid);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = vec![];
        while std::time::Instant::now() < deadline {
            found = tree(pid);
            if found.len() >= 3 {
                break;
            }
            std::thread::yield_now();
        }
        drop(group);
        let _ = child.wait();
        assert!(found.len() >= 3, "{found:?}");
        assert_eq!(found[0].pid, pid);
        assert!(found[1..].iter().all(|p| p.ppid == pid), "{found:?}");
        assert!(tree(i32::MAX).is_empty());
    }
}
