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
}

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
            .spawn(move || t.write_loop(out))
            .expect("spawning the terminal thread at start-up");
        (term, handle)
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
        let end = std::time::Instant::now() + timeout;
        while !writer.is_finished() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if writer.is_finished() {
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
        }
    }
}
