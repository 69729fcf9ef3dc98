//! Which tasks a command means: task names and globs (`web`, `'worker-*'`) matched
//! against the tasks there are, and the dependencies `bts up` starts with them. One
//! implementation for the commands (`up`, `status`, `logs`, …) and the supervisor's
//! control requests, so a pattern means the same everywhere.

use std::collections::BTreeSet;
use std::path::Path;

use globset::Glob;

use crate::errors::{exit, AppError};
use crate::manifest::Manifest;

/// A pattern that names no task: no task has that name or matches that glob, or it is
/// not a valid glob (task names never contain glob syntax, so it names nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTask {
    pub pattern: String,
    /// The names it was matched against, in order.
    pub known: Vec<String>,
    /// Why the pattern is not a valid glob, when it is not.
    pub bad_glob: Option<String>,
}

impl UnknownTask {
    /// `known tasks: a, b` (none for a bad glob: the pattern's syntax is the problem).
    pub fn hint(&self) -> Option<String> {
        match self.bad_glob {
            Some(_) => None,
            None => Some(format!("known tasks: {}", self.known.join(", "))),
        }
    }

    /// The command-line error: `{context}: no task matches `x` in bts.yaml` (without
    /// `context: ` when it is empty), with the known tasks as hint; exit code 2.
    pub fn into_app_error(self, manifest: &Path, context: &str) -> AppError {
        if let Some(e) = &self.bad_glob {
            return AppError::new(format!("bad task pattern `{}`: {e}", self.pattern));
        }
        let context = if context.is_empty() {
            String::new()
        } else {
            format!("{context}: ")
        };
        let e = AppError::new(format!(
            "{context}no task matches `{}` in {}",
            self.pattern,
            manifest.display()
        ))
        .with_code(exit::USAGE);
        match self.hint() {
            Some(h) => e.with_hint(h),
            None => e,
        }
    }
}

impl std::fmt::Display for UnknownTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.bad_glob {
            Some(e) => write!(f, "bad task pattern `{}`: {e}", self.pattern),
            None => write!(f, "no task matches `{}`", self.pattern),
        }
    }
}

impl std::error::Error for UnknownTask {}

/// Indices into `names` of the tasks `patterns` name (exact names, the copies of a
/// replicated task by its name, or globs), in the order of `names` and each once; every index when `patterns` is empty. The first
/// pattern that names nothing is the error.
pub fn select<S: AsRef<str>>(names: &[S], patterns: &[String]) -> Result<Vec<usize>, UnknownTask> {
    if patterns.is_empty() {
        return Ok((0..names.len()).collect());
    }
    let mut hits = BTreeSet::new();
    for p in patterns {
        let glob = Glob::new(p).map(|g| g.compile_matcher());
        let mut matched = false;
        for (i, n) in names.iter().enumerate() {
            let n = n.as_ref();
            if n == p || is_copy_of(n, p) || glob.as_ref().is_ok_and(|g| g.is_match(n)) {
                hits.insert(i);
                matched = true;
            }
        }
        if !matched {
            return Err(UnknownTask {
                pattern: p.clone(),
                known: names.iter().map(|n| n.as_ref().to_string()).collect(),
                bad_glob: glob.err().map(|e| e.to_string()),
            });
        }
    }
    Ok(hits.into_iter().collect())
}

/// `web.2` is a copy of `web` (`replicas:`): a replicated task's name means all its
/// copies (docs/behaviour.md#replicas).
fn is_copy_of(name: &str, base: &str) -> bool {
    copy_base(name) == Some(base)
}

/// `web` for `web.2`: the name a copy of a replicated task is a copy of, going by its
/// name (`NAME.N`, N digits).
pub fn copy_base(name: &str) -> Option<&str> {
    let (base, index) = name.rsplit_once('.')?;
    (!index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

/// [`select`] returning the names.
pub fn select_names<S: AsRef<str>>(
    names: &[S],
    patterns: &[String],
) -> Result<Vec<String>, UnknownTask> {
    Ok(select(names, patterns)?
        .into_iter()
        .map(|i| names[i].as_ref().to_string())
        .collect())
}

/// The names of every task of `manifest`, in manifest order.
pub fn task_names(manifest: &Manifest) -> Vec<&str> {
    manifest.tasks.iter().map(|t| t.name.as_str()).collect()
}

/// `roots` and everything they depend on, directly or not; `deps(name)` lists a task's
/// direct dependencies (none for a name it does not know).
pub fn with_dependencies<I, F>(roots: I, deps: F) -> BTreeSet<String>
where
    I: IntoIterator<Item = String>,
    F: Fn(&str) -> Vec<String>,
{
    let mut todo: Vec<String> = roots.into_iter().collect();
    let mut out = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !out.contains(&name) {
            todo.extend(deps(&name));
            out.insert(name);
        }
    }
    out
}

/// [`with_dependencies`] following the `depends_on` of `manifest`'s tasks.
pub fn with_manifest_dependencies(
    manifest: &Manifest,
    roots: impl IntoIterator<Item = String>,
) -> BTreeSet<String> {
    with_dependencies(roots, |n| {
        manifest
            .task(n)
            .map(|t| t.depends_on.iter().map(|d| d.task.clone()).collect())
            .unwrap_or_default()
    })
}

/// The stack a `bts up` runs: the tasks `patterns` name, or every `autostart` task, plus
/// everything they depend on.
pub fn stack(manifest: &Manifest, patterns: &[String]) -> Result<BTreeSet<String>, UnknownTask> {
    let chosen: Vec<String> = if patterns.is_empty() {
        manifest
            .tasks
            .iter()
            .filter(|t| t.autostart)
            .map(|t| t.name.clone())
            .collect()
    } else {
        select_names(&task_names(manifest), patterns)?
    };
    Ok(with_manifest_dependencies(manifest, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 5] = ["web", "worker-a", "db", "worker-b", "w.x"];

    fn pats(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_pattern_is_every_task() {
        assert_eq!(select(&NAMES, &[]).unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn exact_names() {
        assert_eq!(select(&NAMES, &pats(&["db"])).unwrap(), vec![2]);
        // A dot is not a wildcard in a name that exists as written.
        assert_eq!(select_names(&NAMES, &pats(&["w.x"])).unwrap(), vec!["w.x"]);
    }

    #[test]
    fn a_replicated_tasks_name_means_its_copies() {
        let names = ["web.1", "web.2", "web.10", "webx.1", "web.a", "api"];
        assert_eq!(
            select_names(&names, &pats(&["web"])).unwrap(),
            vec!["web.1", "web.2", "web.10"]
        );
        assert_eq!(
            select_names(&names, &pats(&["web.2"])).unwrap(),
            vec!["web.2"]
        );
        assert!(select(&names, &pats(&["we"])).is_err());
    }

    #[test]
    fn globs() {
        assert_eq!(
            select_names(&NAMES, &pats(&["worker-*"])).unwrap(),
            vec!["worker-a", "worker-b"]
        );
        assert_eq!(select(&NAMES, &pats(&["w?b"])).unwrap(), vec![0]);
    }

    #[test]
    fn manifest_order_each_once() {
        assert_eq!(
            select_names(&NAMES, &pats(&["worker-b", "db", "w*", "db"])).unwrap(),
            vec!["web", "worker-a", "db", "worker-b", "w.x"]
        );
    }

    #[test]
    fn unknown_names_the_known_tasks() {
        let e = select(&NAMES, &pats(&["web", "nope"])).unwrap_err();
        assert_eq!(e.pattern, "nope");
        assert_eq!(e.known, NAMES.to_vec());
        assert_eq!(e.bad_glob, None);
        assert_eq!(e.to_string(), "no task matches `nope`");
        assert_eq!(
            e.hint().unwrap(),
            "known tasks: web, worker-a, db, worker-b, w.x"
        );
        let app = e.into_app_error(Path::new("/p/bts.yaml"), "up");
        assert_eq!(app.message, "up: no task matches `nope` in /p/bts.yaml");
        assert_eq!(app.code, exit::USAGE);
        let e = select(&NAMES, &pats(&["zz*"])).unwrap_err();
        let app = e.into_app_error(Path::new("bts.yaml"), "");
        assert_eq!(app.message, "no task matches `zz*` in bts.yaml");
    }

    #[test]
    fn bad_glob() {
        let e = select(&NAMES, &pats(&["web["])).unwrap_err();
        assert_eq!(e.pattern, "web[");
        assert!(e.bad_glob.is_some());
        assert!(
            e.to_string().starts_with("bad task pattern `web[`: "),
            "{e}"
        );
        assert_eq!(e.hint(), None);
        let app = e.into_app_error(Path::new("bts.yaml"), "up");
        assert!(app.message.starts_with("bad task pattern `web[`: "));
        assert_eq!(app.code, exit::USAGE);
    }

    #[test]
    fn dependency_closure() {
        let deps = |n: &str| -> Vec<String> {
            match n {
                "web" => vec!["api".into()],
                "api" => vec!["db".into(), "cache".into()],
                "cache" => vec!["db".into()],
                // A cycle does not loop.
                "a" => vec!["b".into()],
                "b" => vec!["a".into()],
                _ => vec![],
            }
        };
        let got: Vec<String> = with_dependencies(["web".to_string()], deps)
            .into_iter()
            .collect();
        assert_eq!(got, vec!["api", "cache", "db", "web"]);
        let got: Vec<String> = with_dependencies(["a".to_string(), "x".to_string()], deps)
            .into_iter()
            .collect();
        assert_eq!(got, vec!["a", "b", "x"]);
        assert!(with_dependencies(Vec::new(), deps).is_empty());
    }
}
