//! Drawing the dashboard (docs/behaviour.md#dashboard): the model in, a frame out. States
//! are words (`UP`, `FAILED`) that read without colour; colour, when on, only adds to
//! them. The log area holds the log lines and nothing else — no border, no marker — so a
//! mouse selection copies clean lines.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::layout;
use super::model::{Link, Mode, Model, Owner, Source};
use super::pane::{split_rows, LogLine};
use crate::digest::{self, Digest};
use crate::lifecycle::TaskState;
use crate::output::summary::Class;

/// How the dashboard is painted: with colour, or with modifiers only (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn state(self, s: TaskState) -> Style {
        let c = match s {
            TaskState::Up => Color::Green,
            TaskState::Starting | TaskState::Pending | TaskState::Restarting => Color::Cyan,
            TaskState::Degraded | TaskState::Blocked => Color::Yellow,
            TaskState::Down | TaskState::Failed => Color::Red,
            TaskState::Exited | TaskState::Stopped => Color::DarkGray,
        };
        let style = self.fg(c);
        if s.is_bad() || matches!(s, TaskState::Down | TaskState::Blocked) {
            style.add_modifier(Modifier::BOLD)
        } else {
            style
        }
    }

    fn class(self, c: Class) -> Style {
        match c {
            Class::Error => self.fg(Color::Red),
            Class::Warning => self.fg(Color::Yellow),
            Class::Normal => Style::default(),
        }
    }

    fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }

    fn matched(self, current: bool) -> Style {
        let s = Style::default().add_modifier(Modifier::REVERSED);
        if current {
            s.add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            s
        }
    }
}

pub fn render(m: &Model, f: &mut Frame, paint: Paint) {
    let a = layout::areas(f.area(), m.tasks.len(), m.maximized);
    f.render_widget(Paragraph::new(title(m, paint)), a.title);
    if a.table.height > 0 {
        table(m, f, a.table, paint);
    }
    f.render_widget(Paragraph::new(selected_line(m, paint)), a.selected);
    f.render_widget(Paragraph::new(log_title(m, paint)), a.log_title);
    log(m, f, a.log, paint);
    f.render_widget(Paragraph::new(footer(m, paint)), a.footer);
    if let Mode::Confirm(ap) = &m.mode {
        confirm(f, ap, paint);
    }
}

fn title(m: &Model, paint: Paint) -> Line<'static> {
    let mut counts: Vec<(TaskState, usize)> = vec![];
    for d in &m.tasks {
        match counts.iter_mut().find(|(s, _)| *s == d.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((d.status, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| TaskState::ALL.iter().position(|x| x == s));
    let (link, style) = match &m.link {
        Link::Connecting => ("waiting for the supervisor…".to_string(), paint.dim()),
        Link::Live if m.owner == Owner::Foreground => ("bts up --ui".into(), paint.dim()),
        Link::Live => ("attached".into(), paint.dim()),
        Link::Lost(why) => (
            format!("the supervisor does not answer: {why}"),
            paint.fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let mut spans = vec![
        Span::styled(
            format!("bts · {} · ", m.project),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(link, style),
        Span::raw(format!(" · {} tasks: ", m.tasks.len())),
    ];
    for (i, (s, n)) in counts.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(", "));
        }
        spans.push(Span::styled(format!("{n} {s}"), paint.state(*s)));
    }
    Line::from(spans)
}

/// `healthy` / `unhealthy: connection refused` — the health and its last probe result.
fn health(d: &Digest) -> String {
    match &d.health {
        None => "-".into(),
        Some(h) if h.detail.is_empty() => h.status.clone(),
        Some(h) => format!("{}: {}", h.status, h.detail),
    }
}

fn table(m: &Model, f: &mut Frame, area: Rect, paint: Paint) {
    let header = Row::new([
        "", "NAME", "STATE", "HEALTH", "PORTS", "UPTIME", "RST", "CPU", "MEM", "ERR/WARN",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows_fit = area.height.saturating_sub(1) as usize;
    // Scroll the table so that the selected task is on screen.
    let first = (m.selected + 1).saturating_sub(rows_fit);
    let rows: Vec<Row> = m
        .tasks
        .iter()
        .enumerate()
        .skip(first)
        .take(rows_fit)
        .map(|(i, d)| {
            let sel = i == m.selected;
            let row = Row::new(vec![
                Span::raw(if sel { ">" } else { " " }),
                Span::raw(d.task.clone()),
                Span::styled(d.status.to_string(), paint.state(d.status)),
                Span::raw(health(d)),
                Span::raw(d.ports_cell()),
                Span::raw(d.uptime_cell()),
                Span::raw(d.restarts.to_string()),
                Span::raw(d.cpu_cell()),
                Span::raw(d.mem_cell()),
                Span::styled(
                    format!("{}/{}", d.errors, d.warnings),
                    if d.errors > 0 {
                        paint.class(Class::Error)
                    } else if d.warnings > 0 {
                        paint.class(Class::Warning)
                    } else {
                        Style::default()
                    },
                ),
            ]);
            if sel {
                row.style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let name_w = m
        .tasks
        .iter()
        .map(|d| d.task.len())
        .max()
        .unwrap_or(4)
        .max(4) as u16;
    let ports_w = m
        .tasks
        .iter()
        .map(|d| d.ports_cell().len())
        .max()
        .unwrap_or(5)
        .max(5) as u16;
    let widths = [
        Constraint::Length(1),
        Constraint::Length(name_w),
        Constraint::Length(10),
        Constraint::Fill(1),
        Constraint::Length(ports_w),
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

/// `> api  UP (pid 4242, port 4000) · next: …` — the selected task and what to do next.
fn selected_line(m: &Model, paint: Paint) -> Line<'static> {
    let Some(d) = m.selected_task() else {
        return Line::from("no tasks");
    };
    let mut spans = vec![
        Span::styled(
            format!("> {} ", d.task),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled(d.status.to_string(), paint.state(d.status)),
    ];
    let receipt = digest::receipt_line(d);
    let extra = receipt
        .split_once(" (")
        .map(|(_, r)| format!(" ({r}"))
        .unwrap_or_default();
    spans.push(Span::raw(extra));
    let next = match &d.next_action {
        Some(n) => n.clone(),
        None => "nothing to do".into(),
    };
    spans.push(Span::styled(
        format!(" · next: {next}"),
        paint.fg(Color::Cyan),
    ));
    if d.status == TaskState::Blocked {
        spans.push(Span::raw(" (or press A)"));
    }
    Line::from(spans)
}

fn log_title(m: &Model, paint: Paint) -> Line<'static> {
    let whose = match &m.source {
        Source::Task(t) => format!("── {t} log"),
        Source::All => "── all logs".to_string(),
    };
    let mut parts = vec![if m.pane.following() {
        "following".to_string()
    } else {
        "scrolled (End follows)".to_string()
    }];
    if m.pane.errors_only {
        parts.push("errors and warnings only".into());
    }
    if m.pane.wrap {
        parts.push("wrapped".into());
    }
    if let Some(s) = &m.pane.search {
        match s.current {
            Some(c) => parts.push(format!("/{}: {} of {}", s.query, c + 1, s.matches.len())),
            None => parts.push(format!("/{}: no match", s.query)),
        }
    }
    Line::from(vec![
        Span::styled(
            format!("{whose} ── {} ", parts.join(" · ")),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::styled("─".repeat(200), paint.dim()),
    ])
}

fn log(m: &Model, f: &mut Frame, area: Rect, paint: Paint) {
    if area.height == 0 {
        return;
    }
    let name_width = m.name_width();
    let width = area.width as usize;
    let current = m.pane.current_match();
    let mut out: Vec<Line> = vec![];
    for (seq, l) in m.pane.visible(area.height as usize, width, name_width) {
        let text = l.display(name_width);
        let styled = styled_line(l, &text, name_width, m, current == Some(seq), paint);
        if m.pane.wrap {
            out.extend(wrap_spans(styled, width));
        } else {
            out.push(Line::from(
                styled
                    .into_iter()
                    .map(|(t, st)| Span::styled(t, st))
                    .collect::<Vec<_>>(),
            ));
        }
    }
    // Follow the bottom: with fewer lines than rows, they sit at the top.
    let skip = out.len().saturating_sub(area.height as usize);
    f.render_widget(Paragraph::new(out.split_off(skip)), area);
}

/// One log line as spans: its time dim, the task's name (merged logs), the text in its
/// class's colour with the search's matches reversed.
fn styled_line(
    l: &LogLine,
    text: &str,
    name_width: Option<usize>,
    m: &Model,
    current: bool,
    paint: Paint,
) -> Vec<(String, Style)> {
    let off = l.text_offset(name_width);
    let base = paint.class(l.class);
    let mut out = vec![(text[..off].to_string(), paint.dim())];
    let body = &text[off..];
    let ranges = m
        .pane
        .search
        .as_ref()
        .map(|s| s.ranges(body))
        .unwrap_or_default();
    let mut at = 0;
    for (s, e) in ranges {
        out.push((body[at..s].to_string(), base));
        out.push((body[s..e].to_string(), base.patch(paint.matched(current))));
        at = e;
    }
    out.push((body[at..].to_string(), base));
    out.retain(|(t, _)| !t.is_empty());
    out
}

/// Split styled text into rows of `width` cells.
fn wrap_spans(spans: Vec<(String, Style)>, width: usize) -> Vec<Line<'static>> {
    let text: String = spans.iter().map(|(t, _)| t.as_str()).collect();
    let mut bounds = vec![];
    let mut at = 0;
    for (t, s) in &spans {
        bounds.push((at, at + t.len(), *s));
        at += t.len();
    }
    split_rows(&text, width)
        .into_iter()
        .map(|(rs, re)| {
            let row: Vec<Span> = bounds
                .iter()
                .filter(|(s, e, _)| *s < re && *e > rs)
                .map(|(s, e, st)| Span::styled(text[rs.max(*s)..re.min(*e)].to_string(), *st))
                .collect();
            Line::from(row)
        })
        .collect()
}

fn footer(m: &Model, paint: Paint) -> Line<'static> {
    if let Mode::Searching(q) = &m.mode {
        return Line::from(vec![
            Span::styled(
                format!("/{q}"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled("▏  Enter search · Esc cancel", paint.dim()),
        ]);
    }
    if let Some(fm) = &m.footer {
        let style = if fm.error {
            paint.fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            paint.fg(Color::Green)
        };
        return Line::from(Span::styled(fm.text.clone(), style));
    }
    let quit = match m.owner {
        Owner::Attached => "q quit",
        Owner::Foreground => "q stop all",
    };
    Line::from(Span::styled(
        format!(
            "↑↓ select  r restart  s stop  u start  A approve  / search  n/N  e errors  a all  \
             w wrap  ⏎ max  c copy  m mouse  {quit}"
        ),
        paint.dim(),
    ))
}

fn confirm(f: &mut Frame, ap: &super::model::Approval, paint: Paint) {
    let area = f.area();
    let w = area.width.saturating_sub(4).min(90);
    let h = 7.min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let body = vec![
        Line::from(format!("command: {}", ap.command)),
        Line::from(match &ap.checkpoint {
            Some(c) => format!("checkpoint first: {c}"),
            None => "no checkpoint".to_string(),
        }),
        Line::from(""),
        Line::from(Span::styled(
            "Run it? y approves and starts it; any other key cancels [y/N]",
            Style::default().add_modifier(Modifier::BOLD),
        )),
    ];
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(body).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(paint.fg(Color::Yellow))
                .title(format!(" approve {} (destructive) ", ap.task)),
        ),
        r,
    );
}
