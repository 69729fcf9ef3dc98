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
}
