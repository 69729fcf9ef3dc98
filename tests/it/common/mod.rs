//! Test harness: a temp project with a manifest, the real `bts` binary run against it
//! through one builder ([`Invocation`]: stdin null, both pipes drained, a timeout on
//! every run), waits that poll with a deadline, and guards that kill whatever a test
//! started — each process only while it is still the one that was recorded (its start
//! time unchanged), never a pid the kernel has handed to something else since.
//!
//! * `invocation` — running bts (or a tool): [`Invocation`], [`Running`], [`Finished`].
//! * `project` — [`Project`], [`DaemonGuard`], `status --json` and state file helpers.
//! * `procs` — [`Seen`] processes, [`ProcGuard`], [`TestChild`], [`alive`].
//! * `skip` — [`require_tool`]: a missing tool skips visibly, and fails under `CI=true`.

#![allow(dead_code)]

pub mod extra;
mod invocation;
mod procs;
mod project;
#[cfg(test)]
mod selftest;
mod skip;
mod tmux;

pub use invocation::*;
pub use procs::*;
pub use project::*;
pub use skip::*;
pub use tmux::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const BTS: &str = env!("CARGO_BIN_EXE_bts");

/// Default deadline for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Poll `pred` until it holds or the deadline passes; returns whether it held.
pub fn eventually(timeout: Duration, pred: impl FnMut() -> bool) -> bool {
    eventually_every(timeout, Duration::from_millis(10), pred)
}

/// [`eventually`], polling every `every` (for a `pred` that runs a command).
pub fn eventually_every(
    timeout: Duration,
    every: Duration,
    mut pred: impl FnMut() -> bool,
) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Whether `pred` holds all through `window`, polled; false as soon as it does not. For
/// asserting that something does not happen: `window` is how long it would take if it
/// did, so on a slow machine this can miss the event, never invent one.
pub fn stays(window: Duration, mut pred: impl FnMut() -> bool) -> bool {
    !eventually(window, || !pred())
}

/// Wait for a file to exist with non-empty content and return it.
pub fn wait_file(path: &Path) -> String {
    let mut content = String::new();
    let ok = eventually(DEADLINE, || {
        content = std::fs::read_to_string(path).unwrap_or_default();
        !content.trim().is_empty()
    });
    assert!(ok, "{} never appeared", path.display());
    content
}

/// Read pids written one per line into a file by a task (`echo $$ >> pids`).
pub fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A built example program (cargo builds examples for `cargo test`).
pub fn example_bin(name: &str) -> PathBuf {
    let bts = PathBuf::from(BTS);
    let dir = bts.parent().expect("target dir");
    dir.join("examples").join(name)
}

/// The path of `examples/probe_server.rs`, a loopback server for health checks, as it
/// goes into a manifest's `cmd`.
pub fn probe_server() -> String {
    example_bin("probe_server").display().to_string()
}

/// The command of a task that only has to stay up: longer than any test, and exec'd so
/// that the task's pid is the sleep's own.
pub const SLEEP: &str = "exec sleep 300";

/// The manifest entry of a task `name` that only stays up (see [`SLEEP`]).
pub fn sleeping(name: &str) -> String {
    format!("  {name}:\n    cmd: {SLEEP}\n")
}

/// A manifest of tasks that only stay up, in this order.
pub fn sleepers(names: &[&str]) -> String {
    let tasks: String = names.iter().map(|n| sleeping(n)).collect();
    format!("tasks:\n{tasks}")
}

/// A port that was free a moment ago on 127.0.0.1, from the kernel. Tests never use a
/// fixed port that bts binds or checks: another program (or test) may hold it.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` different ports that were free a moment ago on 127.0.0.1.
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// The text of a gzip file.
pub fn gunzip(path: &Path) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}
