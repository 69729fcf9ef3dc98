//! `watch:` in the dispatcher: start each task's file watcher with its first run,
//! debounce change bursts (an editor's save is several events, a `git checkout` many),
//! then restart the task, naming the file. Destructive tasks are never restarted by a
//! watch.

use std::path::PathBuf;
use std::time::Duration;

use super::{Msg, Supervisor};
use crate::output::Level;
use crate::task::State;

/// Quiet time after the last change before the restart.
const DEBOUNCE: Duration = Duration::from_millis(300);

impl Supervisor {
    pub(super) fn ensure_filewatch(&mut self, i: usize) {
        let task = std::sync::Arc::clone(&self.slots[i].task);
        if task.watch.is_empty() || task.destructive || self.slots[i].filewatch.is_some() {
            return;
        }
        let tx = self.tx.clone();
        let on_change = move |path: PathBuf| {
            let _ = tx.send(Msg::FileChanged { slot: i, path });
        };
        match crate::filewatch::start(&task.cwd, &task.watch, self.state_dir.root(), on_change) {
            Ok(w) => self.slots[i].filewatch = Some(w),
            Err(e) => self.out.event(Level::Warn, &format!("{}: {e}", task.name)),
        }
    }

    pub(super) fn on_file_changed(&mut self, i: usize, path: PathBuf) {
        if self.shutting_down || self.slots[i].removed {
            return;
        }
        let slot = &mut self.slots[i];
        slot.changed = Some(path);
        slot.watch_seq += 1;
        let (seq, tx) = (slot.watch_seq, self.tx.clone());
        tokio::spawn(async move {
            tokio::time::sleep(DEBOUNCE).await;
            let _ = tx.send(Msg::WatchDue { slot: i, seq });
        });
    }

    pub(super) fn on_watch_due(&mut self, i: usize, seq: u64) {
        if self.shutting_down || self.slots[i].watch_seq != seq {
            return;
        }
        let Some(path) = self.slots[i].changed.take() else {
            return;
        };
        let name = self.slots[i].task.name.clone();
        let state = &self.slots[i].state;
        if self.slots[i].run.is_some() {
            self.out.event(
                Level::Info,
                &format!("{name}: {} changed — restarting", path.display()),
            );
            self.restart_task(i);
        } else if matches!(state, State::Exited | State::Failed { .. }) && self.slots[i].selected {
            self.out.event(
                Level::Info,
                &format!("{name}: {} changed — starting again", path.display()),
            );
            self.slots[i].tracker = Default::default();
            self.start(i, false);
            self.schedule();
        }
    }
}
