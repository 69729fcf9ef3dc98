//! The probes of a run: the probe loop of its health check, the absence-of-match
//! timer of a `log` probe, and the bound-port check of a task with ports but no probe.
//! They only report to the dispatcher; it decides.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::executor::Msg;
use crate::lifecycle::{policy::NO_PROBE_UP_AFTER, Event, RunId, TaskId};
use crate::manifest::{Probe, Task};
use crate::probe;

/// Start the probe loop of a run: `interval` after the first success, faster before it
/// (20 ms, doubling to 250 ms) so a server that is ready quickly is seen UP quickly. A
/// task with ports but no probe gets a check that its ports are bound after
/// `start_period`.
pub(super) fn watch_health(
    task: &Arc<Task>,
    slot: TaskId,
    run: RunId,
    env: Vec<(String, String)>,
    log_matched: Arc<std::sync::atomic::AtomicBool>,
    tx: mpsc::UnboundedSender<Msg>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let task = Arc::clone(task);
    let Some(health) = task.health.clone() else {
        if task.ports.is_empty() {
            return vec![];
        }
        return vec![tokio::spawn(async move {
            tokio::time::sleep(NO_PROBE_UP_AFTER.max(default_start_period(&task))).await;
            loop {
                let mut unbound = None;
                for p in &task.ports {
                    if !probe::port_bound(*p).await {
                        unbound = Some(*p);
                        break;
                    }
                }
                let check = Event::PortCheck {
                    task: slot,
                    run,
                    unbound,
                };
                if tx.send(Msg::Core(check)).is_err() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        })];
    };
    if let Probe::Log(re) = &health.probe {
        // Log probes are reported by the output path on their first match; this loop
        // only reports the absence of a match once start_period is over.
        let re = re.clone();
        return vec![tokio::spawn(async move {
            tokio::time::sleep(health.start_period).await;
            while !log_matched.load(std::sync::atomic::Ordering::Relaxed) {
                let detail = format!("no output line matched /{re}/ yet");
                if tx
                    .send(Msg::Core(Event::Probe {
                        task: slot,
                        run,
                        ok: false,
                        detail,
                    }))
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(health.interval).await;
            }
        })];
    }
    vec![tokio::spawn(async move {
        let mut delay = std::time::Duration::from_millis(20);
        let mut ever_ok = false;
        loop {
            tokio::time::sleep(delay).await;
            let v = probe::check(&health.probe, health.timeout, &task.cwd, &env).await;
            ever_ok |= v.ok;
            if tx
                .send(Msg::Core(Event::Probe {
                    task: slot,
                    run,
                    ok: v.ok,
                    detail: v.detail,
                }))
                .is_err()
            {
                return;
            }
            delay = if ever_ok {
                health.interval
            } else {
                (delay * 2).min(std::time::Duration::from_millis(250))
            };
        }
    })]
}

/// When the ports of a task without a probe must be bound: the default `start_period`
/// (60 s), or `$BTS_PORT_CHECK_AFTER` (a humantime duration) for stacks that start
/// faster or slower.
fn default_start_period(_task: &Task) -> std::time::Duration {
    std::env::var("BTS_PORT_CHECK_AFTER")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(std::time::Duration::from_secs(60))
}
