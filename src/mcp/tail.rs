//! The `tail` tool's view of a log: never a raw dump. Timestamps go, runs of lines of
//! the same shape fold into one with a count (as the summary view does), error lines are
//! always kept, and the oldest plain lines give way first when the budget is short.

use crate::output::summary::{Class, Classifier};

/// Fold `lines` (as `bts logs` prints them: `<RFC 3339> text`) into at most `max_chars`.
pub fn fold(lines: &[String], classifier: &Classifier, max_chars: usize) -> String {
    let mut folded: Vec<(String, usize, bool)> = Vec::new();
    for l in lines {
        let text = strip_time(l);
        let error = classifier.classify(text.as_bytes()) == Class::Error;
        let this_shape = shape(text);
        match folded.last_mut() {
            Some((last, n, e)) if shape(last) == this_shape && !*e && !error => {
                *n += 1;
                *last = text.to_string();
            }
            _ => folded.push((text.to_string(), 1, error)),
        }
    }
    let render = |(t, n, _): &(String, usize, bool)| {
        let t = crate::digest::shorten(t, 200);
        if *n > 1 {
            format!("{t}   (×{n} like it)")
        } else {
            t
        }
    };
    // Newest first in the budget: errors always, then the most recent plain lines.
    let mut keep = vec![false; folded.len()];
    let mut used = 0;
    for pass_errors in [true, false] {
        for (i, f) in folded.iter().enumerate().rev() {
            if keep[i] || f.2 != pass_errors {
                continue;
            }
            let len = render(f).chars().count() + 1;
            if used + len <= max_chars {
                keep[i] = true;
                used += len;
            }
        }
    }
    let dropped = keep.iter().filter(|k| !**k).count();
    let mut out = String::new();
    if dropped > 0 {
        out.push_str(&format!("… {dropped} earlier lines left out\n"));
    }
    for (f, k) in folded.iter().zip(keep) {
        if k {
            out.push_str(&render(f));
            out.push('\n');
        }
    }
    out
}

fn strip_time(l: &str) -> &str {
    match l.split_once(' ') {
        Some((t, rest)) if t.len() >= 20 && t.as_bytes()[4] == b'-' && t.ends_with('Z') => rest,
        _ => l,
    }
}

/// Digits become `#`: lines that differ only in numbers have one shape.
fn shape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_lines_fold_and_errors_stay() {
        let c = Classifier::new(None, None).unwrap();
        let mut lines: Vec<String> = (0..50)
            .map(|i| format!("2026-11-30T10:00:{:02}.000Z GET /item/{i} 200", i % 60))
            .collect();
        lines.push("2026-11-30T10:01:00.000Z Error: db down".into());
        lines.push("2026-11-30T10:01:01.000Z listening on 3000".into());
        let text = fold(&lines, &c, 2000);
        assert_eq!(
            text,
            "GET /item/49 200   (×50 like it)\nError: db down\nlistening on 3000\n"
        );
        let many: Vec<String> = (0..300)
            .map(|i| format!("plain line {i} {}", "x".repeat(i % 7)))
            .collect();
        let mut many = many;
        many.insert(0, "FATAL: first".into());
        let text = fold(&many, &c, 300);
        assert!(text.chars().count() <= 340, "{text}");
        assert!(text.contains("FATAL: first"), "errors are kept: {text}");
        assert!(text.starts_with("… "), "{text}");
    }
}
