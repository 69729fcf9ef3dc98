//! Destructive tasks (SPEC section 7): they start only with an approval (`--yes`,
//! `--confirm NAME`, a `y` at the prompt, or a later `bts up --confirm NAME`), each
//! approval is used once, a `checkpoint` command must pass first, and every approval,
//! checkpoint and result is appended to `audit.log`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::{Msg, Supervisor};
use crate::output::lines::LineSplitter;
use crate::output::Level;
use crate::process::unix;
use crate::runner::ExitInfo;
use crate::task::State;

/// Checkpoint output kept for the task log (beyond that it is cut).
const CHECKPOINT_OUTPUT_MAX: usize = 1 << 20;

/// Whether a destructive task may start now.
pub(super) enum Gate {
    /// Approved and checkpoint (if any) passed: spawn it.
    Go,
    /// Not approved: it is BLOCKED.
    Blocked,
    /// Approved; its checkpoint is running.
    Checkpoint,
}

/// A finished checkpoint.
pub(super) struct CheckpointResult {
    pub exit: Option<ExitInfo>,
    pub timed_out: bool,
    pub output: Vec<u8>,
    pub took: Duration,
}

impl Supervisor {
    /// Decide whether destructive slot `i` may start; blocks it or starts its checkpoint.
    pub(super) fn gate(&mut self, i: usize, fresh: bool) -> Gate {
        let task = std::sync::Arc::clone(&self.slots[i].task);
        if std::mem::take(&mut self.slots[i].cleared) {
            return Gate::Go;
        }
        let Some(how) = self.approvals.remove(&task.name) else {
            let approve = format!("bts up --confirm {}", task.name);
            self.set_state(i, State::Blocked { approve }, "");
            return Gate::Blocked;
        };
        let red = self.out.redactor();
        self.audit.record(
            "approved",
            serde_json::json!({ "task": task.name, "how": how, "command": task.command.display() }),
            &red,
        );
        let Some(checkpoint) = task.checkpoint.clone() else {
            return Gate::Go;
        };
        self.out.event(
            Level::Info,
            &format!("{}: running checkpoint: {checkpoint}", task.name),
        );
        self.slots[i].state = State::Pending {
            waiting_for: "its checkpoint".into(),
        };
        self.slots[i].pending_fresh = fresh;
        self.slots[i].checkpointing = true;
        self.slots[i].seq += 1;
        let seq = self.slots[i].seq;
        let env = self.task_env(&task);
        let tx = self.tx.clone();
        let (cwd, timeout) = (task.cwd.clone(), task.checkpoint_timeout);
        tokio::spawn(async move {
            let result = run_checkpoint(&checkpoint, &cwd, &env, timeout).await;
            let _ = tx.send(Msg::Checkpoint {
                slot: i,
                run: seq,
                result: Box::new(result),
            });
        });
        Gate::Checkpoint
    }

    pub(super) fn on_checkpoint(&mut self, i: usize, run: u64, result: CheckpointResult) {
        if self.slots[i].seq != run {
            return;
        }
        self.slots[i].checkpointing = false;
        if self.shutting_down {
            self.set_state(
                i,
                State::Stopped {
                    detail: "stopped before its checkpoint finished".into(),
                },
                "",
            );
            return;
        }
        let task = std::sync::Arc::clone(&self.slots[i].task);
        // The checkpoint's output goes to the task's log (and the terminal) like its own.
        let fresh = self.slots[i].pending_fresh;
        if !self.ensure_sink(i, fresh) {
            return;
        }
        if let Some(sink) = self.slots[i].sink.as_mut() {
            let mut split = LineSplitter::default();
            sink.feed(&mut split, &result.output);
            sink.flush_partial(&mut split);
        }
        let code = result.exit.and_then(|e| e.code);
        let red = self.out.redactor();
        self.audit.record(
            "checkpoint",
            serde_json::json!({
                "task": task.name,
                "command": task.checkpoint,
                "exit_code": code,
                "timed_out": result.timed_out,
                "duration_ms": result.took.as_millis() as u64,
            }),
            &red,
        );
        if code == Some(0) {
            self.slots[i].cleared = true;
            // Not fresh: the log already holds the checkpoint's output.
            self.start(i, false);
        } else {
            let why = if result.timed_out {
                format!(
                    "timed out after {}",
                    crate::clock::short_duration(task.checkpoint_timeout)
                )
            } else {
                result.exit.map_or("could not run".into(), |e| e.describe())
            };
            let reason = format!("checkpoint failed ({why}); the task was not run");
            self.set_state(i, State::Failed { reason }, "");
        }
    }

    /// Record how a destructive task's run ended.
    pub(super) fn audit_result(&mut self, name: &str, exit: ExitInfo, ran_for: Duration) {
        let red = self.out.redactor();
        self.audit.record(
            "result",
            serde_json::json!({
                "task": name,
                "exit_code": exit.code,
                "signal": exit.signal.map(unix::signal_name),
                "runtime_ms": ran_for.as_millis() as u64,
            }),
            &red,
        );
    }
}

/// Run `sh -c checkpoint` in its own process group, collecting its output; the whole
/// group is killed at `timeout`.
async fn run_checkpoint(
    checkpoint: &str,
    cwd: &std::path::Path,
    env: &[(String, String)],
    timeout: Duration,
) -> CheckpointResult {
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
            return CheckpointResult {
                exit: None,
                timed_out: false,
                output: format!("cannot run the checkpoint: {e}\n").into_bytes(),
                took: started.elapsed(),
            }
        }
    };
    let pgid = child.id().map(|p| p as i32);
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let mut a = Vec::new();
        let mut b = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o
                .take(CHECKPOINT_OUTPUT_MAX as u64)
                .read_to_end(&mut a)
                .await;
        }
        if let Some(e) = err.as_mut() {
            let _ = e
                .take(CHECKPOINT_OUTPUT_MAX as u64)
                .read_to_end(&mut b)
                .await;
        }
        a.extend_from_slice(&b);
        let status = child.wait().await;
        (a, status)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((output, status)) => {
            use std::os::unix::process::ExitStatusExt;
            if let Some(pg) = pgid {
                let _ = unix::signal_group(pg, libc::SIGKILL);
            }
            CheckpointResult {
                exit: status.ok().map(|s| ExitInfo {
                    code: s.code(),
                    signal: s.signal(),
                }),
                timed_out: false,
                output,
                took: started.elapsed(),
            }
        }
        Err(_) => {
            if let Some(pg) = pgid {
                let _ = unix::signal_group(pg, libc::SIGKILL);
            }
            CheckpointResult {
                exit: None,
                timed_out: true,
                output: Vec::new(),
                took: started.elapsed(),
            }
        }
    }
}
