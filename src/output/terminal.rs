//! The one writer of bts's standard output: a dedicated thread fed through a byte-bounded
//! queue. Task output is offered with `push_output` and dropped (the caller counts it)
//! when the terminal is behind, so a slow or stalled terminal never blocks a task or the
//! supervisor; bts's own event lines are always queued.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Task output buffered for the terminal before new batches are dropped. Large enough
/// to ride out the writer thread not being scheduled for a while on a busy machine
/// (a fast consumer then loses nothing), small enough to bound memory.
const OUTPUT_LIMIT: usize = 8 << 20;
/// Event lines kept while the terminal is stalled (beyond that, even they are dropped:
/// memory stays bounded).
const EVENT_LIMIT: usize = 10_000;

#[derive(Default)]
struct Queue {
    items: VecDeque<(Vec<u8>, bool)>,
    output_bytes: usize,
    events: usize,
    closed: bool,
    broken: bool,
    /// The writer thread has returned (set on every way out of it).
    finished: bool,
    /// Written batches' buffers, emptied, for the next batches (see
    /// [`Terminal::buffer`]).
    spare: Vec<Vec<u8>>,
}

/// Emptied buffers kept for reuse, and the largest kept: a flood's batches cycle through
/// a few buffers instead of a fresh allocation (and its page faults) per read.
const SPARE_BUFFERS: usize = 16;
const SPARE_MAX_BYTES: usize = 1 << 20;

pub struct Terminal {
    q: Mutex<Queue>,
    cv: Condvar,
}

impl Terminal {
    /// Start the writer thread on stdout.
    pub fn start() -> (Arc<Terminal>, JoinHandle<()>) {
        Terminal::start_on(io::stdout())
    }

    /// Start the writer thread on `out` (`bts up --ui`: the supervisor's log file, the
    /// terminal being the dashboard's).
    pub fn start_on(out: impl Write + Send + 'static) -> (Arc<Terminal>, JoinHandle<()>) {
        let term = Arc::new(Terminal {
            q: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        });
        let t = Arc::clone(&term);
        let handle = std::thread::Builder::new()
            .name("bts-terminal".into())
            .spawn(move || {
                let _done = Finished(&t);
                t.write_loop(out)
            })
            .expect("spawning the terminal thread at start-up");
        (term, handle)
    }

    /// A buffer for the next batch: a written one, emptied, or a new one of `hint` bytes.
    pub fn buffer(&self, hint: usize) -> Vec<u8> {
        match self.lock().spare.pop() {
            Some(mut buf) => {
                // An event line's small buffer comes back too: room for a whole batch.
                buf.reserve(hint);
                buf
            }
            None => Vec::with_capacity(hint),
        }
    }

    /// Offer a batch of task output; `false` if it was dropped.
    pub fn push_output(&self, buf: Vec<u8>) -> bool {
        let mut q = self.lock();
        if q.closed || q.broken || q.output_bytes + buf.len() > OUTPUT_LIMIT {
            return false;
        }
        q.output_bytes += buf.len();
        q.items.push_back((buf, true));
        drop(q);
        self.cv.notify_one();
        true
    }

    /// Queue an event line (always kept unless the terminal has been stalled for
    /// thousands of events).
    pub fn push_event(&self, buf: Vec<u8>) {
        let mut q = self.lock();
        if q.closed || q.broken || q.events >= EVENT_LIMIT {
            return;
        }
        q.events += 1;
        q.items.push_back((buf, false));
        drop(q);
        self.cv.notify_one();
    }

    /// Write what is queued, then stop the thread.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_one();
    }

    /// Close, and wait up to `timeout` for the writer to finish. A terminal (or pipe)
    /// that stopped reading must not keep bts from exiting: after the timeout the
    /// thread is left to die with the process.
    pub fn close_and_wait(&self, writer: JoinHandle<()>, timeout: std::time::Duration) {
        self.close();
        let q = self.lock();
        let (q, _) = self
            .cv
            .wait_timeout_while(q, timeout, |q| !q.finished)
            .unwrap_or_else(|e| e.into_inner());
        let finished = q.finished;
        drop(q);
        if finished {
            let _ = writer.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A poisoned lock only means a writer panicked mid-push; the queue is still
        // consistent (every push is a single push_back).
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_loop(&self, mut out: impl Write) {
        loop {
            let batch: Vec<(Vec<u8>, bool)> = {
                let mut q = self.lock();
                while q.items.is_empty() && !q.closed {
                    q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                if q.items.is_empty() && q.closed {
                    return;
                }
                q.output_bytes = 0;
                q.events = 0;
                q.items.drain(..).collect()
            };
            for (buf, _) in &batch {
                if let Err(e) = out.write_all(buf) {
                    // `bts up | head` closing the pipe is not an error; anything else
                    // also stops terminal output, but never the supervisor.
                    let _ = e;
                    self.lock().broken = true;
                    return;
                }
            }
            let _ = out.flush();
            let mut q = self.lock();
            for (mut buf, _) in batch {
                if q.spare.len() < SPARE_BUFFERS && buf.capacity() <= SPARE_MAX_BYTES {
                    buf.clear();
                    q.spare.push(buf);
                }
            }
        }
    }
}

/// Marks the writer thread finished when it returns (or unwinds), and wakes
/// [`Terminal::close_and_wait`].
struct Finished<'a>(&'a Terminal);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().finished = true;
        // The condvar is shared with the writer's own wait: wake everyone.
        self.0.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn close_and_wait_returns_once_everything_queued_is_written() {
        let out = Shared::default();
        let (term, writer) = Terminal::start_on(out.clone());
        assert!(term.push_output(b"a line\n".to_vec()));
        term.push_event(b"an event\n".to_vec());
        let t = Instant::now();
        term.close_and_wait(writer, Duration::from_secs(10));
        // Woken by the writer's end, not by the timeout.
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(&out.0.lock().unwrap()[..], b"a line\nan event\n");
        assert!(!term.push_output(b"late\n".to_vec()));
    }

    #[test]
    fn written_buffers_come_back_empty_for_the_next_batches() {
        let out = Shared::default();
        let (term, writer) = Terminal::start_on(out.clone());
        let mut buf = term.buffer(100_000);
        assert!(buf.capacity() >= 100_000);
        buf.extend_from_slice(b"x\n");
        assert!(term.push_output(buf));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let again = term.buffer(10);
            if again.capacity() >= 100_000 {
                assert!(again.is_empty());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the written buffer never came back"
            );
            std::thread::yield_now();
        }
        term.close_and_wait(writer, Duration::from_secs(10));
        assert_eq!(&out.0.lock().unwrap()[..], b"x\n");
    }
}
