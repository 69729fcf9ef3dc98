//! Loading: read the file, validate it against a snapshot of the calling environment,
//! and turn diagnostics into a [`ManifestError`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::{shown_path, Invalid, ManifestError, Source};
use super::discover::discover;
use super::model::Manifest;
use super::procfile;
use super::validate::{validate, validate_scaled};

/// Discover the manifest (`-f`, `$BTS_FILE`, or search) and load it.
pub fn load(file: Option<&Path>) -> Result<Manifest, ManifestError> {
    let path = discover(file)?;
    load_path(&path)
}

/// Load and validate the manifest at `path` (relative paths are relative to the cwd). A
/// `Procfile` (or `Procfile.*`) is loaded as one ([`procfile`]).
pub fn load_path(path: &Path) -> Result<Manifest, ManifestError> {
    load_path_scaled(path, &BTreeMap::new())
}

/// [`load_path`] with replica counts that replace the manifest's (`bts scale`).
pub fn load_path_scaled(
    path: &Path,
    scale: &BTreeMap<String, u32>,
) -> Result<Manifest, ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(read_err)?;
    let source_text = String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 ({e})"),
        ))
    })?;
    let abs = absolute(path);
    let calling: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    if procfile::is_procfile(path) {
        return procfile::load(path, &abs, &source_text, &calling);
    }
    validate_scaled(&source_text, &abs, &calling, scale).map_err(|(diagnostics, files)| {
        ManifestError::Invalid(Box::new(Invalid {
            shown_path: shown_path(path),
            source_text,
            diagnostics,
            includes: files
                .into_iter()
                .map(|(p, text)| Source {
                    shown_path: shown_path(&p),
                    text,
                })
                .collect(),
        }))
    })
}

/// For a directory without a manifest where ad-hoc tasks (`bts run`) live: a manifest
/// of no tasks, every setting at its default, as if `dir/bts.yaml` were empty.
pub fn implicit(dir: &Path) -> Manifest {
    let abs = absolute(dir);
    let one = "tasks:\n  none:\n    cmd: \"true\"\n";
    let mut m = validate(one, &abs.join("bts.yaml"), &BTreeMap::new())
        .expect("the implicit manifest is valid");
    m.tasks.clear();
    m
}

/// [`load`], or — when no manifest is found and none was named — the [`implicit`] one of
/// the current directory if `allow_implicit` says this directory has ad-hoc tasks.
pub fn load_or_implicit(
    file: Option<&Path>,
    allow_implicit: impl FnOnce(&Path) -> bool,
) -> Result<Manifest, ManifestError> {
    match load(file) {
        Err(ManifestError::NotFound { searched_from }) if file.is_none() => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| searched_from.clone());
            if allow_implicit(&cwd) {
                Ok(implicit(&cwd))
            } else {
                Err(ManifestError::NotFound { searched_from })
            }
        }
        other => other,
    }
}

/// The absolute path, with symlinks resolved when possible (so `dir` is the directory the
/// file really lives in), else lexically absolute.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
