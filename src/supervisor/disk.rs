//! Keeping the state dir within `settings.max_disk` (docs/behaviour.md#disk-budget): a
//! pass at start and every `DISK_EVERY` (executor.rs) on the blocking pool (it walks the directory);
//! what it removed comes back to the loop as a message, becomes a `prune` record in
//! events.jsonl and one line on the terminal.

use crate::disk_budget::Pruned;
use crate::manifest::size::size_text;
use crate::output::Level;

use super::executor::{Msg, Supervisor};

impl Supervisor {
    /// Start a pass of the budget off the loop, unless one is under way.
    pub(super) fn check_disk(&mut self) {
        if self.disk_pass_running {
            return;
        }
        self.disk_pass_running = true;
        let (sd, max, tx) = (self.state_dir.clone(), self.max_disk, self.tx.clone());
        tokio::task::spawn_blocking(move || {
            let pruned = crate::disk_budget::enforce(&sd, max);
            let _ = tx.send(Msg::DiskPruned(pruned));
        });
    }

    /// A pass ended: tell what it removed, and once when even that is not enough.
    pub(super) fn disk_pruned(&mut self, pruned: Pruned) {
        self.disk_pass_running = false;
        let max = self.max_disk;
        if !pruned.removed.is_empty() {
            let freed: u64 = pruned.removed.iter().map(|r| r.1).sum();
            let files: Vec<String> = pruned
                .removed
                .iter()
                .map(|(p, _)| crate::digest::relative(p).display().to_string())
                .collect();
            self.events.record(
                "prune",
                serde_json::json!({
                    "removed": files,
                    "freed_bytes": freed,
                    "state_dir_bytes": pruned.total,
                    "max_disk_bytes": max,
                }),
                &self.out.redactor(),
            );
            self.out.event(
                Level::Info,
                &format!(
                    "state dir over its {} budget (settings.max_disk): removed the {} oldest archive{} and rotation{} ({}); now {}",
                    size_text(max),
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                    if files.len() == 1 { "" } else { "s" },
                    size_text(freed),
                    size_text(pruned.total)
                ),
            );
        }
        let over = pruned.total > max;
        if over && !self.disk_over_told {
            self.out.event(
                Level::Warn,
                &format!(
                    "state dir uses {}, over its {} budget, with only current logs left — lower log_max_kb or raise settings.max_disk",
                    size_text(pruned.total),
                    size_text(max)
                ),
            );
        }
        self.disk_over_told = over;
    }
}
