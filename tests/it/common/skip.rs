//! Tests that need a tool bts does not ship. A missing tool skips the test visibly, and
//! under `CI=true` fails it: `.ci/run` installs every tool the tests use, so in CI a
//! missing one is a broken install, not a reason to pass.

use std::io::Write;
use std::path::PathBuf;

/// Tools a test may go without even under `CI=true`, each with the reason `.ci/run` does
/// not install it. Empty: `.ci/run` installs them all.
const MAY_BE_MISSING_IN_CI: &[(&str, &str)] = &[];

/// The path of `tool` on PATH. When it is not there: under `CI=true` (unless allowed in
/// [`MAY_BE_MISSING_IN_CI`]) the test fails; otherwise a `SKIPPED:` line naming the test
/// and `what` goes straight to the terminal (libtest shows an `eprintln!` of a passing
/// test only with `--nocapture`) and `None` is returned, for the test to return early.
pub fn require_tool(tool: &str, what: &str) -> Option<PathBuf> {
    if let Some(path) = on_path(tool) {
        return Some(path);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if in_ci && !MAY_BE_MISSING_IN_CI.iter().any(|(t, _)| *t == tool) {
        panic!("{tool} not found on PATH under CI=true ({what}): .ci/run should have installed it");
    }
    // Not through eprintln!: libtest captures that for a passing test.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: {test}: {tool} not found on PATH, so {what} was not checked"
    );
    None
}

/// The path of `program` on PATH, if it is there.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}
