//! Running one `bts` command for a tool: the same executable, the same working directory
//! and manifest, no terminal, a deadline (the child is killed when it passes), and the
//! output cut to the budget of one answer.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Characters of one answer's text (about 450 tokens of English and paths).
pub const TEXT_BUDGET: usize = 1800;

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// The error a user would read (`error: …` and its hint), else stdout.
    pub fn message(&self) -> String {
        let e = self.stderr.trim();
        if e.is_empty() {
            self.stdout.trim().to_string()
        } else {
            e.to_string()
        }
    }
}

/// How to run bts for the tools: the manifest `bts mcp` was given, if any.
#[derive(Debug, Clone, Default)]
pub struct Runner {
    pub file: Option<PathBuf>,
}

impl Runner {
    /// Run `bts args…`, at most `timeout`.
    pub fn run(&self, args: &[String], timeout: Duration) -> Ran {
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return failed(format!("cannot find the bts executable: {e}")),
        };
        let mut cmd = Command::new(exe);
        if let Some(f) = &self.file {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return failed(format!("cannot run bts: {e}")),
        };
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_string(&mut s);
            }
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let deadline = Instant::now() + timeout;
        let code = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st.code().unwrap_or(1),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ran {
                        code: 124,
                        stdout: reader.join().unwrap_or_default(),
                        stderr: format!(
                            "error: `bts {}` did not finish within {}",
                            args.join(" "),
                            humantime::format_duration(timeout)
                        ),
                    };
                }
            }
        };
        Ran {
            code,
            stdout: reader.join().unwrap_or_default(),
            stderr: err_reader.join().unwrap_or_default(),
        }
    }
}

fn failed(message: String) -> Ran {
    Ran {
        code: 1,
        stdout: String::new(),
        stderr: format!("error: {message}"),
    }
}

/// `text` cut to `max` characters at a line boundary, saying how much was left out.
pub fn budget(text: &str, max: usize) -> String {
    let text = text.trim_end();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut left = 0;
    for line in text.lines() {
        // Lines in order, none skipped in the middle: the first that does not fit (cut
        // to what room is left, when it is the first) ends the text.
        let room = max.saturating_sub(60).saturating_sub(out.chars().count());
        if left > 0 || line.chars().count() + 1 > room {
            if out.is_empty() && room > 1 {
                out.extend(line.chars().take(room - 1));
                out.push('\n');
            }
            left += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!(
        "… {left} more lines (the full text: the same bts command)"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_lines() {
        let text: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let cut = budget(&text, 200);
        assert!(cut.chars().count() <= 200, "{}", cut.len());
        assert!(cut.starts_with("line 0\nline 1\n"));
        assert!(cut.ends_with("more lines (the full text: the same bts command)"));
        assert_eq!(budget("short\n", 200), "short");
    }
}
