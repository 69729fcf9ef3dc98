//! The dashboard without a terminal: keys through the model's update function (what
//! they change, which actions they ask for), and the model drawn on ratatui's test
//! backend (what a person sees, in colour and without).

use std::collections::BTreeMap;

use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use super::model::{Action, Approval, Input, Key, Link, Mode, Model, Owner, Source};
use super::pane::LogLine;
use super::view::{self, Paint};
use crate::digest::{Digest, HealthDigest};
use crate::lifecycle::TaskState;
use crate::output::summary::Class;

fn digest(name: &str, state: TaskState) -> Digest {
    let running = state.is_running();
    Digest {
        task: name.into(),
        status: state,
        pid: running.then_some(4242),
        uptime: running.then_some(75),
        cpu_percent: running.then_some(1.5),
        rss_bytes: running.then_some(3 << 20),
        ..Default::default()
    }
}

/// One task in every state, `api` first with a port, health and a next action.
fn all_states() -> Vec<Digest> {
    let mut tasks: Vec<Digest> = TaskState::ALL
        .iter()
        .map(|&s| digest(&format!("t-{}", s.as_str().to_lowercase()), s))
        .collect();
    tasks[2] = Digest {
        ports: vec![4000],
        health: Some(HealthDigest {
            status: "healthy".into(),
            last_check: None,
            detail: "http 200 in 3ms".into(),
        }),
        errors: 2,
        warnings: 1,
        next_action: Some("check the errors — `bts logs api --errors`".into()),
        ..digest("api", TaskState::Up)
    };
    tasks
}

fn model(owner: Owner, tasks: Vec<Digest>, size: (u16, u16)) -> Model {
    let mut destructive = BTreeMap::new();
    destructive.insert(
        "t-blocked".to_string(),
        (
            "rails db:migrate".to_string(),
            Some("pg_dump > before.sql".to_string()),
        ),
    );
    let mut m = Model::new("shop", owner, tasks.clone(), destructive, size);
    m.update(Input::Status(Ok(tasks)));
    m
}

fn line(task: &str, text: &str, class: Class) -> LogLine {
    LogLine {
        task: task.into(),
        time: "12:00:01".into(),
        text: text.into(),
        class,
    }
}

fn key(m: &mut Model, k: Key) -> Vec<Action> {
    m.update(Input::Key(k))
}

fn typed(m: &mut Model, text: &str) {
    for c in text.chars() {
        key(m, Key::Char(c));
    }
}

/// The screen as text rows.
fn draw(m: &Model, color: bool) -> (Vec<String>, ratatui::buffer::Buffer) {
    let (w, h) = m.size;
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render(m, f, Paint { color })).unwrap();
    let buf = t.backend().buffer().clone();
    let rows = (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    (rows, buf)
}

fn row_with<'a>(rows: &'a [String], needle: &str) -> &'a str {
    rows.iter()
        .find(|r| r.contains(needle))
        .unwrap_or_else(|| panic!("no row has {needle:?}:\n{}", rows.join("\n")))
}

// ---- keys ---------------------------------------------------------------------------

#[test]
fn arrows_select_and_follow_the_selected_tasks_log() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    assert_eq!(
        m.start(),
        [Action::Follow(0, Source::Task("t-pending".into()))]
    );
    assert_eq!(
        key(&mut m, Key::Up),
        [Action::Follow(1, Source::Task("t-pending".into()))]
    );
    assert_eq!(
        key(&mut m, Key::Down),
        [Action::Follow(2, Source::Task("t-starting".into()))]
    );
    assert_eq!(
        key(&mut m, Key::Char('j')),
        [Action::Follow(3, Source::Task("api".into()))]
    );
    assert_eq!(m.selected_task().unwrap().task, "api");
    // Lines of an earlier source are dropped; the current one's are shown.
    m.update(Input::LogStart(
        2,
        vec![line("t-starting", "old", Class::Normal)],
    ));
    assert!(m.pane.is_empty());
    m.update(Input::LogStart(
        3,
        vec![line("api", "listening", Class::Normal)],
    ));
    m.update(Input::LogMore(3, vec![line("api", "GET /", Class::Normal)]));
    assert_eq!(m.pane.len(), 2);
    // The selection stays on its task when the task list changes.
    let mut fewer = all_states();
    fewer.remove(0);
    assert!(m.update(Input::Status(Ok(fewer))).is_empty());
    assert_eq!(m.selected_task().unwrap().task, "api");
}

#[test]
fn a_merges_every_log_and_a_again_goes_back() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    assert_eq!(
        key(&mut m, Key::Char('a')),
        [Action::Follow(1, Source::All)]
    );
    assert_eq!(m.name_width(), Some("t-restarting".len()));
    // Moving the selection keeps the merged log.
    assert!(key(&mut m, Key::Down).is_empty());
    assert_eq!(
        key(&mut m, Key::Char('a')),
        [Action::Follow(2, Source::Task("t-starting".into()))]
    );
}

#[test]
fn actions_ask_the_supervisor_for_the_selected_task() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    m.selected = 2; // api, UP
    assert_eq!(key(&mut m, Key::Char('r')), [Action::Restart("api".into())]);
    assert_eq!(m.footer.as_ref().unwrap().text, "restarting api…");
    assert_eq!(key(&mut m, Key::Char('s')), [Action::Stop("api".into())]);
    assert!(key(&mut m, Key::Char('u')).is_empty(), "api runs already");
    assert_eq!(m.footer.as_ref().unwrap().text, "api is UP already");
    m.selected = 8; // STOPPED
    assert_eq!(
        key(&mut m, Key::Char('u')),
        [Action::Start("t-stopped".into())]
    );
    assert!(key(&mut m, Key::Char('s')).is_empty());
    // The receipt (or the error) of an action is the footer.
    m.update(Input::Done(Err("no task matches `x`".into())));
    let f = m.footer.clone().unwrap();
    assert!(f.error && f.text == "no task matches `x`");
    // Without a supervisor nothing is asked.
    m.update(Input::Status(Err("connection refused".into())));
    assert_eq!(m.link, Link::Lost("connection refused".into()));
    assert!(key(&mut m, Key::Char('r')).is_empty());
    assert!(m.footer.as_ref().unwrap().error);
}

#[test]
fn approving_shows_the_command_and_checkpoint_and_needs_y() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    m.selected = 2;
    assert!(key(&mut m, Key::Char('A')).is_empty());
    assert!(m.footer.as_ref().unwrap().error, "api is not BLOCKED");
    m.selected = 9; // t-blocked
    assert!(key(&mut m, Key::Char('u')).is_empty(), "u does not approve");
    assert!(key(&mut m, Key::Char('A')).is_empty());
    assert_eq!(
        m.mode,
        Mode::Confirm(Approval {
            task: "t-blocked".into(),
            command: "rails db:migrate".into(),
            checkpoint: Some("pg_dump > before.sql".into()),
        })
    );
    // Anything but y cancels.
    assert!(key(&mut m, Key::Char('n')).is_empty());
    assert_eq!(m.mode, Mode::Normal);
    key(&mut m, Key::Char('A'));
    assert_eq!(
        key(&mut m, Key::Char('y')),
        [Action::Approve("t-blocked".into())]
    );
}

#[test]
fn quitting_leaves_or_stops_the_stack_by_owner() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    assert_eq!(key(&mut m, Key::Char('q')), [Action::Quit]);
    assert_eq!(key(&mut m, Key::Ctrl('c')), [Action::Quit]);
    let mut f = model(Owner::Foreground, all_states(), (100, 30));
    assert_eq!(key(&mut f, Key::Ctrl('c')), [Action::Interrupt]);
    assert!(f
        .footer
        .as_ref()
        .unwrap()
        .text
        .starts_with("stopping every task"));
    assert_eq!(key(&mut f, Key::Char('q')), [Action::Interrupt]);
    assert_eq!(f.footer.as_ref().unwrap().text, "killing every task now");
    assert_eq!(f.update(Input::Hangup), [Action::Quit]);
}

#[test]
fn search_is_typed_then_n_and_n_move_and_c_copies_the_matches() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    let lines = (0..50)
        .map(|i| {
            line(
                "t-pending",
                &format!("req {i} {}", if i % 10 == 0 { "slow" } else { "ok" }),
                Class::Normal,
            )
        })
        .collect();
    m.update(Input::LogStart(0, lines));
    key(&mut m, Key::Char('/'));
    typed(&mut m, "SLOX");
    key(&mut m, Key::Backspace);
    typed(&mut m, "W");
    assert_eq!(m.mode, Mode::Searching("SLOW".into()));
    // Keys while typing are text, not commands.
    assert!(m.pane.search.is_none());
    key(&mut m, Key::Enter);
    assert_eq!(m.mode, Mode::Normal);
    let s = m.pane.search.clone().unwrap();
    assert_eq!(s.matches.len(), 5);
    assert_eq!(m.pane.current_match(), Some(40));
    key(&mut m, Key::Char('n'));
    assert_eq!(m.pane.current_match(), Some(30));
    key(&mut m, Key::Char('N'));
    assert_eq!(m.pane.current_match(), Some(40));
    let copied = key(&mut m, Key::Char('c'));
    let Action::Copy(text) = &copied[0] else {
        panic!("{copied:?}")
    };
    assert_eq!(text.lines().count(), 5);
    assert!(text.starts_with("12:00:01 req 0 slow\n"));
    assert_eq!(
        m.footer.as_ref().unwrap().text,
        "copied 5 lines to the clipboard"
    );
    // Esc ends the search; an unknown query says so.
    key(&mut m, Key::Esc);
    assert!(m.pane.search.is_none());
    key(&mut m, Key::Char('/'));
    typed(&mut m, "nothing");
    key(&mut m, Key::Enter);
    assert!(m.footer.as_ref().unwrap().error);
}

#[test]
fn scrolling_keys_and_the_wheel_move_the_log_and_end_follows() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    let lines = (0..500)
        .map(|i| line("t-pending", &format!("l{i}"), Class::Normal))
        .collect();
    m.update(Input::LogStart(0, lines));
    let rows = m.log_rows();
    key(&mut m, Key::PageUp);
    assert!(!m.pane.following());
    let top = m.pane.visible(rows, 100, None)[0].1.text.clone();
    assert_eq!(top, format!("l{}", 500 - rows - (rows - 1)));
    m.update(Input::Wheel(-1));
    assert_eq!(
        m.pane.visible(rows, 100, None)[0].1.text,
        format!("l{}", 500 - 2 * rows + 1 - 3)
    );
    key(&mut m, Key::Home);
    assert_eq!(m.pane.visible(rows, 100, None)[0].1.text, "l0");
    key(&mut m, Key::PageDown);
    assert_eq!(
        m.pane.visible(rows, 100, None)[0].1.text,
        format!("l{}", rows - 1)
    );
    key(&mut m, Key::End);
    assert!(m.pane.following());
    // e, w and Enter toggle; m switches the mouse.
    key(&mut m, Key::Char('e'));
    assert!(m.pane.errors_only);
    key(&mut m, Key::Char('w'));
    assert!(m.pane.wrap);
    key(&mut m, Key::Enter);
    assert!(m.maximized);
    assert!(
        m.log_rows() > rows,
        "maximized: the table's rows go to the log"
    );
    assert_eq!(key(&mut m, Key::Char('m')), [Action::Mouse(false)]);
}

#[test]
fn only_changes_that_show_move_the_generation() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    let g = m.generation;
    m.update(Input::Status(Ok(all_states())));
    assert_eq!(m.generation, g, "the same digests again: nothing to draw");
    key(&mut m, Key::Char('Z'));
    assert_eq!(m.generation, g, "an unbound key");
    m.update(Input::LogMore(99, vec![line("x", "stale", Class::Normal)]));
    assert_eq!(m.generation, g, "lines of another source");
    let mut later = all_states();
    later[2].uptime = Some(76);
    m.update(Input::Status(Ok(later)));
    assert!(m.generation > g);
}

// ---- drawing ------------------------------------------------------------------------

#[test]
fn every_state_is_a_readable_word_and_the_selected_task_shows_its_next_action() {
    let mut m = model(Owner::Attached, all_states(), (200, 50));
    m.selected = 2;
    let (rows, _) = draw(&m, false);
    for s in TaskState::ALL {
        let name = format!("t-{}", s.as_str().to_lowercase());
        if s == TaskState::Up {
            continue;
        }
        assert!(row_with(&rows, &name).contains(s.as_str()), "{name}");
    }
    let api = row_with(&rows, " api ");
    for cell in [
        "UP",
        "healthy: http 200 in 3ms",
        "4000",
        "1m 15s",
        "1.5%",
        "3.0 MB",
        "2/1",
    ] {
        assert!(api.contains(cell), "{cell} in {api}");
    }
    assert!(api.starts_with('>'), "the selected row is marked: {api}");
    let sel = row_with(&rows, "next:");
    assert!(
        sel.starts_with("> api UP (pid 4242, port 4000) · next: check the errors"),
        "{sel}"
    );
    assert!(
        rows[0].starts_with("bts · shop · attached · 10 tasks: 1 PENDING, 1 STARTING, 1 UP"),
        "{}",
        rows[0]
    );
}

#[test]
fn fits_80_by_24_and_200_by_50() {
    for (w, h) in [(80, 24), (200, 50)] {
        let mut m = model(Owner::Attached, all_states(), (w, h));
        m.update(Input::LogStart(
            0,
            (0..100)
                .map(|i| line("t-pending", &format!("line {i}"), Class::Normal))
                .collect(),
        ));
        let (rows, _) = draw(&m, true);
        assert_eq!(rows.len(), h as usize);
        assert!(rows[0].starts_with("bts · shop"));
        assert!(
            rows[1].contains("NAME") && rows[1].contains("STATE"),
            "{}",
            rows[1]
        );
        assert!(
            rows[h as usize - 1].starts_with("↑↓ select"),
            "footer at {w}x{h}"
        );
        // The log fills the rows above the footer, newest last.
        assert_eq!(rows[h as usize - 2], "12:00:01 line 99");
        let log_title = row_with(&rows, "── t-pending log ── following");
        let first_log = rows.iter().position(|r| r == log_title).unwrap() + 1;
        assert_eq!(rows.len() - 1 - first_log, m.log_rows());
    }
    // 80x24 with 10 tasks: the table scrolls to keep the selection in view.
    let mut m = model(Owner::Attached, all_states(), (80, 24));
    m.selected = 9;
    let (rows, _) = draw(&m, false);
    assert!(row_with(&rows, "t-blocked").starts_with('>'));
    assert!(!rows.iter().any(|r| r.starts_with("  t-pending")));
}

#[test]
fn the_log_area_has_nothing_but_the_lines() {
    let mut m = model(Owner::Attached, all_states(), (60, 20));
    m.update(Input::LogStart(
        0,
        vec![line("t-pending", "hello world", Class::Error)],
    ));
    let (rows, _) = draw(&m, true);
    let title = rows
        .iter()
        .position(|r| r.starts_with("── t-pending log"))
        .unwrap();
    assert_eq!(rows[title + 1], "12:00:01 hello world");
    // Every other row of the log area is empty: no border, no marker.
    for r in &rows[title + 2..rows.len() - 1] {
        assert_eq!(r, "");
    }
}

#[test]
fn search_matches_are_highlighted_and_readable_without_colour() {
    let mut m = model(Owner::Attached, all_states(), (80, 24));
    m.update(Input::LogStart(
        0,
        vec![
            line("t-pending", "GET /cart 200", Class::Normal),
            line("t-pending", "GET /cart 500 error", Class::Error),
        ],
    ));
    key(&mut m, Key::Char('/'));
    typed(&mut m, "cart");
    let (rows, _) = draw(&m, false);
    assert_eq!(rows[23], "/cart▏  Enter search · Esc cancel");
    key(&mut m, Key::Enter);
    let (rows, buf) = draw(&m, false);
    assert!(row_with(&rows, "── t-pending log").contains("/cart: 2 of 2"));
    let y = rows
        .iter()
        .position(|r| r.ends_with("GET /cart 500 error"))
        .unwrap() as u16;
    let x = rows[y as usize].find("cart").unwrap() as u16;
    let hit = &buf[(x, y)];
    assert!(hit.modifier.contains(Modifier::REVERSED), "match reversed");
    assert!(
        hit.modifier.contains(Modifier::BOLD),
        "the current match stands out"
    );
    let older = rows
        .iter()
        .position(|r| r.ends_with("GET /cart 200"))
        .unwrap() as u16;
    let o = &buf[(x, older)];
    assert!(o.modifier.contains(Modifier::REVERSED) && !o.modifier.contains(Modifier::BOLD));
    assert!(!buf[(0, older)].modifier.contains(Modifier::REVERSED));
    // The time before the text is not searched: `00` of `12:00:01` is not marked.
    key(&mut m, Key::Char('/'));
    typed(&mut m, "00");
    key(&mut m, Key::Enter);
    let (rows, buf) = draw(&m, false);
    let y = rows
        .iter()
        .position(|r| r.ends_with("GET /cart 500 error"))
        .unwrap() as u16;
    assert!(
        !buf[(3, y)].modifier.contains(Modifier::REVERSED),
        "the time is not text"
    );
    let x = rows[y as usize].rfind("00").unwrap() as u16;
    assert!(
        buf[(x, y)].modifier.contains(Modifier::REVERSED),
        "`500` is"
    );
    // No colour anywhere without colour.
    for c in buf.content() {
        assert_eq!(c.fg, Color::Reset, "a coloured cell without colour");
    }
    // With colour, the error line is red and states have their colours.
    let (_, buf) = draw(&m, true);
    assert_eq!(buf[(x + 6, y)].fg, Color::Red);
}

#[test]
fn wrapped_and_merged_lines() {
    let mut m = model(Owner::Attached, all_states(), (40, 20));
    key(&mut m, Key::Char('a'));
    let long = "x".repeat(50);
    m.update(Input::LogStart(1, vec![line("api", &long, Class::Normal)]));
    let (rows, _) = draw(&m, false);
    let w = "t-restarting".len();
    let first = format!("12:00:01 {:<w$} | ", "api");
    assert!(row_with(&rows, "12:00:01 api").starts_with(&first));
    key(&mut m, Key::Char('w'));
    let (rows, _) = draw(&m, false);
    let at = rows
        .iter()
        .position(|r| r.starts_with("12:00:01 api"))
        .unwrap();
    let joined: String = rows[at..at + 3].concat();
    assert_eq!(joined, format!("{first}{long}"));
}

#[test]
fn the_approval_prompt_and_a_lost_supervisor_are_drawn() {
    let mut m = model(Owner::Foreground, all_states(), (100, 30));
    m.selected = 9;
    key(&mut m, Key::Char('A'));
    let (rows, _) = draw(&m, false);
    assert!(row_with(&rows, "approve t-blocked (destructive)").contains('┌'));
    row_with(&rows, "command: rails db:migrate");
    row_with(&rows, "checkpoint first: pg_dump > before.sql");
    row_with(&rows, "[y/N]");
    key(&mut m, Key::Esc);
    let (rows, _) = draw(&m, false);
    assert!(
        rows[29].starts_with("t-blocked not approved"),
        "footer: {}",
        rows[29]
    );
    m.update(Input::Status(Err("connection refused".into())));
    let (rows, _) = draw(&m, false);
    assert!(rows[0].contains("the supervisor does not answer: connection refused"));
}

// ---- edges (from the mutants that survived) -----------------------------------------

#[test]
fn a_supervisor_not_up_yet_is_waited_for_not_lost() {
    let mut m = Model::new(
        "shop",
        Owner::Foreground,
        all_states(),
        BTreeMap::new(),
        (100, 30),
    );
    let g = m.generation;
    m.update(Input::Status(Err("connection refused".into())));
    assert_eq!(m.link, Link::Connecting);
    assert_eq!(m.generation, g, "nothing new to draw");
    m.update(Input::Status(Ok(all_states())));
    assert_eq!(m.link, Link::Live);
}

#[test]
fn the_followed_task_gone_follows_the_one_now_selected() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    m.start();
    // The first task disappears: the selection stays at index 0, now another task.
    let mut fewer = all_states();
    fewer.remove(0);
    assert_eq!(
        m.update(Input::Status(Ok(fewer))),
        [Action::Follow(1, Source::Task("t-starting".into()))]
    );
}

#[test]
fn selection_stops_at_both_ends() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    m.selected = 9;
    key(&mut m, Key::Down);
    assert_eq!(m.selected, 9);
    m.selected = 0;
    key(&mut m, Key::Up);
    assert_eq!(m.selected, 0);
}

#[test]
fn esc_while_typing_cancels_and_a_found_search_says_nothing() {
    let mut m = model(Owner::Attached, all_states(), (100, 30));
    m.update(Input::LogStart(
        0,
        vec![line("t-pending", "hello", Class::Normal)],
    ));
    key(&mut m, Key::Char('/'));
    typed(&mut m, "he");
    key(&mut m, Key::Esc);
    assert_eq!(m.mode, Mode::Normal);
    assert!(m.pane.search.is_none());
    // Keys are commands again.
    assert_eq!(key(&mut m, Key::Char('q')), [Action::Quit]);
    key(&mut m, Key::Char('/'));
    typed(&mut m, "hel");
    key(&mut m, Key::Enter);
    assert_eq!(
        m.footer, None,
        "a search that finds something is not an error"
    );
}

#[test]
fn copying_wrapped_lines_takes_what_fits_at_the_screen_width() {
    let mut m = model(Owner::Attached, all_states(), (40, 20));
    let rows = m.log_rows();
    let lines = (0..100)
        .map(|i| {
            line(
                "t-pending",
                &format!("{i:03} {}", "x".repeat(60)),
                Class::Normal,
            )
        })
        .collect();
    m.update(Input::LogStart(0, lines));
    key(&mut m, Key::Char('w'));
    let copied = key(&mut m, Key::Char('c'));
    let Action::Copy(text) = &copied[0] else {
        panic!("{copied:?}")
    };
    // "12:00:01 NNN " + 60 x = 73 cells: 2 rows each at 40 columns.
    assert_eq!(text.lines().count(), rows / 2, "{rows} rows");
    assert!(text.ends_with(&format!("099 {}", "x".repeat(60))));
}
