//! Converting one node into a typed value, reporting a [`Diagnostic`] when it does not
//! fit: the keys of a map, strings, booleans, whole numbers, durations, lists of strings,
//! regexes, globs, paths (resolved against the manifest's directory) and ports.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::{Entry, V};
use crate::manifest::diag::{did_you_mean, Diagnostic};
use crate::manifest::node::{Kind, Node, Pos, Value};

pub(super) fn found(n: &Node) -> &'static str {
    n.kind().describe()
}

impl V<'_> {
    pub(super) fn err(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::at(pos, message).hint(hint));
    }

    pub(super) fn type_err(&mut self, n: &Node, field: &str, expected: &str, hint: &str) {
        self.err(
            n.pos,
            format!("{field} must be {expected}, found {}", found(n)),
            hint,
        );
    }

    /// The entries of a map node, reporting unknown and non-string keys.
    pub(super) fn entries(
        &mut self,
        n: &Node,
        allowed: &[&str],
        at: &str,
        allow_x: bool,
    ) -> Vec<Entry> {
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

    pub(super) fn string(&mut self, n: &Node, field: &str) -> Option<String> {
        match n.scalar_text() {
            Some(s) => Some(s.to_string()),
            None => {
                self.type_err(n, field, "a string", "write a single value after the `:`");
                None
            }
        }
    }

    pub(super) fn nonempty_string(&mut self, n: &Node, field: &str) -> Option<String> {
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

    pub(super) fn boolean(&mut self, n: &Node, field: &str) -> Option<bool> {
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

    pub(super) fn uint(&mut self, n: &Node, field: &str, min: u64, max: u64) -> Option<u64> {
        // Every bound the field table uses fits an i64 (the largest is 2^53 - 1).
        let bound = |b: u64| i64::try_from(b).unwrap_or(i64::MAX);
        self.int(n, field, bound(min), bound(max)).map(|i| i as u64)
    }

    pub(super) fn int(&mut self, n: &Node, field: &str, min: i64, max: i64) -> Option<i64> {
        match n.as_int() {
            Some(i) if (min..=max).contains(&i) => Some(i),
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

    /// A size with a unit, at least `min` bytes and at most `max` (`max_what` says what
    /// the upper bound is, for the message).
    pub(super) fn size(
        &mut self,
        n: &Node,
        field: &str,
        min: u64,
        max: (u64, &str),
    ) -> Option<u64> {
        const HINT: &str = "use a size like `512MB`, `1.5GB` or `300M` (units are powers of 1024)";
        let text = match (n.as_int(), n.scalar_text()) {
            (Some(i), _) => i.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => {
                self.type_err(n, field, "a size", HINT);
                return None;
            }
        };
        let bytes = match crate::manifest::size::parse_size(&text) {
            Ok(b) => b,
            Err(why) => {
                self.err(n.pos, format!("invalid size for {field}: {why}"), HINT);
                return None;
            }
        };
        use crate::manifest::size::size_text;
        if bytes < min {
            self.err(
                n.pos,
                format!(
                    "{field} is {}, less than {}",
                    size_text(bytes),
                    size_text(min)
                ),
                HINT,
            );
            return None;
        }
        if bytes > max.0 {
            self.err(
                n.pos,
                format!(
                    "{field} is {}, more than {} ({})",
                    size_text(bytes),
                    size_text(max.0),
                    max.1
                ),
                "lower it",
            );
            return None;
        }
        Some(bytes)
    }

    /// A share of one core in percent: `150%` (or `150`), from 1 to `max`.
    pub(super) fn percent(&mut self, n: &Node, field: &str, max: (u32, &str)) -> Option<u32> {
        const HINT: &str = "write a percentage of one core, like `50%` or `150%`";
        let text = match (n.as_int(), n.scalar_text()) {
            (Some(i), _) => i.to_string(),
            (None, Some(t)) => t.trim().trim_end_matches('%').trim().to_string(),
            (None, None) => {
                self.type_err(n, field, "a percentage", HINT);
                return None;
            }
        };
        let Ok(p) = text.parse::<u64>() else {
            self.err(
                n.pos,
                format!("invalid percentage for {field}: `{text}`"),
                HINT,
            );
            return None;
        };
        if p == 0 || p > u64::from(max.0) {
            self.err(
                n.pos,
                format!("{field} is {p}%, outside 1%–{}% ({})", max.0, max.1),
                HINT,
            );
            return None;
        }
        Some(p as u32)
    }

    pub(super) fn duration(&mut self, n: &Node, field: &str, positive: bool) -> Option<Duration> {
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
    pub(super) fn string_list(
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

    pub(super) fn regex_ok(&mut self, re: &str, pos: Pos, field: &str) -> bool {
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

    pub(super) fn regex_list(&mut self, n: &Node, field: &str) -> Option<Vec<String>> {
        let items = self.string_list(n, field, true)?;
        let mut ok = true;
        for (re, pos) in &items {
            ok &= self.regex_ok(re, *pos, field);
        }
        ok.then(|| items.into_iter().map(|(s, _)| s).collect())
    }

    pub(super) fn glob_list(&mut self, n: &Node, field: &str) -> Option<Vec<String>> {
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
    pub(super) fn path(&mut self, n: &Node, field: &str) -> Option<PathBuf> {
        let s = self.nonempty_string(n, field)?;
        Some(self.resolve(&s))
    }

    pub(super) fn resolve(&self, s: &str) -> PathBuf {
        let p = match (s.strip_prefix("~/"), self.calling.get("HOME")) {
            (Some(rest), Some(home)) => Path::new(home).join(rest),
            _ => self.dir.join(s),
        };
        normalize(&p)
    }

    pub(super) fn port(&mut self, n: &Node, field: &str) -> Option<u16> {
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
}

/// Lexical normalisation (`a/./b/../c` → `a/c`) so paths in messages read well; does not
/// touch the file system (the directory may not exist yet: pre-flight reports that).
pub(super) fn normalize(p: &Path) -> PathBuf {
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
