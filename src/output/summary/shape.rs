//! A line's *shape* for `--output summary`: the line with its values replaced, so
//! lines that differ only in numbers, ids, times or quoted strings compare equal.
//!
//! [`shape_into`] copies the line with each *value* replaced by a placeholder (a `0x01`
//! byte and a kind letter, which never collides with text):
//! - timestamps: `2024-01-02T03:04:05.123Z`, `2024-01-02 03:04:05,123+02:00`,
//!   `2024/01/02`, `03:04:05(.fff)`;
//! - UUIDs `8-4-4-4-12` hex;
//! - durations: a number with a unit `ns us µs ms s sec m min h hr d`, compound ones
//!   like `1m30s` included, not followed by a letter or digit;
//! - numbers (`42`, `1.5`, `1,204`, `127.0.0.1`, also digits inside a word, `worker12`),
//!   `0x…`, and hex ids (a whole word of ≥ 6 hex digits with at least one digit, so the
//!   word `deadbeef` stays text); these three share one placeholder, because an id field
//!   that is sometimes all digits must not change the shape;
//! - quoted strings: `"…"` and `` `…` `` anywhere, `'…'` only when the quote opens a word
//!   and closes one (so the apostrophes in `don't` and `it's` stay text); `\` escapes.
//!
//! Every byte but an ASCII letter or digit separates words (`_` too), so `req_5f3a9c`
//! and `cart/123` hold values.

const NUM: &[u8] = b"\x01#";
const UUID: &[u8] = b"\x01U";
const DUR: &[u8] = b"\x01D";
const TIME: &[u8] = b"\x01T";
const QUOTED: &[u8] = b"\x01Q";

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

#[inline]
fn at(line: &[u8], i: usize) -> u8 {
    line.get(i).copied().unwrap_or(0)
}

/// Write `line`'s shape into `out` (cleared first). One pass; nothing allocated but `out`.
pub fn shape_into(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // Once a scan for a closing quote of a kind has failed, later ones would too: this
    // keeps a line full of stray quotes linear.
    let mut no_close = [false; 3];
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        let word_start = i == 0 || !is_word(line[i - 1]);
        let quote = match b {
            b'"' => Some(0),
            b'`' => Some(1),
            b'\'' if word_start => Some(2),
            _ => None,
        };
        if let Some(q) = quote {
            if !no_close[q] {
                match quoted_end(line, i) {
                    Some(end) => {
                        out.extend_from_slice(QUOTED);
                        i = end;
                        continue;
                    }
                    None => no_close[q] = true,
                }
            }
        } else if word_start && is_word(b) {
            if let Some((end, kind)) = value_at(line, i) {
                out.extend_from_slice(kind);
                i = end;
                continue;
            }
        } else if b.is_ascii_digit() {
            // Digits inside a word: `worker12`, `v1.2.3`.
            out.extend_from_slice(NUM);
            i = number_end(line, i);
            continue;
        }
        out.push(b);
        i += 1;
    }
}

/// The end (exclusive) of the quoted string opening at `start`, if it closes on this line.
fn quoted_end(line: &[u8], start: usize) -> Option<usize> {
    let q = line[start];
    let mut i = start + 1;
    while let Some(off) = memchr::memchr2(q, b'\\', &line[i..]) {
        let j = i + off;
        if line[j] == b'\\' {
            i = j + 2;
            if i >= line.len() {
                return None;
            }
            continue;
        }
        // A single quote closes only at the end of a word: `'it's here'` closes at the last.
        if q == b'\'' && is_word(at(line, j + 1)) {
            i = j + 1;
            continue;
        }
        return Some(j + 1);
    }
    None
}

/// A value starting at word start `i`: its end and placeholder.
fn value_at(line: &[u8], i: usize) -> Option<(usize, &'static [u8])> {
    if line[i].is_ascii_digit() {
        if let Some(end) = timestamp_end(line, i) {
            return Some((end, TIME));
        }
    }
    if let Some(end) = uuid_end(line, i) {
        return Some((end, UUID));
    }
    let word_end = i + line[i..]
        .iter()
        .position(|&b| !is_word(b))
        .unwrap_or(line.len() - i);
    let word = &line[i..word_end];
    if word.len() > 2
        && (word[1] == b'x' || word[1] == b'X')
        && word[0] == b'0'
        && word[2..].iter().all(u8::is_ascii_hexdigit)
    {
        return Some((word_end, NUM));
    }
    if word.len() >= 6
        && word.iter().all(u8::is_ascii_hexdigit)
        && word.iter().any(u8::is_ascii_digit)
    {
        return Some((word_end, NUM));
    }
    if !line[i].is_ascii_digit() {
        return None;
    }
    if let Some(end) = duration_end(line, i) {
        return Some((end, DUR));
    }
    Some((number_end(line, i), NUM))
}

/// End of `n` ASCII digits at `i`, exactly.
fn digits(line: &[u8], i: usize, n: usize) -> Option<usize> {
    let end = i + n;
    (end <= line.len() && line[i..end].iter().all(u8::is_ascii_digit)).then_some(end)
}

/// End of one or more digits at `i`.
fn digit_run(line: &[u8], i: usize) -> Option<usize> {
    let n = line
        .get(i..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    (n > 0).then_some(i + n)
}

/// `\d+` then any `.\d+`, `,\d{3}` (thousands) groups.
fn number_end(line: &[u8], i: usize) -> usize {
    let mut end = digit_run(line, i).unwrap_or(i);
    loop {
        match at(line, end) {
            b'.' => match digit_run(line, end + 1) {
                Some(e) => end = e,
                None => return end,
            },
            b',' => match digits(line, end + 1, 3) {
                Some(e) if !at(line, e).is_ascii_digit() => end = e,
                _ => return end,
            },
            _ => return end,
        }
    }
}

/// `YYYY-MM-DD` (or `/`) with an optional `[T ]HH:MM(:SS(.f)?)?` and zone, or a bare
/// `H:MM:SS(.f)?` with an optional zone.
fn timestamp_end(line: &[u8], i: usize) -> Option<usize> {
    if let Some(e) = digits(line, i, 4) {
        let sep = at(line, e);
        if sep == b'-' || sep == b'/' {
            let e = digits(line, e + 1, 2)?;
            if at(line, e) != sep {
                return None;
            }
            let date_end = digits(line, e + 1, 2)?;
            let t = at(line, date_end);
            if t == b'T' || t == b' ' {
                if let Some(end) = time_end(line, date_end + 1, false) {
                    return Some(zone_end(line, end));
                }
            }
            return Some(date_end);
        }
        return None;
    }
    time_end(line, i, true).map(|end| zone_end(line, end))
}

/// `HH:MM[:SS[.fff]]`; seconds are required when `need_seconds`.
fn time_end(line: &[u8], i: usize, need_seconds: bool) -> Option<usize> {
    let h = digits(line, i, 2).or_else(|| {
        if need_seconds {
            digits(line, i, 1)
        } else {
            None
        }
    })?;
    if at(line, h) != b':' {
        return None;
    }
    let m = digits(line, h + 1, 2)?;
    let s = match (at(line, m), digits(line, m + 1, 2)) {
        (b':', Some(s)) => s,
        _ if need_seconds => return None,
        _ => return Some(m),
    };
    if matches!(at(line, s), b'.' | b',') {
        if let Some(f) = digit_run(line, s + 1) {
            return Some(f);
        }
    }
    Some(s)
}

/// An optional `Z` or `±HH(:?MM)?` after a time.
fn zone_end(line: &[u8], i: usize) -> usize {
    match at(line, i) {
        b'Z' => i + 1,
        b'+' | b'-' => match digits(line, i + 1, 2) {
            Some(h) => {
                let m = if at(line, h) == b':' { h + 1 } else { h };
                digits(line, m, 2).unwrap_or(h)
            }
            None => i,
        },
        _ => i,
    }
}

fn uuid_end(line: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    for (k, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if k > 0 {
            if at(line, p) != b'-' {
                return None;
            }
            p += 1;
        }
        let end = p + n;
        if end > line.len() || !line[p..end].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        p = end;
    }
    (!is_word(at(line, p))).then_some(p)
}

/// Units, longest first so `ms` is not read as `m`.
const UNITS: &[&[u8]] = &[
    b"mins",
    b"secs",
    b"min",
    b"sec",
    b"hrs",
    b"ms",
    b"us",
    b"ns",
    b"hr",
    "µs".as_bytes(),
    "μs".as_bytes(),
    b"s",
    b"m",
    b"h",
    b"d",
];

/// A duration such as `12ms`, `1.5s`, `3m`, `1h2m3.5s`: number-unit pairs, then a
/// non-word byte.
fn duration_end(line: &[u8], i: usize) -> Option<usize> {
    let mut p = i;
    loop {
        let n = digit_run(line, p)?;
        let n = if at(line, n) == b'.' {
            digit_run(line, n + 1).unwrap_or(n)
        } else {
            n
        };
        let unit = UNITS.iter().find(|u| line[n..].starts_with(u))?;
        p = n + unit.len();
        let next = at(line, p);
        if !is_word(next) {
            return Some(p);
        }
        if !next.is_ascii_digit() {
            return None;
        }
    }
}
