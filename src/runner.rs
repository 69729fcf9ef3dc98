//! One run of a task: an async actor that owns the child process, pumps its output
//! (stdout and stderr share one pipe) into the task's sink, carries out stop requests
//! (signal the group, wait for it to empty, SIGKILL the group at the deadline) and
//! reports how the run ended.
//!
//! A run ends only when the leader has been reaped AND its process group is empty. When
//! the leader exits by itself, whatever it left in its group is stopped first, so no
//! stale grandchild survives a restart or holds a port. Pipes are drained throughout,
//! the grace period included, so a child blocked on a full pipe still gets to its
//! signal handler (docs/architecture.md#processes).

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::output::lines::LineSplitter;
use crate::output::pump::TaskSink;
use crate::process::{unix, Spawned};

/// How often folds are closed and "not shown" notes printed while a task runs.
const TICK: Duration = Duration::from_millis(250);
/// Bytes read from a pipe at a time.
const READ_CHUNK: usize = 64 * 1024;
/// A partial line (no newline yet) is shown after this long without more output.
const PARTIAL_AFTER: Duration = Duration::from_millis(200);
/// After the group is gone, how long to wait for pipes still held open by processes that
/// left the group (setsid daemons) before giving up on their output.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(300);

/// Requests to a running run.
#[derive(Debug)]
pub enum Control {
    /// Graceful stop: `signal` to the group now, SIGKILL to the group after `timeout`.
    Stop { signal: i32, timeout: Duration },
    /// SIGKILL to the group now.
    Kill,
    /// Gzip the log so far into this file and start it afresh. Done here, between two
    /// batches, so no line is lost or written twice.
    Archive(
        std::path::PathBuf,
        tokio::sync::oneshot::Sender<std::io::Result<()>>,
    ),
}

pub use crate::lifecycle::ExitInfo;

/// What a finished run hands back to the supervisor.
pub struct Outcome {
    pub exit: ExitInfo,
    /// The sink, returned so the log file lives on across runs.
    pub sink: TaskSink,
    /// True when the run ended because of a `Control` request.
    pub requested: bool,
}

/// Drive one run to its end. `on_log_error` is called once per log failure episode.
pub async fn run(
    spawned: Spawned,
    mut sink: TaskSink,
    mut control: mpsc::UnboundedReceiver<Control>,
    stop_signal: i32,
    stop_timeout: Duration,
    mut on_log_error: impl FnMut(String),
) -> Outcome {
    let Spawned {
        mut child,
        pgid,
        output,
        terminal,
        ..
    } = spawned;
    // stdout and stderr share one pipe (process::spawn).
    let mut stdout = Some(output);
    let mut split_out = LineSplitter::default();
    // Read into spare capacity, never zeroed: only the pages a read fills become
    // resident, so a thousand quiet tasks do not each hold a 64 KiB buffer in memory.
    let mut buf_out: Vec<u8> = Vec::with_capacity(READ_CHUNK);

    let mut status: Option<ExitInfo> = None;
    let mut requested = false;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    let mut group_gone_at: Option<Instant> = None;
    let mut partial_at: Option<Instant> = None;
    let mut poll_every = Duration::from_millis(2);
    let mut next_poll: Option<Instant> = None;
    let mut control_open = true;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let done_reading = stdout.is_none();
        if let Some(gone) = group_gone_at {
            if done_reading || gone.elapsed() >= DRAIN_AFTER_EXIT {
                break;
            }
        }
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            r = read_some(&mut stdout, &mut buf_out) => {
                match r {
                    Some(n) => {
                        feed(&mut sink, &mut split_out, &buf_out[..n]);
                        if let Some(t) = &terminal {
                            t.tee(&buf_out[..n]);
                        }
                        partial_at = split_out.has_partial().then(|| Instant::now() + PARTIAL_AFTER);
                    }
                    None => { sink.flush_partial(&mut split_out); stdout = None; }
                }
            }
            st = child.wait(), if status.is_none() => {
                status = Some(match st {
                    Ok(s) => {
                        use std::os::unix::process::ExitStatusExt;
                        ExitInfo { code: s.code(), signal: s.signal() }
                    }
                    Err(_) => ExitInfo { code: None, signal: None },
                });
                if unix::group_alive(pgid) {
                    // The leader is gone but its group is not: stop what is left, and
                    // poll the group until it is empty.
                    next_poll = Some(Instant::now() + poll_every);
                    if kill_at.is_none() {
                        let _ = unix::signal_group(pgid, stop_signal);
                        kill_at = Some(Instant::now() + stop_timeout);
                    }
                } else {
                    group_gone_at = Some(Instant::now());
                }
            }
            c = control.recv(), if control_open => {
                match c {
                    Some(Control::Stop { signal, timeout }) => {
                        requested = true;
                        let _ = unix::signal_group(pgid, signal);
                        let at = Instant::now() + timeout;
                        kill_at = Some(kill_at.map_or(at, |k| k.min(at)));
                    }
                    Some(Control::Archive(dest, done)) => {
                        // Detached between two batches (no line lost or written twice),
                        // gzipped on a blocking thread.
                        match sink.detach_log() {
                            Ok(file) => {
                                tokio::spawn(async move {
                                    let r = crate::logs::writer::gzip_in_background(file, dest).await;
                                    let _ = done.send(r);
                                });
                            }
                            Err(e) => {
                                let _ = done.send(Err(e));
                            }
                        }
                    }
                    Some(Control::Kill) => {
                        requested = true;
                        let _ = unix::signal_group(pgid, libc::SIGKILL);
                        killed = true;
                    }
                    None => control_open = false,
                }
            }
            _ = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && !killed => {
                // After stop_timeout the whole group is killed, even if the leader has
                // already exited: a grandchild ignoring SIGTERM dies too.
                let _ = unix::signal_group(pgid, libc::SIGKILL);
                killed = true;
            }
            _ = tokio::time::sleep_until(next_poll.unwrap_or(far)), if next_poll.is_some() => {
                if unix::group_alive(pgid) {
                    poll_every = (poll_every * 2).min(Duration::from_millis(50));
                    next_poll = Some(Instant::now() + poll_every);
                } else {
                    group_gone_at = Some(Instant::now());
                    next_poll = None;
                }
            }
            _ = tick.tick(), if sink.needs_tick() => sink.tick(),
            // Pipes still held by a process that left the group: stop waiting for them.
            _ = tokio::time::sleep_until(group_gone_at.map_or(far, |g| g + DRAIN_AFTER_EXIT)), if group_gone_at.is_some() => {}
            _ = tokio::time::sleep_until(partial_at.unwrap_or(far)), if partial_at.is_some() => {
                sink.flush_partial(&mut split_out);
                partial_at = None;
            }
        }
        if let Some(e) = sink.log_error.take() {
            on_log_error(e);
        }
    }
    sink.flush_partial(&mut split_out);
    sink.finish();
    // An attached client's stream ends with the run.
    if let Some(t) = &terminal {
        t.close();
    }
    Outcome {
        exit: status.unwrap_or(ExitInfo {
            code: None,
            signal: None,
        }),
        sink,
        requested,
    }
}

/// Feed a read into the sink; a read that rotates the log (a gzip) is done with this
/// worker handed over to the blocking pool, so other tasks' output and the supervisor's
/// probes keep going meanwhile.
fn feed(sink: &mut TaskSink, split: &mut LineSplitter, data: &[u8]) {
    // The formatted batch is longer than the raw read (a timestamp per line): twice is
    // a safe bound for "may rotate".
    if sink.log.would_rotate(data.len().saturating_mul(2)) {
        tokio::task::block_in_place(|| sink.feed(split, data));
    } else {
        sink.feed(split, data);
    }
}

/// Read from a pipe if it is still open; pending forever once it is closed (so the
/// `select!` arm goes quiet). `None` means end of stream (or a read error).
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut Vec<u8>,
) -> Option<usize> {
    match pipe {
        Some(p) => {
            buf.clear();
            match p.read_buf(buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(n),
            }
        }
        None => std::future::pending().await,
    }
}
