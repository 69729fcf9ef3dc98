//! Reading task logs back: the last N lines of a log (from the end of the file, without
//! reading all of it), and following a log as it grows, across truncation and rotation.
//! Works from the files alone, with or without a running supervisor.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The last `n` lines of the file at `path` (empty if it does not exist).
pub fn last_lines(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = File::open(path) else {
        return vec![];
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return vec![];
    };
    // Read backwards in blocks until there are enough newlines.
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    const BLOCK: u64 = 64 * 1024;
    while start > 0 && memchr::memchr_iter(b'\n', &buf).count() <= n {
        let from = start.saturating_sub(BLOCK);
        let mut chunk = vec![0u8; (start - from) as usize];
        if f.seek(SeekFrom::Start(from)).is_err() || f.read_exact(&mut chunk).is_err() {
            return vec![];
        }
        chunk.extend_from_slice(&buf);
        buf = chunk;
        start = from;
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    // The first line may be partial when we did not read from the start.
    let skip_first = start > 0;
    let lines = if skip_first && !lines.is_empty() {
        &lines[1..]
    } else {
        &lines[..]
    };
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Follows one log file: returns whole new lines as they are appended; starts over when
/// the file is truncated or replaced (a restart after a stop, a rotation).
pub struct Follower {
    path: std::path::PathBuf,
    pos: u64,
    carry: Vec<u8>,
    ino: Option<u64>,
    /// Modification time of `.1.gz` when last looked at.
    rotated_at: Option<std::time::SystemTime>,
}

impl Follower {
    /// Start following at the current end of the file.
    pub fn at_end(path: &Path) -> Self {
        let (pos, ino) = match std::fs::metadata(path) {
            Ok(m) => (m.len(), Some(inode(&m))),
            Err(_) => (0, None),
        };
        Follower {
            path: path.to_path_buf(),
            pos,
            carry: vec![],
            ino,
            rotated_at: std::fs::metadata(crate::logs::writer::rotated_path(path, 1))
                .and_then(|m| m.modified())
                .ok(),
        }
    }

    /// New complete lines since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return vec![];
        };
        let ino = Some(inode(&meta));
        let mut out = vec![];
        // bts rotates by gzipping the log into `.1.gz` and emptying it: a new `.1.gz`
        // means a rotation, and what was written after our last read is at its end.
        let rotated = crate::logs::writer::rotated_path(&self.path, 1);
        let rotated_at = std::fs::metadata(&rotated).and_then(|m| m.modified()).ok();
        let rotation = rotated_at.is_some() && rotated_at != self.rotated_at;
        let seen_rotation = std::mem::replace(&mut self.rotated_at, rotated_at);
        if ino != self.ino || meta.len() < self.pos || rotation {
            if rotation && ino == self.ino {
                // Renames keep modification times: when `.2.gz` is newer than the `.1.gz`
                // we saw, two rotations happened since, and ours is `.2.gz`.
                let second = crate::logs::writer::rotated_path(&self.path, 2);
                let second_at = std::fs::metadata(&second).and_then(|m| m.modified()).ok();
                let twice = second_at.is_some() && second_at > seen_rotation;
                let ours = if twice { &second } else { &rotated };
                if let Some(old) = read_gz(ours).filter(|o| o.len() as u64 >= self.pos) {
                    self.carry.extend_from_slice(&old[self.pos as usize..]);
                    if twice {
                        if let Some(newer) = read_gz(&rotated) {
                            self.carry.extend_from_slice(&newer);
                        }
                    }
                    self.take_lines(&mut out);
                }
            }
            if !self.carry.is_empty() {
                out.push(String::from_utf8_lossy(&self.carry).into_owned());
            }
            self.pos = 0;
            self.carry.clear();
            self.ino = ino;
        }
        if meta.len() == self.pos {
            return out;
        }
        let Ok(mut f) = File::open(&self.path) else {
            return out;
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return out;
        }
        let mut data = Vec::new();
        let Ok(n) = f.read_to_end(&mut data) else {
            return out;
        };
        self.pos += n as u64;
        self.carry.extend_from_slice(&data);
        self.take_lines(&mut out);
        out
    }

    /// Move the complete lines of `carry` to `out`.
    fn take_lines(&mut self, out: &mut Vec<String>) {
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', &self.carry) {
            out.push(String::from_utf8_lossy(&self.carry[start..i]).into_owned());
            start = i + 1;
        }
        self.carry.drain(..start);
    }
}

fn read_gz(path: &Path) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(File::open(path).ok()?)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_of_a_big_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.log");
        let text: String = (1..=50_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, text).unwrap();
        assert_eq!(
            last_lines(&p, 3),
            vec!["line 49998", "line 49999", "line 50000"]
        );
        assert_eq!(
            last_lines(&dir.path().join("none"), 3),
            Vec::<String>::new()
        );
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(last_lines(&p, 10), vec!["a", "b"]);
    }

    #[test]
    fn follower_picks_up_lines_written_just_before_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.log");
        std::fs::write(&p, "a\n").unwrap();
        let mut f = Follower::at_end(&p);
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"b\nc\n").unwrap();
        drop(w);
        // Rotate the way bts does (LogWriter::rotate): shift, gzip into .1.gz, empty.
        let mut log = crate::logs::writer::LogWriter::open(&p, 1024, 3, false).unwrap();
        log.rotate().unwrap();
        log.write_batch(b"d\n").unwrap();
        assert_eq!(f.poll(), vec!["b", "c", "d"]);
        // Two rotations between polls.
        log.write_batch(b"e\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        log.rotate().unwrap();
        log.write_batch(b"f\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        log.rotate().unwrap();
        log.write_batch(b"g\n").unwrap();
        assert_eq!(f.poll(), vec!["e", "f", "g"]);
    }

    #[test]
    fn follower_sees_appends_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.log");
        std::fs::write(&p, "old\n").unwrap();
        let mut f = Follower::at_end(&p);
        assert!(f.poll().is_empty());
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"new 1\nnew").unwrap();
        assert_eq!(f.poll(), vec!["new 1"]);
        w.write_all(b" 2\n").unwrap();
        assert_eq!(f.poll(), vec!["new 2"]);
        std::fs::write(&p, "fresh\n").unwrap();
        assert_eq!(f.poll(), vec!["fresh"]);
    }
}
