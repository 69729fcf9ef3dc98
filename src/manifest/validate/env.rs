//! The environment a task gets: `env_file` files, `env` maps (the top-level one, the one
//! in `defaults` and the task's own), and `${NAME}` interpolation, with a caret under the
//! variable that cannot be resolved.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::V;
use crate::manifest::diag::Diagnostic;
use crate::manifest::interp::{interpolate, InterpError};
use crate::manifest::node::{Node, Pos, Value};

impl V<'_> {
    /// `env_file`: a path or a list of them; later files win. Also returns the files'
    /// absolute paths, in order.
    pub(super) fn env_files(&mut self, n: &Node) -> (BTreeMap<String, String>, Vec<PathBuf>) {
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
    pub(super) fn env_layer(&mut self, n: &Node, field: &str) -> Vec<(String, String, Pos)> {
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
    pub(super) fn interpolate_into(
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
                (Pos { col, ..pos }, Some(rest[i..i + len].chars().count()))
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
}
