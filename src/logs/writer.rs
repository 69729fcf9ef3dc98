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
        let file = OpenOptions::new()
            .create(true)
            .append(!truncate)
            .write(true)
            .truncate(truncate)
            .open(path)?;
        let size = file.metadata()?.len();
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

    /// Start the file afresh (a task starting again after a stop).
    pub fn truncate(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.size = 0;
        Ok(())
    }

    /// Append one batch of whole lines with a single write.
    pub fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.size > 0 && self.size + batch.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(batch)?;
        self.size += batch.len() as u64;
        Ok(())
    }

    /// Shift `.N.gz` files up by one (dropping the oldest), gzip the current log into
    /// `.1.gz`, and empty it.
    pub fn rotate(&mut self) -> io::Result<()> {
        if self.keep > 0 {
            let _ = fs::remove_file(rotated_path(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = rotated_path(&self.path, n);
                if from.exists() {
                    fs::rename(&from, rotated_path(&self.path, n + 1))?;
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

/// Gzip `src` into `dest` (written to a temp name, then renamed, so a reader never sees
/// half a file).
pub fn gzip_file(src: &Path, dest: &Path) -> io::Result<()> {
    let tmp = dest.with_extension("gz.tmp");
    {
        let mut input = BufReader::new(File::open(src)?);
        let mut enc = GzEncoder::new(File::create(&tmp)?, Compression::fast());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.sync_all()?;
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
        GzDecoder::new(File::open(rotated_path(&path, 1)).unwrap()).read_to_string(&mut s).unwrap();
        assert_eq!(s.len(), 600);
        assert_eq!(fs::read(&path).unwrap().len(), 600);
    }
}
