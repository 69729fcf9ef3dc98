//! Validation: the positioned YAML tree ([`super::node`]) → the model
//! ([`super::model::Manifest`]). Each field is converted on its own, so one bad field
//! does not hide the others; every problem becomes a [`Diagnostic`] at the key or value
//! it is about. Values a task takes from `defaults` are reported at their `defaults`
//! location (and deduplicated, so a bad default is reported once, not once per task).
//!
//! The central types live here: `V` (the validator: the source, the manifest's
//! directory, the calling environment and the diagnostics so far) and the pieces a task
//! is built from. Its methods are spread over one module per concern: `top_level` (the
//! entry point and the top-level keys), `values` (strings, numbers, durations, lists,
//! regexes, globs, paths, ports), `env` (env files, env maps and interpolation),
//! `settings`, `tasks` (one task's fields), `health` (probes) and `deps` (`depends_on`
//! and the rules across tasks).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::diag::Diagnostic;
use super::fields;
use super::model::{Condition, Task};
use super::node::{Node, Pos};

mod deps;
mod env;
mod health;
mod include;
mod replicas;
#[cfg(test)]
mod rule_tests;
mod settings;
mod tasks;
#[cfg(test)]
mod tests;
mod top_level;
mod values;

pub use replicas::MAX_REPLICAS;
pub use tasks::{parse_signal, valid_task_name};
pub use top_level::{validate, validate_files, validate_scaled};

// The known keys of each map come from the one field table `bts schema` also reads.
const TOP_KEYS: &[&str] = &fields::names(&fields::TOP);
const SETTINGS_KEYS: &[&str] = &fields::names(&fields::SETTINGS);
const SECRETS_KEYS: &[&str] = &fields::names(&fields::SECRETS);
const TASK_KEYS: &[&str] = &fields::names(&fields::TASK);
const HEALTH_KEYS: &[&str] = &fields::names(&fields::HEALTH);
const DEPENDENCY_KEYS: &[&str] = &fields::names(&fields::DEPENDENCY);

/// One key of a map, cloned out of the tree (manifests are small).
#[derive(Clone)]
struct Entry {
    key: String,
    key_pos: Pos,
    value: Node,
}

/// A task's field as picked from the task or from `defaults`.
struct Field<'e> {
    value: &'e Node,
    key_pos: Pos,
    /// "in task `api`" or "in `defaults`", for messages.
    at: String,
}

struct Draft {
    task: Task,
    deps: Vec<(String, Option<Condition>, Pos)>,
    ports: Vec<(u16, Pos)>,
    /// `replicas: N` and where it is written.
    replicas: Option<(u32, Pos)>,
}

struct V<'a> {
    src: &'a str,
    dir: PathBuf,
    calling: &'a BTreeMap<String, String>,
    diags: Vec<Diagnostic>,
    /// Included files so far (absolute path, text): `Pos::file` n is `files[n - 1]`.
    files: Vec<(PathBuf, String)>,
    /// The manifest's own absolute path.
    path: PathBuf,
    /// Problems that do not make the manifest invalid (an include glob matching nothing).
    warnings: Vec<String>,
    /// Replica counts that replace the manifest's (`bts scale`), by task.
    scale: BTreeMap<String, u32>,
}
