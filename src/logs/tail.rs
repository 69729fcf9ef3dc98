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
        }
    }

    /// New complete lines since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return vec![];
        };
        let ino = Some(inode(&meta));
        if ino != self.ino || meta.len() < self.pos {
            self.pos = 0;
            self.carry.clear();
            self.ino = ino;
        }
        if meta.len() == self.pos {
            return vec![];
        }
        let Ok(mut f) = File::open(&self.path) else {
            return vec![];
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return vec![];
        }
        let mut data = Vec::new();
        let Ok(n) = f.read_to_end(&mut data) else {
            return vec![];
        };
        self.pos += n as u64;
        self.carry.extend_from_slice(&data);
        let mut out = vec![];
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', &self.carry) {
            out.push(String::from_utf8_lossy(&self.carry[start..i]).into_owned());
            start = i + 1;
        }
        self.carry.drain(..start);
        out
    }
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
