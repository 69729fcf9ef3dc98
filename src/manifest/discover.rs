//! Finding the manifest: `-f/--file`, else `$BTS_FILE`, else `bts.yaml` / `bts.yml` in
//! the current directory or the nearest parent, else a `Procfile` in the current directory
//! (loaded with foreman's semantics, see [`super::procfile`]).

use std::path::{Path, PathBuf};

use super::diag::ManifestError;
use super::procfile;

/// File names looked for, in order of preference.
pub const FILE_NAMES: [&str; 2] = ["bts.yaml", "bts.yml"];

/// The manifest to use. An explicit path (`-f` or `$BTS_FILE`) is returned as given (it
/// is read relative to the cwd), or, when it names a directory, the manifest inside it.
/// A discovered one is absolute.
pub fn discover(file: Option<&Path>) -> Result<PathBuf, ManifestError> {
    let cwd = std::env::current_dir().map_err(|source| ManifestError::Read {
        path: PathBuf::from("."),
        source,
    })?;
    let from_env = std::env::var_os("BTS_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    discover_in(&cwd, file, from_env.as_deref())
}

/// [`discover`] with the cwd and `$BTS_FILE` passed in (testable without touching the
/// process environment).
pub fn discover_in(
    cwd: &Path,
    file: Option<&Path>,
    from_env: Option<&Path>,
) -> Result<PathBuf, ManifestError> {
    if let Some(explicit) = file.or(from_env) {
        let full = cwd.join(explicit);
        if full.is_dir() {
            return match find_in_dir(&full) {
                Some(found) => Ok(explicit.join(found.file_name().unwrap_or_default())),
                None => Err(ManifestError::NotFound {
                    searched_from: full,
                }),
            };
        }
        return Ok(explicit.to_path_buf());
    }
    for dir in cwd.ancestors() {
        if let Some(found) = find_in_dir(dir) {
            return Ok(found);
        }
    }
    // Only here, not in parents: a Procfile up the tree belongs to another project.
    let procfile = cwd.join(procfile::FILE_NAME);
    if procfile.is_file() {
        return Ok(procfile);
    }
    Err(ManifestError::NotFound {
        searched_from: cwd.to_path_buf(),
    })
}

fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_file_wins_then_env_then_search() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("bts.yml"), "tasks: {}\n").unwrap();
        let sub = root.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();

        let given = Path::new("x.yaml");
        assert_eq!(
            discover_in(&sub, Some(given), Some(Path::new("y.yaml"))).unwrap(),
            given
        );
        assert_eq!(
            discover_in(&sub, None, Some(Path::new("y.yaml"))).unwrap(),
            Path::new("y.yaml")
        );
        assert_eq!(discover_in(&sub, None, None).unwrap(), root.join("bts.yml"));

        std::fs::write(sub.join("bts.yaml"), "tasks: {}\n").unwrap();
        assert_eq!(discover_in(&sub, None, None).unwrap(), sub.join("bts.yaml"));
        // A directory given with -f means the manifest inside it.
        assert_eq!(
            discover_in(root, Some(Path::new("a/b")), None).unwrap(),
            Path::new("a/b/bts.yaml")
        );
    }

    #[test]
    fn a_procfile_here_is_the_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let sub = root.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(root.join("Procfile"), "web: x\n").unwrap();
        assert_eq!(
            discover_in(root, None, None).unwrap(),
            root.join("Procfile")
        );
        // Not from a parent directory.
        assert!(discover_in(&sub, None, None).is_err());
        // A bts.yaml wins.
        std::fs::write(root.join("bts.yaml"), "tasks: {}\n").unwrap();
        assert_eq!(
            discover_in(root, None, None).unwrap(),
            root.join("bts.yaml")
        );
    }

    #[test]
    fn nothing_found_is_a_not_found_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = discover_in(tmp.path(), None, None).unwrap_err();
        assert!(matches!(err, ManifestError::NotFound { .. }));
        assert!(err.to_string().contains("hint"));
    }
}
