//! Writing the digest files off the supervisor loop (docs/architecture.md#the-loop).
//!
//! The loop serializes the digests (cheap) and hands the bytes to one writer thread,
//! which writes them in the order they were handed over, each file atomically. A task's
//! file whose bytes are the same as the last ones handed over is not written again, so a
//! change to one task of a thousand costs one task file and the all-tasks file, not a
//! thousand renames on the loop (about 90 ms with 1,000 tasks, measured).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use crate::output::{Level, Output};
use crate::state_file::write_atomic;

use super::notes::update_notes;

/// One round of digest files: written in order, then the notes section.
struct Job {
    dir: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
    notes: Option<(PathBuf, String)>,
    /// Told once this round (and so every earlier one) is written.
    done: Option<mpsc::Sender<()>>,
}

/// The digest files' writer thread and what it was last given.
pub(super) struct DigestWriter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// The hash of the bytes last handed over, per file.
    last: HashMap<PathBuf, u64>,
    /// Where warnings go when a round is written here (no thread).
    out: Output,
    /// Files the thread failed to write: written again next round, changed or not.
    failed: Arc<Mutex<Vec<PathBuf>>>,
}

impl DigestWriter {
    /// Start the writer thread; its errors are told as warnings on `out`. Without a
    /// thread (the system refused one) rounds are written on the caller's thread.
    pub(super) fn start(out: Output) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let fallback = out.clone();
        let failed: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let told = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("bts-digests".into())
            .spawn(move || {
                for job in rx {
                    let bad = write_job(&job, &out);
                    told.lock().unwrap_or_else(|e| e.into_inner()).extend(bad);
                    if let Some(done) = job.done {
                        let _ = done.send(());
                    }
                }
            });
        match thread {
            Ok(thread) => DigestWriter {
                tx: Some(tx),
                thread: Some(thread),
                last: HashMap::new(),
                out: fallback,
                failed,
            },
            Err(_) => DigestWriter {
                tx: None,
                thread: None,
                last: HashMap::new(),
                out: fallback,
                failed,
            },
        }
    }

    /// Hand over a round: `tasks` are the per-task files (skipped when unchanged),
    /// `always` files are written every round (the all-tasks file, which carries the
    /// time of the round).
    pub(super) fn write(
        &mut self,
        dir: &Path,
        tasks: Vec<(PathBuf, Vec<u8>)>,
        always: Vec<(PathBuf, Vec<u8>)>,
        notes: Option<(PathBuf, String)>,
    ) {
        for path in std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner())) {
            self.last.remove(&path);
        }
        let mut files: Vec<(PathBuf, Vec<u8>)> = tasks
            .into_iter()
            .filter(|(path, bytes)| {
                let h = crate::hash::fnv1a(bytes);
                self.last.insert(path.clone(), h) != Some(h)
            })
            .collect();
        files.extend(always);
        let job = Job {
            dir: dir.to_path_buf(),
            files,
            notes,
            done: None,
        };
        // The thread only ends when `tx` is dropped (in `finish`); should it be gone
        // anyway, the round is written here.
        let job = match &self.tx {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        for path in write_job(&job, &self.out) {
            self.last.remove(&path);
        }
    }

    /// Wait until everything handed over so far is written.
    #[cfg(test)]
    fn sync(&self) {
        let (done, wait) = mpsc::channel();
        if let Some(tx) = &self.tx {
            let job = Job {
                dir: PathBuf::new(),
                files: vec![],
                notes: None,
                done: Some(done),
            };
            if tx.send(job).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    /// Write what is still queued and stop the thread.
    pub(super) fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DigestWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Write a round's files, then its notes section; failures are warnings.
fn write_job(job: &Job, out: &Output) -> Vec<PathBuf> {
    // Every file is tried (one that fails does not keep the others stale); the failed
    // ones are returned, to be written again next round.
    let mut failed = Vec::new();
    let mut first_error = None;
    if !job.files.is_empty() {
        if let Err(e) = std::fs::create_dir_all(&job.dir) {
            first_error = Some(e);
        }
        for (path, bytes) in &job.files {
            if let Err(e) = write_atomic(path, bytes) {
                failed.push(path.clone());
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        out.event(Level::Warn, &format!("cannot write digests: {e}"));
    }
    if let Some((path, section)) = &job.notes {
        if let Err(e) = update_notes(path, section) {
            out.event(
                Level::Warn,
                &format!("cannot update {}: {e}", path.display()),
            );
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::OutputMode;
    use crate::output::terminal::Terminal;

    fn quiet_output() -> Output {
        let (term, _writer) = Terminal::start_on(std::io::sink());
        let red = crate::redact::Redactor::new(&[], &Default::default()).unwrap();
        Output::new(term, false, 80, OutputMode::Full, false, red)
    }

    #[test]
    fn unchanged_task_files_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DigestWriter::start(quiet_output());
        let sub = dir.path().join("digests");
        let (a, b) = (sub.join("a.json"), sub.join("b.json"));
        let all = dir.path().join("digest.json");
        let files = |x: &[u8], y: &[u8]| vec![(a.clone(), x.to_vec()), (b.clone(), y.to_vec())];
        w.write(
            &sub,
            files(b"a1", b"b1"),
            vec![(all.clone(), b"all1".to_vec())],
            None,
        );
        w.sync();
        assert_eq!(std::fs::read(&a).unwrap(), b"a1");
        assert_eq!(std::fs::read(&all).unwrap(), b"all1");
        // Someone else changes a's file; the next round has a unchanged and b changed:
        // a is left alone, b and the all-tasks file are written.
        std::fs::write(&a, b"touched").unwrap();
        w.write(
            &sub,
            files(b"a1", b"b2"),
            vec![(all.clone(), b"all2".to_vec())],
            None,
        );
        w.sync();
        assert_eq!(std::fs::read(&a).unwrap(), b"touched");
        assert_eq!(std::fs::read(&b).unwrap(), b"b2");
        assert_eq!(std::fs::read(&all).unwrap(), b"all2");
        // A change is written again; finish writes what is still queued.
        w.write(&sub, files(b"a3", b"b2"), vec![], None);
        w.finish();
        assert_eq!(std::fs::read(&a).unwrap(), b"a3");
    }
}
