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

/// The last `n` lines that `keep` accepts, from the log and then from its rotations
/// (`.1.gz`, `.2.gz`, …) as far back as needed; oldest first.
pub fn last_lines_matching(path: &Path, n: usize, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut have = 0;
    for k in 0.. {
        if have >= n {
            break;
        }
        let lines: Vec<String> = if k == 0 {
            // The current log: from its end, a growing window until enough lines match.
            let mut window = (n - have).max(64);
            loop {
                let tail = last_lines(path, window);
                let matching: Vec<String> = tail.iter().filter(|l| keep(l)).cloned().collect();
                if matching.len() >= n - have || tail.len() < window {
                    break matching;
                }
                window = window.saturating_mul(8);
            }
        } else {
            let rotated = crate::logs::writer::rotated_path(path, k);
            let Some(data) = read_gz(&rotated) else { break };
            String::from_utf8_lossy(&data)
                .lines()
                .filter(|l| keep(l))
                .map(str::to_string)
                .collect()
        };
        let take = lines.len().min(n - have);
        have += take;
        found.push(lines[lines.len() - take..].to_vec());
    }
    found.into_iter().rev().flatten().collect()
}

/// Rotations a follower catches up on between two polls (older ones are lost to it,
/// not to the files).
const MAX_CATCH_UP: u32 = 64;

/// Bytes at the start of the log that identify its current content: every line starts
/// with a millisecond timestamp, so a rewritten file starts differently.
const HEAD: usize = 64;

/// Follows one log file: returns whole new lines as they are appended, across bts's
/// rotations (the log is gzipped into `.1.gz` — older ones shifted to `.2.gz` … — and
/// then emptied) and restarts (the log is emptied).
pub struct Follower {
    path: std::path::PathBuf,
    pos: u64,
    carry: Vec<u8>,
    /// The first bytes of the file as we read it.
    head: Vec<u8>,
    /// Modification time of `.1.gz` when last looked at.
    rotated_at: Option<std::time::SystemTime>,
    /// Reading starts mid-line (after [`Follower::skip_to_newest`]): drop up to the
    /// first newline.
    cut: bool,
}

impl Follower {
    /// Start following at the current end of the file.
    pub fn at_end(path: &Path) -> Self {
        let pos = std::fs::metadata(path).map_or(0, |m| m.len());
        Follower {
            path: path.to_path_buf(),
            pos,
            carry: vec![],
            head: read_head(path),
            rotated_at: modified(&crate::logs::writer::rotated_path(path, 1)),
            cut: false,
        }
    }

    /// For a reader that shows only the newest lines (the dashboard): when more than
    /// `max` bytes were appended since the last look, go on from the last `max` bytes
    /// (the line cut there is dropped) instead of reading a flood whole. The skipped
    /// lines stay in the file.
    pub fn skip_to_newest(&mut self, max: u64) {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        let head = read_head(&self.path);
        let n = head.len().min(self.head.len());
        // Only within the file as we know it: a rotation is poll's to follow.
        if meta.len() > self.pos.saturating_add(max) && head[..n] == self.head[..n] {
            self.pos = meta.len() - max;
            self.carry.clear();
            self.cut = true;
        }
    }

    /// New complete lines since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return vec![];
        };
        let mut out = vec![];
        let head = read_head(&self.path);
        let n = head.len().min(self.head.len());
        let first = crate::logs::writer::rotated_path(&self.path, 1);
        // We had seen nothing of this file (it was empty) and it has been rotated since:
        // all of it is in the rotations — unless this is the moment between gzipping and
        // emptying, when `.1.gz` and the log still start alike.
        let rotated_unseen = self.head.is_empty() && modified(&first) != self.rotated_at && {
            let gz_head = read_gz(&first).map(|g| g[..g.len().min(HEAD)].to_vec());
            if gz_head
                .is_some_and(|g| !g.is_empty() && head.starts_with(&g[..g.len().min(head.len())]))
            {
                return out;
            }
            true
        };
        // Emptied (and maybe written again) since the last look: a rotation or a restart.
        if meta.len() < self.pos || head[..n] != self.head[..n] || rotated_unseen {
            let second = crate::logs::writer::rotated_path(&self.path, 2);
            if !first.exists() && second.exists() {
                // A rotation is half done (shifted, not yet gzipped): look again soon.
                return out;
            }
            self.catch_up(&mut out);
            if !self.carry.is_empty() {
                out.push(String::from_utf8_lossy(&self.carry).into_owned());
            }
            self.pos = 0;
            self.carry.clear();
            self.head.clear();
        }
        if self.head.len() < HEAD {
            self.head = head;
        }
        if meta.len() <= self.pos {
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

    /// After the log was emptied: the lines we had not read yet went into the rotations
    /// made since our last look — every `.k.gz` newer than the `.1.gz` we saw then
    /// (renames keep modification times). The oldest holds the rest of what we were
    /// reading, from `pos` on. A restart empties the log without a rotation: nothing.
    fn catch_up(&mut self, out: &mut Vec<String>) {
        let seen = self.rotated_at;
        let newer = |k: u32| {
            let at = modified(&crate::logs::writer::rotated_path(&self.path, k));
            at.is_some() && at > seen
        };
        self.rotated_at = modified(&crate::logs::writer::rotated_path(&self.path, 1));
        if !newer(1) {
            return;
        }
        let mut k = 1;
        while k < MAX_CATCH_UP && newer(k + 1) {
            k += 1;
        }
        for n in (1..=k).rev() {
            let Some(old) = read_gz(&crate::logs::writer::rotated_path(&self.path, n)) else {
                continue;
            };
            let from = if n == k { self.pos as usize } else { 0 };
            if let Some(rest) = old.get(from..) {
                self.carry.extend_from_slice(rest);
            }
        }
        self.take_lines(out);
    }

    /// Move the complete lines of `carry` to `out`.
    fn take_lines(&mut self, out: &mut Vec<String>) {
        let mut start = 0;
        if self.cut {
            let Some(i) = memchr::memchr(b'\n', &self.carry) else {
                self.carry.clear();
                return;
            };
            start = i + 1;
            self.cut = false;
        }
        let from = start;
        for i in memchr::memchr_iter(b'\n', &self.carry[from..]) {
            let i = from + i;
            out.push(String::from_utf8_lossy(&self.carry[start..i]).into_owned());
            start = i + 1;
        }
        self.carry.drain(..start);
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The first [`HEAD`] bytes of a file (fewer if it is shorter).
fn read_head(path: &Path) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEAD);
    if let Ok(f) = File::open(path) {
        let _ = f.take(HEAD as u64).read_to_end(&mut buf);
    }
    buf
}

fn read_gz(path: &Path) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(File::open(path).ok()?)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_skips_a_flood_to_its_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.log");
        std::fs::write(&p, "first\n").unwrap();
        let mut f = Follower::at_end(&p);
        let text: String = (1..=1000).map(|i| format!("line {i:04}\n")).collect();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut w| std::io::Write::write_all(&mut w, text.as_bytes()))
            .unwrap();
        // 25 bytes back from the end cut "line 0998" in half: that half is dropped.
        f.skip_to_newest(25);
        assert_eq!(f.poll(), ["line 0999", "line 1000"]);
        // Less than `max` new: nothing skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut w| std::io::Write::write_all(&mut w, b"a\nb\n"))
            .unwrap();
        f.skip_to_newest(25);
        assert_eq!(f.poll(), ["a", "b"]);
    }

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
    fn matching_lines_reach_into_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.log");
        let mut log = crate::logs::writer::LogWriter::open(&p, 1024, 5, true).unwrap();
        log.write_batch(b"error: old\n").unwrap();
        log.rotate().unwrap();
        log.write_batch(b"x\nerror: new\ny\n").unwrap();
        let errs = last_lines_matching(&p, 5, |l| l.starts_with("error"));
        assert_eq!(errs, vec!["error: old", "error: new"]);
        assert_eq!(
            last_lines_matching(&p, 2, |_| true),
            vec!["error: new", "y"]
        );
        assert_eq!(last_lines_matching(&p, 10, |_| true).len(), 4);
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
