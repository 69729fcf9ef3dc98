//! Manifest diagnostics and their rendering (rustc/just style: message, `--> file:line:col`,
//! the offending source line with a caret under the culprit, and a hint), the error type
//! the loader returns, and the "did you mean" suggestion.

use std::fmt;
use std::path::{Path, PathBuf};

use super::node::Pos;

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    /// Where in the file; `None` for problems of the file as a whole.
    pub pos: Option<Pos>,
    pub hint: Option<String>,
    /// How many characters the caret covers; `None` = the token at `pos`.
    pub len: Option<usize>,
}

impl Diagnostic {
    /// A problem of the file as a whole (no location).
    pub fn whole(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            pos: None,
            hint: Some(hint.into()),
            len: None,
        }
    }

    pub fn at(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            pos: Some(pos),
            hint: None,
            len: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug)]
pub enum ManifestError {
    /// No `-f`, no `$BTS_FILE`, no bts.yaml/bts.yml here or in a parent, and no
    /// Procfile here (discovery falls back to one before giving up).
    NotFound { searched_from: PathBuf },
    /// The file (named by `-f` or `$BTS_FILE`, or found) could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read and has problems; every one of them is listed.
    Invalid(Box<Invalid>),
}

#[derive(Debug)]
pub struct Invalid {
    /// The path as the user gave it (or relative to the cwd when discovered).
    pub shown_path: String,
    pub source_text: String,
    /// Sorted by position, deduplicated.
    pub diagnostics: Vec<Diagnostic>,
    /// The files it includes, in the order their positions number them (`Pos::file`
    /// `n` is `includes[n - 1]`).
    pub includes: Vec<Source>,
}

/// A file of a manifest other than the manifest itself, for rendering diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub shown_path: String,
    pub text: String,
}

impl Invalid {
    /// The shown path and text of the file a diagnostic is in.
    pub fn file_of(&self, d: &Diagnostic) -> (&str, &str) {
        match d.pos.map_or(0, |p| p.file) {
            0 => (&self.shown_path, &self.source_text),
            n => self
                .includes
                .get(usize::from(n) - 1)
                .map_or((&self.shown_path, &self.source_text), |s| {
                    (&s.shown_path, &s.text)
                }),
        }
    }
}

impl ManifestError {
    /// A one-line summary, for contexts that cannot show the full rendering.
    pub fn summary(&self) -> String {
        match self {
            ManifestError::NotFound { searched_from } => {
                format!(
                    "no bts.yaml found in {} or any parent directory (and no Procfile there)",
                    searched_from.display()
                )
            }
            ManifestError::Read { path, source } => {
                format!("cannot read {}: {source}", path.display())
            }
            ManifestError::Invalid(inv) => match inv.diagnostics.len() {
                1 => format!(
                    "{}: {}",
                    inv.file_of(&inv.diagnostics[0]).0,
                    inv.diagnostics[0].message
                ),
                n => format!("{} has {n} problems", inv.shown_path),
            },
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::NotFound { .. } => {
                writeln!(f, "error: {}", self.summary())?;
                writeln!(
                    f,
                    "  = hint: create a bts.yaml (`bts init` writes a starter one), or point to one with `-f PATH` or `BTS_FILE=PATH`"
                )
            }
            ManifestError::Read { source, .. } => {
                writeln!(f, "error: {}", self.summary())?;
                let hint = match source.kind() {
                    std::io::ErrorKind::NotFound => "check the path given to `-f` or in `BTS_FILE`",
                    std::io::ErrorKind::PermissionDenied => "check the file's permissions",
                    _ => "the manifest must be a readable UTF-8 text file",
                };
                writeln!(f, "  = hint: {hint}")
            }
            ManifestError::Invalid(inv) => {
                for d in &inv.diagnostics {
                    let (shown, text) = inv.file_of(d);
                    render_one(f, "error", shown, text, d)?;
                }
                if inv.diagnostics.len() > 1 {
                    writeln!(
                        f,
                        "error: {} has {} problems",
                        inv.shown_path,
                        inv.diagnostics.len()
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ManifestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ManifestError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Render one diagnostic with its source line and caret.
pub fn render_one(
    f: &mut dyn fmt::Write,
    severity: &str,
    shown_path: &str,
    src: &str,
    d: &Diagnostic,
) -> fmt::Result {
    writeln!(f, "{severity}: {}", d.message)?;
    match d.pos {
        Some(pos) => {
            writeln!(f, "  --> {shown_path}:{}:{}", pos.line, pos.col)?;
            if let Some(line) = src.lines().nth(pos.line.saturating_sub(1)) {
                let num = pos.line.to_string();
                let pad = " ".repeat(num.len());
                let (shown, caret_at, token_len) = caret_for(line, pos.col);
                let caret_len = d.len.unwrap_or(token_len).max(1);
                writeln!(f, " {pad} |")?;
                writeln!(f, " {num} | {shown}")?;
                writeln!(
                    f,
                    " {pad} | {}{}",
                    " ".repeat(caret_at),
                    "^".repeat(caret_len)
                )?;
            }
            if let Some(h) = &d.hint {
                let pad = " ".repeat(pos.line.to_string().len());
                writeln!(f, " {pad} = hint: {h}")?;
            }
        }
        None => {
            writeln!(f, "  --> {shown_path}")?;
            if let Some(h) = &d.hint {
                writeln!(f, "  = hint: {h}")?;
            }
        }
    }
    Ok(())
}

/// The line with tabs expanded, where the caret starts (in display columns) and how many
/// carets: the whole token at `col` (a quoted string, a bracketed flow collection, or a
/// word up to `:`/`,`/end of line).
fn caret_for(line: &str, col: usize) -> (String, usize, usize) {
    let chars: Vec<char> = line.chars().collect();
    let start = col.saturating_sub(1).min(chars.len());
    let width = |cs: &[char]| {
        cs.iter()
            .map(|&c| if c == '\t' { 4 } else { 1 })
            .sum::<usize>()
    };
    let shown: String = chars
        .iter()
        .map(|&c| {
            if c == '\t' {
                "    ".to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let caret_at = width(&chars[..start]);
    let rest = &chars[start..];
    let len = match rest.first() {
        None => 1,
        Some(&q @ ('"' | '\'')) => rest
            .iter()
            .skip(1)
            .position(|&c| c == q)
            .map_or(rest.len(), |p| p + 2),
        Some('[' | '{') => {
            let mut depth = 0usize;
            let mut end = rest.len();
            for (i, c) in rest.iter().enumerate() {
                match c {
                    '[' | '{' => depth += 1,
                    ']' | '}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            end
        }
        Some('-') if rest.get(1) == Some(&' ') => 1,
        Some(_) => {
            let mut end = rest.len();
            for (i, c) in rest.iter().enumerate() {
                let next_is_space = rest.get(i + 1).is_none_or(|n| n.is_whitespace());
                if (*c == ':' && next_is_space)
                    || *c == ','
                    || *c == ']'
                    || *c == '}'
                    || (*c == ' ' && rest.get(i + 1) == Some(&'#'))
                {
                    end = i;
                    break;
                }
            }
            let trimmed = rest[..end]
                .iter()
                .rposition(|c| !c.is_whitespace())
                .map_or(0, |p| p + 1);
            trimmed
        }
    };
    (shown, caret_at, len.max(1))
}

/// The closest candidate to `word` if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let max = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of two adjacent characters as one edit (optimal string
/// alignment), so `SIGTREM` is nearer `SIGTERM` than `SIGTRAP`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// How to show `path` in messages: as given when relative; relative to the cwd when it
/// is under the cwd (shorter); otherwise as is.
pub fn shown_path(path: &Path) -> String {
    if path.is_absolute() {
        if let Ok(cwd) = std::env::current_dir() {
            if let Ok(rel) = path.strip_prefix(&cwd) {
                if !rel.as_os_str().is_empty() {
                    return rel.display().to_string();
                }
            }
        }
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("cmd", "cmd"), 0);
        assert_eq!(edit_distance("cmdd", "cmd"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("sigtrem", "sigterm"), 1);
    }

    #[test]
    fn suggestions_only_for_close_words() {
        let keys = ["cmd", "cwd", "depends_on", "restart"];
        assert_eq!(did_you_mean("depend_on", &keys), Some("depends_on"));
        assert_eq!(did_you_mean("restrat", &keys), Some("restart"));
        assert_eq!(did_you_mean("RESTART", &keys), Some("restart"));
        assert_eq!(did_you_mean("banana", &keys), None);
    }

    #[test]
    fn renders_rustc_style() {
        let d = Diagnostic::at(Pos::at(2, 5), "unknown key `cmdd` in task `api`")
            .hint("did you mean `cmd`?");
        let mut out = String::new();
        render_one(
            &mut out,
            "error",
            "bts.yaml",
            "tasks:\n    cmdd: echo hi\n",
            &d,
        )
        .unwrap();
        assert_eq!(
            out,
            "error: unknown key `cmdd` in task `api`\n  --> bts.yaml:2:5\n   |\n 2 |     cmdd: echo hi\n   |     ^^^^\n   = hint: did you mean `cmd`?\n"
        );
    }

    #[test]
    fn carets_cover_the_token() {
        assert_eq!(caret_for("  a: \"x y\" # c", 6).2, 5);
        assert_eq!(caret_for("  ports: [1, [2]]", 10).2, 8);
        assert_eq!(caret_for("  backoff: 5 parsecs # c", 12).2, 9);
        assert_eq!(caret_for("", 9), (String::new(), 0, 1));
        assert_eq!(caret_for("\tx: 1", 2).1, 4);
    }
}
