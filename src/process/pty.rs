//! Pseudo-terminals for tasks with `tty: true` (docs/behaviour.md#attach): the task's
//! stdin, stdout and stderr are the terminal's slave side, in a session of its own with
//! that terminal as its controlling terminal (so `test -t 0`, line editing and Ctrl-C
//! typed by an attached client work as in a terminal). bts reads the master side like a
//! pipe (logged, redacted, summarized as any output) and writes to it what an attached
//! client types.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// The master side of a task's terminal, for typing into it, and the one client
/// attached to it, if any.
pub struct Terminal {
    input: pipe::Sender,
    /// Who is attached (for the refusal of a second client) and where the task's output
    /// goes for them.
    client: Mutex<Option<(String, mpsc::Sender<Vec<u8>>)>>,
}

/// Open a terminal: (master, slave).
pub fn open() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let r = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
    // openpty leaves both inheritable: no other task may get this terminal (the slave
    // reaches its own task as 0, 1, 2 through dup2, which clears the flag).
    set_cloexec(&r.master)?;
    set_cloexec(&r.slave)?;
    Ok((r.master, r.slave))
}

fn set_cloexec(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFD);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The master side as what bts reads (the task's output) and a [`Terminal`] to write
/// to.
pub fn split(master: OwnedFd) -> std::io::Result<(pipe::Receiver, Terminal)> {
    let writer = master.try_clone()?;
    set_nonblocking(&master)?;
    set_nonblocking(&writer)?;
    // Neither is a FIFO, which is all the unchecked constructors skip; a terminal's
    // master side is polled like one.
    let output = pipe::Receiver::from_owned_fd_unchecked(master)?;
    let input = pipe::Sender::from_owned_fd_unchecked(writer)?;
    Ok((
        output,
        Terminal {
            input,
            client: Mutex::new(None),
        },
    ))
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In the child, between fork and exec: a new session, with stdin (the terminal's
/// slave side) as its controlling terminal. Only setsid and ioctl: async-signal-safe.
pub fn take_as_controlling_terminal() -> std::io::Result<()> {
    // SAFETY: setsid and ioctl have no memory-safety preconditions.
    unsafe {
        if libc::setsid() < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Terminal {
    /// Attach `who`: their output channel, or `Err(holder)` when someone already is.
    pub fn attach(&self, who: &str) -> Result<mpsc::Receiver<Vec<u8>>, String> {
        let mut c = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((holder, tx)) = c.as_ref() {
            if !tx.is_closed() {
                return Err(holder.clone());
            }
        }
        let (tx, rx) = mpsc::channel(256);
        *c = Some((who.to_string(), tx));
        Ok(rx)
    }

    /// The attached client went away.
    pub fn detach(&self) {
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Hand the attached client (if any) a read of the task's output; never waits: a
    /// client that does not keep up loses output on its screen (the log has it all).
    pub fn tee(&self, data: &[u8]) {
        let c = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, tx)) = c.as_ref() {
            let _ = tx.try_send(data.to_vec());
        }
    }

    /// Type `data` into the task's terminal. A task that has not read its input for a
    /// second loses the rest of it (the client's detach must still be seen).
    pub async fn type_in(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            match tokio::time::timeout(std::time::Duration::from_secs(1), self.input.writable())
                .await
            {
                Ok(r) => r?,
                Err(_) => return Ok(()),
            }
            match self.input.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Set the terminal's size (the attached client's).
    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize we own; the descriptor is ours.
        unsafe {
            libc::ioctl(self.input.as_raw_fd(), libc::TIOCSWINSZ as _, &ws);
        }
    }

    /// The run ended: the attached client's stream ends too.
    pub fn close(&self) {
        self.detach();
    }
}

/// Shared between the runner (which tees output) and the executor (which attaches).
pub type SharedTerminal = Arc<Terminal>;
