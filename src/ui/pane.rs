//! The dashboard's log pane (docs/behaviour.md#dashboard): the lines it holds, which of
//! them are shown (all, or errors and warnings only), where the view is (following the
//! newest line, or scrolled back), wrapping, and the search. Pure: lines come in, keys
//! move the view; nothing here reads a file or a terminal.

use std::collections::VecDeque;

use unicode_width::UnicodeWidthChar;

use crate::output::summary::Class;

/// Lines the pane keeps (older ones are still in the log files: `bts logs`).
pub const MAX_LINES: usize = 10_000;

/// One log line as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub task: String,
    /// Local `HH:MM:SS` of the line's log timestamp.
    pub time: String,
    /// The line without its timestamp (already redacted: it comes from the log).
    pub text: String,
    pub class: Class,
}

impl LogLine {
    /// The line as drawn and copied: `HH:MM:SS text`, or with the task's name in front
    /// (`HH:MM:SS api | text`, as the line stream prints) when `name_width` is given.
    pub fn display(&self, name_width: Option<usize>) -> String {
        match name_width {
            Some(w) => format!("{} {:<w$} | {}", self.time, self.task, self.text),
            None => format!("{} {}", self.time, self.text),
        }
    }

    /// Where `text` starts in [`LogLine::display`].
    pub fn text_offset(&self, name_width: Option<usize>) -> usize {
        self.time.len() + 1 + name_width.map_or(0, |w| w.max(self.task.len()) + 3)
    }
}

/// A committed search: the query and the shown lines that contain it (ASCII letters
/// compared without case).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    pub query: String,
    /// Sequence numbers of the matching shown lines, oldest first.
    pub matches: Vec<u64>,
    /// Index into `matches` of the current match.
    pub current: Option<usize>,
}

impl Search {
    /// Byte ranges of the query in `text`.
    pub fn ranges(&self, text: &str) -> Vec<(usize, usize)> {
        find_all(text, &self.query)
    }
}

#[derive(Debug, Default)]
pub struct Pane {
    lines: VecDeque<LogLine>,
    /// Sequence number of `lines[0]`; every line keeps its number while it is held.
    first_seq: u64,
    pub errors_only: bool,
    pub wrap: bool,
    /// Shown lines below the bottom of the view; 0 follows the newest line.
    scroll: usize,
    pub search: Option<Search>,
}

impl Pane {
    /// Replace every line (the pane now shows another task, or all of them).
    pub fn replace(&mut self, lines: Vec<LogLine>) {
        self.first_seq += self.lines.len() as u64;
        self.lines.clear();
        self.scroll = 0;
        self.push(lines);
        self.research();
    }

    /// Append new lines. A scrolled-back view stays on the lines it shows.
    pub fn push(&mut self, lines: Vec<LogLine>) {
        let start = self.first_seq + self.lines.len() as u64;
        let mut shown_new = 0;
        for (k, l) in lines.into_iter().enumerate() {
            if self.is_shown(&l) {
                shown_new += 1;
                if let Some(s) = &mut self.search {
                    if !find_all(&l.text, &s.query).is_empty() {
                        s.matches.push(start + k as u64);
                    }
                }
            }
            self.lines.push_back(l);
        }
        if self.scroll > 0 {
            self.scroll += shown_new;
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            self.first_seq += 1;
        }
        if let Some(s) = &mut self.search {
            let gone = s.matches.partition_point(|&m| m < self.first_seq);
            s.matches.drain(..gone);
            s.current = s.current.and_then(|c| c.checked_sub(gone));
        }
        self.scroll = self.scroll.min(self.shown_count().saturating_sub(1));
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn following(&self) -> bool {
        self.scroll == 0
    }

    fn is_shown(&self, l: &LogLine) -> bool {
        !self.errors_only || l.class >= Class::Warning
    }

    /// The shown lines with their sequence numbers, oldest first.
    pub fn shown(&self) -> impl DoubleEndedIterator<Item = (u64, &LogLine)> {
        let first = self.first_seq;
        self.lines
            .iter()
            .enumerate()
            .map(move |(i, l)| (first + i as u64, l))
            .filter(|(_, l)| self.is_shown(l))
    }

    pub fn shown_count(&self) -> usize {
        if self.errors_only {
            self.shown().count()
        } else {
            self.lines.len()
        }
    }

    /// Move the view `delta` lines (negative: back in time); `rows` is the view's height.
    pub fn scroll_by(&mut self, delta: isize, rows: usize) {
        let top = self.shown_count().saturating_sub(rows);
        self.scroll = if delta < 0 {
            (self.scroll + delta.unsigned_abs()).min(top)
        } else {
            self.scroll.saturating_sub(delta as usize)
        };
    }

    /// The oldest lines held.
    pub fn home(&mut self, rows: usize) {
        self.scroll = self.shown_count().saturating_sub(rows);
    }

    /// Follow the newest line again.
    pub fn end(&mut self) {
        self.scroll = 0;
    }

    pub fn toggle_errors_only(&mut self) {
        self.errors_only = !self.errors_only;
        self.scroll = 0;
        self.research();
    }

    /// Search for `query` (empty: no search); the current match is the newest one.
    pub fn search_for(&mut self, query: &str, rows: usize) {
        self.search = (!query.is_empty()).then(|| Search {
            query: query.to_string(),
            ..Default::default()
        });
        self.research();
        if let Some(s) = &mut self.search {
            s.current = s.matches.len().checked_sub(1);
        }
        self.show_current(rows);
    }

    /// Recompute the matches (the shown lines changed); the current match becomes the
    /// newest.
    fn research(&mut self) {
        let Some(query) = self.search.as_ref().map(|s| s.query.clone()) else {
            return;
        };
        let matches: Vec<u64> = self
            .shown()
            .filter(|(_, l)| !find_all(&l.text, &query).is_empty())
            .map(|(seq, _)| seq)
            .collect();
        if let Some(s) = &mut self.search {
            s.current = matches.len().checked_sub(1);
            s.matches = matches;
        }
    }

    /// The next older (`older`) or newer match, wrapping around; the view moves to it.
    pub fn next_match(&mut self, older: bool, rows: usize) {
        let Some(s) = &mut self.search else { return };
        let n = s.matches.len();
        if n == 0 {
            return;
        }
        s.current = Some(match (s.current, older) {
            (None, _) => n - 1,
            (Some(0), true) => n - 1,
            (Some(c), true) => c - 1,
            (Some(c), false) => (c + 1) % n,
        });
        self.show_current(rows);
    }

    /// The sequence number of the current match.
    pub fn current_match(&self) -> Option<u64> {
        let s = self.search.as_ref()?;
        s.matches.get(s.current?).copied()
    }

    /// Scroll so that the current match is in the middle of the view.
    fn show_current(&mut self, rows: usize) {
        let Some(seq) = self.current_match() else {
            return;
        };
        let below = self.shown().rev().take_while(|(s, _)| *s > seq).count();
        self.scroll = below.saturating_sub(rows / 2);
        let top = self.shown_count().saturating_sub(rows);
        self.scroll = self.scroll.min(top);
    }

    /// The lines in view, oldest first, for a view of `rows` × `width` cells (wrapped
    /// lines take as many rows as they need).
    pub fn visible(
        &self,
        rows: usize,
        width: usize,
        name_width: Option<usize>,
    ) -> Vec<(u64, &LogLine)> {
        let mut out = vec![];
        let mut used = 0;
        for (seq, l) in self.shown().rev().skip(self.scroll) {
            let need = if self.wrap {
                wrapped_rows(&l.display(name_width), width)
            } else {
                1
            };
            if used + need > rows && used > 0 {
                break;
            }
            used += need;
            out.push((seq, l));
            if used >= rows {
                break;
            }
        }
        out.reverse();
        out
    }

    /// The text `c` copies: the matching lines when a search is on, else the lines in
    /// view; one per line, as displayed.
    pub fn copy_text(&self, rows: usize, width: usize, name_width: Option<usize>) -> String {
        let lines: Vec<String> = match &self.search {
            Some(s) => self
                .shown()
                .filter(|(seq, _)| s.matches.binary_search(seq).is_ok())
                .map(|(_, l)| l.display(name_width))
                .collect(),
            None => self
                .visible(rows, width, name_width)
                .into_iter()
                .map(|(_, l)| l.display(name_width))
                .collect(),
        };
        lines.join("\n")
    }
}

/// Rows a line of this text takes when wrapped at `width` cells.
pub fn wrapped_rows(text: &str, width: usize) -> usize {
    split_rows(text, width).len()
}

/// Split `text` into rows of at most `width` cells (byte ranges), at least one row.
pub fn split_rows(text: &str, width: usize) -> Vec<(usize, usize)> {
    let width = width.max(1);
    let mut rows = vec![];
    let (mut start, mut used) = (0, 0);
    for (i, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if used + w > width && used > 0 {
            rows.push((start, i));
            start = i;
            used = 0;
        }
        used += w;
    }
    rows.push((start, text.len()));
    rows
}

/// Byte ranges where `query` occurs in `text`, ASCII letters compared without case
/// (lowering ASCII keeps byte offsets, so the ranges index `text` itself).
fn find_all(text: &str, query: &str) -> Vec<(usize, usize)> {
    if query.is_empty() {
        return vec![];
    }
    let hay = text.to_ascii_lowercase();
    let needle = query.to_ascii_lowercase();
    let mut out = vec![];
    let mut from = 0;
    while let Some(i) = hay[from..].find(&needle) {
        let s = from + i;
        out.push((s, s + needle.len()));
        from = s + needle.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, class: Class) -> LogLine {
        LogLine {
            task: "api".into(),
            time: "10:00:00".into(),
            text: text.into(),
            class,
        }
    }

    fn pane(n: usize) -> Pane {
        let mut p = Pane::default();
        p.replace(
            (0..n)
                .map(|i| line(&format!("line {i}"), Class::Normal))
                .collect(),
        );
        p
    }

    fn texts(v: &[(u64, &LogLine)]) -> Vec<String> {
        v.iter().map(|(_, l)| l.text.clone()).collect()
    }

    #[test]
    fn follows_the_newest_lines_and_a_scrolled_view_stays_put() {
        let mut p = pane(10);
        assert_eq!(
            texts(&p.visible(3, 80, None)),
            ["line 7", "line 8", "line 9"]
        );
        p.scroll_by(-2, 3);
        assert_eq!(
            texts(&p.visible(3, 80, None)),
            ["line 5", "line 6", "line 7"]
        );
        p.push(vec![line("line 10", Class::Normal)]);
        assert_eq!(
            texts(&p.visible(3, 80, None)),
            ["line 5", "line 6", "line 7"]
        );
        p.end();
        assert_eq!(
            texts(&p.visible(3, 80, None)),
            ["line 8", "line 9", "line 10"]
        );
        p.home(3);
        assert_eq!(
            texts(&p.visible(3, 80, None)),
            ["line 0", "line 1", "line 2"]
        );
        // Scrolling never goes past the oldest line.
        p.scroll_by(-100, 3);
        assert_eq!(
            texts(&p.visible(3, 80, None)),
            ["line 0", "line 1", "line 2"]
        );
    }

    #[test]
    fn keeps_at_most_max_lines() {
        let mut p = pane(MAX_LINES);
        assert!(!p.is_empty());
        // Line 1 (the first match) is next to drop off the front after line 0.
        p.search_for("line 1", 5);
        let before = p.search.as_ref().unwrap().matches.len();
        p.push(vec![line("new", Class::Normal)]);
        assert_eq!(p.len(), MAX_LINES);
        let (seq, first) = p.shown().next().unwrap();
        assert_eq!((seq, first.text.as_str()), (1, "line 1"));
        // Matches still held keep their numbers: none went with line 0.
        let s = p.search.as_ref().unwrap();
        assert_eq!(s.matches.len(), before);
        assert_eq!(s.matches[0], 1);
        p.push((0..2).map(|_| line("more", Class::Normal)).collect());
        let s = p.search.as_ref().unwrap();
        assert_eq!(s.matches.len(), before - 1, "line 1 has dropped off now");
        assert_eq!(
            s.current,
            Some(before - 2),
            "the current match moved with it"
        );
    }

    #[test]
    fn older_from_the_oldest_match_wraps_and_a_first_n_takes_the_newest() {
        let mut p = pane(30);
        p.search_for("line 2", 5);
        // line 2, line 20..29: 11 matches; the current is the newest.
        for _ in 0..10 {
            p.next_match(true, 5);
        }
        assert_eq!(p.current_match(), Some(2), "the oldest");
        p.next_match(true, 5);
        assert_eq!(p.current_match(), Some(29), "wrapped to the newest");
        // A search that found nothing yet has no current match; new lines bring one,
        // and n goes to the newest.
        p.search_for("later", 5);
        assert_eq!(p.current_match(), None);
        p.push(vec![
            line("later a", Class::Normal),
            line("later b", Class::Normal),
        ]);
        p.next_match(true, 5);
        assert_eq!(p.current_match(), Some(31));
    }

    #[test]
    fn errors_only_shows_errors_and_warnings() {
        let mut p = pane(3);
        p.push(vec![
            line("boom", Class::Error),
            line("meh", Class::Warning),
            line("fine", Class::Normal),
        ]);
        p.toggle_errors_only();
        assert_eq!(texts(&p.visible(10, 80, None)), ["boom", "meh"]);
        p.toggle_errors_only();
        assert_eq!(p.visible(10, 80, None).len(), 6);
    }

    #[test]
    fn wrapped_lines_take_several_rows() {
        let mut p = Pane::default();
        p.replace(vec![
            line("a", Class::Normal),
            line(&"x".repeat(30), Class::Normal),
        ]);
        // "10:00:00 " + 30 x = 39 cells: 4 rows of 10.
        p.wrap = true;
        assert_eq!(texts(&p.visible(4, 10, None)), ["x".repeat(30)]);
        assert_eq!(p.visible(5, 10, None).len(), 2);
        p.wrap = false;
        assert_eq!(p.visible(4, 10, None).len(), 2);
        assert_eq!(split_rows("abcdef", 4), [(0, 4), (4, 6)]);
        assert_eq!(split_rows("", 4), [(0, 0)]);
    }

    #[test]
    fn search_finds_matches_newest_first_and_n_moves_back() {
        let mut p = pane(100);
        p.search_for("LINE 1", 5);
        let s = p.search.clone().unwrap();
        // line 1, line 10..19
        assert_eq!(s.matches.len(), 11);
        assert_eq!(p.current_match(), Some(19));
        assert!(texts(&p.visible(5, 80, None)).contains(&"line 19".to_string()));
        p.next_match(true, 5);
        assert_eq!(p.current_match(), Some(18));
        p.next_match(false, 5);
        p.next_match(false, 5);
        assert_eq!(p.current_match(), Some(1), "wraps around to the oldest");
        assert!(texts(&p.visible(5, 80, None)).contains(&"line 1".to_string()));
        // New lines that match join the list.
        p.push(vec![line("line 1000", Class::Normal)]);
        assert_eq!(p.search.as_ref().unwrap().matches.len(), 12);
        assert_eq!(s.ranges("a Line 1"), [(2, 8)]);
        p.search_for("", 5);
        assert!(p.search.is_none());
    }

    #[test]
    fn sequence_numbers_go_on_across_replaces_and_pushes() {
        let mut p = pane(10);
        p.replace(
            (0..10)
                .map(|i| line(&format!("new {i}"), Class::Normal))
                .collect(),
        );
        p.search_for("new 9", 5);
        assert_eq!(p.current_match(), Some(19), "seqs continue after a replace");
        p.push(vec![
            line("x new 9", Class::Normal),
            line("y", Class::Normal),
            line("z new 9", Class::Normal),
        ]);
        assert_eq!(p.search.as_ref().unwrap().matches, [19, 20, 22]);
    }

    #[test]
    fn the_text_starts_after_the_time_and_the_name() {
        let l = line("body", Class::Normal);
        assert_eq!(&l.display(None)[l.text_offset(None)..], "body");
        assert_eq!(&l.display(Some(7))[l.text_offset(Some(7))..], "body");
        // A name longer than the width pushes the text on.
        assert_eq!(&l.display(Some(1))[l.text_offset(Some(1))..], "body");
    }

    #[test]
    fn a_match_is_shown_in_the_middle_of_the_view() {
        let mut p = pane(100);
        p.search_for("line 50", 5);
        assert_eq!(
            texts(&p.visible(5, 80, None)),
            ["line 48", "line 49", "line 50", "line 51", "line 52"]
        );
    }

    #[test]
    fn wrapped_lines_fill_the_view_and_never_overflow_it() {
        let mut p = Pane {
            wrap: true,
            ..Default::default()
        };
        // "10:00:00 " + 11 = 20 cells: 2 rows of 10 each.
        p.replace(
            (0..5)
                .map(|i| line(&format!("{i}{}", "x".repeat(10)), Class::Normal))
                .collect(),
        );
        assert_eq!(
            p.visible(5, 10, None).len(),
            2,
            "two lines of two rows; a third would overflow"
        );
        // One line taller than the view is still shown.
        p.replace(vec![line(&"y".repeat(40), Class::Normal)]);
        assert_eq!(p.visible(2, 10, None).len(), 1);
        // A character wider than the view takes a row of its own, not an empty one first.
        assert_eq!(split_rows("界a", 1), [(0, 3), (3, 4)]);
    }

    #[test]
    fn copy_takes_the_matches_or_the_view() {
        let mut p = pane(20);
        assert_eq!(
            p.copy_text(2, 80, None),
            "10:00:00 line 18\n10:00:00 line 19"
        );
        p.search_for("line 1", 2);
        assert!(p
            .copy_text(2, 80, None)
            .starts_with("10:00:00 line 1\n10:00:00 line 10"));
        let merged = p.copy_text(2, 80, Some(5));
        assert!(merged.starts_with("10:00:00 api   | line 1\n"), "{merged}");
    }
}
