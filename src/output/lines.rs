//! Splits a byte stream into lines in place: complete lines are handed out as slices of
//! the read buffer (no copy), and only a trailing partial line is carried over to the
//! next read. Invalid UTF-8 passes through untouched; `\r\n` loses its `\r`.

/// Longest line kept whole; longer ones are cut into pieces of this size so one runaway
/// line cannot grow memory without bound.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Default)]
pub struct LineSplitter {
    carry: Vec<u8>,
}

impl LineSplitter {
    /// Feed `data`, calling `f` for every complete line (without its newline).
    pub fn feed(&mut self, mut data: &[u8], mut f: impl FnMut(&[u8])) {
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.carry.extend_from_slice(&data[..i]);
                    f(trim_cr(&self.carry));
                    self.carry.clear();
                    data = &data[i + 1..];
                }
                None => {
                    self.carry.extend_from_slice(data);
                    self.cut_long(&mut f);
                    return;
                }
            }
        }
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', data) {
            f(trim_cr(&data[start..i]));
            start = i + 1;
        }
        if start < data.len() {
            self.carry.extend_from_slice(&data[start..]);
            self.cut_long(&mut f);
        }
    }

    /// Hand out a pending partial line (end of stream, or a prompt left without newline).
    pub fn flush(&mut self, mut f: impl FnMut(&[u8])) {
        if !self.carry.is_empty() {
            f(trim_cr(&self.carry));
            self.carry.clear();
        }
    }

    pub fn has_partial(&self) -> bool {
        !self.carry.is_empty()
    }

    fn cut_long(&mut self, f: &mut impl FnMut(&[u8])) {
        if self.carry.len() >= MAX_LINE {
            let mut rest = std::mem::take(&mut self.carry);
            while rest.len() >= MAX_LINE {
                f(&rest[..MAX_LINE]);
                rest.drain(..MAX_LINE);
            }
            self.carry = rest;
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |l| out.push(l.to_vec()));
        }
        s.flush(|l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn splits_across_chunks() {
        let out = collect(&[b"ab", b"c\nde\r\nf", b"", b"g\n\nh"]);
        assert_eq!(
            out,
            vec![
                b"abc".to_vec(),
                b"de".to_vec(),
                b"fg".to_vec(),
                b"".to_vec(),
                b"h".to_vec()
            ]
        );
    }

    #[test]
    fn keeps_invalid_utf8() {
        let out = collect(&[b"\xff\xfe ok\n"]);
        assert_eq!(out, vec![b"\xff\xfe ok".to_vec()]);
    }

    #[test]
    fn cuts_runaway_lines() {
        let big = vec![b'a'; MAX_LINE * 2 + 10];
        let out = collect(&[&big]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].len(), 10);
    }
}
