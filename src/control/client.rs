//! The client end of the control socket, used by `status`, `ps`, `restart`, `down`, a
//! second `up` and `up --wait`. Blocking: commands are short-lived and need no runtime.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::protocol::{Request, Response};

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
