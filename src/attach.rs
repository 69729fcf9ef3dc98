//! `bts attach TASK` (docs/behaviour.md#attach): connect this terminal to a `tty: true`
//! task's terminal through the control socket — type into a debugger or a REPL — and
//! leave it running with the detach key (Ctrl-]). The terminal is put in raw mode so
//! every key (Ctrl-C included) goes to the task; it is restored on every way out.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use crate::cli::AttachArgs;
use crate::control::protocol::{Request, Response};
use crate::ctl::{context, needs_supervisor};
use crate::errors::{exit, AppError};

/// Ctrl-]: leaves the task running.
const DETACH: u8 = 0x1d;

pub fn run(global: &crate::cli::GlobalArgs, args: AttachArgs) -> Result<u8, AppError> {
    // SAFETY: isatty has no preconditions.
    if unsafe { libc::isatty(0) } != 1 {
        return Err(
            AppError::new("bts attach needs a terminal: stdin is not one")
                .with_hint("run it in a terminal; to read a task's output, `bts logs TASK -f`")
                .with_code(exit::USAGE),
        );
    }
    let (m, sd) = context(global)?;
    let socket = needs_supervisor(&m, &sd, "start the task with `bts up` first")?;
    let (cols, rows) = ratatui::crossterm::terminal::size().unwrap_or((0, 0));
    let who = format!(
        "pid {} ({})",
        std::process::id(),
        tty_name().unwrap_or_else(|| "a terminal".into())
    );
    let mut stream =
        UnixStream::connect(&socket).map_err(|e| AppError::io("cannot reach the supervisor", e))?;
    let req = Request::Attach {
        task: args.task.clone(),
        who,
        rows,
        cols,
    };
    let mut line = serde_json::to_vec(&req).map_err(|e| AppError::new(e.to_string()))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| AppError::io("cannot reach the supervisor", e))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| AppError::io("socket", e))?);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| AppError::io("the supervisor did not answer", e))?;
    let response: Response = serde_json::from_str(&answer)
        .map_err(|e| AppError::new(format!("bad answer from the supervisor: {e}")))?;
    response.into_result()?;
    eprintln!(
        "bts: attached to {} — Ctrl-] detaches (the task keeps running)\r",
        args.task
    );
    let raw = RawMode::on();
    // The task's output to this terminal, on a thread of its own.
    let out = std::thread::spawn(move || {
        let mut stdout = std::io::stdout();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stdout
                        .write_all(&buf[..n])
                        .and_then(|_| stdout.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    // Keys to the task until the detach key, or until the task's side ends.
    let mut buf = [0u8; 8192];
    let detached = loop {
        if out.is_finished() {
            break false;
        }
        match read_keys(&mut buf) {
            Keys::End => break false,
            Keys::Idle => {}
            Keys::Read(n) => {
                let keys = &buf[..n];
                if let Some(at) = keys.iter().position(|&b| b == DETACH) {
                    let _ = stream.write_all(&keys[..at]);
                    break true;
                }
                if stream.write_all(keys).is_err() {
                    break false;
                }
            }
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    drop(raw);
    let _ = out.join();
    if detached {
        eprintln!("\nbts: detached from {} (it keeps running)", args.task);
    } else {
        eprintln!("\nbts: {}'s terminal closed (the run ended)", args.task);
    }
    Ok(exit::OK)
}

/// What a look at stdin found.
enum Keys {
    Read(usize),
    /// Nothing typed for 200 ms.
    Idle,
    /// Stdin ended or failed.
    End,
}

/// Read stdin (descriptor 0 itself: no buffer of std's in between that `poll` cannot
/// see), waiting at most 200 ms (so the loop notices the task's side ending).
fn read_keys(buf: &mut [u8]) -> Keys {
    let mut fds = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd we own.
    match unsafe { libc::poll(&mut fds, 1, 200) } {
        0 => Keys::Idle,
        r if r < 0 => match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::Interrupted => Keys::Idle,
            _ => Keys::End,
        },
        _ => {
            // SAFETY: reads into a buffer we own, at most its length.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                n if n > 0 => Keys::Read(n as usize),
                n if n < 0
                    && std::io::Error::last_os_error().kind()
                        == std::io::ErrorKind::Interrupted =>
                {
                    Keys::Idle
                }
                _ => Keys::End,
            }
        }
    }
}

/// The terminal's name (`/dev/pts/3`), to tell a second client who holds a task.
fn tty_name() -> Option<String> {
    // SAFETY: ttyname returns a pointer to a static buffer or null.
    let p = unsafe { libc::ttyname(0) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated.
    Some(
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Raw mode while attached; restored when dropped (every way out, a panic included).
struct RawMode(bool);

impl RawMode {
    fn on() -> Self {
        RawMode(ratatui::crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = ratatui::crossterm::terminal::disable_raw_mode();
        }
    }
}
