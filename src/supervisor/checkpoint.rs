//! Running a destructive task's checkpoint (docs/behaviour.md#destructive-tasks):
//! `sh -c checkpoint` in its own process group, its output collected for the task's
//! log, the whole group killed at `checkpoint_timeout`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::lifecycle::{CheckpointResult, ExitInfo, RunId, TaskId};
use crate::process::unix;

/// Checkpoint output kept for the task log (beyond that it is cut).
const OUTPUT_MAX: u64 = 1 << 20;

/// A finished checkpoint, on its way to the loop.
pub(super) struct CheckpointRun {
    pub task: TaskId,
    pub attempt: RunId,
    pub fresh: bool,
    pub result: Finished,
}

pub(super) struct Finished {
    pub outcome: CheckpointResult,
    pub output: Vec<u8>,
}

pub(super) async fn run(
    checkpoint: &str,
    cwd: &std::path::Path,
    env: &[(String, String)],
    timeout: Duration,
) -> Finished {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(checkpoint)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Finished {
                outcome: CheckpointResult {
                    exit: None,
                    timed_out: false,
                    took: started.elapsed(),
                },
                output: format!("cannot run the checkpoint: {e}\n").into_bytes(),
            }
        }
    };
    let pgid = child.id().map(|p| p as i32);
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let mut a = Vec::new();
        let mut b = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.take(OUTPUT_MAX).read_to_end(&mut a).await;
        }
        if let Some(e) = err.as_mut() {
            let _ = e.take(OUTPUT_MAX).read_to_end(&mut b).await;
        }
        a.extend_from_slice(&b);
        let status = child.wait().await;
        (a, status)
    };
    let result = tokio::time::timeout(timeout, collect).await;
    // Whatever it left in its group goes with it.
    if let Some(pg) = pgid {
        let _ = unix::signal_group(pg, libc::SIGKILL);
    }
    match result {
        Ok((output, status)) => {
            use std::os::unix::process::ExitStatusExt;
            Finished {
                outcome: CheckpointResult {
                    exit: status.ok().map(|s| ExitInfo {
                        code: s.code(),
                        signal: s.signal(),
                    }),
                    timed_out: false,
                    took: started.elapsed(),
                },
                output,
            }
        }
        Err(_) => Finished {
            outcome: CheckpointResult {
                exit: None,
                timed_out: true,
                took: started.elapsed(),
            },
            output: Vec::new(),
        },
    }
}
