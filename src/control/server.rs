//! The supervisor's end of the control socket. Each connection is its own task that
//! reads bounded request lines, forwards them to the dispatcher and writes the answers;
//! a client that sends garbage, floods, or vanishes mid-request only ever loses its own
//! connection.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::protocol::{Request, Response, MAX_REQUEST};

/// A request for the dispatcher, with where to send its answer.
pub struct Incoming {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Bind the socket at `path` (mode 0600). A stale socket file must already have been
/// removed by the caller, under the supervisor lock.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accept connections forever.
pub async fn serve(listener: UnixListener, tx: mpsc::UnboundedSender<Incoming>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream, tx.clone()));
            }
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle(stream: UnixStream, tx: mpsc::UnboundedSender<Incoming>) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match (&mut reader)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let response = if line.len() > MAX_REQUEST {
            let r = Response::error(format!("request longer than {MAX_REQUEST} bytes"), None);
            let _ = write_response(&mut w, &r).await;
            return;
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => {
                    let (reply, answer) = oneshot::channel();
                    if tx.send(Incoming { request, reply }).is_err() {
                        return;
                    }
                    match answer.await {
                        Ok(r) => r,
                        Err(_) => Response::error("the supervisor is shutting down", None),
                    }
                }
                Err(e) => Response::error(format!("bad request: {e}"), None),
            }
        };
        if write_response(&mut w, &response).await.is_err() {
            return;
        }
    }
}

async fn write_response(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(r).map_err(io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}
