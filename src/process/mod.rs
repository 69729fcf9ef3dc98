//! Spawning a task's process in its own process group with a clean environment for
//! signals and stdin, and the Unix calls to signal and watch groups (`unix`).

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
}

/// Spawn `command` in `cwd` with the calling environment plus `env`, in a new process
/// group, stdin from /dev/null, stdout and stderr piped.
pub fn spawn(
    command: &CommandSpec,
    cwd: &Path,
    env: &[(String, String)],
) -> std::io::Result<Spawned> {
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own group: the terminal's Ctrl-C reaches only bts, and bts can signal the
        // whole tree of the task (grandchildren included) with one killpg.
        .process_group(0)
        .kill_on_drop(false);
    // SAFETY: the closure only calls async-signal-safe functions (signal(2)).
    unsafe {
        cmd.pre_exec(unix::reset_signal_dispositions);
    }
    let child = cmd.spawn()?;
    let pid = child
        .id()
        .map(|p| p as i32)
        .ok_or_else(|| std::io::Error::other("child exited before its pid could be read"))?;
    Ok(Spawned {
        child,
        pid,
        pgid: pid,
    })
}
