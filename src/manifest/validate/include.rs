//! `include:` (docs/behaviour.md#include): other manifests whose tasks join this stack.
//! Paths and globs are relative to the including file; every included file is read and
//! parsed here, its nodes numbered with its own file id (so diagnostics point into it),
//! nested includes are followed, a file reached twice is taken once, and a cycle is an
//! error naming it. A glob that matches nothing is a warning, a missing file an error.

use std::path::{Path, PathBuf};

use globset::GlobBuilder;

use std::collections::BTreeMap;

use super::values::normalize;
use super::{Entry, TASK_KEYS, V};
use crate::manifest::diag::{shown_path, Diagnostic};
use crate::manifest::node::{self, Node, Pos, Value};

/// Directories a glob never descends into.
const SKIPPED_DIRS: [&str; 4] = [".git", "node_modules", "target", ".bts"];
/// How deep a glob walks below its literal prefix.
const MAX_DEPTH: usize = 12;

/// What the tasks of one file are built with: its directory (the base of relative
/// paths), env files and env (on top of the including file's), and its own `defaults`.
#[derive(Clone)]
pub(super) struct FileContext {
    pub dir: PathBuf,
    pub env_files: BTreeMap<String, String>,
    pub env_file_paths: Vec<PathBuf>,
    pub base: BTreeMap<String, String>,
    pub defaults: Vec<Entry>,
}

/// A task as written in one of the files: its name and value nodes, and the index of
/// its file's [`FileContext`].
pub(super) struct TaskSource {
    pub key: Node,
    pub value: Node,
    pub ctx: usize,
}

/// An included file, parsed.
pub(super) struct Fragment {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub root: Node,
}

impl V<'_> {
    /// Follow the `include` list `n` of the file `from` (absolute), appending the files
    /// it brings in (depth first, in list order) to `out`. `chain`: the files from the
    /// manifest down to `from`, for cycles.
    pub(super) fn follow_includes(
        &mut self,
        n: &Node,
        from: &Path,
        chain: &mut Vec<PathBuf>,
        out: &mut Vec<Fragment>,
    ) {
        let Some(items) = self.string_list(n, "`include`", true) else {
            return;
        };
        let dir = from.parent().unwrap_or(Path::new("/")).to_path_buf();
        for (pattern, pos) in items {
            let files = if has_glob(&pattern) {
                if let Err(e) = globset::Glob::new(&pattern) {
                    self.err(
                        pos,
                        format!("`{pattern}` in `include` is not a valid glob: {e}"),
                        "globs take `*`, `**`, `?`, `[abc]` and `{a,b}`",
                    );
                    continue;
                }
                // A glob that finds the including file itself (`**/bts.yaml`) means the
                // others.
                let me = from.canonicalize().unwrap_or_else(|_| from.to_path_buf());
                let found: Vec<PathBuf> = expand(&dir, &pattern)
                    .into_iter()
                    .filter(|f| f.canonicalize().unwrap_or_else(|_| f.clone()) != me)
                    .collect();
                if found.is_empty() {
                    self.warnings.push(format!(
                        "{}:{}:{}: include `{pattern}` matches no file",
                        shown_path(&self.file_path(pos.file)),
                        pos.line,
                        pos.col
                    ));
                }
                found
            } else {
                let p = normalize(&dir.join(&pattern));
                if !p.is_file() {
                    self.err(
                        pos,
                        format!("included file `{pattern}` not found ({})", p.display()),
                        "paths in `include` are relative to the file that includes them",
                    );
                    continue;
                }
                vec![p]
            };
            for file in files {
                let canon = file.canonicalize().unwrap_or(file);
                if let Some(at) = chain.iter().position(|c| *c == canon) {
                    let cycle: Vec<String> = chain[at..]
                        .iter()
                        .chain(std::iter::once(&canon))
                        .map(|p| shown_path(p))
                        .collect();
                    self.err(
                        pos,
                        format!("include cycle: {}", cycle.join(" → ")),
                        "remove one of these includes",
                    );
                    continue;
                }
                if out.iter().any(|f| f.path == canon) {
                    // Reached twice (a diamond): one copy of its tasks.
                    continue;
                }
                self.include_file(canon, pos, chain, out);
            }
        }
    }

    /// Read and parse one included file, give its nodes their file id, follow its own
    /// includes.
    fn include_file(
        &mut self,
        path: PathBuf,
        at: Pos,
        chain: &mut Vec<PathBuf>,
        out: &mut Vec<Fragment>,
    ) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.err(
                    at,
                    format!("cannot read included file {}: {e}", path.display()),
                    "it must be a readable UTF-8 manifest",
                );
                return;
            }
        };
        let Ok(id) = u16::try_from(self.files.len() + 1) else {
            self.err(at, "too many included files", "include fewer files");
            return;
        };
        self.files.push((path.clone(), text));
        let text = &self.files[self.files.len() - 1].1;
        let parsed = match node::parse(text) {
            Ok(p) => p,
            Err(e) => {
                let mut d = Diagnostic::at(Pos { file: id, ..e.pos }, e.message);
                d.hint = e.hint;
                self.diags.push(d);
                return;
            }
        };
        for p in parsed.problems {
            let mut d = Diagnostic::at(Pos { file: id, ..p.pos }, p.message);
            d.hint = p.hint;
            self.diags.push(d);
        }
        let Some(mut root) = parsed.root else {
            self.diags.push(Diagnostic::at(
                Pos {
                    file: id,
                    line: 1,
                    col: 1,
                },
                "the included file is empty",
            ));
            return;
        };
        set_file(&mut root, id);
        let include = root.as_map().and_then(|m| {
            m.iter()
                .find(|(k, _)| k.scalar_text() == Some("include"))
                .map(|(_, v)| v.clone())
        });
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        out.push(Fragment {
            path: path.clone(),
            dir,
            root,
        });
        if let Some(list) = include {
            chain.push(path.clone());
            self.follow_includes(&list, &path, chain, out);
            chain.pop();
        }
    }

    /// The context of a file's tasks from its top-level entries; an included file's
    /// starts from the including manifest's env (`parent`).
    pub(super) fn file_context(
        &mut self,
        top: &[Entry],
        parent: Option<&FileContext>,
    ) -> FileContext {
        let get = |k: &str| top.iter().find(|e| e.key == k);
        let (own_files, env_file_paths) = match get("env_file") {
            Some(e) => self.env_files(&e.value),
            None => (BTreeMap::new(), Vec::new()),
        };
        // dotenv semantics: the calling environment wins over env files, so file values
        // for keys the caller already set are not added to the task env at all.
        let mut base = parent.map_or_else(BTreeMap::new, |p| p.base.clone());
        base.extend(
            own_files
                .iter()
                .filter(|(k, _)| !self.calling.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let mut env_files = parent.map_or_else(BTreeMap::new, |p| p.env_files.clone());
        env_files.extend(own_files);
        if let Some(e) = get("env") {
            let layer = self.env_layer(&e.value, "`env`");
            self.interpolate_into(&mut base, &layer, &env_files, "`env`");
        }
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
        FileContext {
            dir: self.dir.clone(),
            env_files,
            env_file_paths,
            base,
            defaults,
        }
    }

    /// One definition per task name. A name defined in two files is an error naming
    /// both; a task with `extends: true` is instead laid over the definition of the same
    /// name in another (included) file: its keys replace that definition's, which keeps
    /// its own file's context.
    pub(super) fn resolve_overrides(&mut self, sources: Vec<TaskSource>) -> Vec<TaskSource> {
        let mut out: Vec<TaskSource> = Vec::new();
        let mut overrides = Vec::new();
        for s in sources {
            match self.extends(&s.value) {
                Some(true) => overrides.push(s),
                _ => match out
                    .iter()
                    .find(|o| o.key.scalar_text() == s.key.scalar_text())
                {
                    Some(first) if first.key.pos.file != s.key.pos.file => {
                        let name = s.key.scalar_text().unwrap_or_default();
                        let msg = format!(
                            "task `{name}` is defined twice: at {} and at {}",
                            self.located(first.key.pos),
                            self.located(s.key.pos)
                        );
                        self.err(
                            s.key.pos,
                            msg,
                            "rename one, or override the included one with `extends: true`",
                        );
                    }
                    // Twice in one file: the YAML layer has said so already.
                    Some(_) => {}
                    None => out.push(s),
                },
            }
        }
        for o in overrides {
            let name = o.key.scalar_text().unwrap_or_default().to_string();
            let target = out.iter_mut().find(|t| {
                t.key.scalar_text() == Some(name.as_str()) && t.key.pos.file != o.key.pos.file
            });
            let Some(target) = target else {
                self.err(
                    o.key.pos,
                    format!("task `{name}` has `extends: true` but no included file defines `{name}`"),
                    "`extends` lays a task over an included one of the same name; remove it to define a new task",
                );
                continue;
            };
            // A one-line task (`web: npm run dev`) is `{cmd: …}`.
            if let Value::Scalar { .. } = target.value.value {
                let cmd = Node {
                    value: Value::Scalar {
                        text: "cmd".into(),
                        plain: true,
                    },
                    pos: target.value.pos,
                };
                let line = target.value.clone();
                target.value.value = Value::Map(vec![(cmd, line)]);
            }
            if let (Value::Map(base), Some(over)) = (&mut target.value.value, o.value.as_map()) {
                for (k, v) in over {
                    if k.scalar_text() == Some("extends") {
                        continue;
                    }
                    match base
                        .iter_mut()
                        .find(|(bk, _)| bk.scalar_text() == k.scalar_text())
                    {
                        Some(slot) => *slot = (k.clone(), v.clone()),
                        None => base.push((k.clone(), v.clone())),
                    }
                }
            }
        }
        out
    }

    /// `extends` of a task value: `Some(b)` when set (a non-boolean is reported).
    fn extends(&mut self, v: &Node) -> Option<bool> {
        let (_, e) = v
            .as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text() == Some("extends"))?;
        self.boolean(&e.clone(), "`extends`")
    }

    /// `apps/web/bts.yaml:3:3`.
    fn located(&self, p: Pos) -> String {
        format!(
            "{}:{}:{}",
            shown_path(&self.file_path(p.file)),
            p.line,
            p.col
        )
    }

    /// The absolute path of file `id` (0: the manifest itself).
    pub(super) fn file_path(&self, id: u16) -> PathBuf {
        match id {
            0 => self.path.clone(),
            n => self
                .files
                .get(usize::from(n) - 1)
                .map_or_else(|| self.path.clone(), |f| f.0.clone()),
        }
    }
}

/// Number every position of `n` with file `id`.
fn set_file(n: &mut Node, id: u16) {
    n.pos.file = id;
    match &mut n.value {
        Value::Scalar { .. } => {}
        Value::Seq(items) => items.iter_mut().for_each(|i| set_file(i, id)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            set_file(k, id);
            set_file(v, id);
        }),
    }
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '[', '{'])
}

/// The files under `dir` matching `pattern` (relative to `dir`), sorted. The walk starts
/// at the pattern's literal prefix and skips `.git`, `node_modules`, `target`, `.bts`.
fn expand(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let Ok(glob) = GlobBuilder::new(pattern).literal_separator(true).build() else {
        return vec![];
    };
    let matcher = glob.compile_matcher();
    let literal: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    let mut out = vec![];
    walk(&dir.join(&literal), 0, &mut |p| {
        if let Ok(rel) = p.strip_prefix(dir) {
            if matcher.is_match(rel) {
                out.push(normalize(p));
            }
        }
    });
    out.sort();
    out
}

fn walk(dir: &Path, depth: usize, visit: &mut impl FnMut(&Path)) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            let name = e.file_name();
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                walk(&path, depth + 1, visit);
            }
        } else if kind.is_file() || path.is_file() {
            visit(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_expand_below_their_literal_prefix() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "apps/web/bts.yaml",
            "apps/api/bts.yaml",
            "apps/api/deep/bts.yaml",
            "apps/node_modules/x/bts.yaml",
            "tools/db.yaml",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "tasks: {}\n").unwrap();
        }
        let rel = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            rel(expand(root, "apps/*/bts.yaml")),
            ["apps/api/bts.yaml", "apps/web/bts.yaml"]
        );
        assert_eq!(
            rel(expand(root, "apps/**/bts.yaml")),
            [
                "apps/api/bts.yaml",
                "apps/api/deep/bts.yaml",
                "apps/web/bts.yaml"
            ]
        );
        assert!(expand(root, "nothing/*.yaml").is_empty());
        assert!(has_glob("a/*.yaml") && has_glob("a/{b,c}.yaml") && !has_glob("a/b.yaml"));
    }
}
