//! How a process ended, as the runner saw it.

/// Exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub const UNKNOWN: ExitInfo = ExitInfo {
        code: None,
        signal: None,
    };

    pub fn code(code: i32) -> ExitInfo {
        ExitInfo {
            code: Some(code),
            signal: None,
        }
    }

    pub fn signal(signal: i32) -> ExitInfo {
        ExitInfo {
            code: None,
            signal: Some(signal),
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exited with code 1`, `killed by SIGKILL`.
    pub fn describe(&self) -> String {
        super::reason::describe_exit(self.code, self.signal)
    }

    /// The code a shell would report: the exit code, or 128 + the signal.
    pub fn shell_code(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}
