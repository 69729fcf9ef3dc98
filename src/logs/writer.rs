//! Appends batches of already-formatted log lines to `<state>/logs/<task>.log` and
//! rotates it to `<task>.log.1.gz` … `<task>.log.<keep>.gz` when it passes its size limit.
//! Rotation only happens between batches, and batches hold whole lines, so a line is
//! never split across two files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl LogWriter {
    /// Open (creating it) the log at `path`; `truncate` starts it empty.
    pub fn open(path: &Path, max_kb: u64, keep: u32, truncate: bool) -> io::Result<Self> {
        // A regular file is replaced rather than emptied (see [`Self::detach`]): an
        // archive job may still be reading it.
        if truncate && fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            fs::remove_file(path)?;
        }
        // O_APPEND: every write lands at the current end, also after `set_len(0)`
        // (a plain write would go on at its old offset and leave a sparse hole).
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        // Only a regular file can be emptied (a log pointed at a device or a pipe on
        // purpose is written as it is); a new one is empty already, and truncating it
        // anyway would make ext4 flush the whole log to disk when it is closed.
        if truncate && meta.is_file() && meta.len() > 0 {
            file.set_len(0)?;
        }
        let size = if meta.is_file() && !truncate {
            meta.len()
        } else {
            0
        };
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes: max_kb.max(1) * 1024,
            keep,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start the file afresh (a task starting again after a stop). A regular file is
    /// replaced by a new one rather than emptied, so an archive job still reading the
    /// old lines keeps them; anything else (a device) is emptied in place.
    pub fn truncate(&mut self) -> io::Result<()> {
        self.detach().map(drop)
    }

    /// Hand over the lines written so far and start the file afresh: the returned file
    /// (open for reading) holds them, to be archived off the loop with
    /// [`gzip_open_file`]; later lines go to a new file at the same path.
    pub fn detach(&mut self) -> io::Result<File> {
        let old = File::open(&self.path)?;
        if fs::symlink_metadata(&self.path).is_ok_and(|m| m.is_file()) {
            fs::remove_file(&self.path)?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(old)
    }

    /// Whether appending `len` more bytes rotates the file (a gzip: callers on an async
    /// runtime move off its worker first).
    pub fn would_rotate(&self, len: usize) -> bool {
        self.size + len as u64 > self.max_bytes
    }

    /// Append one batch of whole lines, normally with a single write. A batch that would
    /// pass the size limit is split at a line boundary and the log rotated in between, so
    /// no file grows much past `log_max_kb` (a single line longer than that is kept whole).
    pub fn write_batch(&mut self, mut batch: &[u8]) -> io::Result<()> {
        while !batch.is_empty() {
            let room = self.max_bytes.saturating_sub(self.size) as usize;
            if batch.len() <= room {
                self.file.write_all(batch)?;
                self.size += batch.len() as u64;
                return Ok(());
            }
            // The longest run of whole lines that fits; at least one line when the file is
            // empty, so progress is guaranteed.
            let cut = match memchr::memrchr(b'\n', &batch[..room.min(batch.len())]) {
                Some(i) => i + 1,
                None if self.size == 0 => {
                    memchr::memchr(b'\n', batch).map_or(batch.len(), |i| i + 1)
                }
                None => 0,
            };
            if cut > 0 {
                self.file.write_all(&batch[..cut])?;
                self.size += cut as u64;
                batch = &batch[cut..];
            }
            if !batch.is_empty() {
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// Shift `.N.gz` files up by one (dropping the oldest), gzip the current log into
    /// `.1.gz`, and empty it.
    pub fn rotate(&mut self) -> io::Result<()> {
        if self.keep > 0 {
            let _ = fs::remove_file(rotated_path(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = rotated_path(&self.path, n);
                // Gone meanwhile (the disk budget removed it) is fine.
                match fs::rename(&from, rotated_path(&self.path, n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            gzip_file(&self.path, &rotated_path(&self.path, 1))?;
        }
        self.truncate()
    }
}

/// `<log>.N.gz`
pub fn rotated_path(log: &Path, n: u32) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(format!(".{n}.gz"));
    PathBuf::from(s)
}

/// `<dir>/<task>-<UTC>.log.gz` (colons left out, for file systems that refuse them), with
/// a counter when that name is taken.
pub fn archive_path(dir: &Path, task: &str) -> PathBuf {
    archive_path_avoiding(dir, task, |_| false)
}

/// [`archive_path`], also avoiding the paths `busy` says are taken (archives being
/// written, which do not exist yet).
pub fn archive_path_avoiding(dir: &Path, task: &str, busy: impl Fn(&Path) -> bool) -> PathBuf {
    let stamp = crate::clock::rfc3339(std::time::SystemTime::now()).replace(':', "");
    let free = |p: &PathBuf| !p.exists() && !busy(p);
    let first = dir.join(format!("{task}-{stamp}.log.gz"));
    if free(&first) {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{task}-{stamp}-{n}.log.gz")))
        .find(free)
        .unwrap_or(first)
}

/// The lines of the log at `path` so far, and a new empty file in its place (a log no
/// writer holds, archived by `archive-logs`). See [`LogWriter::detach`].
pub fn detach_file(path: &Path) -> io::Result<File> {
    let old = File::open(path)?;
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        fs::remove_file(path)?;
        File::create(path)?;
    }
    Ok(old)
}

/// Gzip `file` into `dest` on a blocking thread, off the async runtime's workers.
/// At most one job per core (and no more than four) runs at a time: stopping a thousand tasks queues a thousand
/// archives, and as many threads compressing at once would starve the runners that
/// reap the stopped processes (and hold a thread each).
pub async fn gzip_in_background(file: File, dest: PathBuf) -> io::Result<()> {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 4))
    });
    // The semaphore is never closed, so acquiring only waits.
    let _slot = SLOTS.acquire().await.ok();
    tokio::task::spawn_blocking(move || gzip_open_file(file, &dest))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// Gzip `src` into `dest` (written to a temp name, then renamed, so a reader never sees
/// half a file).
pub fn gzip_file(src: &Path, dest: &Path) -> io::Result<()> {
    // A log pointed at a device (/dev/null, /dev/full) has nothing to archive, and
    // reading some of them never ends.
    if !fs::metadata(src)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the log is not a regular file",
        ));
    }
    gzip_open_file(File::open(src)?, dest)
}

/// Gzip what `src` (already open) holds into `dest`: the archive of a stopped task's
/// log, opened on the supervisor loop and written on a blocking thread.
pub fn gzip_open_file(src: File, dest: &Path) -> io::Result<()> {
    if !src.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the log is not a regular file",
        ));
    }
    let tmp = dest.with_extension("gz.tmp");
    {
        let mut input = BufReader::new(src);
        let mut enc = GzEncoder::new(File::create(&tmp)?, Compression::fast());
        io::copy(&mut input, &mut enc)?;
        // No fsync: the rename keeps readers from seeing half a file, and durability
        // across a power cut is not worth a disk flush per rotation or stop.
        enc.finish()?;
    }
    fs::rename(&tmp, dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn rotates_whole_batches_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let mut w = LogWriter::open(&path, 1, 2, false).unwrap();
        let line = vec![b'x'; 599];
        let mut batch = line.clone();
        batch.push(b'\n');
        for _ in 0..5 {
            w.write_batch(&batch).unwrap();
        }
        assert!(rotated_path(&path, 1).exists());
        assert!(rotated_path(&path, 2).exists());
        assert!(!rotated_path(&path, 3).exists());
        let mut s = String::new();
        GzDecoder::new(File::open(rotated_path(&path, 1)).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s.len(), 600);
        assert_eq!(fs::read(&path).unwrap().len(), 600);
        assert!(
            !fs::read(&path).unwrap().contains(&0),
            "no sparse hole after rotation"
        );
    }
}
