//! Spawning a task's process in its own process group with a clean environment for
//! signals and stdin, the Unix calls to signal and watch groups (`unix`), the process
//! table (`table`), and telling a process from a later one that reuses its pid (its
//! start time).

pub mod cgroup;
pub mod pty;
pub mod table;
pub mod unix;

use std::path::Path;
use std::process::Stdio;

use crate::manifest::CommandSpec;

/// A freshly spawned task process.
pub struct Spawned {
    pub child: tokio::process::Child,
    pub pid: i32,
    /// Equal to `pid`: the child leads its own group.
    pub pgid: i32,
    /// The read end of the one pipe the child's stdout and stderr both write to (with
    /// `tty`, the pseudo-terminal's master side).
    pub output: tokio::net::unix::pipe::Receiver,
    /// With `tty`: the master side again, to type into the task (`bts attach`).
    pub terminal: Option<std::sync::Arc<pty::Terminal>>,
}

/// What is done in the child between fork and exec, besides what every task gets.
#[derive(Debug, Default)]
pub struct ChildSetup {
    /// The task's `nice`.
    pub nice: Option<i32>,
    /// The `cgroup.procs` file of the run's cgroup, to join (kernel limits).
    pub cgroup_procs: Option<std::path::PathBuf>,
    /// Run on a pseudo-terminal instead of pipes (`tty: true`).
    pub tty: bool,
}

/// Spawn `command` in `cwd` with the calling environment plus `env`, in a new process
/// group, stdin from /dev/null, stdout and stderr into one pipe: bts logs them as one
/// stream, in the order they were written, and holds one descriptor per task for it
/// instead of two (docs/behaviour.md#limits).
pub fn spawn(
    command: &CommandSpec,
    cwd: &Path,
    env: &[(String, String)],
    setup: ChildSetup,
) -> std::io::Result<Spawned> {
    let nice = setup.nice;
    // Made before the fork: the child may only make async-signal-safe calls.
    let cgroup = setup
        .cgroup_procs
        .map(|p| std::ffi::CString::new(p.into_os_string().into_encoded_bytes()))
        .transpose()
        .map_err(std::io::Error::other)?;
    let mut cmd = match command {
        CommandSpec::Shell(line) => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(line);
            c
        }
        CommandSpec::Exec { program, args } => {
            let mut c = tokio::process::Command::new(program);
            c.args(args);
            c
        }
    };
    cmd.current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kill_on_drop(false);
    let tty = setup.tty;
    let (output, terminal) = if tty {
        // A session of its own (set up in the child below) is also a process group of
        // its own, led by the child, with the terminal as its controlling terminal.
        let (master, slave) = pty::open()?;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        let (output, terminal) = pty::split(master)?;
        (output, Some(std::sync::Arc::new(terminal)))
    } else {
        let (writer, output) = tokio::net::unix::pipe::pipe()?;
        // The child's end blocks, as programs expect of their stdout.
        let writer = writer.into_blocking_fd()?;
        let writer2 = writer.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer2))
            // Own group: the terminal's Ctrl-C reaches only bts, and bts can signal the
            // whole tree of the task (grandchildren included) with one killpg.
            .process_group(0);
        (output, None)
    };
    // SAFETY: the closure only calls async-signal-safe functions (signal, setrlimit,
    // setpriority, open/write/close).
    unsafe {
        cmd.pre_exec(move || {
            unix::prepare_child()?;
            if tty {
                pty::take_as_controlling_terminal()?;
            }
            if let Some(procs) = &cgroup {
                // Best effort: without it the sampler still enforces the limits.
                unix::join_cgroup(procs);
            }
            match nice {
                Some(n) => unix::set_nice(n),
                None => Ok(()),
            }
        });
    }
    let child = cmd.spawn()?;
    // Our copies of the write end go with `cmd`: the pipe ends when the task's last
    // process closes it.
    drop(cmd);
    let pid = child
        .id()
        .map(|p| p as i32)
        .ok_or_else(|| std::io::Error::other("child exited before its pid could be read"))?;
    Ok(Spawned {
        child,
        pid,
        pgid: pid,
        output,
        terminal,
    })
}

/// This process's `BTS_INSTANCE`: `<pid>.<start time>`, unique across pid reuse.
pub fn instance_id() -> String {
    let me = std::process::id() as i32;
    format!("{me}.{}", process_start_time(me).unwrap_or(0))
}

/// An opaque start time of process `pid` that changes when the pid is reused (on Linux
/// the `starttime` of /proc/<pid>/stat); `None` for a zombie (it is dead) or where it
/// cannot be read.
pub fn process_start_time(pid: i32) -> Option<u64> {
    table::read(pid).filter(|p| !p.zombie).map(|p| p.start)
}

/// Whether `pid` is still the process recorded with `start_time`. Without a recorded or
/// readable start time the answer is no: a pid we cannot verify is never signalled.
pub fn same_process(pid: i32, start_time: Option<u64>) -> bool {
    match (start_time, process_start_time(pid)) {
        (Some(want), Some(have)) => want == have,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id() as i32;
        let a = process_start_time(me);
        assert_eq!(a, process_start_time(me));
        if cfg!(target_os = "linux") {
            assert!(a.is_some());
            assert!(same_process(me, a));
            assert!(!same_process(me, a.map(|t| t + 1)));
        }
    }
}
