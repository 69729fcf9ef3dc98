//! The entry point, [`validate`], and the top level of a manifest: `version`, `name`,
//! `env_file`, `env`, `settings`, `defaults` and `tasks`, each handed to the module that
//! owns it, then the rules across tasks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::include::TaskSource;
use super::{TOP_KEYS, V};
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

/// Why a manifest is invalid: the diagnostics, and the files it includes (absolute path,
/// text), which the diagnostics' `Pos::file` numbers from 1.
pub type Failure = (Vec<Diagnostic>, Vec<(PathBuf, String)>);

/// [`validate`], and on failure also the files the manifest includes.
pub fn validate_files(
    src: &str,
    path: &Path,
    calling_env: &BTreeMap<String, String>,
) -> Result<Manifest, Failure> {
    validate_scaled(src, path, calling_env, &BTreeMap::new())
}

/// [`validate_files`] with replica counts that replace the manifest's (`bts scale`).
pub fn validate_scaled(
    src: &str,
    path: &Path,
    calling_env: &BTreeMap<String, String>,
    scale: &BTreeMap<String, u32>,
) -> Result<Manifest, Failure> {
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
        path: path.to_path_buf(),
        warnings: Vec::new(),
        scale: scale.clone(),
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

        let root_ctx = self.file_context(&top, None);
        let env_file_paths = root_ctx.env_file_paths.clone();
        let settings = self.settings(get("settings").map(|e| &e.value));

        // The files `include` brings in, then every task with the file it comes from.
        let mut fragments = Vec::new();
        if let Some(e) = get("include") {
            let mut chain = vec![path.canonicalize().unwrap_or_else(|_| path.to_path_buf())];
            self.follow_includes(&e.value.clone(), path, &mut chain, &mut fragments);
        }
        let mut contexts = vec![root_ctx];
        let mut sources: Vec<TaskSource> = Vec::new();
        match get("tasks").cloned() {
            None if fragments.is_empty() => self.diags.push(Diagnostic::whole(
                "no `tasks` in the manifest",
                "add a `tasks:` map, e.g. `tasks: {web: {cmd: npm run dev}}`",
            )),
            None => {}
            Some(e) => match e.value.as_map() {
                Some([]) if fragments.is_empty() => self.err(
                    e.value.pos,
                    "`tasks` is empty",
                    "add at least one task, e.g. `web: {cmd: npm run dev}`",
                ),
                Some(map) => sources.extend(map.iter().map(|(k, v)| TaskSource {
                    key: k.clone(),
                    value: v.clone(),
                    ctx: 0,
                })),
                None if e.value.is_null() && fragments.is_empty() => self.err(
                    e.key_pos,
                    "`tasks` is empty",
                    "add at least one task under `tasks:`, indented",
                ),
                None if e.value.is_null() => {}
                None => self.type_err(
                    &e.value,
                    "`tasks`",
                    "a map of task names to tasks",
                    "write `tasks:` then one `name:` per task, indented",
                ),
            },
        }
        for f in &fragments {
            let saved = std::mem::replace(&mut self.dir, f.dir.clone());
            let ftop = self.entries(&f.root, TOP_KEYS, "at the top level", true);
            let ctx = self.file_context(&ftop, Some(&contexts[0]));
            self.dir = saved;
            contexts.push(ctx);
            let at = contexts.len() - 1;
            if let Some(t) = ftop.iter().find(|e| e.key == "tasks") {
                match t.value.as_map() {
                    Some(map) => sources.extend(map.iter().map(|(k, v)| TaskSource {
                        key: k.clone(),
                        value: v.clone(),
                        ctx: at,
                    })),
                    None if t.value.is_null() => {}
                    None => self.type_err(
                        &t.value,
                        "`tasks`",
                        "a map of task names to tasks",
                        "write `tasks:` then one `name:` per task, indented",
                    ),
                }
            }
        }
        let sources = self.resolve_overrides(sources);
        let mut drafts = Vec::new();
        for src in &sources {
            let ctx = &contexts[src.ctx];
            let saved = std::mem::replace(&mut self.dir, ctx.dir.clone());
            let (defaults, base, env_files) = (
                ctx.defaults.clone(),
                ctx.base.clone(),
                ctx.env_files.clone(),
            );
            if let Some(d) = self.task(&src.key, &src.value, &defaults, &base, &env_files) {
                drafts.push(d);
            }
            self.dir = saved;
        }
        let mut drafts = self.expand_replicas(drafts);
        self.cross_checks(&mut drafts);

        let settings = settings?;
        Some(Manifest {
            path: path.to_path_buf(),
            dir: self.dir.clone(),
            project,
            env_files: env_file_paths,
            settings,
            tasks: drafts.into_iter().map(|d| d.task).collect(),
            includes: fragments.into_iter().map(|f| f.path).collect(),
            warnings: std::mem::take(&mut self.warnings),
        })
    }
}
