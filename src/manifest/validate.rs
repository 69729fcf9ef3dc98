//! Validation: the positioned YAML tree ([`super::node`]) → the model
//! ([`super::model::Manifest`]). Each field is converted on its own, so one bad field
//! does not hide the others; every problem becomes a [`Diagnostic`] at the key or value
//! it is about. Values a task takes from `defaults` are reported at their `defaults`
//! location (and deduplicated, so a bad default is reported once, not once per task).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::diag::{did_you_mean, Diagnostic};
use super::fields;
use super::graph::find_cycles;
use super::interp::{interpolate, InterpError};
use super::model::{
    CommandSpec, Condition, Dependency, Health, Manifest, OutputMode, Probe, RestartPolicy,
    Secrets, Settings, Task,
};
use super::node::{self, Kind, Node, Pos, Value};

// The known keys of each map come from the one field table `bts schema` also reads.
const TOP_KEYS: &[&str] = &fields::names(&fields::TOP);
const SETTINGS_KEYS: &[&str] = &fields::names(&fields::SETTINGS);
const SECRETS_KEYS: &[&str] = &fields::names(&fields::SECRETS);
const TASK_KEYS: &[&str] = &fields::names(&fields::TASK);
const HEALTH_KEYS: &[&str] = &fields::names(&fields::HEALTH);
const DEPENDENCY_KEYS: &[&str] = &fields::names(&fields::DEPENDENCY);
use fields::PROBE_KINDS;

/// Validate `src` (the text of the manifest at the absolute `path`), interpolating env
/// values from `calling_env`.
pub fn validate(
    src: &str,
    path: &Path,
    calling_env: &BTreeMap<String, String>,
) -> Result<Manifest, Vec<Diagnostic>> {
    let parsed = match node::parse(src) {
        Ok(p) => p,
        Err(e) => {
            let mut d = Diagnostic::at(e.pos, e.message);
            d.hint = e.hint;
            return Err(vec![d]);
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
    };
    for p in parsed.problems {
        let mut d = Diagnostic::at(p.pos, p.message);
        d.hint = p.hint;
        v.diags.push(d);
    }
    let manifest = v.manifest(parsed.root.as_ref(), path);
    let mut diags = v.diags;
    // File order; whole-file problems last. A bad `defaults` value is seen once per task.
    diags.sort_by_key(|d| d.pos.map_or((usize::MAX, 0), |p| (p.line, p.col)));
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
            Err(diags)
        }
    }
}

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
}

struct V<'a> {
    src: &'a str,
    dir: PathBuf,
    calling: &'a BTreeMap<String, String>,
    diags: Vec<Diagnostic>,
}

fn found(n: &Node) -> &'static str {
    n.kind().describe()
}

impl V<'_> {
    fn err(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::at(pos, message).hint(hint));
    }

    fn type_err(&mut self, n: &Node, field: &str, expected: &str, hint: &str) {
        self.err(
            n.pos,
            format!("{field} must be {expected}, found {}", found(n)),
            hint,
        );
    }

    /// The entries of a map node, reporting unknown and non-string keys.
    fn entries(&mut self, n: &Node, allowed: &[&str], at: &str, allow_x: bool) -> Vec<Entry> {
        let Some(map) = n.as_map() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = k.scalar_text() else {
                self.err(
                    k.pos,
                    format!("keys {at} must be names, found {}", found(k)),
                    "write a plain name before the `:`",
                );
                continue;
            };
            if allowed.contains(&key) {
                out.push(Entry {
                    key: key.to_string(),
                    key_pos: k.pos,
                    value: v.clone(),
                });
            } else if allow_x && key.starts_with("x-") {
                // Extension fields (compose convention): a place for YAML anchors.
            } else {
                let hint = match did_you_mean(key, allowed) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("valid keys here: {}", allowed.join(", ")),
                };
                self.err(k.pos, format!("unknown key `{key}` {at}"), hint);
            }
        }
        out
    }

    fn string(&mut self, n: &Node, field: &str) -> Option<String> {
        match n.scalar_text() {
            Some(s) => Some(s.to_string()),
            None => {
                self.type_err(n, field, "a string", "write a single value after the `:`");
                None
            }
        }
    }

    fn nonempty_string(&mut self, n: &Node, field: &str) -> Option<String> {
        let s = self.string(n, field)?;
        if s.trim().is_empty() {
            self.err(
                n.pos,
                format!("{field} is empty"),
                "give it a value, or remove the key",
            );
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, n: &Node, field: &str) -> Option<bool> {
        if let Some(b) = n.as_bool() {
            return Some(b);
        }
        // YAML 1.1 spellings people still write; unambiguous here.
        match n.scalar_text().map(str::to_ascii_lowercase).as_deref() {
            Some("yes" | "on") => Some(true),
            Some("no" | "off") => Some(false),
            _ => {
                self.type_err(n, field, "true or false", "write `true` or `false`");
                None
            }
        }
    }

    fn uint(&mut self, n: &Node, field: &str, min: u64, max: u64) -> Option<u64> {
        match n.as_int() {
            Some(i) if i >= 0 && (i as u64) >= min && (i as u64) <= max => Some(i as u64),
            Some(i) => {
                self.err(
                    n.pos,
                    format!("{field} is {i}, outside {min}–{max}"),
                    format!("use a whole number from {min} to {max}"),
                );
                None
            }
            None => {
                self.type_err(n, field, "a whole number", "write a number without quotes");
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, field: &str, positive: bool) -> Option<Duration> {
        const HINT: &str = "use a duration like `500ms`, `2s`, `1m 30s` or `1h`";
        if let Some(i) = n.as_int() {
            if i == 0 && !positive {
                return Some(Duration::ZERO);
            }
            self.err(
                n.pos,
                format!("{field} `{i}` has no unit"),
                format!("write `{i}s` (or `{i}ms`, `{i}m`); {HINT}"),
            );
            return None;
        }
        let Some(text) = n.scalar_text() else {
            self.type_err(n, field, "a duration", HINT);
            return None;
        };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if positive && d.is_zero() => {
                self.err(n.pos, format!("{field} must be more than zero"), HINT);
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                // humantime appends the whole unit list; the hint says it better.
                let e = e.to_string();
                let why = e.split(", supported units").next().unwrap_or(&e);
                self.err(
                    n.pos,
                    format!("invalid duration `{text}` for {field}: {why}"),
                    HINT,
                );
                None
            }
        }
    }

    /// A list of strings (a single string counts as a list of one when `single_ok`).
    fn string_list(
        &mut self,
        n: &Node,
        field: &str,
        single_ok: bool,
    ) -> Option<Vec<(String, Pos)>> {
        match &n.value {
            Value::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for it in items {
                    match it.scalar_text() {
                        Some(s) => out.push((s.to_string(), it.pos)),
                        None => {
                            self.type_err(
                                it,
                                &format!("each item of {field}"),
                                "a string",
                                "write one value per item",
                            );
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            Value::Scalar { .. } if single_ok && !n.is_null() => {
                n.scalar_text().map(|s| vec![(s.to_string(), n.pos)])
            }
            _ => {
                self.type_err(
                    n,
                    field,
                    "a list of strings",
                    "write `[a, b]` or one `- item` per line",
                );
                None
            }
        }
    }

    fn regex_ok(&mut self, re: &str, pos: Pos, field: &str) -> bool {
        match regex::Regex::new(re) {
            Ok(_) => true,
            Err(e) => {
                let text = e.to_string();
                let why = text
                    .lines()
                    .rev()
                    .find_map(|l| l.trim().strip_prefix("error: "))
                    .map_or_else(
                        || text.lines().last().unwrap_or("").trim().to_string(),
                        str::to_string,
                    );
                self.err(
                    pos,
                    format!("invalid regex `{re}` in {field}: {why}"),
                    "fix the pattern (Rust regex syntax; escape literal characters like `(`, `[`, `.` with `\\`)",
                );
                false
            }
        }
    }

    fn regex_list(&mut self, n: &Node, field: &str) -> Option<Vec<String>> {
        let items = self.string_list(n, field, true)?;
        let mut ok = true;
        for (re, pos) in &items {
            ok &= self.regex_ok(re, *pos, field);
        }
        ok.then(|| items.into_iter().map(|(s, _)| s).collect())
    }

    fn glob_list(&mut self, n: &Node, field: &str) -> Option<Vec<String>> {
        let items = self.string_list(n, field, true)?;
        let mut ok = true;
        for (g, pos) in &items {
            if let Err(e) = globset::Glob::new(g) {
                self.err(
                    *pos,
                    format!("invalid glob `{g}` in {field}: {}", e.kind()),
                    "use globs like `src/**/*.ts` or `*TOKEN*`",
                );
                ok = false;
            }
        }
        ok.then(|| items.into_iter().map(|(s, _)| s).collect())
    }

    /// A path relative to the manifest's directory, made absolute (`~/` is the home dir).
    fn path(&mut self, n: &Node, field: &str) -> Option<PathBuf> {
        let s = self.nonempty_string(n, field)?;
        Some(self.resolve(&s))
    }

    fn resolve(&self, s: &str) -> PathBuf {
        let p = match (s.strip_prefix("~/"), self.calling.get("HOME")) {
            (Some(rest), Some(home)) => Path::new(home).join(rest),
            _ => self.dir.join(s),
        };
        normalize(&p)
    }

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

    /// `env_file`: a path or a list of them; later files win. Also returns the files'
    /// absolute paths, in order.
    fn env_files(&mut self, n: &Node) -> (BTreeMap<String, String>, Vec<PathBuf>) {
        let mut out = BTreeMap::new();
        let mut paths = Vec::new();
        let Some(files) = self.string_list(n, "`env_file`", true) else {
            return (out, paths);
        };
        for (f, pos) in files {
            let path = self.resolve(&f);
            paths.push(path.clone());
            if !path.is_file() {
                self.err(
                    pos,
                    format!("env file `{f}` not found ({})", path.display()),
                    "create it, or remove it from `env_file`",
                );
                continue;
            }
            let iter = match dotenvy::from_path_iter(&path) {
                Ok(it) => it,
                Err(e) => {
                    self.err(
                        pos,
                        format!("cannot read env file `{f}`: {e}"),
                        "check that the file is readable",
                    );
                    continue;
                }
            };
            for item in iter {
                match item {
                    Ok((k, v)) => {
                        out.insert(k, v);
                    }
                    Err(e) => {
                        let hint = match &e {
                            dotenvy::Error::LineParse(line, _) => {
                                format!("fix this line of `{f}`: {line}")
                            }
                            _ => format!("use `KEY=value` lines in `{f}`"),
                        };
                        self.err(pos, format!("invalid env file `{f}`: {e}"), hint);
                        break;
                    }
                }
            }
        }
        (out, paths)
    }

    /// The raw (uninterpolated) entries of an `env` map, with the value positions.
    fn env_layer(&mut self, n: &Node, field: &str) -> Vec<(String, String, Pos)> {
        if n.is_null() {
            return Vec::new();
        }
        let Some(map) = n.as_map() else {
            self.type_err(
                n,
                field,
                "a map of NAME: value",
                "write one `NAME: value` per line under it",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = k.scalar_text() else {
                self.type_err(
                    k,
                    &format!("a variable name in {field}"),
                    "a name",
                    "write `NAME: value`",
                );
                continue;
            };
            if key.contains('=') || key.contains('\0') {
                self.err(
                    k.pos,
                    format!("invalid variable name `{key}` in {field}"),
                    "names cannot contain `=`; write `NAME: value`",
                );
                continue;
            }
            let value = match &v.value {
                Value::Scalar { text, .. } if v.is_null() && text.is_empty() => String::new(),
                Value::Scalar { text, .. } => text.clone(),
                _ => {
                    self.type_err(
                        v,
                        &format!("`{key}` in {field}"),
                        "a string",
                        "quote the value: `NAME: \"value\"`",
                    );
                    continue;
                }
            };
            out.push((key.to_string(), value, v.pos));
        }
        out
    }

    /// Interpolate `layer` in order into `acc`. A reference sees, in this order: what is
    /// already in `acc` (earlier keys and lower layers: what the task will actually see),
    /// then the calling environment, then the env files.
    fn interpolate_into(
        &mut self,
        acc: &mut BTreeMap<String, String>,
        layer: &[(String, String, Pos)],
        env_files: &BTreeMap<String, String>,
        field: &str,
    ) {
        for (key, raw, pos) in layer {
            let result = {
                let acc_ref: &BTreeMap<String, String> = acc;
                let calling = self.calling;
                let lookup = |name: &str| {
                    acc_ref
                        .get(name)
                        .or_else(|| calling.get(name))
                        .or_else(|| env_files.get(name))
                        .cloned()
                };
                interpolate(raw, &lookup)
            };
            match result {
                Ok(v) => {
                    acc.insert(key.clone(), v);
                }
                Err(errors) => {
                    for e in errors {
                        self.interp_err(e, key, *pos, field);
                    }
                }
            }
        }
    }

    fn err_span(&mut self, (pos, len): (Pos, Option<usize>), message: String, hint: String) {
        let mut d = Diagnostic::at(pos, message).hint(hint);
        d.len = len;
        self.diags.push(d);
    }

    /// Where `$name` / `${name...}` is inside the value starting at `pos`, when it is on
    /// that line: the caret goes under the variable, not the whole value.
    fn var_span(&self, pos: Pos, name: &str) -> (Pos, Option<usize>) {
        let Some(line) = self.src.lines().nth(pos.line.saturating_sub(1)) else {
            return (pos, None);
        };
        let start = line
            .char_indices()
            .nth(pos.col.saturating_sub(1))
            .map_or(line.len(), |(i, _)| i);
        let rest = &line[start..];
        let braced = format!("${{{name}");
        let bare = format!("${name}");
        let candidates = rest
            .match_indices(&braced)
            .map(|(i, _)| (i, true))
            .chain(rest.match_indices(&bare).map(|(i, _)| (i, false)));
        let found = candidates.into_iter().find(|&(i, is_braced)| {
            let next = rest[i + if is_braced { braced.len() } else { bare.len() }..]
                .chars()
                .next();
            if is_braced {
                matches!(next, Some('}' | ':' | '-' | '?' | '+'))
            } else {
                !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            }
        });
        match found {
            Some((i, is_braced)) => {
                let len = if is_braced {
                    rest[i..].find('}').map_or(braced.len(), |e| e + 1)
                } else {
                    bare.len()
                };
                let col = pos.col + rest[..i].chars().count();
                (
                    Pos {
                        line: pos.line,
                        col,
                    },
                    Some(rest[i..i + len].chars().count()),
                )
            }
            None => (pos, None),
        }
    }

    fn interp_err(&mut self, e: InterpError, key: &str, pos: Pos, field: &str) {
        match e {
            InterpError::Undefined(name) => self.err_span(
                self.var_span(pos, &name),
                format!("undefined variable `{name}` in `{key}` of {field}"),
                format!("set `{name}` in the calling environment or an env_file, or give a default: `${{{name}:-value}}`"),
            ),
            InterpError::Required { name, message } => {
                self.err(pos, format!("`{name}` is required by `{key}` of {field}: {message}"), format!("set `{name}` in the calling environment or an env_file"))
            }
            InterpError::Unclosed => self.err(
                pos,
                format!("unclosed `${{` in `{key}` of {field}"),
                "close it with `}`, or write `$$` for a literal `$`",
            ),
            InterpError::BadSyntax(s) => self.err(
                pos,
                format!("invalid variable reference `{s}` in `{key}` of {field}"),
                "use `${NAME}`, `${NAME:-default}`, or `$$` for a literal `$`",
            ),
        }
    }

    fn settings(&mut self, n: Option<&Node>) -> Option<Settings> {
        let mut s = Settings {
            state_dir: self.dir.join(".bts"),
            output: OutputMode::Summary,
            digest_interval: Duration::from_secs(300),
            notes: None,
            secrets: Secrets::default(),
        };
        let Some(n) = n else { return Some(s) };
        if n.is_null() {
            return Some(s);
        }
        if n.as_map().is_none() {
            self.type_err(
                n,
                "`settings`",
                "a map",
                "write settings as `key: value` lines under `settings:`",
            );
            return None;
        }
        let before = self.diags.len();
        for e in self.entries(n, SETTINGS_KEYS, "in `settings`", false) {
            let v = &e.value;
            match e.key.as_str() {
                "state_dir" => {
                    if let Some(p) = self.path(v, "`settings.state_dir`") {
                        s.state_dir = p;
                    }
                }
                "output" => match v.scalar_text() {
                    Some("summary") => s.output = OutputMode::Summary,
                    Some("full") => s.output = OutputMode::Full,
                    Some("quiet") => s.output = OutputMode::Quiet,
                    other => {
                        let modes = fields::OUTPUT_MODES;
                        let hint = match other.and_then(|o| did_you_mean(o, modes)) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => "use `summary`, `full` or `quiet`".to_string(),
                        };
                        self.err(
                            v.pos,
                            format!(
                                "invalid `settings.output`: {}",
                                other.map_or_else(|| found(v).to_string(), |o| format!("`{o}`"))
                            ),
                            hint,
                        );
                    }
                },
                "digest_interval" => {
                    if let Some(d) = self.duration(v, "`settings.digest_interval`", true) {
                        s.digest_interval = d;
                    }
                }
                "notes" => s.notes = self.path(v, "`settings.notes`"),
                "secrets" => {
                    if v.is_null() {
                        continue;
                    }
                    if v.as_map().is_none() {
                        self.type_err(
                            v,
                            "`settings.secrets`",
                            "a map with `public`, `mask`, `redact`",
                            "see SPEC section 2",
                        );
                        continue;
                    }
                    for se in self.entries(v, SECRETS_KEYS, "in `settings.secrets`", false) {
                        let field = format!("`settings.secrets.{}`", se.key);
                        match se.key.as_str() {
                            "public" => {
                                s.secrets.public =
                                    self.glob_list(&se.value, &field).unwrap_or_default()
                            }
                            "mask" => {
                                s.secrets.mask =
                                    self.glob_list(&se.value, &field).unwrap_or_default()
                            }
                            _ => {
                                s.secrets.redact =
                                    self.regex_list(&se.value, &field).unwrap_or_default()
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        (self.diags.len() == before).then_some(s)
    }

    fn task(
        &mut self,
        k: &Node,
        v: &Node,
        defaults: &[Entry],
        base_env: &BTreeMap<String, String>,
        env_files: &BTreeMap<String, String>,
    ) -> Option<Draft> {
        let Some(name) = k.scalar_text().map(str::to_string) else {
            self.err(
                k.pos,
                format!("task names must be names, found {}", found(k)),
                "write `name:` with letters, digits, `_`, `.`, `-`",
            );
            return None;
        };
        if !valid_task_name(&name) {
            self.err(
                k.pos,
                format!("invalid task name `{name}`"),
                "task names start with a letter or digit and contain only letters, digits, `_`, `.` and `-`",
            );
        }
        let at_task = format!("in task `{name}`");
        let mut task = Task {
            env: base_env.clone(),
            line: k.pos.line,
            ..Task::with_defaults(&name, CommandSpec::Shell(String::new()), self.dir.clone())
        };
        // A task with problems still becomes a draft: the cross-task rules (ports,
        // dependencies, cycles) must see it, and no manifest is built anyway.
        let own: Vec<Entry> = match &v.value {
            Value::Map(_) => self.entries(v, TASK_KEYS, &at_task, false),
            // `web: npm run dev`: the Procfile-style shorthand for `web: {cmd: ...}`.
            Value::Scalar { .. } if !v.is_null() => {
                vec![Entry {
                    key: "cmd".into(),
                    key_pos: k.pos,
                    value: v.clone(),
                }]
            }
            _ if v.is_null() => {
                self.err(
                    k.pos,
                    format!("task `{name}` is empty"),
                    "give it a command: `cmd: <command>`",
                );
                return Some(Draft {
                    task,
                    deps: Vec::new(),
                    ports: Vec::new(),
                });
            }
            _ => {
                self.type_err(
                    v,
                    &format!("task `{name}`"),
                    "a map of fields (or a command string)",
                    "write `cmd: <command>` and other fields under the task name",
                );
                return Some(Draft {
                    task,
                    deps: Vec::new(),
                    ports: Vec::new(),
                });
            }
        };

        // `cwd` and its alias `wd` are one field.
        let own_cwd: Vec<&Entry> = own
            .iter()
            .filter(|e| e.key == "cwd" || e.key == "wd")
            .collect();
        if own_cwd.len() > 1 {
            self.err(
                own_cwd[1].key_pos,
                format!("both `cwd` and `wd` {at_task}"),
                "`wd` is an alias of `cwd`: keep one",
            );
        }
        let pick = |key: &str| -> Option<Field<'_>> {
            let is = |e: &&Entry| e.key == key || (key == "cwd" && e.key == "wd");
            own.iter()
                .find(is)
                .map(|e| Field {
                    value: &e.value,
                    key_pos: e.key_pos,
                    at: at_task.clone(),
                })
                .or_else(|| {
                    defaults.iter().find(is).map(|e| Field {
                        value: &e.value,
                        key_pos: e.key_pos,
                        at: "in `defaults`".into(),
                    })
                })
        };
        let lbl = |key: &str, f: &Field<'_>| format!("`{key}` {}", f.at);

        // cmd / args
        let args = pick("args");
        match pick("cmd") {
            None => self.err(
                k.pos,
                format!("task `{name}` has no `cmd`"),
                "add `cmd: <command>` (a string run by `sh -c`, or a list run directly)",
            ),
            Some(f) => {
                let label = lbl("cmd", &f);
                let empty_hint = "give the command to run, e.g. `cmd: npm run dev`";
                match &f.value.value {
                    Value::Seq(_) => {
                        if let Some(a) = &args {
                            self.err(
                                a.key_pos,
                                format!("`args` cannot be combined with `cmd` as a list {}", a.at),
                                "put the arguments in the `cmd` list, or make `cmd` a string",
                            );
                        }
                        if let Some(list) = self.string_list(f.value, &label, false) {
                            match list.split_first() {
                                Some(((program, _), rest)) if !program.trim().is_empty() => {
                                    task.command = CommandSpec::Exec {
                                        program: program.clone(),
                                        args: rest.iter().map(|(s, _)| s.clone()).collect(),
                                    }
                                }
                                _ => self.err(f.value.pos, format!("empty {label}"), empty_hint),
                            }
                        }
                    }
                    Value::Scalar { .. } if f.value.is_null() => {
                        self.err(f.key_pos, format!("empty {label}"), empty_hint)
                    }
                    Value::Scalar { text, .. } if text.trim().is_empty() => {
                        self.err(f.value.pos, format!("empty {label}"), empty_hint)
                    }
                    Value::Scalar { text, .. } => match &args {
                        Some(a) => {
                            let label = lbl("args", a);
                            if let Some(list) = self.string_list(a.value, &label, true) {
                                task.command = CommandSpec::Exec {
                                    program: text.clone(),
                                    args: list.into_iter().map(|(s, _)| s).collect(),
                                };
                            }
                        }
                        None => task.command = CommandSpec::Shell(text.clone()),
                    },
                    Value::Map(_) => {
                        self.type_err(f.value, &label, "a string or a list", empty_hint)
                    }
                }
            }
        }

        if let Some(f) = pick("cwd") {
            if let Some(p) = self.path(f.value, &lbl("cwd", &f)) {
                task.cwd = p;
            }
        }

        // env: defaults.env then the task's env, merged per variable.
        let default_env = defaults.iter().find(|e| e.key == "env");
        let own_env = own.iter().find(|e| e.key == "env");
        for e in [default_env, own_env].into_iter().flatten() {
            let at = if own_env.is_some_and(|o| std::ptr::eq(o, e)) {
                format!("`env` {at_task}")
            } else {
                "`env` in `defaults`".to_string()
            };
            let layer = self.env_layer(&e.value, &at);
            self.interpolate_into(&mut task.env, &layer, env_files, &at);
        }

        let mut ports = Vec::new();
        if let Some(f) = pick("ports") {
            let label = lbl("ports", &f);
            let items: Vec<Node> = match &f.value.value {
                Value::Seq(items) => items.clone(),
                Value::Scalar { .. } if f.value.kind() == Kind::Int => vec![f.value.clone()],
                _ => {
                    self.type_err(
                        f.value,
                        &label,
                        "a list of port numbers",
                        "write `ports: [3000]`",
                    );
                    Vec::new()
                }
            };
            for it in &items {
                if let Some(p) = self.port(it, &label) {
                    if let Some((_, first)) = ports.iter().find(|(q, _)| *q == p) {
                        let first: &Pos = first;
                        self.err(
                            it.pos,
                            format!("port {p} is listed twice {}", f.at),
                            format!("remove the duplicate (first on line {})", first.line),
                        );
                    } else {
                        ports.push((p, it.pos));
                    }
                }
            }
            task.ports = ports.iter().map(|(p, _)| *p).collect();
        }

        if let Some(f) = pick("health") {
            task.health = self.health(f.value, f.key_pos, &f.at);
        }
        if let Some(f) = pick("restart") {
            task.restart = self
                .restart(f.value, &lbl("restart", &f))
                .unwrap_or_default();
        }
        if let Some(f) = pick("max_restarts") {
            task.max_restarts = self
                .uint(f.value, &lbl("max_restarts", &f), 0, u64::from(u32::MAX))
                .map_or(5, |n| n as u32);
        }
        for (key, slot, positive) in [
            ("restart_window", &mut task.restart_window, true),
            ("backoff", &mut task.backoff, false),
            ("stop_timeout", &mut task.stop_timeout, false),
            ("checkpoint_timeout", &mut task.checkpoint_timeout, true),
        ] {
            if let Some(f) = pick(key) {
                if let Some(d) = self.duration(f.value, &lbl(key, &f), positive) {
                    *slot = d;
                }
            }
        }
        let mut deps = Vec::new();
        if let Some(f) = pick("depends_on") {
            deps = self.depends_on(f.value, &lbl("depends_on", &f));
        }
        if let Some(f) = pick("stop_signal") {
            if let Some(sig) = self.signal(f.value, &lbl("stop_signal", &f)) {
                task.stop_signal = sig;
            }
        }
        if let Some(f) = pick("log_max_kb") {
            task.log_max_kb = self
                .uint(f.value, &lbl("log_max_kb", &f), 1, u64::MAX >> 11)
                .unwrap_or(1024);
        }
        if let Some(f) = pick("log_keep") {
            task.log_keep = self
                .uint(f.value, &lbl("log_keep", &f), 0, 1000)
                .map_or(3, |n| n as u32);
        }
        if let Some(f) = pick("errors") {
            task.errors = self.regex_list(f.value, &lbl("errors", &f));
        }
        if let Some(f) = pick("warnings") {
            task.warnings = self.regex_list(f.value, &lbl("warnings", &f));
        }
        if let Some(f) = pick("watch") {
            task.watch = self
                .glob_list(f.value, &lbl("watch", &f))
                .unwrap_or_default();
        }
        if let Some(f) = pick("destructive") {
            task.destructive = self
                .boolean(f.value, &lbl("destructive", &f))
                .unwrap_or(false);
        }
        if let Some(f) = pick("checkpoint") {
            task.checkpoint = self.nonempty_string(f.value, &lbl("checkpoint", &f));
        }
        if let Some(f) = pick("autostart") {
            task.autostart = self.boolean(f.value, &lbl("autostart", &f)).unwrap_or(true);
        }

        Some(Draft { task, deps, ports })
    }

    fn port(&mut self, n: &Node, field: &str) -> Option<u16> {
        match n.as_int() {
            Some(p) if (1..=65535).contains(&p) => Some(p as u16),
            Some(p) => {
                self.err(
                    n.pos,
                    format!("port {p} in {field} is outside 1–65535"),
                    "ports are numbers from 1 to 65535",
                );
                None
            }
            None if n
                .scalar_text()
                .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                && n.kind() != Kind::Str =>
            {
                let t = n.scalar_text().unwrap_or_default().to_string();
                self.err(
                    n.pos,
                    format!("port {t} in {field} is outside 1–65535"),
                    "ports are numbers from 1 to 65535",
                );
                None
            }
            None => {
                let hint = if n
                    .scalar_text()
                    .is_some_and(|t| t.trim().parse::<i64>().is_ok())
                {
                    "write the port as a number, without quotes"
                } else {
                    "ports are numbers from 1 to 65535"
                };
                self.type_err(n, &format!("each port in {field}"), "a number", hint);
                None
            }
        }
    }

    fn restart(&mut self, n: &Node, field: &str) -> Option<RestartPolicy> {
        let policies = fields::RESTART_POLICIES;
        match n.scalar_text() {
            Some("never" | "no") => Some(RestartPolicy::Never),
            Some("on-failure") => Some(RestartPolicy::OnFailure),
            Some("always") => Some(RestartPolicy::Always),
            Some(other) => {
                let hint = match did_you_mean(&other.replace('_', "-"), policies) {
                    Some(p) => format!("did you mean `{p}`?"),
                    None => "use `never`, `on-failure` or `always`".into(),
                };
                self.err(n.pos, format!("invalid {field}: `{other}`"), hint);
                None
            }
            None => {
                self.type_err(
                    n,
                    field,
                    "`never`, `on-failure` or `always`",
                    "use `never`, `on-failure` or `always`",
                );
                None
            }
        }
    }

    fn signal(&mut self, n: &Node, field: &str) -> Option<i32> {
        let hint = "use a signal name like `SIGTERM`, `SIGINT`, `SIGQUIT` or `SIGHUP`";
        if let Some(num) = n.as_int() {
            return match i32::try_from(num)
                .ok()
                .and_then(|i| Signal::try_from(i).ok())
            {
                Some(s) => Some(s as i32),
                None => {
                    self.err(
                        n.pos,
                        format!("invalid {field}: no signal number {num}"),
                        hint,
                    );
                    None
                }
            };
        }
        let Some(text) = n.scalar_text() else {
            self.type_err(n, field, "a signal name", hint);
            return None;
        };
        match parse_signal(text) {
            Some(s) => Some(s as i32),
            None => {
                let names: Vec<&str> = Signal::iterator().map(Signal::as_str).collect();
                let upper = text.trim().to_ascii_uppercase();
                let guess = if upper.starts_with("SIG") {
                    upper
                } else {
                    format!("SIG{upper}")
                };
                let hint = match did_you_mean(&guess, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => hint.to_string(),
                };
                self.err(
                    n.pos,
                    format!("invalid {field}: unknown signal `{text}`"),
                    hint,
                );
                None
            }
        }
    }

    fn health(&mut self, n: &Node, key_pos: Pos, at: &str) -> Option<Health> {
        let field = format!("`health` {at}");
        if n.as_map().is_none() {
            self.type_err(
                n,
                &field,
                "a map with one probe (`http`, `tcp`, `cmd` or `log`)",
                "e.g. `health: {http: http://127.0.0.1:4000/healthz}`",
            );
            return None;
        }
        let before = self.diags.len();
        let entries = self.entries(n, HEALTH_KEYS, &format!("in {field}"), false);
        let probes: Vec<&Entry> = entries
            .iter()
            .filter(|e| PROBE_KINDS.contains(&e.key.as_str()))
            .collect();
        let mut h = Health {
            probe: Probe::Cmd(String::new()),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::from_secs(60),
        };
        match probes.as_slice() {
            [] => self.err(
                key_pos,
                format!("{field} has no probe"),
                "add one of `http: <url>`, `tcp: <port>`, `cmd: <command>`, `log: <regex>`",
            ),
            [p] => {
                let pf = format!("`health.{}` {at}", p.key);
                let v = &p.value;
                let probe = match p.key.as_str() {
                    "http" => self.nonempty_string(v, &pf).and_then(|u| {
                        if u.starts_with("http://") || u.starts_with("https://") {
                            Some(Probe::Http(u))
                        } else {
                            self.err(
                                v.pos,
                                format!("{pf} is not an http(s) URL: `{u}`"),
                                "write a full URL, e.g. `http://127.0.0.1:4000/healthz`",
                            );
                            None
                        }
                    }),
                    "tcp" => self.tcp_target(v, &pf),
                    "cmd" => self.nonempty_string(v, &pf).map(Probe::Cmd),
                    _ => self
                        .nonempty_string(v, &pf)
                        .filter(|re| self.regex_ok(re, v.pos, &pf))
                        .map(Probe::Log),
                };
                if let Some(p) = probe {
                    h.probe = p;
                }
            }
            [first, rest @ ..] => {
                let names: Vec<String> = probes.iter().map(|p| format!("`{}`", p.key)).collect();
                self.err(
                    rest[0].key_pos,
                    format!("{field} has several probes ({})", names.join(", ")),
                    format!(
                        "a task has one probe: keep `{}` or another one, not several",
                        first.key
                    ),
                );
            }
        }
        for e in &entries {
            let f = format!("`health.{}` {at}", e.key);
            match e.key.as_str() {
                "interval" => h.interval = self.duration(&e.value, &f, true).unwrap_or(h.interval),
                "timeout" => h.timeout = self.duration(&e.value, &f, true).unwrap_or(h.timeout),
                "start_period" => {
                    h.start_period = self.duration(&e.value, &f, false).unwrap_or(h.start_period)
                }
                "retries" => {
                    h.retries = self
                        .uint(&e.value, &f, 1, 1_000_000)
                        .map_or(3, |n| n as u32)
                }
                _ => {}
            }
        }
        (self.diags.len() == before).then_some(h)
    }

    fn tcp_target(&mut self, n: &Node, field: &str) -> Option<Probe> {
        if n.as_int().is_some() {
            return self
                .port(n, field)
                .map(|port| Probe::Tcp { host: None, port });
        }
        let text = self.nonempty_string(n, field)?;
        let hint = "write a port (`tcp: 4000`) or `host:port` (`tcp: \"localhost:5432\"`)";
        if let Ok(p) = text.trim().parse::<i64>() {
            return match u16::try_from(p) {
                Ok(port) if port > 0 => Some(Probe::Tcp { host: None, port }),
                _ => {
                    self.err(
                        n.pos,
                        format!("port {p} in {field} is outside 1–65535"),
                        hint,
                    );
                    None
                }
            };
        }
        let parsed = text.rsplit_once(':').and_then(|(h, p)| {
            let host = h.trim_start_matches('[').trim_end_matches(']');
            let port = p.parse::<u16>().ok().filter(|p| *p > 0)?;
            (!host.is_empty()).then(|| Probe::Tcp {
                host: Some(host.to_string()),
                port,
            })
        });
        if parsed.is_none() {
            self.err(n.pos, format!("invalid {field}: `{text}`"), hint);
        }
        parsed
    }

    fn depends_on(&mut self, n: &Node, field: &str) -> Vec<(String, Option<Condition>, Pos)> {
        let mut out = Vec::new();
        match &n.value {
            Value::Seq(items) => {
                for it in items {
                    match it.scalar_text() {
                        Some(t) => out.push((t.to_string(), None, it.pos)),
                        None => self.type_err(
                            it,
                            &format!("each item of {field}"),
                            "a task name",
                            "list task names: `depends_on: [db, api]`",
                        ),
                    }
                }
            }
            Value::Map(map) => {
                for (k, v) in map {
                    let Some(t) = k.scalar_text() else {
                        self.type_err(
                            k,
                            &format!("a key of {field}"),
                            "a task name",
                            "write `depends_on: {db: healthy}`",
                        );
                        continue;
                    };
                    // `db: healthy`, or compose's long form `db: {condition: service_healthy}`.
                    let cond_node = match v.as_map() {
                        Some(m) => {
                            let at = format!("in `depends_on.{t}`");
                            let entries = self.entries(v, DEPENDENCY_KEYS, &at, false);
                            match entries.into_iter().next() {
                                Some(e) => Some(e.value),
                                None => {
                                    if !m.is_empty() {
                                        continue;
                                    }
                                    None
                                }
                            }
                        }
                        None => Some(v.clone()),
                    };
                    let cond = match cond_node {
                        Some(c) if !c.is_null() => match self.condition(&c, field) {
                            Some(c) => Some(c),
                            None => continue,
                        },
                        _ => None,
                    };
                    out.push((t.to_string(), cond, k.pos));
                }
            }
            Value::Scalar { .. } if !n.is_null() => {
                if let Some(t) = n.scalar_text() {
                    out.push((t.to_string(), None, n.pos));
                }
            }
            _ if n.is_null() => {}
            _ => self.type_err(
                n,
                field,
                "a list of task names or a map of task: condition",
                "write `depends_on: [db]` or `depends_on: {db: healthy}`",
            ),
        }
        out
    }

    fn condition(&mut self, n: &Node, field: &str) -> Option<Condition> {
        let conds = fields::CONDITIONS;
        match n.scalar_text() {
            Some("started" | "service_started") => Some(Condition::Started),
            Some("healthy" | "service_healthy") => Some(Condition::Healthy),
            Some("completed" | "completed_successfully" | "service_completed_successfully") => {
                Some(Condition::Completed)
            }
            Some(other) => {
                let hint = match did_you_mean(other, conds) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "use `started`, `healthy` or `completed`".into(),
                };
                self.err(
                    n.pos,
                    format!("invalid condition `{other}` in {field}"),
                    hint,
                );
                None
            }
            None => {
                self.type_err(
                    n,
                    &format!("a condition in {field}"),
                    "`started`, `healthy` or `completed`",
                    "write `depends_on: {db: healthy}`",
                );
                None
            }
        }
    }

    /// Rules across tasks: unique ports, known dependency targets, no cycles.
    fn cross_checks(&mut self, drafts: &mut [Draft]) {
        let mut seen: Vec<(u16, &str, Pos)> = Vec::new();
        let mut port_errs = Vec::new();
        for d in drafts.iter() {
            for &(p, pos) in &d.ports {
                match seen.iter().find(|(q, _, _)| *q == p) {
                    Some((_, other, first)) => port_errs.push(Diagnostic::at(pos, format!("port {p} is declared by tasks `{other}` and `{}`", d.task.name)).hint(format!(
                        "a port belongs to one task: change one of them (task `{other}` declares it on line {})",
                        first.line
                    ))),
                    None => seen.push((p, &d.task.name, pos)),
                }
            }
        }
        self.diags.extend(port_errs);

        let names: Vec<String> = drafts.iter().map(|d| d.task.name.clone()).collect();
        let has_probe: Vec<bool> = drafts.iter().map(|d| d.task.health.is_some()).collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
        let mut edge_pos: BTreeMap<(usize, usize), Pos> = BTreeMap::new();
        for (i, d) in drafts.iter_mut().enumerate() {
            for (target, cond, pos) in std::mem::take(&mut d.deps) {
                let Some(j) = names.iter().position(|n| *n == target) else {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let hint = match did_you_mean(&target, &refs) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("defined tasks: {}", refs.join(", ")),
                    };
                    self.err(
                        pos,
                        format!("task `{}` depends on unknown task `{target}`", d.task.name),
                        hint,
                    );
                    continue;
                };
                if d.task.depends_on.iter().any(|x| x.task == target) {
                    continue;
                }
                let condition = cond.unwrap_or(if has_probe[j] {
                    Condition::Healthy
                } else {
                    Condition::Started
                });
                d.task.depends_on.push(Dependency {
                    task: target,
                    condition,
                });
                edges[i].push(j);
                edge_pos.entry((i, j)).or_insert(pos);
            }
        }
        for cycle in find_cycles(&edges) {
            let mut path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            path.push(&names[cycle[0]]);
            let next = cycle.get(1).copied().unwrap_or(cycle[0]);
            let pos = edge_pos.get(&(cycle[0], next)).copied().unwrap_or_default();
            self.err(
                pos,
                format!("dependency cycle: {}", path.join(" -> ")),
                "remove one of these `depends_on` entries so the tasks can start in order",
            );
        }
    }
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]*`
pub fn valid_task_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `SIGINT`, `INT`, `sigint`, `SigInt` → SIGINT.
pub fn parse_signal(text: &str) -> Option<Signal> {
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

/// Lexical normalisation (`a/./b/../c` → `a/c`) so paths in messages read well; does not
/// touch the file system (the directory may not exist yet: pre-flight reports that).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [
            ("HOME", "/home/me"),
            ("CALLER", "c"),
            ("NODE_ENV", "production"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn load(src: &str) -> Result<Manifest, Vec<Diagnostic>> {
        validate(src, Path::new("/p/shop/bts.yaml"), &env())
    }

    fn errs(src: &str) -> Vec<Diagnostic> {
        load(src).expect_err("should be invalid")
    }

    #[test]
    fn minimal_manifest_gets_documented_defaults() {
        let m = load("tasks:\n  api: {cmd: cargo run}\n").unwrap();
        assert_eq!(m.project, "shop");
        assert_eq!(m.settings.state_dir, Path::new("/p/shop/.bts"));
        assert_eq!(m.settings.digest_interval, Duration::from_secs(300));
        let t = &m.tasks[0];
        assert_eq!(t.command, CommandSpec::Shell("cargo run".into()));
        assert_eq!(t.cwd, Path::new("/p/shop"));
        assert_eq!((t.max_restarts, t.log_max_kb, t.log_keep), (5, 1024, 3));
        assert_eq!(t.stop_signal, libc::SIGTERM);
        assert_eq!(t.stop_timeout, Duration::from_secs(10));
        assert_eq!(t.checkpoint_timeout, Duration::from_secs(300));
        assert!(t.autostart && !t.destructive);
        assert_eq!(t.line, 2);
    }

    #[test]
    fn exec_forms_and_shorthand() {
        let m = load(
            "tasks:\n  a: {cmd: pnpm, args: [dev, 3000]}\n  b: {cmd: [node, x.js]}\n  c: echo hi\n",
        )
        .unwrap();
        assert_eq!(
            m.tasks[0].command,
            CommandSpec::Exec {
                program: "pnpm".into(),
                args: vec!["dev".into(), "3000".into()]
            }
        );
        assert_eq!(
            m.tasks[1].command,
            CommandSpec::Exec {
                program: "node".into(),
                args: vec!["x.js".into()]
            }
        );
        assert_eq!(m.tasks[2].command, CommandSpec::Shell("echo hi".into()));
    }

    #[test]
    fn defaults_merge_per_key_and_task_wins() {
        let m = load(
            "defaults:\n  restart: on-failure\n  backoff: 2s\n  env: {A: d, B: d}\ntasks:\n  a:\n    cmd: x\n    backoff: 3s\n    env: {B: t}\n",
        )
        .unwrap();
        let t = &m.tasks[0];
        assert_eq!(t.restart, RestartPolicy::OnFailure);
        assert_eq!(t.backoff, Duration::from_secs(3));
        assert_eq!(t.env["A"], "d");
        assert_eq!(t.env["B"], "t");
    }

    #[test]
    fn env_layers_and_interpolation() {
        let m = load(
            "env:\n  NODE_ENV: development\n  URL: http://${HOST:-localhost}\ntasks:\n  a:\n    cmd: x\n    env:\n      MODE: ${NODE_ENV}\n      WHO: $CALLER\n      U: ${URL}/x\n      P: 3000\n      D: $$HOME\n",
        )
        .unwrap();
        let env = &m.tasks[0].env;
        assert_eq!(env["NODE_ENV"], "development");
        assert_eq!(
            env["MODE"], "development",
            "task env sees the manifest env over the caller's"
        );
        assert_eq!(env["WHO"], "c");
        assert_eq!(env["U"], "http://localhost/x");
        assert_eq!(env["P"], "3000");
        assert_eq!(env["D"], "$HOME");
    }

    #[test]
    fn depends_on_conditions() {
        let m = load(
            "tasks:\n  db: {cmd: x, health: {tcp: 5432}}\n  q: {cmd: x}\n  api: {cmd: x, depends_on: [db, q]}\n  web: {cmd: x, depends_on: {api: completed, db: {condition: service_started}}}\n",
        )
        .unwrap();
        let api = m.task("api").unwrap();
        assert_eq!(api.depends_on[0].condition, Condition::Healthy);
        assert_eq!(api.depends_on[1].condition, Condition::Started);
        let web = m.task("web").unwrap();
        assert_eq!(web.depends_on[0].condition, Condition::Completed);
        assert_eq!(web.depends_on[1].condition, Condition::Started);
    }

    #[test]
    fn signals_accept_several_spellings() {
        for s in ["SIGINT", "INT", "sigint", "SigInt"] {
            assert_eq!(parse_signal(s), Some(Signal::SIGINT), "{s}");
        }
        assert_eq!(parse_signal("SIGNOPE"), None);
    }

    #[test]
    fn task_names() {
        assert!(valid_task_name("web-dev"));
        assert!(valid_task_name("1.a_b"));
        assert!(!valid_task_name("-x"));
        assert!(!valid_task_name("a b"));
        assert!(!valid_task_name(""));
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let d = errs("tasks:\n  a:\n    cmdd: x\n  b:\n    cmd: y\n    backoff: 5 parsecs\n    depends_on: [c]\n  c: {cmd: z, depends_on: [b]}\n");
        let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(d.len(), 4, "{msgs:#?}");
        assert!(msgs[0].contains("has no `cmd`"));
        assert!(msgs[1].contains("unknown key `cmdd`"));
        assert_eq!(d[1].hint.as_deref(), Some("did you mean `cmd`?"));
        assert!(msgs[2].contains("invalid duration `5 parsecs`"));
        assert!(
            msgs[3].contains("dependency cycle: b -> c -> b"),
            "{msgs:?}"
        );
    }

    #[test]
    fn a_bad_default_is_reported_once() {
        let d = errs("defaults:\n  backoff: soon\ntasks:\n  a: {cmd: x}\n  b: {cmd: y}\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].pos, Some(Pos { line: 2, col: 12 }));
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        for src in [
            "",
            "[]",
            "- a",
            "tasks:",
            "tasks: null",
            "tasks: [a, b]",
            "tasks: {a: }",
            "tasks: {a: [x]}",
            "tasks: {1: {cmd: x}, 2.5: {cmd: y}}",
            "tasks: {? [x] : {cmd: y}}",
            "tasks: {a: {cmd: {x: 1}}}",
            "tasks: {a: {cmd: []}}",
            "tasks: {a: {cmd: x, health: {}}}",
            "tasks: {a: {cmd: x, health: [x]}}",
            "tasks: {a: {cmd: x, ports: [0, -1, 65536, 99999999999999999999, x]}}",
            "tasks: {a: {cmd: x, depends_on: {b: {condition: {}}}}}",
            "tasks: {a: {cmd: x, env: {A: [1]}}}",
            "settings: 3\ntasks: {a: x}",
            "settings: {secrets: [1]}\ntasks: {a: x}",
            "env_file: [1, [2]]\ntasks: {a: x}",
            "\t\ttasks:",
            "version: 2",
        ] {
            let _ = load(src);
        }
    }
}

#[cfg(test)]
mod env_file_tests {
    use super::*;

    #[test]
    fn env_files_lose_to_the_caller_and_feed_interpolation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "FROM_FILE=file\nCALLER=file\nSHARED=one\n",
        )
        .unwrap();
        std::fs::write(dir.path().join(".env.local"), "SHARED=two\n").unwrap();
        let calling: BTreeMap<String, String> =
            [("CALLER".to_string(), "caller".to_string())].into();
        let src = "env_file: [.env, .env.local]\nenv:\n  A: ${FROM_FILE}-${CALLER}-${SHARED}\ntasks:\n  t: {cmd: x, cwd: sub/../svc}\n";
        let m = validate(src, &dir.path().join("bts.yaml"), &calling).unwrap();
        let t = &m.tasks[0];
        assert_eq!(t.env["A"], "file-caller-two");
        assert_eq!(t.env["FROM_FILE"], "file");
        assert!(
            !t.env.contains_key("CALLER"),
            "the calling environment wins over env files"
        );
        assert_eq!(t.cwd, dir.path().join("svc"));
    }
}
