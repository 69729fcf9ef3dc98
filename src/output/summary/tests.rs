//! Unit tests of `--output summary`: classification, shapes, folding, the budget and
//! the "not shown" notes, all on synthetic time.

use std::time::{Duration, Instant};

use super::*;

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

// --- classification ---------------------------------------------------------------

#[test]
fn classify_defaults() {
    let c = Classifier::new(None, None).unwrap();
    for line in [
        "ERROR db: connection refused",
        "thread 'main' panicked at src/main.rs:3:5",
        "Traceback (most recent call last):",
        "TypeError: x is not a function",
        "java.lang.NullPointerException",
        "FATAL: role \"x\" does not exist",
        "Unhandled exception in worker",
        "warning and error together",
    ] {
        assert_eq!(c.classify(line.as_bytes()), Class::Error, "{line}");
    }
    for line in [
        "WARN deprecated flag",
        "warning: unused variable",
        "DeprecationWarning: old api",
        "[warn] slow",
    ] {
        assert_eq!(c.classify(line.as_bytes()), Class::Warning, "{line}");
    }
    for line in [
        "errors: 0, warnings: 0",
        "compiled with 0 errors",
        "no_error_here",
        "mirror terror",
        "listening on :3000",
        "",
    ] {
        assert_eq!(c.classify(line.as_bytes()), Class::Normal, "{line}");
    }
    // Not UTF-8 is fine.
    assert_eq!(c.classify(b"\xff\xfe error \xff"), Class::Error);
}

#[test]
fn classify_custom_patterns() {
    let errors = vec!["^E ".to_string(), "(?i)boom".to_string()];
    let c = Classifier::new(Some(&errors), Some(&[])).unwrap();
    assert_eq!(c.classify(b"E something"), Class::Error);
    assert_eq!(c.classify(b"it went BOOM"), Class::Error);
    assert_eq!(
        c.classify(b"error: default patterns are replaced"),
        Class::Normal
    );
    assert_eq!(c.classify(b"warning: disabled"), Class::Normal);
    assert!(Classifier::new(Some(&["(".to_string()]), None).is_err());
}

// --- shape ----------------------------------------------------------------------------

fn shape(line: &str) -> String {
    let mut out = Vec::new();
    shape_into(line.as_bytes(), &mut out);
    String::from_utf8(out).unwrap().replace('\x01', "$")
}

#[test]
fn shape_numbers() {
    assert_eq!(
        shape("GET /api/cart/123 200 in 12ms"),
        "GET /api/cart/$# $# in $D"
    );
    assert_eq!(
        shape("GET /api/cart/123 200 in 12ms"),
        shape("GET /api/cart/9 200 in 3ms")
    );
    assert_eq!(
        shape("took 1.5 seconds, 1,204 rows"),
        "took $# seconds, $# rows"
    );
    assert_eq!(shape("listening on 127.0.0.1:3000"), "listening on $#:$#");
    assert_eq!(shape("worker12 v1.2.3 x86_64"), "worker$# v$# x$#_$#");
    assert_eq!(shape("progress: 50%."), "progress: $#%.");
    assert_eq!(shape("user_42 done"), "user_$# done");
}

#[test]
fn shape_hex_and_uuid() {
    assert_eq!(shape("commit 3f2a9c1 pushed"), "commit $# pushed");
    assert_eq!(shape("req=5f3a9c0b12 ok"), "req=$# ok");
    assert_eq!(shape("req_a1b2c3 ok"), "req_$# ok");
    // An id that happens to be all digits has the same shape as a hex one.
    assert_eq!(shape("id 1234567"), shape("id 12ab4c7"));
    assert_eq!(shape("ptr 0x7ffd1a2b and 0XFF"), "ptr $# and $#");
    // Words made of hex letters stay words; short hex-ish words too.
    assert_eq!(
        shape("deadbeef facade cafe12 cafe1"),
        "deadbeef facade $# cafe$#"
    );
    assert_eq!(
        shape("trace 123e4567-e89b-12d3-a456-426614174000 done"),
        "trace $U done"
    );
    assert_eq!(shape("f47ac10b-58cc-4372-a567-0e02b2c3d479"), "$U");
}

#[test]
fn shape_durations() {
    for d in [
        "12ms", "1.5s", "3m", "250us", "250µs", "2h", "1m30s", "1h2m3.5s", "5min", "10 sec",
    ] {
        let s = shape(&format!("done in {d}."));
        assert!(s == "done in $D." || s == "done in $# sec.", "{d}: {s}");
    }
    assert_eq!(shape("done in 12ms, next"), "done in $D, next");
    // A number followed by other letters is a number, not a duration.
    assert_eq!(shape("size 12mb"), "size $#mb");
    assert_eq!(shape("3rd try"), "$#rd try");
}

#[test]
fn shape_timestamps() {
    assert_eq!(shape("2024-01-02T03:04:05.123Z INFO x"), "$T INFO x");
    assert_eq!(shape("2024-01-02T03:04:05+02:00 x"), "$T x");
    assert_eq!(shape("[2024-01-02 03:04:05,123] x"), "[$T] x");
    assert_eq!(shape("at 12:30:45.999 and 1:02:03"), "at $T and $T");
    assert_eq!(shape("date 2024/01/02"), "date $T");
    assert_eq!(
        shape("2024-01-02T03:04:05.123Z x"),
        shape("2025-12-31T23:59:59.9Z x")
    );
    // HH:MM alone is not a time (it is `host:port`-like): two numbers.
    assert_eq!(shape("at 12:30"), "at $#:$#");
}

#[test]
fn shape_quotes() {
    assert_eq!(shape(r#"user "alice" logged in"#), "user $Q logged in");
    assert_eq!(shape(r#"key="a \"b\" c" ok"#), "key=$Q ok");
    assert_eq!(shape("open 'file.txt' failed"), "open $Q failed");
    assert_eq!(shape("use `cargo run` here"), "use $Q here");
    // Apostrophes are not quotes.
    assert_eq!(shape("don't stop, it's fine"), "don't stop, it's fine");
    assert_eq!(shape("'it's here' now"), "$Q now");
    // Unclosed quotes stay text.
    assert_eq!(shape(r#"say "hi"#), r#"say "hi"#);
    assert_eq!(shape(r#"a " b " c ""#), "a $Q c \"");
}

#[test]
fn shape_odd_input() {
    assert_eq!(shape(""), "");
    let mut out = Vec::new();
    shape_into(b"\xff\xfe 12 \xc3", &mut out);
    assert_eq!(out, b"\xff\xfe \x01# \xc3");
    // Stray quotes and long lines stay linear and do not panic.
    let long = "'x ".repeat(20_000) + "\"" + &"9".repeat(1000) + "\\";
    shape_into(long.as_bytes(), &mut out);
    shape_into(b"\"abc\\", &mut out);
    assert_eq!(out, b"\"abc\\");
    shape_into(b"2024-", &mut out);
    shape_into(b"1.", &mut out);
    assert_eq!(out, b"\x01#.");
    shape_into(b"0x", &mut out);
    assert_eq!(out, b"\x01#x");
}

// --- folding ----------------------------------------------------------------------------

/// Feeds lines at the given times and returns everything emitted, notes as `[note]`.
struct Fold {
    f: Folder,
    out: Vec<String>,
}

impl Fold {
    fn new() -> Self {
        Fold {
            f: Folder::new(),
            out: Vec::new(),
        }
    }
    fn record(out: &mut Vec<String>) -> impl FnMut(Emit<'_>) + '_ {
        move |e| {
            out.push(match e {
                Emit::Line {
                    text,
                    class: Class::Normal,
                } => String::from_utf8_lossy(text).into_owned(),
                Emit::Line { text, class } => {
                    format!("{class:?}: {}", String::from_utf8_lossy(text))
                }
                Emit::Note {
                    text,
                    class: Class::Normal,
                    lines,
                } => format!("[{text}] ({lines})"),
                Emit::Note { text, class, lines } => format!("{class:?} [{text}] ({lines})"),
            })
        }
    }
    fn push(&mut self, line: &str, class: Class, at: Instant) {
        self.f
            .push(line.as_bytes(), class, at, Self::record(&mut self.out));
    }
    fn flush(&mut self, at: Instant) {
        self.f.flush(at, Self::record(&mut self.out));
    }
    fn finish(&mut self) -> Vec<String> {
        self.f.finish(Self::record(&mut self.out));
        std::mem::take(&mut self.out)
    }
}

#[test]
fn identical_lines_fold_into_repeated() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for i in 0..38 {
        f.push("waiting for db", Class::Normal, ms(t0, i));
    }
    f.push("db ready", Class::Normal, ms(t0, 40));
    assert_eq!(
        f.finish(),
        ["waiting for db", "[… repeated 37×] (37)", "db ready"]
    );
}

#[test]
fn similar_lines_fold_and_show_the_last() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for i in 1..=10 {
        f.push(&format!("Progress: {}%", i * 10), Class::Normal, ms(t0, i));
    }
    f.push("Done", Class::Normal, ms(t0, 20));
    assert_eq!(
        f.finish(),
        [
            "Progress: 10%",
            "[… 8 more like this] (8)",
            "Progress: 100%",
            "Done"
        ]
    );
}

#[test]
fn the_last_folded_line_is_the_tail_even_when_it_repeats_the_first() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for line in ["step 1", "step 1", "step 2", "step 1"] {
        f.push(line, Class::Normal, t0);
    }
    assert_eq!(f.finish(), ["step 1", "[… 2 more like this] (2)", "step 1"]);
}

#[test]
fn one_folded_line_is_shown_not_noted() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    f.push("GET /a/1 200 in 3ms", Class::Normal, t0);
    f.push("GET /a/2 200 in 4ms", Class::Normal, ms(t0, 1));
    f.push("", Class::Normal, ms(t0, 2));
    f.push("", Class::Normal, ms(t0, 3));
    f.push("x", Class::Normal, ms(t0, 4));
    assert_eq!(
        f.finish(),
        ["GET /a/1 200 in 3ms", "GET /a/2 200 in 4ms", "", "", "x"]
    );
}

#[test]
fn flush_closes_a_quiet_run() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for i in 0..5 {
        f.push(&format!("compiled module {i}"), Class::Normal, ms(t0, i));
    }
    f.flush(ms(t0, 100)); // not quiet yet
    assert_eq!(f.out, ["compiled module 0"]);
    f.flush(ms(t0, 300));
    assert_eq!(
        f.out,
        [
            "compiled module 0",
            "[… 3 more like this] (3)",
            "compiled module 4"
        ]
    );
    // A later line of the same shape opens a new run and is shown at once.
    f.push("compiled module 5", Class::Normal, ms(t0, 5000));
    assert_eq!(f.finish().last().unwrap(), "compiled module 5");
}

#[test]
fn steady_stream_gives_a_sample_and_a_note_per_second() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    // 200 lines/s of one shape for 3 s, flush every second.
    for i in 0..600u64 {
        let t = ms(t0, i * 5);
        if i > 0 && i % 200 == 0 {
            f.flush(t);
        }
        f.push(
            &format!("GET /api/cart/{i} 200 in {}ms", i % 17),
            Class::Normal,
            t,
        );
    }
    let out = f.finish();
    assert_eq!(out.len(), 7, "{out:?}");
    assert_eq!(out[0], "GET /api/cart/0 200 in 0ms");
    assert_eq!(out[1], "[… 199 more like this] (199)");
    assert_eq!(out[2], "GET /api/cart/200 200 in 13ms");
    assert_eq!(out[5], "[… 198 more like this] (198)");
    assert_eq!(out[6], "GET /api/cart/599 200 in 4ms");
}

#[test]
fn slow_repetition_is_noted_every_half_minute() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    // A tick every 2 s for 70 s, flushed every 250 ms as the pump does.
    let mut t = 0;
    while t <= 70_000 {
        if t % 2000 == 0 {
            f.push(&format!("tick {}", t / 2000), Class::Normal, ms(t0, t));
        }
        f.flush(ms(t0, t + 250));
        t += 250;
    }
    let out = f.finish();
    assert_eq!(out[0], "tick 0");
    assert!(
        out.iter().any(|l| l.starts_with("[… 15 more like this]")),
        "{out:?}"
    );
    assert!(out.len() <= 5, "{out:?}");
    // A different line ends the repetition and shows.
    let mut f = Fold::new();
    f.push("tick 1", Class::Normal, t0);
    f.flush(ms(t0, 300));
    f.push("tick 2", Class::Normal, ms(t0, 2000));
    f.push("server stopped", Class::Normal, ms(t0, 3000));
    assert_eq!(f.finish(), vec!["tick 1", "tick 2", "server stopped"]);
}

#[test]
fn identical_flood_is_one_line_per_second() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for i in 0..300u64 {
        f.push("tick", Class::Normal, ms(t0, i * 10));
    }
    // The window passes at 1 s and 2 s: a rolling note, and the line again.
    assert_eq!(
        f.finish(),
        [
            "tick",
            "[… repeated 99×] (99)",
            "tick",
            "[… repeated 99×] (99)",
            "tick",
            "[… repeated 99×] (99)"
        ]
    );
}

#[test]
fn distinct_errors_always_show_identical_ones_fold() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for i in 0..5 {
        f.push(
            &format!("error: cannot find value `x{i}` in this scope"),
            Class::Error,
            ms(t0, i),
        );
    }
    for i in 0..20 {
        f.push("ERROR connection refused", Class::Error, ms(t0, 10 + i));
    }
    f.push("WARN retrying in 1s", Class::Warning, ms(t0, 40));
    f.push("WARN retrying in 2s", Class::Warning, ms(t0, 41));
    assert_eq!(
        f.finish(),
        [
            "Error: error: cannot find value `x0` in this scope",
            "Error: error: cannot find value `x1` in this scope",
            "Error: error: cannot find value `x2` in this scope",
            "Error: error: cannot find value `x3` in this scope",
            "Error: error: cannot find value `x4` in this scope",
            "Error: ERROR connection refused",
            "Error [… repeated 19×] (19)",
            "Warning: WARN retrying in 1s",
            "Warning: WARN retrying in 2s",
        ]
    );
}

#[test]
fn classes_do_not_fold_together() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    f.push("job 1 ok", Class::Normal, t0);
    f.push("job 2 ok", Class::Error, ms(t0, 1));
    f.push("job 3 ok", Class::Normal, ms(t0, 2));
    assert_eq!(f.finish(), ["job 1 ok", "Error: job 2 ok", "job 3 ok"]);
}

#[test]
fn big_counts_have_separators() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    for _ in 0..1206 {
        f.push("same", Class::Normal, t0);
    }
    assert_eq!(f.finish(), ["same", "[… repeated 1,205×] (1205)"]);
}

// --- budget -----------------------------------------------------------------------------

/// Feeds `(task, at_ms, lines)` batches in time order; returns lines granted per task.
fn run_budget(b: &mut Budget, t0: Instant, mut batches: Vec<(usize, u64, u32)>) -> Vec<u32> {
    batches.sort_by_key(|&(_, at, _)| at);
    let mut got = vec![0; batches.iter().map(|b| b.0 + 1).max().unwrap_or(0)];
    for (task, at, n) in batches {
        got[task] += b.take(task, n, ms(t0, at));
    }
    got
}

/// `total` lines in batches of `batch`, one batch every `every` ms from `start`.
fn spread(task: usize, start: u64, every: u64, batch: u32, total: u32) -> Vec<(usize, u64, u32)> {
    (0..total.div_ceil(batch))
        .map(|k| {
            (
                task,
                start + u64::from(k) * every,
                batch.min(total - k * batch),
            )
        })
        .collect()
}

#[test]
fn dev_server_startup_passes_in_full_next_to_others() {
    let t0 = Instant::now();
    // The others get their batches in first at every instant (worst case for `web`).
    for batch in [1, 5, 60] {
        let mut b = Budget::new();
        let mut batches = Vec::new();
        batches.extend(spread(1, 0, 20, 5, 30)); // postgres
        batches.extend(spread(2, 0, 10, 5, 25)); // redis
        batches.extend(spread(3, 0, 30, 5, 15)); // worker
        batches.extend(spread(4, 0, 50, 5, 10)); // css watcher
        batches.extend(spread(0, 0, 15, batch, 60)); // web
        batches.sort_by_key(|&(task, at, _)| (at, usize::from(task == 0)));
        let mut got = [0; 5];
        for (task, at, n) in batches {
            got[task] += b.take(task, n, ms(t0, at));
        }
        assert_eq!(got, [60, 30, 25, 15, 10], "batch {batch}");
    }
}

#[test]
fn startup_burst_with_everything_at_once() {
    // Four others print 30 lines each in one batch at the very same instant, first.
    let t0 = Instant::now();
    let mut b = Budget::new();
    let got = run_budget(
        &mut b,
        t0,
        vec![(1, 0, 30), (2, 0, 30), (3, 0, 30), (4, 0, 30), (0, 0, 60)],
    );
    assert_eq!(got, [60, 30, 30, 30, 30]);
}

#[test]
fn ten_floods_pass_at_most_two_percent() {
    let t0 = Instant::now();
    let mut b = Budget::new();
    let mut batches = Vec::new();
    // 10 tasks × 200 varied lines/s × 20 s, in batches of 10 every 50 ms, staggered.
    for task in 0..10 {
        batches.extend(spread(task, task as u64 * 5, 50, 10, 4000));
    }
    let got = run_budget(&mut b, t0, batches);
    let total: u32 = got.iter().sum();
    // 1.8 %: the rest of the 2 % target is for the errors and the "not shown" notes.
    assert!(total <= 720, "{total} of 40,000 shown: {got:?}");
    assert!(total >= 600, "the budget should still be used: {total}");
    // Fair: nobody starved, nobody took a big part.
    for g in &got {
        assert!((40..=150).contains(g), "{got:?}");
    }
}

#[test]
fn one_flood_gets_about_twenty_lines_a_second() {
    let t0 = Instant::now();
    let mut b = Budget::new();
    let got = run_budget(&mut b, t0, spread(0, 0, 10, 10, 60_000)); // 1000/s for 60 s
                                                                    // Own burst 20 + borrowed 60, then (16 + 4)/s.
    assert!((1250..=1320).contains(&got[0]), "{got:?}");
}

#[test]
fn a_quiet_task_is_not_starved_by_floods() {
    let t0 = Instant::now();
    let floods: Vec<_> = (0..10)
        .flat_map(|task| spread(task, task as u64, 50, 10, 6000))
        .collect(); // 30 s
                    // A new task's first lines pass in the middle of the floods…
    let mut batches = floods.clone();
    batches.push((10, 10_001, 20));
    assert_eq!(run_budget(&mut Budget::new(), t0, batches.clone())[10], 20);
    // …and after 5 s of silence it gets a fresh dozen again.
    batches.push((10, 15_001, 12));
    assert_eq!(run_budget(&mut Budget::new(), t0, batches)[10], 32);
    // While a task that keeps printing gets only its share (16/11 lines/s).
    let mut batches = floods;
    batches.extend(spread(10, 10_001, 100, 1, 50)); // 10 lines/s for 5 s
    let got = run_budget(&mut Budget::new(), t0, batches)[10];
    assert!((20..=35).contains(&got), "{got}");
}

#[test]
fn errors_are_capped_per_task() {
    let t0 = Instant::now();
    let mut b = Budget::new();
    // 100 distinct errors/s for 10 s.
    let mut got = 0;
    for k in 0..100u64 {
        got += b.take_errors(0, 10, ms(t0, k * 100));
    }
    assert!((230..=245).contains(&got), "{got}");
    // Another task's errors are not affected, nor are ordinary lines.
    assert_eq!(b.take_errors(1, 30, ms(t0, 10_000)), 30);
    assert_eq!(b.take(0, 50, ms(t0, 10_000)), 50);
    assert_eq!(b.take(0, 0, ms(t0, 10_000)), 0);
}

// --- not shown --------------------------------------------------------------------------

#[test]
fn one_task_gets_its_own_note_after_a_second_then_every_few_seconds() {
    let t0 = Instant::now();
    let mut n = NotShown::new();
    assert_eq!(n.note(t0), None);
    n.add("web", 1000, t0);
    assert_eq!(n.note(ms(t0, 500)), None);
    n.add("web", 204, ms(t0, 900));
    assert_eq!(
        n.note(ms(t0, 1000)).as_deref(),
        Some("… 1,204 lines not shown — bts logs web")
    );
    assert_eq!(n.note(ms(t0, 1100)), None);
    n.add("web", 1, ms(t0, 1200));
    // The oldest has waited a second, but the last note is not NOTE_GAP old.
    assert_eq!(n.note(ms(t0, 2200)), None);
    assert_eq!(
        n.note(ms(t0, 4000)).as_deref(),
        Some("… 1 line not shown — bts logs web")
    );
    n.add("web", 0, ms(t0, 5000));
    assert!(!n.pending());
    assert_eq!(n.note(ms(t0, 9000)), None);
    n.add("db", 7, ms(t0, 9000));
    assert_eq!(n.hidden, [("db".to_string(), 7)]);
    assert_eq!(
        n.finish().as_deref(),
        Some("… 7 lines not shown — bts logs db")
    );
    assert_eq!(n.finish(), None);
}

#[test]
fn many_tasks_share_one_note_most_first() {
    let t0 = Instant::now();
    let mut n = NotShown::new();
    n.add("api", 280, t0);
    n.add("web", 300, t0);
    for (i, t) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        n.add(t, 100 + i as u64, t0);
    }
    n.add("api", 0, t0);
    assert_eq!(
        n.note(ms(t0, 1000)).as_deref(),
        Some("… 1,195 lines not shown: web 300, api 280, f 105, +5 more — bts logs TASK")
    );
    n.add("x", 1, ms(t0, 1000));
    n.add("y", 1, ms(t0, 1000));
    assert_eq!(
        n.finish().as_deref(),
        Some("… 2 lines not shown: x 1, y 1 — bts logs TASK")
    );
}

#[test]
fn a_run_that_ends_tells_its_count_unless_a_note_was_just_printed() {
    let t0 = Instant::now();
    let mut n = NotShown::new();
    n.add("web", 5, t0);
    assert_eq!(
        n.note_at_end(ms(t0, 100)).as_deref(),
        Some("… 5 lines not shown — bts logs web"),
        "no note yet: told at once, without waiting a second"
    );
    n.add("api", 3, ms(t0, 200));
    assert_eq!(n.note_at_end(ms(t0, 300)), None, "a note 200 ms ago");
    assert!(n.pending());
    assert_eq!(
        n.note(ms(t0, 3100)).as_deref(),
        Some("… 3 lines not shown — bts logs api")
    );
}

#[test]
fn a_read_without_error_words_is_all_normal() {
    let c = Classifier::new(None, None).unwrap();
    let quiet: String = (0..500).map(|i| format!("GET /items/{i} 200\n")).collect();
    assert!(c.all_normal(quiet.as_bytes()));
    assert!(!c.all_normal(format!("{quiet}ERROR boom\n").as_bytes()));
    assert!(!c.all_normal(format!("{quiet}warn: slow\n").as_bytes()));
    // A task's own patterns have no prefilter: each line is classified.
    let own = Classifier::new(Some(&["oops".to_string()]), None).unwrap();
    assert!(!own.all_normal(quiet.as_bytes()));
}

#[test]
fn digits() {
    assert_eq!(group_digits(0), "0");
    assert_eq!(group_digits(12), "12");
    assert_eq!(group_digits(1204), "1,204");
    assert_eq!(group_digits(1_000_000), "1,000,000");
}

#[test]
fn a_slow_identical_repetition_is_noted_as_repeated() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    assert!(!f.f.has_run(), "nothing to flush yet");
    // The same line every 2 s for 40 s (a health-check access log).
    let mut t = 0;
    while t <= 40_000 {
        if t % 2000 == 0 {
            f.push("GET /health 200", Class::Normal, ms(t0, t));
            assert!(f.f.has_run(), "a run or a slow repetition is open");
        }
        f.flush(ms(t0, t + 250));
        t += 250;
    }
    let out = f.finish();
    assert_eq!(out[0], "GET /health 200");
    assert!(
        out.iter().any(|l| l.starts_with("[… repeated ")),
        "identical lines are said to repeat: {out:?}"
    );
    assert!(!f.f.has_run());
}

#[test]
fn a_slow_repetition_ends_only_past_its_gap() {
    let t0 = Instant::now();
    let mut f = Fold::new();
    f.push("tick 1", Class::Normal, t0);
    f.flush(ms(t0, 300));
    f.push("tick 2", Class::Normal, ms(t0, 2000));
    f.flush(ms(t0, 2300));
    // Exactly SLOW_GAP after its last line the repetition is still counted...
    f.flush(ms(t0, 2000) + SLOW_GAP);
    assert!(f.f.has_run(), "still counting at exactly the gap");
    // ...and just past it, it is over and says what it hid.
    f.flush(ms(t0, 2001) + SLOW_GAP);
    assert!(!f.f.has_run());
    assert_eq!(f.finish(), vec!["tick 1", "tick 2"]);
}
