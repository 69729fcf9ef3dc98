//! The one place that decides how a terminal line looks: the colour a task's name gets,
//! the dimmed time, the emphasis of errors, warnings and notes, for task output and bts's
//! own events alike. The escape codes come from owo-colors, computed once; the output
//! path copies bytes, it never formats colours per line.

use std::sync::OnceLock;

use owo_colors::{AnsiColors, Style};

/// Colours tasks are given, by a hash of their name so a task keeps its colour across
/// runs and manifests. Red is kept for errors.
const PALETTE: [AnsiColors; 10] = [
    AnsiColors::Cyan,
    AnsiColors::Green,
    AnsiColors::Yellow,
    AnsiColors::Blue,
    AnsiColors::Magenta,
    AnsiColors::BrightCyan,
    AnsiColors::BrightGreen,
    AnsiColors::BrightYellow,
    AnsiColors::BrightBlue,
    AnsiColors::BrightMagenta,
];

/// How a piece of a line is emphasised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Plain,
    /// An error line of a task.
    Error,
    /// A warning line of a task, or a warning of bts.
    Warning,
    /// A note of bts about a task's output ("… lines not shown").
    Note,
    /// An error of bts itself.
    Alarm,
    /// The time of a prefix.
    Time,
    /// The `bts |` tag of bts's own lines.
    Tag,
}

struct Codes {
    /// (prefix, suffix) per look, in the order of [`Look`].
    looks: Vec<(String, String)>,
    /// Prefix per palette colour.
    tasks: Vec<String>,
    reset: String,
}

fn codes() -> &'static Codes {
    static CODES: OnceLock<Codes> = OnceLock::new();
    CODES.get_or_init(|| {
        let pair = |s: Style| {
            (
                s.prefix_formatter().to_string(),
                s.suffix_formatter().to_string(),
            )
        };
        Codes {
            looks: vec![
                (String::new(), String::new()),
                pair(Style::new().red()),
                pair(Style::new().yellow()),
                pair(Style::new().dimmed()),
                pair(Style::new().red().bold()),
                pair(Style::new().dimmed()),
                pair(Style::new().bold()),
            ],
            tasks: PALETTE
                .iter()
                .map(|c| Style::new().color(*c).prefix_formatter().to_string())
                .collect(),
            reset: Style::new().red().suffix_formatter().to_string(),
        }
    })
}

/// Append `text` with `look` (or plain without `color`).
#[inline]
pub fn paint(buf: &mut Vec<u8>, text: &[u8], look: Look, color: bool) {
    if !color || look == Look::Plain {
        buf.extend_from_slice(text);
        return;
    }
    let (pre, post) = &codes().looks[look as usize];
    buf.extend_from_slice(pre.as_bytes());
    buf.extend_from_slice(text);
    buf.extend_from_slice(post.as_bytes());
}

/// `text` with `look`, as a string.
pub fn painted(text: &str, look: Look, color: bool) -> String {
    let mut buf = Vec::with_capacity(text.len() + 12);
    paint(&mut buf, text.as_bytes(), look, color);
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `name` padded to `width`, in the task's own colour.
pub fn task_name(name: &str, width: usize, color: bool) -> String {
    let padded = format!("{name:<width$}");
    if !color {
        return padded;
    }
    let c = codes();
    format!("{}{padded}{}", c.tasks[palette_index(name)], c.reset)
}

/// FNV-1a: stable across runs and platforms, unlike std's randomly seeded hasher.
fn palette_index(name: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % PALETTE.len() as u32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_without_colour_and_wrapped_with_it() {
        assert_eq!(painted("boom", Look::Error, false), "boom");
        let red = painted("boom", Look::Error, true);
        assert!(
            red.starts_with("\x1b[31m") && red.ends_with("\x1b[0m"),
            "{red:?}"
        );
        assert!(red.contains("boom"));
        let name = task_name("web", 5, true);
        assert!(name.contains("web  "), "{name:?}");
        assert_eq!(task_name("web", 5, false), "web  ");
        assert_eq!(
            task_name("api", 3, true),
            task_name("api", 3, true),
            "a task keeps its colour"
        );
    }
}
