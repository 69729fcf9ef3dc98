//! User-facing errors and exit codes. Subsystems have their own error enums; this is the
//! one type `main` prints: `error: …`, the cause chain, and a hint, then exits with the
//! code the error carries.

use std::fmt;

/// Exit codes, in one place.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A task failed, a check found problems, something could not be stopped.
    pub const FAILURE: u8 = 1;
    /// Bad usage or a manifest error.
    pub const USAGE: u8 = 2;
    /// `bts wait` timed out (as `timeout(1)` does).
    pub const TIMED_OUT: u8 = 124;
}

/// An error that ends the command.
#[derive(Debug)]
pub struct AppError {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
    /// Pre-rendered diagnostics printed as they are (manifest errors carry their own
    /// `error:` lines with locations).
    pub rendered: Option<String>,
}

impl AppError {
    pub fn new(message: impl Into<String>) -> Self {
        AppError {
            message: message.into(),
            hint: None,
            code: exit::USAGE,
            rendered: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// An OS-level failure while doing `what`.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        AppError::new(format!("{what}: {err}")).with_code(exit::FAILURE)
    }

    /// Print to stderr in the user-facing form, with token-shaped secrets redacted (a
    /// manifest excerpt may quote one).
    pub fn report(&self) {
        use std::io::Write;
        let mut text = match &self.rendered {
            Some(r) => r.clone(),
            None => {
                let mut t = format!("error: {}\n", self.message);
                if let Some(h) = &self.hint {
                    t.push_str(&format!("hint: {h}\n"));
                }
                t
            }
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let Some(red) = crate::redact::shapes_only() {
            text = red.redact_str(&text).into_owned();
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl From<crate::manifest::ManifestError> for AppError {
    /// Exit 2, with every diagnostic pre-rendered.
    fn from(err: crate::manifest::ManifestError) -> Self {
        AppError {
            message: err.summary(),
            hint: None,
            code: exit::USAGE,
            rendered: Some(err.to_string()),
        }
    }
}
