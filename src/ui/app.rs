//! The dashboard's loop (docs/architecture.md#the-dashboard): every source of input is a
//! thread that sends [`Input`]s into one channel — keys and resizes from the terminal,
//! digests from the supervisor (once a second, and right after an action), new log lines
//! (read from the redacted log files as `bts logs -f` reads them, every 100 ms), the
//! results of actions, signals. The loop feeds each to the model, carries out its
//! actions, and draws only when the model changed, at most [`FRAME`] apart. Nothing it
//! does blocks on a task or on the supervisor: requests run on threads of their own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers, MouseEventKind};

use super::model::{Action, Input, Key, Model, Source};
use super::pane::{LogLine, MAX_LINES};
use super::screen::{osc52, Screen};
use super::view::{self, Paint};
use crate::control::client;
use crate::control::protocol::{Request, Response};
use crate::digest;
use crate::logs::tail::{self, Follower};
use crate::output::summary::Classifier;
use crate::state_dir::StateDir;

/// Shortest time between two frames: at most ~30 a second under a flood.
const FRAME: Duration = Duration::from_millis(33);
/// How often the followed logs are looked at.
const LOG_POLL: Duration = Duration::from_millis(100);
/// How often the supervisor is asked for digests when nothing happens.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Bytes of log read per look at most (split between the logs followed): under a flood
/// the dashboard jumps to the newest lines rather than reading all of them, which it
/// could not show anyway.
const FLOOD_BYTES: u64 = 128 * 1024;
/// Lines a log starts with when the dashboard shows it.
const FIRST_LINES: usize = 2000;

/// Where the dashboard reads from and talks to.
pub struct Links {
    pub socket: PathBuf,
    pub sd: StateDir,
    /// Each task's error and warning patterns (the defaults for a task not listed).
    pub classifiers: Vec<(String, Classifier)>,
    pub paint: Paint,
    /// Set when the dashboard must end (`bts up --ui`: the supervisor is done).
    pub done: Arc<AtomicBool>,
}

/// Run the dashboard on `screen` until the model quits (or `done` is set).
pub fn run(mut model: Model, mut screen: Screen, links: Links) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<Input>();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_threads = StopOnDrop(Arc::clone(&stop));
    spawn("bts-ui-keys", {
        let (tx, stop) = (tx.clone(), Arc::clone(&stop));
        move || keys(tx, stop)
    });
    let (poke_tx, poke_rx) = mpsc::channel::<()>();
    spawn("bts-ui-status", {
        let (tx, socket) = (tx.clone(), links.socket.clone());
        move || status(socket, tx, poke_rx)
    });
    let (follow_tx, follow_rx) = mpsc::channel::<(u64, Source)>();
    spawn("bts-ui-logs", {
        let tx = tx.clone();
        let names: Vec<String> = model.tasks.iter().map(|d| d.task.clone()).collect();
        let (sd, classifiers) = (links.sd.clone(), links.classifiers.clone());
        move || logs(follow_rx, tx, sd, classifiers, names)
    });
    signals(tx.clone(), model.owner);

    let mut pending = model.start();
    let mut drawn: Option<u64> = None;
    let mut last_draw = Instant::now() - FRAME;
    // A key is answered on the next frame at once; the frame limit is for floods.
    let mut key_pressed = false;
    loop {
        for a in pending.drain(..) {
            match a {
                Action::Quit => return Ok(()),
                Action::Follow(gen, source) => {
                    let _ = follow_tx.send((gen, source));
                }
                Action::Copy(text) => screen.write_raw(&osc52(&text))?,
                Action::Mouse(on) => screen.mouse(on)?,
                Action::Interrupt => crate::process::unix::interrupt_self(),
                other => request(other, &links.socket, tx.clone(), poke_tx.clone()),
            }
        }
        if links.done.load(Ordering::SeqCst) {
            return Ok(());
        }
        if drawn != Some(model.generation) && (key_pressed || last_draw.elapsed() >= FRAME) {
            screen
                .terminal
                .draw(|f| view::render(&model, f, links.paint))?;
            drawn = Some(model.generation);
            last_draw = Instant::now();
            key_pressed = false;
        }
        let wait = if drawn == Some(model.generation) {
            // Idle: wake only to notice `done`.
            Duration::from_millis(200)
        } else {
            FRAME.saturating_sub(last_draw.elapsed())
        };
        match rx.recv_timeout(wait) {
            Ok(input) => {
                key_pressed |= matches!(input, Input::Key(_) | Input::Wheel(_) | Input::Resize(..));
                pending.extend(model.update(input));
                // Take what else has arrived before drawing (a flood's batches).
                while let Ok(more) = rx.try_recv() {
                    key_pressed |=
                        matches!(more, Input::Key(_) | Input::Wheel(_) | Input::Resize(..));
                    pending.extend(model.update(more));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    // A thread that cannot start leaves its input silent; the dashboard still works.
    let _ = std::thread::Builder::new().name(name.into()).spawn(f);
}

/// The terminal's keys, wheel and resizes (polled, so the thread ends with the loop).
fn keys(tx: Sender<Input>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match event::poll(Duration::from_millis(100)) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => {
                let _ = tx.send(Input::Hangup);
                return;
            }
        }
        let input = match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => key(k.code, k.modifiers),
            Ok(Event::Mouse(m)) => match m.kind {
                MouseEventKind::ScrollUp => Some(Input::Wheel(-1)),
                MouseEventKind::ScrollDown => Some(Input::Wheel(1)),
                _ => None,
            },
            Ok(Event::Resize(w, h)) => Some(Input::Resize(w, h)),
            Ok(_) => None,
            Err(_) => Some(Input::Hangup),
        };
        if let Some(i) = input {
            if tx.send(i).is_err() {
                return;
            }
        }
    }
}

fn key(code: KeyCode, mods: KeyModifiers) -> Option<Input> {
    let k = match code {
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => Key::Ctrl(c),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        _ => return None,
    };
    Some(Input::Key(k))
}

/// SIGTERM and SIGHUP end `bts ui` (its terminal given back); under `bts up --ui` the
/// supervisor handles SIGTERM itself, and a hangup ends the dashboard and the stack.
fn signals(tx: Sender<Input>, owner: super::model::Owner) {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let wanted: &[i32] = match owner {
        super::model::Owner::Attached => &[SIGTERM, SIGHUP],
        super::model::Owner::Foreground => &[SIGHUP],
    };
    let Ok(mut signals) = signal_hook::iterator::Signals::new(wanted) else {
        return;
    };
    spawn("bts-ui-signals", move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(Input::Hangup);
        }
    });
}

/// Digests once a second, and at once after an action (a poke).
fn status(socket: PathBuf, tx: Sender<Input>, poke: Receiver<()>) {
    loop {
        let answer = client::request(
            &socket,
            &Request::Status { tasks: vec![] },
            Some(Duration::from_secs(5)),
        )
        .map_err(|e| e.to_string())
        .and_then(|r| r.into_result().map_err(|e| e.message))
        .map(|r| r.tasks);
        if tx.send(Input::Status(answer)).is_err() {
            return;
        }
        if let Err(RecvTimeoutError::Disconnected) = poke.recv_timeout(STATUS_EVERY) {
            return;
        }
    }
}

/// Carry out an action that asks the supervisor, on a thread of its own.
fn request(a: Action, socket: &std::path::Path, tx: Sender<Input>, poke: Sender<()>) {
    let (req, stop) = match a {
        Action::Restart(t) | Action::Start(t) => (restart(t, false), false),
        Action::Approve(t) => (restart(t, true), false),
        Action::Stop(t) => (
            Request::Down {
                tasks: vec![t],
                signal: None,
            },
            true,
        ),
        _ => return,
    };
    let socket = socket.to_path_buf();
    spawn("bts-ui-action", move || {
        let answer = client::request(&socket, &req, None)
            .map_err(|e| format!("cannot reach the supervisor: {e}"))
            .and_then(|r| r.into_result().map_err(|e| error_text(&e)))
            .map(|r| receipts(&r, stop));
        let _ = tx.send(Input::Done(answer));
        let _ = poke.send(());
    });
}

fn restart(task: String, approve: bool) -> Request {
    Request::Restart {
        confirm: if approve { vec![task.clone()] } else { vec![] },
        tasks: vec![task],
        wait: false,
        yes: false,
    }
}

fn error_text(e: &crate::errors::AppError) -> String {
    match &e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message.clone(),
    }
}

fn receipts(r: &Response, stop: bool) -> String {
    let lines: Vec<String> = if stop {
        r.receipts.iter().map(|rc| rc.text()).collect()
    } else {
        r.tasks.iter().map(digest::receipt_line).collect()
    };
    if lines.is_empty() {
        "done".into()
    } else {
        lines.join("; ")
    }
}

/// Follows the current source's log files; a new source (from the model) replaces it.
fn logs(
    follow: Receiver<(u64, Source)>,
    tx: Sender<Input>,
    sd: StateDir,
    classifiers: Vec<(String, Classifier)>,
    names: Vec<String>,
) {
    let default = Classifier::new(None, None).ok();
    // Looked up for every line read: by name, not by a scan of every task.
    let classifiers: std::collections::HashMap<String, Classifier> =
        classifiers.into_iter().collect();
    let classify = |task: &str, line: &str| -> LogLine {
        let (stamp, text) = line.split_once(' ').unwrap_or(("", line));
        let (time, text) = match humantime::parse_rfc3339(stamp) {
            Ok(t) => (crate::clock::local_hms(t), text),
            Err(_) => (String::new(), line),
        };
        let class = classifiers
            .get(task)
            .or(default.as_ref())
            .map(|c| c.classify(text.as_bytes()))
            .unwrap_or_default();
        LogLine {
            task: task.to_string(),
            time,
            text: text.to_string(),
            class,
        }
    };
    let mut current: Option<(u64, Vec<(String, Follower)>)> = None;
    loop {
        match follow.recv_timeout(LOG_POLL) {
            Ok((gen, source)) => {
                let tasks: Vec<String> = match source {
                    Source::Task(t) => vec![t],
                    Source::All => names.clone(),
                };
                let per_task = FIRST_LINES / tasks.len().max(1);
                let mut first: Vec<(String, String)> = vec![];
                let mut followers = vec![];
                for t in tasks {
                    let path = sd.log_path(&t);
                    for l in tail::last_lines_matching(&path, per_task, |_| true) {
                        first.push((t.clone(), l));
                    }
                    followers.push((t, Follower::at_end(&path)));
                }
                // Merged logs in time order: the RFC 3339 stamps sort as text.
                first.sort_by(|a, b| a.1.split(' ').next().cmp(&b.1.split(' ').next()));
                let lines = first.iter().map(|(t, l)| classify(t, l)).collect();
                if tx.send(Input::LogStart(gen, lines)).is_err() {
                    return;
                }
                current = Some((gen, followers));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some((gen, followers)) = &mut current else {
            continue;
        };
        let mut new: Vec<(String, String)> = vec![];
        let budget = (FLOOD_BYTES / followers.len().max(1) as u64).max(8 * 1024);
        for (t, f) in followers.iter_mut() {
            f.skip_to_newest(budget);
            new.extend(f.poll().into_iter().map(|l| (t.clone(), l)));
        }
        if new.is_empty() {
            continue;
        }
        if followers.len() > 1 {
            new.sort_by(|a, b| a.1.split(' ').next().cmp(&b.1.split(' ').next()));
        }
        // Under a flood only the newest lines matter to a screen.
        let skip = new.len().saturating_sub(MAX_LINES);
        let lines = new[skip..].iter().map(|(t, l)| classify(t, l)).collect();
        if tx.send(Input::LogMore(*gen, lines)).is_err() {
            return;
        }
    }
}
