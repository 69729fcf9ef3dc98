//! Where each part of the dashboard goes on a screen of a given size. One function, used
//! by the drawing (`view`) and by the model (a page of the log is the log's height), so
//! the two never disagree.

use ratatui::layout::Rect;

/// The dashboard's areas, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// Project, task counts, whether the supervisor answers.
    pub title: Rect,
    /// The task table, with its header row (zero height when the log is maximized).
    pub table: Rect,
    /// The selected task: state, detail and next action.
    pub selected: Rect,
    /// The log's title line: whose log, following or scrolled, filters, search.
    pub log_title: Rect,
    /// The log lines themselves: nothing else is drawn here, so a mouse selection copies
    /// clean lines.
    pub log: Rect,
    /// Key hints, receipts and errors of actions, the search being typed.
    pub footer: Rect,
}

/// The areas for `tasks` tasks on a screen `area`. The table gets a row per task up to
/// 40 % of the screen (it scrolls beyond); the log gets the rest.
pub fn areas(area: Rect, tasks: usize, maximized: bool) -> Areas {
    let fixed = 4; // title, selected, log title, footer
    let spare = area.height.saturating_sub(fixed);
    let table = if maximized {
        0
    } else {
        let wanted = tasks as u16 + 1;
        let cap = (area.height * 2 / 5).max(3);
        wanted.min(cap).min(spare.saturating_sub(1))
    };
    let log = spare.saturating_sub(table);
    let bottom = area.y + area.height;
    let mut y = area.y;
    // On a screen too small for all of it, what does not fit gets no rows.
    let mut take = |h: u16| {
        let h = h.min(bottom - y);
        let r = Rect::new(area.x, y, area.width, h);
        y += h;
        r
    };
    Areas {
        title: take(1),
        table: take(table),
        selected: take(1),
        log_title: take(1),
        log: take(log),
        footer: take(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_80_by_24_with_ten_tasks() {
        let a = areas(Rect::new(0, 0, 80, 24), 10, false);
        assert_eq!(a.title.y, 0);
        assert_eq!(a.table.height, 9, "40 % of 24 rows: 8 tasks and the header");
        assert_eq!(a.selected.y, 10);
        assert_eq!(a.log.height, 24 - 4 - 9);
        assert_eq!(a.footer.y, 23);
        assert_eq!(a.footer.height, 1);
    }

    #[test]
    fn few_tasks_leave_the_rest_to_the_log_and_maximized_hides_the_table() {
        let a = areas(Rect::new(0, 0, 200, 50), 3, false);
        assert_eq!(a.table.height, 4);
        assert_eq!(a.log.height, 50 - 4 - 4);
        let m = areas(Rect::new(0, 0, 200, 50), 3, true);
        assert_eq!(m.table.height, 0);
        assert_eq!(m.log.height, 46);
        assert_eq!(m.footer.y, 49);
    }

    #[test]
    fn a_tiny_screen_does_not_overflow() {
        for h in 0..8 {
            let a = areas(Rect::new(0, 0, 20, h), 5, false);
            let bottom = a.footer.y + a.footer.height;
            assert!(bottom <= h, "height {h}: {a:?}");
        }
    }
}
