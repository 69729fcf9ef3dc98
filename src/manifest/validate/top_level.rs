//! The entry point, [`validate`], and the top level of a manifest: `version`, `name`,
//! `env_file`, `env`, `settings`, `defaults` and `tasks`, each handed to the module that
//! owns it, then the rules across tasks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{TASK_KEYS, TOP_KEYS, V};
use crate::manifest::diag::Diagnostic;
use crate::manifest::model::Manifest;
use crate::manifest::node::{self, Node};

/// Validate `src` (the text of the manifest at the absolute `path`), interpolating env
/// values from `calling_env`.
pub fn validate(
    src: &str,
    path: &Path,
    calling_env: &BTreeMap<String, String>,
) -> Result<Manifest, Vec<Diagnostic>> {
    validate_files(src, path, calling_env).map_err(|(d, _)| d)
}

/// [`validate`], and on failure also the files the manifest includes (absolute path,
/// text), which the diagnostics' `Pos::file` numbers from 1.
pub fn validate_files(
    src: &str,
    path: &Path,
    calling_env: &BTreeMap<String, String>,
) -> Result<Manifest, (Vec<Diagnostic>, Vec<(PathBuf, String)>)> {
    let parsed = match node::parse(src) {
        Ok(p) => p,
        Err(e) => {
            let mut d = Diagnostic::at(e.pos, e.message);
            d.hint = e.hint;
            return Err((vec![d], vec![]));
        }
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut v = V {
        src,
        dir,
        calling: calling_env,
        diags: Vec::new(),
        files: Vec::new(),
    };
    for p in parsed.problems {
        let mut d = Diagnostic::at(p.pos, p.message);
        d.hint = p.hint;
        v.diags.push(d);
    }
    let manifest = v.manifest(parsed.root.as_ref(), path);
    let files = std::mem::take(&mut v.files);
    let mut diags = v.diags;
    // File order; whole-file problems last. A bad `defaults` value is seen once per task.
    diags.sort_by_key(|d| {
        d.pos
            .map_or((u16::MAX, usize::MAX, 0), |p| (p.file, p.line, p.col))
    });
    diags.dedup_by(|a, b| a.pos == b.pos && a.message == b.message);
    match manifest {
        Some(m) if diags.is_empty() => Ok(m),
        _ => {
            if diags.is_empty() {
                // Invariant: every `None` above pushed a diagnostic; keep the promise of
                // "never Ok-less without a reason" even if a path forgets to.
                diags.push(Diagnostic::whole(
                    "the manifest is invalid",
                    "please report this: a rule failed without a message",
                ));
            }
            Err((diags, files))
        }
    }
}

impl V<'_> {
    fn manifest(&mut self, root: Option<&Node>, path: &Path) -> Option<Manifest> {
        let Some(root) = root else {
            self.diags.push(Diagnostic::whole(
                "the manifest is empty",
                "add a `tasks:` map, e.g. `tasks: {web: {cmd: npm run dev}}`",
            ));
            return None;
        };
        if root.as_map().is_none() {
            self.type_err(
                root,
                "the manifest",
                "a map of keys like `tasks:`",
                "start with `tasks:` and one task per indented line",
            );
            return None;
        }
        let top = self.entries(root, TOP_KEYS, "at the top level", true);
        let get = |k: &str| top.iter().find(|e| e.key == k);

        if let Some(e) = get("version") {
            let ok = matches!(e.value.as_int(), Some(1)) || e.value.scalar_text() == Some("1");
            if !ok {
                let shown = e.value.scalar_text().unwrap_or("?").to_string();
                self.err(
                    e.value.pos,
                    format!("unsupported `version: {shown}`"),
                    "only version 1 exists: write `version: 1` or remove the key",
                );
            }
        }
        let project = match get("name") {
            Some(e) => self.nonempty_string(&e.value, "`name`").unwrap_or_default(),
            None => self
                .dir
                .file_name()
                .map_or_else(|| "bts".to_string(), |n| n.to_string_lossy().into_owned()),
        };

        let (env_files, env_file_paths) = match get("env_file") {
            Some(e) => self.env_files(&e.value),
            None => (BTreeMap::new(), Vec::new()),
        };
        // dotenv semantics: the calling environment wins over env files, so file values
        // for keys the caller already set are not added to the task env at all.
        let mut base: BTreeMap<String, String> = env_files
            .iter()
            .filter(|(k, _)| !self.calling.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(e) = get("env") {
            let layer = self.env_layer(&e.value, "`env`");
            self.interpolate_into(&mut base, &layer, &env_files, "`env`");
        }

        let settings = self.settings(get("settings").map(|e| &e.value));

        let defaults = match get("defaults") {
            Some(e) if e.value.is_null() => Vec::new(),
            Some(e) if e.value.as_map().is_none() => {
                self.type_err(
                    &e.value,
                    "`defaults`",
                    "a map of task fields",
                    "write task fields under `defaults:`, e.g. `restart: on-failure`",
                );
                Vec::new()
            }
            Some(e) => self.entries(&e.value.clone(), TASK_KEYS, "in `defaults`", false),
            None => Vec::new(),
        };

        let tasks_entry = get("tasks").cloned();
        let mut drafts = Vec::new();
        match tasks_entry {
            None => self.diags.push(Diagnostic::whole(
                "no `tasks` in the manifest",
                "add a `tasks:` map, e.g. `tasks: {web: {cmd: npm run dev}}`",
            )),
            Some(e) => match e.value.as_map() {
                Some([]) => self.err(
                    e.value.pos,
                    "`tasks` is empty",
                    "add at least one task, e.g. `web: {cmd: npm run dev}`",
                ),
                Some(map) => {
                    for (k, v) in map {
                        if let Some(d) = self.task(k, v, &defaults, &base, &env_files) {
                            drafts.push(d);
                        }
                    }
                }
                None if e.value.is_null() => self.err(
                    e.key_pos,
                    "`tasks` is empty",
                    "add at least one task under `tasks:`, indented",
                ),
                None => self.type_err(
                    &e.value,
                    "`tasks`",
                    "a map of task names to tasks",
                    "write `tasks:` then one `name:` per task, indented",
                ),
            },
        }
        self.cross_checks(&mut drafts);

        let settings = settings?;
        Some(Manifest {
            path: path.to_path_buf(),
            dir: self.dir.clone(),
            project,
            env_files: env_file_paths,
            settings,
            tasks: drafts.into_iter().map(|d| d.task).collect(),
        })
    }
}
