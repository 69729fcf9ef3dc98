//! Where a task's definition comes from, and so which command starts it again
//! (docs/behaviour.md#ad-hoc-tasks).

/// Where a task's definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The manifest: a reload adds, changes and removes it.
    Manifest,
    /// `bts run`: a reload of the manifest leaves it alone.
    Adhoc,
}

impl Origin {
    /// The command that starts `task` again (approving it with `confirm`): a manifest task
    /// is started by `bts up`; an ad-hoc task is not in bts.yaml, so only `bts restart`
    /// reaches it.
    pub fn start_command(self, task: &str, confirm: bool) -> String {
        match (self, confirm) {
            (Origin::Manifest, false) => format!("bts up {task}"),
            (Origin::Manifest, true) => format!("bts up --confirm {task}"),
            (Origin::Adhoc, false) => format!("bts restart {task}"),
            (Origin::Adhoc, true) => format!("bts restart {task} --confirm {task}"),
        }
    }
}
