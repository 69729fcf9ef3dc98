//! The client end of the control socket, used by `status`, `ps`, `restart`, `down`, a
//! second `up`, `up --wait` and the dashboard, and where to find the socket. Blocking:
//! commands are short-lived and need no runtime.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::protocol::{Request, Response};
use crate::errors::{exit, AppError};
use crate::state_dir::StateDir;
use crate::state_file;

/// Send one request and read its response. `timeout` bounds the wait for the answer
/// (`None`: wait as long as the supervisor needs, e.g. for a slow `down`).
pub fn request(socket: &Path, req: &Request, timeout: Option<Duration>) -> io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(timeout)?;
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the supervisor closed the connection",
        ));
    }
    serde_json::from_str(&answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The socket of the supervisor that holds the lock (it may be a moment before it has
/// published its state); `None` once no supervisor holds the lock: one that was exiting
/// removes its socket a moment before it releases the lock.
pub fn running_socket(sd: &StateDir) -> Result<Option<std::path::PathBuf>, AppError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Some(st)) = state_file::read(sd.root()) {
            // A supervisor killed with -9 leaves its state and socket behind: skip them
            // when its process is provably gone (no such pid, or another start time).
            if st.supervisor_pid > 0
                && st.socket.exists()
                && !gone(st.supervisor_pid, st.supervisor_start)
            {
                return Ok(Some(st.socket));
            }
        }
        if !sd.supervisor_running() {
            return Ok(None);
        }
        if Instant::now() > deadline {
            return Err(
                AppError::new("a supervisor holds the lock but publishes no socket")
                    .with_hint("run `bts cleanup`")
                    .with_code(exit::FAILURE),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the recorded supervisor is certainly not running: its pid is free, or now
/// belongs to a process that started at another time (where start times can be read).
fn gone(pid: i32, start: Option<u64>) -> bool {
    if crate::process::unix::signal_pid(pid, 0).is_ok_and(|alive| !alive) {
        return true;
    }
    matches!(
        (start, crate::process::process_start_time(pid)),
        (Some(want), Some(have)) if want != have
    )
}
