//! The supervisor's end of the control socket. Each connection is its own task that
//! reads bounded request lines, forwards them to the dispatcher and writes the answers;
//! a client that sends garbage, floods, or vanishes mid-request only ever loses its own
//! connection. At shutdown the server stops accepting, closes idle connections, and
//! lets those with a request under way write their answer (bounded by [`DRAIN`]).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::protocol::{Request, Response, MAX_REQUEST};

/// A request for the dispatcher, with where to send its answer.
pub struct Incoming {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
    /// For `attach`: where the dispatcher hands over the task's terminal when it
    /// accepts; the connection then carries raw bytes.
    pub upgrade: Option<oneshot::Sender<Upgrade>>,
}

/// An accepted `attach`: the task's terminal and the channel of its output.
pub struct Upgrade {
    pub terminal: crate::process::pty::SharedTerminal,
    pub output: mpsc::Receiver<Vec<u8>>,
}

/// Bind the socket at `path` (mode 0600). A stale socket file must already have been
/// removed by the caller, under the supervisor lock.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// How long a shutdown waits for connections to write the answers they were handed.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Accept connections until `stop` turns true (or its sender goes away); then stop
/// accepting and return once every connection has ended, at most [`DRAIN`] later.
/// Connections waiting for their next request end at once; a connection whose request
/// the dispatcher has taken writes its answer first. Requests the dispatcher never took
/// are answered "shutting down" once it drops its receiver, so signal `stop` after the
/// dispatcher is done.
pub async fn serve(
    listener: UnixListener,
    tx: mpsc::UnboundedSender<Incoming>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    // A descriptor held in reserve: when the process has run out of them (EMFILE), it is
    // let go so that a waiting client is still accepted and answered — `bts status`
    // works while starts fail for want of descriptors (docs/behaviour.md#limits).
    let mut reserve = reserve_fd();
    loop {
        if reserve.is_none() {
            reserve = reserve_fd();
        }
        tokio::select! {
            _ = stopped(&mut stop) => break,
            // Reap ended connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(handle(stream, tx.clone(), stop.clone()));
                }
                Err(e) if is_out_of_files(&e) && reserve.is_some() => {
                    // Accepted on the next turn, in the descriptor just freed.
                    reserve = None;
                }
                Err(_) => {
                    // Out of descriptors with none in reserve (and the like): back off
                    // instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    drop(tx);
    let drained = async { while connections.join_next().await.is_some() {} };
    // Whatever has not finished by then is aborted as the set drops.
    let _ = tokio::time::timeout(DRAIN, drained).await;
}

fn reserve_fd() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn is_out_of_files(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn handle(
    stream: UnixStream,
    tx: mpsc::UnboundedSender<Incoming>,
    mut stop: watch::Receiver<bool>,
) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut reader).take(MAX_REQUEST as u64 + 1);
        let read = limited.read_until(b'\n', &mut line);
        // Waiting for a request is the only wait a shutdown cuts short; a request
        // already sent is read first.
        let n = tokio::select! {
            biased;
            r = read => match r {
                Ok(n) => n,
                Err(_) => return,
            },
            _ = stopped(&mut stop) => return,
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
                    let attach = matches!(request, Request::Attach { .. });
                    let (reply, answer) = oneshot::channel();
                    let (upgrade, upgraded) = oneshot::channel();
                    let upgrade = attach.then_some(upgrade);
                    let taken = tx
                        .send(Incoming {
                            request,
                            reply,
                            upgrade,
                        })
                        .is_ok();
                    let response = match (taken, answer.await) {
                        (true, Ok(r)) => r,
                        // The dispatcher is gone, or dropped the request unanswered.
                        _ => Response::error("the supervisor is shutting down", None),
                    };
                    if attach && response.ok {
                        if let Ok(up) = upgraded.await {
                            if write_response(&mut w, &response).await.is_ok() {
                                let early = reader.buffer().to_vec();
                                attached(reader.into_inner(), w, up, early, stop).await;
                            }
                            return;
                        }
                    }
                    response
                }
                Err(e) => Response::error(format!("bad request: {e}"), None),
            }
        };
        if write_response(&mut w, &response).await.is_err() {
            return;
        }
    }
}

/// An attached client: its bytes typed into the task's terminal, the task's output
/// written back, until either side ends (or the supervisor stops). The terminal is then
/// free for the next client.
async fn attached(
    mut r: tokio::net::unix::OwnedReadHalf,
    mut w: tokio::net::unix::OwnedWriteHalf,
    up: Upgrade,
    early: Vec<u8>,
    mut stop: watch::Receiver<bool>,
) {
    let Upgrade {
        terminal,
        mut output,
    } = up;
    if !early.is_empty() && terminal.type_in(&early).await.is_err() {
        terminal.detach();
        return;
    }
    let mut buf = vec![0u8; 4096];
    loop {
        tokio::select! {
            n = r.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if terminal.type_in(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            },
            out = output.recv() => match out {
                Some(bytes) => {
                    if w.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                // The run ended.
                None => break,
            },
            _ = stopped(&mut stop) => break,
        }
    }
    terminal.detach();
}

async fn write_response(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(r).map_err(io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await
}
