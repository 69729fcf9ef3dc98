//! The dashboard's state and its one update function (docs/behaviour.md#dashboard):
//! `Model::update(input) → actions`. Keys, digests from the supervisor, log lines and the
//! results of actions come in as [`Input`]s; what must be done outside (ask the
//! supervisor to restart a task, read another log, copy to the clipboard, leave) goes
//! out as [`Action`]s. No terminal, no socket, no clock: the tests drive it directly.

use std::collections::BTreeMap;

use ratatui::layout::Rect;

use super::layout;
use super::pane::{LogLine, Pane};
use crate::digest::Digest;
use crate::lifecycle::TaskState;

/// Lines a mouse wheel notch scrolls.
const WHEEL_LINES: isize = 3;

/// A key, as the model needs it (the terminal's key events are translated in `app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Enter,
    Esc,
    Backspace,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

/// Who owns the stack: `bts ui` leaves the tasks running when it quits; `bts up --ui`
/// stops them, as Ctrl-C does in the line stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Attached,
    Foreground,
}

/// Whose log the pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Task(String),
    /// Every task's, merged by time and prefixed with the task's name.
    All,
}

/// What keys do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// `/` was pressed: the query being typed.
    Searching(String),
    /// `A` on a BLOCKED task: its command and checkpoint are shown, `y` approves.
    Confirm(Approval),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub task: String,
    pub command: String,
    pub checkpoint: Option<String>,
}

/// Whether the supervisor answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Not answered yet (`bts up --ui` before its socket is up).
    Connecting,
    Live,
    /// It answered before and does not now.
    Lost(String),
}

/// The footer's message: an action's receipt or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Key(Key),
    /// Mouse wheel notches: negative scrolls back.
    Wheel(isize),
    Resize(u16, u16),
    /// A status answer: every task's digest, or why the supervisor did not answer.
    Status(Result<Vec<Digest>, String>),
    /// The lines a log source starts with (`Action::Follow` with the same number).
    LogStart(u64, Vec<LogLine>),
    /// Lines appended to that source since.
    LogMore(u64, Vec<LogLine>),
    /// What an action came to: its receipt lines, or its error.
    Done(Result<String, String>),
    /// The terminal hung up, or a signal asks the dashboard to end.
    Hangup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Restart(String),
    Stop(String),
    Start(String),
    /// Approve a BLOCKED destructive task and start it.
    Approve(String),
    /// Show another log source; its lines come back tagged with this number.
    Follow(u64, Source),
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// Mouse capture on (wheel scrolls) or off (the terminal selects text).
    Mouse(bool),
    /// `bts up --ui`: the Ctrl-C of the line stream (a second one kills at once).
    Interrupt,
    /// Leave the dashboard.
    Quit,
}

pub struct Model {
    pub project: String,
    pub owner: Owner,
    pub link: Link,
    pub tasks: Vec<Digest>,
    pub selected: usize,
    pub source: Source,
    /// Number of the current source: lines of an earlier one are dropped.
    source_gen: u64,
    pub pane: Pane,
    pub maximized: bool,
    pub mouse: bool,
    pub mode: Mode,
    pub footer: Option<Footer>,
    pub size: (u16, u16),
    /// `bts up --ui`: Ctrl-C (or `q`) pressed this many times.
    pub interrupts: u8,
    /// Destructive tasks' commands and checkpoints, for the approval prompt.
    destructive: BTreeMap<String, (String, Option<String>)>,
    /// Bumped on every change that shows: the dashboard draws only when it moved.
    pub generation: u64,
}

impl Model {
    /// A model for `tasks` (the manifest's, in order; digests fill in as they come).
    pub fn new(
        project: &str,
        owner: Owner,
        tasks: Vec<Digest>,
        destructive: BTreeMap<String, (String, Option<String>)>,
        size: (u16, u16),
    ) -> Model {
        let source = match tasks.first() {
            Some(d) => Source::Task(d.task.clone()),
            None => Source::All,
        };
        Model {
            project: project.to_string(),
            owner,
            link: Link::Connecting,
            tasks,
            selected: 0,
            source,
            source_gen: 0,
            pane: Pane::default(),
            maximized: false,
            mouse: true,
            mode: Mode::Normal,
            footer: None,
            size,
            interrupts: 0,
            destructive,
            generation: 0,
        }
    }

    /// What the dashboard must do first: follow the first source.
    pub fn start(&mut self) -> Vec<Action> {
        vec![Action::Follow(self.source_gen, self.source.clone())]
    }

    pub fn selected_task(&self) -> Option<&Digest> {
        self.tasks.get(self.selected)
    }

    /// Width of the task names in the merged log, `None` for one task's log.
    pub fn name_width(&self) -> Option<usize> {
        (self.source == Source::All)
            .then(|| self.tasks.iter().map(|d| d.task.len()).max().unwrap_or(3))
    }

    /// Rows of the log area on the current screen.
    pub fn log_rows(&self) -> usize {
        let area = Rect::new(0, 0, self.size.0, self.size.1);
        layout::areas(area, self.tasks.len(), self.maximized)
            .log
            .height
            .max(1) as usize
    }

    fn log_width(&self) -> usize {
        self.size.0.max(1) as usize
    }

    pub fn update(&mut self, input: Input) -> Vec<Action> {
        let before = self.generation;
        self.generation += 1;
        match input {
            Input::Key(k) => self.key(k),
            Input::Wheel(n) => {
                self.pane.scroll_by(n * WHEEL_LINES, self.log_rows());
                vec![]
            }
            Input::Resize(w, h) => {
                self.size = (w, h);
                vec![]
            }
            Input::Status(r) => self.status(r),
            Input::LogStart(gen, lines) => {
                if gen == self.source_gen {
                    self.pane.replace(lines);
                } else {
                    self.generation = before;
                }
                vec![]
            }
            Input::LogMore(gen, lines) => {
                if gen == self.source_gen && !lines.is_empty() {
                    self.pane.push(lines);
                } else {
                    self.generation = before;
                }
                vec![]
            }
            Input::Done(r) => {
                self.footer = Some(match r {
                    Ok(text) => Footer { text, error: false },
                    Err(text) => Footer { text, error: true },
                });
                vec![]
            }
            // Under `bts up --ui` the dashboard's owner stops the stack once it has gone.
            Input::Hangup => vec![Action::Quit],
        }
    }

    fn status(&mut self, r: Result<Vec<Digest>, String>) -> Vec<Action> {
        match r {
            Ok(tasks) => {
                let unchanged = self.link == Link::Live && tasks == self.tasks;
                self.link = Link::Live;
                if unchanged {
                    self.generation -= 1;
                    return vec![];
                }
                // Keep the selection on the same task when tasks come and go.
                let name = self.selected_task().map(|d| d.task.clone());
                self.tasks = tasks;
                self.selected = name
                    .and_then(|n| self.tasks.iter().position(|d| d.task == n))
                    .unwrap_or(self.selected.min(self.tasks.len().saturating_sub(1)));
                match &self.source {
                    Source::Task(t) if self.selected_task().is_some_and(|d| &d.task != t) => {
                        self.follow_selected()
                    }
                    _ => vec![],
                }
            }
            Err(why) => {
                match self.link {
                    // Not up yet: keep waiting.
                    Link::Connecting => self.generation -= 1,
                    _ => self.link = Link::Lost(why),
                }
                vec![]
            }
        }
    }

    fn follow(&mut self, source: Source) -> Vec<Action> {
        self.source_gen += 1;
        self.source = source.clone();
        self.pane.replace(vec![]);
        vec![Action::Follow(self.source_gen, source)]
    }

    fn follow_selected(&mut self) -> Vec<Action> {
        match self.selected_task() {
            Some(d) => {
                let t = d.task.clone();
                self.follow(Source::Task(t))
            }
            None => vec![],
        }
    }

    fn select(&mut self, delta: isize) -> Vec<Action> {
        if self.tasks.is_empty() {
            return vec![];
        }
        let last = self.tasks.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        if self.source == Source::All {
            return vec![];
        }
        self.follow_selected()
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.footer = Some(Footer {
            text: text.into(),
            error,
        });
    }

    fn key(&mut self, k: Key) -> Vec<Action> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Searching(q) => self.search_key(q, k),
            Mode::Confirm(a) => {
                if k == Key::Char('y') || k == Key::Char('Y') {
                    self.say(format!("approved {}: starting it…", a.task), false);
                    vec![Action::Approve(a.task)]
                } else {
                    self.say(format!("{} not approved: it stays BLOCKED", a.task), false);
                    vec![]
                }
            }
            Mode::Normal => self.normal_key(k),
        }
    }

    fn search_key(&mut self, mut q: String, k: Key) -> Vec<Action> {
        match k {
            Key::Enter => {
                let rows = self.log_rows();
                self.pane.search_for(&q, rows);
                match &self.pane.search {
                    Some(s) if s.matches.is_empty() => {
                        self.say(format!("/{q}: no line matches"), true)
                    }
                    _ => self.footer = None,
                }
            }
            Key::Esc | Key::Ctrl('c') => {}
            Key::Backspace => {
                q.pop();
                self.mode = Mode::Searching(q);
            }
            Key::Char(c) => {
                q.push(c);
                self.mode = Mode::Searching(q);
            }
            _ => self.mode = Mode::Searching(q),
        }
        vec![]
    }

    fn normal_key(&mut self, k: Key) -> Vec<Action> {
        let rows = self.log_rows();
        let page = rows.saturating_sub(1).max(1) as isize;
        match k {
            Key::Char('q') | Key::Ctrl('c') => return self.leave(),
            Key::Up | Key::Char('k') => return self.select(-1),
            Key::Down | Key::Char('j') => return self.select(1),
            Key::PageUp => self.pane.scroll_by(-page, rows),
            Key::PageDown => self.pane.scroll_by(page, rows),
            Key::Home => self.pane.home(rows),
            Key::End => self.pane.end(),
            Key::Char('/') => self.mode = Mode::Searching(String::new()),
            Key::Char('n') => self.pane.next_match(true, rows),
            Key::Char('N') => self.pane.next_match(false, rows),
            Key::Esc => {
                self.pane.search_for("", rows);
                self.footer = None;
            }
            Key::Char('e') => self.pane.toggle_errors_only(),
            Key::Char('w') => self.pane.wrap = !self.pane.wrap,
            Key::Enter => self.maximized = !self.maximized,
            Key::Char('a') => {
                return if self.source == Source::All {
                    self.follow_selected()
                } else {
                    self.follow(Source::All)
                };
            }
            Key::Char('m') => {
                self.mouse = !self.mouse;
                self.say(
                    if self.mouse {
                        "mouse: the wheel scrolls the log (Shift+drag selects text)"
                    } else {
                        "mouse: drag selects text (m again: the wheel scrolls)"
                    },
                    false,
                );
                return vec![Action::Mouse(self.mouse)];
            }
            Key::Char('c') => {
                let text = self
                    .pane
                    .copy_text(rows, self.log_width(), self.name_width());
                let n = if text.is_empty() {
                    0
                } else {
                    text.lines().count()
                };
                self.say(format!("copied {n} lines to the clipboard"), false);
                return vec![Action::Copy(text)];
            }
            Key::Char('r') | Key::Char('s') | Key::Char('u') | Key::Char('A') => {
                return self.act(k);
            }
            _ => self.generation -= 1,
        }
        vec![]
    }

    fn leave(&mut self) -> Vec<Action> {
        match self.owner {
            Owner::Attached => vec![Action::Quit],
            Owner::Foreground => {
                self.interrupts = self.interrupts.saturating_add(1);
                if self.interrupts == 1 {
                    self.say(
                        "stopping every task… (q or Ctrl-C again kills them at once)",
                        false,
                    );
                } else {
                    self.say("killing every task now", true);
                }
                vec![Action::Interrupt]
            }
        }
    }

    /// `r`, `s`, `u`, `A` on the selected task.
    fn act(&mut self, k: Key) -> Vec<Action> {
        let Some(d) = self.selected_task() else {
            return vec![];
        };
        let (name, state) = (d.task.clone(), d.status);
        if self.link != Link::Live {
            self.say("the supervisor does not answer: nothing to act on", true);
            return vec![];
        }
        match k {
            Key::Char('r') => {
                self.say(format!("restarting {name}…"), false);
                vec![Action::Restart(name)]
            }
            Key::Char('s') if !state.is_running() && state != TaskState::Restarting => {
                self.say(format!("{name} is {state}: nothing to stop"), false);
                vec![]
            }
            Key::Char('s') => {
                self.say(format!("stopping {name}…"), false);
                vec![Action::Stop(name)]
            }
            Key::Char('u') if state == TaskState::Blocked => {
                self.say(
                    format!("{name} is destructive and BLOCKED: press A to approve it"),
                    true,
                );
                vec![]
            }
            Key::Char('u') if !state.is_final() => {
                self.say(format!("{name} is {state} already"), false);
                vec![]
            }
            Key::Char('u') => {
                self.say(format!("starting {name}…"), false);
                vec![Action::Start(name)]
            }
            _ if state != TaskState::Blocked => {
                self.say(
                    format!("{name} is {state}: only a BLOCKED task needs approval"),
                    true,
                );
                vec![]
            }
            _ => {
                let (command, checkpoint) =
                    self.destructive.get(&name).cloned().unwrap_or_default();
                self.mode = Mode::Confirm(Approval {
                    task: name,
                    command,
                    checkpoint,
                });
                vec![]
            }
        }
    }
}
