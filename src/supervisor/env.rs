//! The environment bts adds to a task's own: `PORT`, `BTS_TASK`, `BTS_PROJECT`,
//! `BTS_INSTANCE` and `BTS_PORT_<TASK>` (docs/behaviour.md#files lists them), and the
//! hash that tells a reload whether a task's definition changed.

use crate::manifest::{Manifest, Task};

use super::executor::Supervisor;

impl Supervisor {
    pub(super) fn task_env(&self, task: &Task) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = task
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(p) = task.ports.first() {
            if !task.env.contains_key("PORT") && std::env::var_os("PORT").is_none() {
                env.push(("PORT".into(), p.to_string()));
            }
        }
        env.push(("BTS_TASK".into(), task.name.clone()));
        env.extend(self.common_env.iter().cloned());
        env
    }
}

/// `BTS_PROJECT`, `BTS_INSTANCE`, and `BTS_PORT_<TASK>` for every task that declares a
/// port.
pub(super) fn common_env(manifest: &Manifest, instance: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("BTS_PROJECT".to_string(), manifest.project.clone()),
        ("BTS_INSTANCE".to_string(), instance.to_string()),
    ];
    for t in &manifest.tasks {
        if let Some(p) = t.ports.first() {
            env.push((format!("BTS_PORT_{}", env_suffix(&t.name)), p.to_string()));
        }
    }
    env
}

/// A hash of everything in a task's definition: a reload restarts the task when it
/// changes. FNV-1a over the Debug form, which lists every field.
pub fn config_hash(task: &Task) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{task:?}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `web-dev` → `WEB_DEV`, for `BTS_PORT_<TASK>`.
pub fn env_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
