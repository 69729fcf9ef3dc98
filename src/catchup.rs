//! Waiting and catching up, for whoever drives a stack between other work (a CI step, an
//! AI agent): `bts wait` returns as soon as tasks got where they were asked to (or failed,
//! or time ran out), and `bts events` prints what happened since a cursor — state
//! changes, starts, stops, error lines — in a line each, ending with the next cursor.
//! Both read `events.jsonl` (the supervisor's record) and the supervisor's status.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{EventsArgs, GlobalArgs, WaitArgs, WaitFor};
use crate::control::protocol::Request;
use crate::ctl;
use crate::digest::{self, Digest};
use crate::errors::{exit, AppError};
use crate::lifecycle::TaskState;

/// How often `bts wait` looks.
const POLL: Duration = Duration::from_millis(100);
/// Events `bts events` prints without `--since`.
const RECENT: usize = 20;
/// Most events one `bts events` prints; the cursor then points after the last printed.
const MAX_EVENTS: usize = 200;

/// A position in events.jsonl: the byte offset after the last event read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub u64);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The events after `from` (complete lines only), at most `max`, and the cursor after
/// the last one returned. A cursor past the end (the file was replaced) starts over.
pub fn read_events(path: &Path, from: Cursor, max: usize) -> (Vec<Value>, Cursor) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (vec![], from);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if from.0 > len { 0 } else { from.0 };
    if f.seek(SeekFrom::Start(start)).is_err() {
        return (vec![], from);
    }
    let mut reader = std::io::BufReader::new(f);
    let mut out = vec![];
    let mut at = start;
    let mut line = String::new();
    while out.len() < max {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            // Half written: read it next time.
            Ok(_) if !line.ends_with('\n') => break,
            Ok(n) => {
                at += n as u64;
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    out.push(v);
                }
            }
        }
    }
    (out, Cursor(at))
}

/// The cursor after the last complete event.
pub fn end_cursor(path: &Path) -> Cursor {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Cursor(0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let tail = len.min(64 * 1024);
    let mut buf = vec![0u8; tail as usize];
    if f.seek(SeekFrom::Start(len - tail)).is_err() || f.read_exact(&mut buf).is_err() {
        return Cursor(len);
    }
    match memchr::memrchr(b'\n', &buf) {
        Some(i) => Cursor(len - tail + i as u64 + 1),
        None => Cursor(len - tail),
    }
}

/// The cursor `RECENT` events before the end.
fn recent_cursor(path: &Path) -> Cursor {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let ends: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
    match ends.len().checked_sub(RECENT + 1) {
        Some(k) => Cursor(ends[k] as u64),
        None => Cursor(0),
    }
}

/// An event in one line: `14:02:11 web UP`, `14:02:12 api 3 error lines, last: …`.
pub fn event_line(e: &Value) -> Option<String> {
    let time = e["time"].as_str().and_then(|t| t.get(11..19)).unwrap_or("");
    let task = e["task"].as_str()?;
    let text = match e["event"].as_str()? {
        "state" => {
            let detail = e["detail"].as_str().unwrap_or("");
            let to = e["to"].as_str()?;
            if detail.is_empty() {
                to.to_string()
            } else {
                format!("{to} — {detail}")
            }
        }
        "start" => format!("started as pid {}", e["pid"]),
        "stop" => match e["log_archive"].as_str() {
            Some(a) => format!(
                "stopped — {} — log archived to {a}",
                e["final_summary"].as_str().unwrap_or("")
            ),
            None => format!("stopped — {}", e["final_summary"].as_str().unwrap_or("")),
        },
        "errors" => {
            let n = e["new"].as_u64().unwrap_or(0);
            let last = e["last"].as_str().unwrap_or("");
            format!(
                "{n} error line{}, last: {}",
                if n == 1 { "" } else { "s" },
                crate::digest::shorten(last, 120)
            )
        }
        _ => return None,
    };
    Some(format!("{time} {task} {text}"))
}

fn parse_cursor(s: &str) -> Result<Cursor, AppError> {
    s.trim().parse::<u64>().map(Cursor).map_err(|_| {
        AppError::new(format!("--since: `{s}` is not a cursor"))
            .with_hint("pass the number a previous `bts events` ended with (`cursor: N`)")
            .with_code(exit::USAGE)
    })
}

/// `bts events`.
pub fn events(global: &GlobalArgs, args: EventsArgs) -> Result<u8, AppError> {
    let (m, sd) = ctl::context(global)?;
    let names = if args.tasks.is_empty() {
        None
    } else {
        Some(ctl::match_names(&m, &args.tasks)?)
    };
    let path = sd.events_path();
    let mut cursor = match &args.since {
        Some(s) => parse_cursor(s)?,
        None => recent_cursor(&path),
    };
    let mut out = std::io::stdout().lock();
    loop {
        let (events, next) = read_events(&path, cursor, MAX_EVENTS);
        cursor = next;
        for e in &events {
            let task = e["task"].as_str().unwrap_or("");
            if names.as_ref().is_some_and(|n| !n.iter().any(|t| t == task)) {
                continue;
            }
            let line = if args.json {
                Some(e.to_string())
            } else {
                event_line(e)
            };
            if let Some(l) = line {
                if writeln!(out, "{l}").is_err() {
                    return Ok(exit::OK);
                }
            }
        }
        if !args.follow {
            let more = events.len() == MAX_EVENTS;
            let _ = if args.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "cursor": cursor.0, "more": more })
                )
            } else if more {
                writeln!(
                    out,
                    "cursor: {cursor} (more: `bts events --since {cursor}`)"
                )
            } else {
                writeln!(out, "cursor: {cursor}")
            };
            return Ok(exit::OK);
        }
        let _ = out.flush();
        std::thread::sleep(POLL);
    }
}

/// `bts wait`.
pub fn wait(global: &GlobalArgs, args: WaitArgs) -> Result<u8, AppError> {
    let (m, sd) = ctl::context(global)?;
    if !args.tasks.is_empty() {
        // Unknown names are an error before anything waits.
        ctl::match_names(&m, &args.tasks)?;
    }
    let Some(socket) = ctl::supervisor(&sd)? else {
        // Every task may have ended already (and the supervisor with them).
        if let Some(code) = judge_final(&args, &sd) {
            return Ok(code);
        }
        return Err(
            AppError::new(format!("no supervisor running for {}", m.project))
                .with_hint("start the stack with `bts up -d` (or `bts up --wait`)")
                .with_code(exit::FAILURE),
        );
    };
    if args.until == WaitFor::Cycle {
        return wait_for_cycle(&args, &socket, &m);
    }
    let path = sd.events_path();
    // Everything up to now is history: only what comes next counts.
    let mut cursor = end_cursor(&path);
    let deadline = Instant::now() + args.timeout;
    let req = Request::Status {
        tasks: args.tasks.clone(),
    };
    loop {
        let tasks: Vec<Digest> = match ctl::ask(&socket, &req, Some(Duration::from_secs(10))) {
            Ok(r) => waited_for(&args, r.tasks),
            Err(_) if !sd.supervisor_running() => {
                // It exits once every task has ended: judge the states it left.
                sd.wait_until_no_supervisor(Duration::from_secs(5));
                if let Some(code) = judge_final(&args, &sd) {
                    return Ok(code);
                }
                return Err(AppError::new("the supervisor exited while waiting")
                    .with_hint("`bts status` shows how the tasks ended")
                    .with_code(exit::FAILURE));
            }
            Err(e) => return Err(e),
        };
        let failed: Vec<&Digest> = tasks.iter().filter(|d| d.status.is_bad()).collect();
        if !failed.is_empty() {
            report(&args, "failed", &failed, &[]);
            return Ok(exit::FAILURE);
        }
        let (events, next) = read_events(&path, cursor, MAX_EVENTS);
        cursor = next;
        let ours: Vec<&Value> = events
            .iter()
            .filter(|e| {
                let task = e["task"].as_str().unwrap_or("");
                tasks.iter().any(|d| d.task == task)
            })
            .filter(|e| match (args.until, e["event"].as_str()) {
                (WaitFor::Error | WaitFor::Change, Some("errors")) => true,
                (WaitFor::Change, Some("state")) => e["to"] != "PENDING",
                _ => false,
            })
            .collect();
        let done = match args.until {
            WaitFor::Up => tasks
                .iter()
                .all(|d| matches!(d.status, TaskState::Up | TaskState::Exited)),
            WaitFor::Exit => tasks
                .iter()
                .all(|d| matches!(d.status, TaskState::Exited | TaskState::Stopped)),
            WaitFor::Error | WaitFor::Change => !ours.is_empty(),
            WaitFor::Cycle => unreachable!("waited for above"),
        };
        if done {
            let all: Vec<&Digest> = tasks.iter().collect();
            report(&args, "happened", &all, &ours);
            return Ok(exit::OK);
        }
        if Instant::now() >= deadline {
            let late: Vec<&Digest> = tasks.iter().collect();
            report(&args, "timed out", &late, &[]);
            return Ok(exit::TIMED_OUT);
        }
        std::thread::sleep(POLL);
    }
}

/// Source files looked at for the newest edit, at most.
const SOURCES_LOOKED_AT: usize = 50_000;

/// `bts wait --for cycle` (docs/behaviour.md#cycles): poll the digests until every
/// named watcher has a verdict for a cycle that started after the newest edit of a
/// source file under its cwd (so a verdict given before the call counts when it is the
/// verdict on the files as they are; with no file found, after the call); exit 0 when
/// all pass, 1 when one fails (its located error lines printed, a few per task), 124 at
/// the timeout.
fn wait_for_cycle(
    args: &WaitArgs,
    socket: &std::path::Path,
    m: &crate::manifest::Manifest,
) -> Result<u8, AppError> {
    let called = std::time::SystemTime::now();
    let mut since: std::collections::HashMap<String, String> = Default::default();
    let deadline = Instant::now() + args.timeout;
    let req = Request::Status {
        tasks: args.tasks.clone(),
    };
    loop {
        let r = ctl::ask(socket, &req, Some(Duration::from_secs(10)))?;
        let tasks = waited_for(args, r.tasks);
        let watchers: Vec<&Digest> = tasks.iter().filter(|d| d.cycle.is_some()).collect();
        if watchers.is_empty() || watchers.len() < tasks.len() && !args.tasks.is_empty() {
            let none: Vec<&str> = tasks
                .iter()
                .filter(|d| d.cycle.is_none())
                .map(|d| d.task.as_str())
                .collect();
            return Err(AppError::new(format!(
                "no build/test cycles in the output of {}",
                if none.is_empty() { "these tasks".to_string() } else { none.join(", ") }
            ))
            .with_hint("a known watcher (tsc, vitest, jest, vite, webpack, next, cargo watch, eslint, prettier, pytest-watch) or a task with `cycle: {start, ok, fail}`")
            .with_code(exit::USAGE));
        }
        for d in &watchers {
            since.entry(d.task.clone()).or_insert_with(|| {
                let edit = m
                    .task(&d.task)
                    .and_then(|t| crate::cycles::newest_source_change(&t.cwd, SOURCES_LOOKED_AT))
                    .filter(|&t| t <= called)
                    .unwrap_or(called);
                crate::clock::rfc3339(edit)
            });
        }
        // A cycle that started after the newest edit; or one under way when it was
        // made (a build writing its own output, `lib/*.js`, moves the newest edit
        // into its cycle: that cycle is the verdict on the sources).
        let fresh = |d: &Digest| {
            d.cycle.as_ref().is_some_and(|c| {
                let after = since.get(&d.task).map_or("", String::as_str);
                let during = c.started.as_str() <= after && after <= c.ended.as_str();
                c.state != crate::cycles::CycleState::Running
                    && c.completed > 0
                    && (c.started.as_str() >= after || during)
            })
        };
        if let Some(gone) = tasks.iter().find(|d| d.status.is_bad()) {
            println!("{}: {} — {}", gone.task, gone.status, gone.detail);
            return Ok(exit::FAILURE);
        }
        if watchers.iter().all(|d| fresh(d)) {
            let mut out = std::io::stdout().lock();
            let mut failing = false;
            for d in &watchers {
                let c = d.cycle.as_ref().expect("a watcher");
                let _ = writeln!(out, "{}: {}", d.task, digest::cycle_line(c));
                if c.state == crate::cycles::CycleState::Failing {
                    failing = true;
                    for l in &c.error_lines {
                        let _ = writeln!(out, "  {l}");
                    }
                    let _ = writeln!(out, "  full log: bts logs {} --errors", d.task);
                }
            }
            return Ok(if failing { exit::FAILURE } else { exit::OK });
        }
        if Instant::now() >= deadline {
            let waiting: Vec<&str> = watchers
                .iter()
                .filter(|d| !fresh(d))
                .map(|d| d.task.as_str())
                .collect();
            println!(
                "timed out: no new cycle verdict from {} within {}",
                waiting.join(", "),
                humantime::format_duration(args.timeout)
            );
            return Ok(exit::TIMED_OUT);
        }
        std::thread::sleep(POLL);
    }
}

/// The tasks a wait is about: those named, or — with no names — every task that is or
/// was part of the stack (not those never started).
fn waited_for(args: &WaitArgs, tasks: Vec<Digest>) -> Vec<Digest> {
    if !args.tasks.is_empty() {
        return tasks;
    }
    let never = crate::lifecycle::StopDetail::NotStarted.to_string();
    tasks
        .into_iter()
        .filter(|d| !(d.status == TaskState::Stopped && d.detail == never))
        .collect()
}

/// With no supervisor: the states the last one left (digest.json) decide, when they
/// can — all ended (`--for exit`), or all UP/EXITED can no longer change. Returns the
/// exit code, or `None` when there is nothing to judge.
fn judge_final(args: &WaitArgs, sd: &crate::state_dir::StateDir) -> Option<u8> {
    let all = digest::read_digest_file(&sd.digest_path(), None)?;
    let names = if args.tasks.is_empty() {
        None
    } else {
        let known: Vec<&str> = all.iter().map(|d| d.task.as_str()).collect();
        Some(crate::selector::select_names(&known, &args.tasks).ok()?)
    };
    let tasks: Vec<Digest> = all
        .into_iter()
        .filter(|d| names.as_ref().is_none_or(|n| n.contains(&d.task)))
        .collect();
    let tasks = waited_for(args, tasks);
    if tasks.is_empty() {
        return None;
    }
    let refs: Vec<&Digest> = tasks.iter().collect();
    let bad = tasks.iter().any(|d| d.status.is_bad());
    let ended = tasks
        .iter()
        .all(|d| matches!(d.status, TaskState::Exited | TaskState::Stopped));
    let code = match args.until {
        _ if bad => exit::FAILURE,
        WaitFor::Exit if ended => exit::OK,
        WaitFor::Up if tasks.iter().all(|d| d.status == TaskState::Exited) => exit::OK,
        // Nothing runs any more: what it waits for cannot happen.
        _ => exit::FAILURE,
    };
    report(
        args,
        if code == exit::OK {
            "happened"
        } else {
            "failed"
        },
        &refs,
        &[],
    );
    Some(code)
}

/// What `bts wait` saw, compactly: the events that ended it, then a line per task.
fn report(args: &WaitArgs, outcome: &str, tasks: &[&Digest], events: &[&Value]) {
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "result": outcome,
            "events": events,
            "tasks": tasks,
        });
        let _ = writeln!(out, "{doc}");
        return;
    }
    for e in events {
        if let Some(l) = event_line(e) {
            let _ = writeln!(out, "{l}");
        }
    }
    for d in tasks {
        let _ = writeln!(out, "{}", digest::receipt_line(d));
        if d.status.is_bad() {
            if let Some(n) = &d.next_action {
                let _ = writeln!(out, "  next: {n}");
            }
        }
    }
    if outcome == "timed out" {
        let _ = writeln!(
            out,
            "bts wait: timed out after {}",
            humantime::format_duration(args.timeout)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_after_a_cursor_and_the_next_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        let a = r#"{"time":"2026-11-30T10:00:01.000Z","event":"state","task":"web","from":"STARTING","to":"UP","detail":""}"#;
        let b = r#"{"time":"2026-11-30T10:00:02.000Z","event":"errors","task":"api","new":2,"total":2,"last":"Error: boom"}"#;
        std::fs::write(&p, format!("{a}\n{b}\n{{\"half")).unwrap();
        let (ev, c1) = read_events(&p, Cursor(0), 100);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            c1.0 as usize,
            a.len() + b.len() + 2,
            "not past the half line"
        );
        assert_eq!(event_line(&ev[0]).unwrap(), "10:00:01 web UP");
        assert_eq!(
            event_line(&ev[1]).unwrap(),
            "10:00:02 api 2 error lines, last: Error: boom"
        );
        let (ev, c2) = read_events(&p, c1, 100);
        assert!(ev.is_empty());
        assert_eq!(c2, c1);
        // A cursor past the end (a new file) starts over.
        let (ev, _) = read_events(&p, Cursor(10_000), 100);
        assert_eq!(ev.len(), 2);
        let (ev, c) = read_events(&p, Cursor(0), 1);
        assert_eq!(ev.len(), 1);
        assert_eq!(c.0 as usize, a.len() + 1);
        assert_eq!(end_cursor(&p), c1, "the end is before the half line");
        assert!(parse_cursor("x").is_err());
    }
}
