//! Unit tests of single validation rules, one value at a time: every key a map accepts
//! is read into the model, each accepted spelling and each refused one gives its own
//! result. Written from the mutants that survived the other tests (docs/testing.md).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::manifest::diag::Diagnostic;
use crate::manifest::model::{Condition, Manifest, OutputMode, Probe};

fn calling() -> BTreeMap<String, String> {
    [("HOME".to_string(), "/home/me".to_string())].into()
}

fn load(src: &str) -> Result<Manifest, Vec<Diagnostic>> {
    validate(src, Path::new("/p/shop/bts.yaml"), &calling())
}

fn ok(src: &str) -> Manifest {
    load(src).unwrap_or_else(|d| panic!("{src}\n{d:#?}"))
}

/// The one diagnostic of `src`: its message, line and column.
fn one_err(src: &str) -> (String, usize, usize) {
    let d = load(src).expect_err(src);
    assert_eq!(d.len(), 1, "{src}\n{d:#?}");
    let p = d[0].pos.expect("a position");
    (d[0].message.clone(), p.line, p.col)
}

fn err_has(src: &str, needle: &str) {
    let d = load(src).expect_err(src);
    assert!(
        d.iter().any(|d| d.message.contains(needle)),
        "{src}: no {needle:?} in {d:#?}"
    );
}

#[test]
fn every_setting_is_read() {
    let m = ok("settings:\n  state_dir: st\n  output: quiet\n  digest_interval: 2m\n  notes: NOTES.md\n  secrets: {public: ['PUB_*'], mask: ['*_PIN'], redact: ['x+y']}\ntasks: {a: x}\n");
    let s = &m.settings;
    assert_eq!(s.state_dir, Path::new("/p/shop/st"));
    assert_eq!(s.output, OutputMode::Quiet);
    assert_eq!(s.digest_interval, Duration::from_secs(120));
    assert_eq!(s.notes.as_deref(), Some(Path::new("/p/shop/NOTES.md")));
    assert_eq!(s.secrets.public, ["PUB_*"]);
    assert_eq!(s.secrets.mask, ["*_PIN"]);
    assert_eq!(s.secrets.redact, ["x+y"]);
    assert_eq!(
        ok("settings: {output: full}\ntasks: {a: x}\n")
            .settings
            .output,
        OutputMode::Full
    );
    // `~/` is the home directory.
    let m = ok("settings: {state_dir: ~/bts-state}\ntasks: {a: x}\n");
    assert_eq!(m.settings.state_dir, Path::new("/home/me/bts-state"));
    err_has(
        "settings: {secrets: {public: ['[']}}\ntasks: {a: x}\n",
        "settings.secrets.public",
    );
}

#[test]
fn every_probe_kind_and_timing_is_read() {
    let probe = |h: &str| {
        let m = ok(&format!("tasks:\n  a: {{cmd: x, health: {h}}}\n"));
        m.tasks[0].health.clone().unwrap()
    };
    assert_eq!(
        probe("{http: 'http://127.0.0.1:1/x'}").probe,
        Probe::Http("http://127.0.0.1:1/x".into())
    );
    assert_eq!(
        probe("{cmd: pg_isready}").probe,
        Probe::Cmd("pg_isready".into())
    );
    assert_eq!(probe("{log: ready}").probe, Probe::Log("ready".into()));
    assert_eq!(
        probe("{tcp: 80}").probe,
        Probe::Tcp {
            host: None,
            port: 80
        }
    );
    // A port as a string, and host:port.
    assert_eq!(
        probe("{tcp: '1'}").probe,
        Probe::Tcp {
            host: None,
            port: 1
        }
    );
    assert_eq!(
        probe("{tcp: 'db:1'}").probe,
        Probe::Tcp {
            host: Some("db".into()),
            port: 1
        }
    );
    assert_eq!(
        probe("{tcp: '[::1]:5432'}").probe,
        Probe::Tcp {
            host: Some("::1".into()),
            port: 5432
        }
    );
    let h = probe("{tcp: 1, interval: 7s, timeout: 3s, start_period: 0s, retries: 9}");
    assert_eq!(
        (h.interval, h.timeout, h.start_period, h.retries),
        (
            Duration::from_secs(7),
            Duration::from_secs(3),
            Duration::ZERO,
            9
        )
    );
    err_has("tasks:\n  a: {cmd: x, health: {tcp: '0'}}\n", "port 0 in");
    err_has("tasks:\n  a: {cmd: x, health: {tcp: 'db:0'}}\n", "invalid");
    err_has("tasks:\n  a: {cmd: x, health: {tcp: ':80'}}\n", "invalid");
    err_has(
        "tasks:\n  a: {cmd: x, health: {tcp: 1, interval: 0s}}\n",
        "must be more than zero",
    );
}

#[test]
fn every_depends_on_form() {
    let deps = |d: &str| {
        let m = ok(&format!(
            "tasks:\n  db: {{cmd: x}}\n  a: {{cmd: x, depends_on: {d}}}\n"
        ));
        m.tasks[1]
            .depends_on
            .iter()
            .map(|d| (d.task.clone(), d.condition))
            .collect::<Vec<_>>()
    };
    let started = vec![("db".to_string(), Condition::Started)];
    assert_eq!(deps("db"), started, "one name");
    assert_eq!(deps("[db]"), started);
    assert_eq!(deps("{db: }"), started, "no condition: the default");
    assert_eq!(deps("{db: {}}"), started, "an empty long form: the default");
    assert_eq!(
        deps("{db: completed}"),
        vec![("db".to_string(), Condition::Completed)]
    );
    assert!(deps("").is_empty() && deps("[]").is_empty(), "nothing");
    err_has(
        "tasks:\n  db: x\n  a: {cmd: x, depends_on: {db: {condition: maybe}}}\n",
        "maybe",
    );
}

#[test]
fn task_shapes() {
    let (m, line, col) = one_err("tasks:\n  api:\n");
    assert_eq!((m.as_str(), line, col), ("task `api` is empty", 2, 3));
    err_has("tasks:\n  api: [a, b]\n", "must be a map of fields");
    err_has("tasks:\n  api: {cmd: x, cwd: a, wd: b}\n", "wd");
    err_has("tasks:\n  api: {cmd: ['', a]}\n", "empty");
    // An empty `cmd:` is pointed at by its key.
    let (m, line, col) = one_err("tasks:\n  api:\n    cmd:\n");
    assert!(m.starts_with("empty"), "{m}");
    assert_eq!((line, col), (3, 5));
    // One port without a list; a port in quotes is not a number.
    assert_eq!(
        ok("tasks:\n  a: {cmd: x, ports: 3000}\n").tasks[0].ports,
        [3000]
    );
    err_has(
        "tasks:\n  a: {cmd: x, ports: '3000'}\n",
        "a list of port numbers",
    );
    err_has(
        "tasks:\n  a: {cmd: x, ports: ['3000']}\n",
        "must be a number, found a string",
    );
    err_has("tasks:\n  a: {cmd: x, ports: [70000]}\n", "outside 1–65535");
    // Digits too many for a number are a port out of range too, not a type error.
    let (m, _, _) = one_err("tasks:\n  a: {cmd: x, ports: [99999999999999999999]}\n");
    assert!(m.starts_with("port 99999999999999999999 in"), "{m}");
    for not_a_port in ["''", "1.5", "true"] {
        let (m, _, _) = one_err(&format!("tasks:\n  a: {{cmd: x, ports: [{not_a_port}]}}\n"));
        assert!(!m.contains("outside"), "{not_a_port}: {m}");
    }
    // nice: -20 to 19.
    assert_eq!(
        ok("tasks:\n  a: {cmd: x, nice: -5}\n").tasks[0].nice,
        Some(-5)
    );
    assert_eq!(ok("tasks:\n  a: {cmd: x}\n").tasks[0].nice, None);
    let (m, line, col) = one_err("tasks:\n  a: {cmd: x, nice: 40}\n");
    assert_eq!(
        (m.as_str(), line, col),
        ("`nice` in task `a` is 40, outside -20–19", 2, 21)
    );
    err_has("tasks:\n  a: {cmd: x, nice: high}\n", "a whole number");
    // The largest log size the loader takes, and one more.
    let max = u64::MAX >> 11;
    assert_eq!(
        ok(&format!("tasks:\n  a: {{cmd: x, log_max_kb: {max}}}\n")).tasks[0].log_max_kb,
        max
    );
    err_has(
        &format!("tasks:\n  a: {{cmd: x, log_max_kb: {}}}\n", max + 1),
        "log_max_kb",
    );
}

#[test]
fn values_in_each_spelling() {
    let flag =
        |v: &str| ok(&format!("tasks:\n  a: {{cmd: x, autostart: {v}}}\n")).tasks[0].autostart;
    for (v, want) in [
        ("yes", true),
        ("on", true),
        ("no", false),
        ("off", false),
        ("true", true),
    ] {
        assert_eq!(flag(v), want, "{v}");
    }
    // Durations: 0 is fine where zero is allowed, not where it must be positive.
    assert_eq!(
        ok("tasks:\n  a: {cmd: x, stop_timeout: 0}\n").tasks[0].stop_timeout,
        Duration::ZERO
    );
    err_has("tasks:\n  a: {cmd: x, restart_window: 0}\n", "has no unit");
    err_has("tasks:\n  a: {cmd: x, stop_timeout: 5}\n", "has no unit");
    // A single regex or glob without a list; every bad one of a list is reported.
    let m = ok("tasks:\n  a: {cmd: x, errors: 'boom', watch: 'src/**'}\n");
    assert_eq!(
        m.tasks[0].errors.as_deref(),
        Some(&["boom".to_string()][..])
    );
    assert_eq!(m.tasks[0].watch, ["src/**"]);
    let d = load("tasks:\n  a: {cmd: x, errors: ['(', 'ok', '[']}\n").unwrap_err();
    assert_eq!(d.len(), 2, "{d:#?}");
    let d = load("tasks:\n  a: {cmd: x, errors: ['ok', '(']}\n").unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    err_has("tasks:\n  a: {cmd: x, watch: }\n", "watch");
    err_has("tasks:\n  a: {cmd: x, watch: ['a[']}\n", "watch");
}

#[test]
fn env_values_and_files() {
    let m = ok("env:\n  EMPTY:\n  QUOTED: ''\n  A: 1\n  TILDE: ~\ntasks: {a: x}\n");
    assert_eq!(m.tasks[0].env["EMPTY"], "");
    assert_eq!(m.tasks[0].env["QUOTED"], "");
    // `~` is YAML's null, but in an env value people mean the character.
    assert_eq!(m.tasks[0].env["TILDE"], "~");
    err_has("env:\n  A: [1]\ntasks: {a: x}\n", "`A` in `env`");
    err_has("env:\n  'A=B': 1\ntasks: {a: x}\n", "invalid variable name");
    // An unknown variable is pointed at where it stands in the value.
    let d = load("env:\n  A: pre-${NOPE}\ntasks: {a: x}\n").unwrap_err();
    let p = d[0].pos.unwrap();
    assert_eq!((p.line, p.col, d[0].len), (2, 10, Some(7)), "{d:#?}");
    let d = load("env:\n  A: x $NOPE_2 y\ntasks: {a: x}\n").unwrap_err();
    let p = d[0].pos.unwrap();
    assert_eq!((p.line, p.col, d[0].len), (2, 8, Some(7)), "{d:#?}");
    // `$HO` is pointed at, not the start of `$HOME` before it.
    let d = load("env:\n  A: $HOME $HO\ntasks: {a: x}\n").unwrap_err();
    let p = d[0].pos.unwrap();
    assert_eq!((p.line, p.col, d[0].len), (2, 12, Some(3)), "{d:#?}");
    // An env file with a bad line names the line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "GOOD=1\nthis is not a line\n").unwrap();
    let d = validate(
        "env_file: .env\ntasks: {a: x}\n",
        &dir.path().join("bts.yaml"),
        &calling(),
    )
    .unwrap_err();
    let hint = d[0].hint.clone().unwrap_or_default();
    assert!(hint.contains("fix this line of `.env`"), "{d:#?}");
}

#[test]
fn top_level_shapes() {
    err_has("version: 2\ntasks: {a: x}\n", "version");
    assert!(load("version: '1'\ntasks: {a: x}\n").is_ok());
    assert!(load("defaults:\ntasks: {a: x}\n").is_ok(), "empty defaults");
    err_has("defaults: [restart]\ntasks: {a: x}\n", "`defaults`");
    let (m, line, _) = one_err("name: x\ntasks:\n");
    assert_eq!((m.as_str(), line), ("`tasks` is empty", 2));
    err_has("tasks: {}\n", "`tasks` is empty");
    // The same problem reported twice at one place is reported once; two at one place
    // with different messages stay two.
    let d = load("defaults: {restart: sometimes}\ntasks: {a: x, b: y}\n").unwrap_err();
    assert_eq!(d.len(), 1, "{d:#?}");
    // The same message at two places is two problems.
    let d = load("tasks:\n  a: {cmd: x, depends_on: [nope, nope]}\n").unwrap_err();
    assert_eq!(d.len(), 2, "{d:#?}");
}

#[test]
fn resource_limits_and_the_disk_budget() {
    use crate::manifest::model::{Limits, OnLimit};
    let t = &ok("defaults: {on_limit: stop}\ntasks:\n  a: {cmd: x, max_memory: 512MB, max_cpu: 150%}\n  b: {cmd: y, max_cpu: 50, on_limit: warn}\n").tasks;
    assert_eq!(
        t[0].limits,
        Limits {
            max_memory: Some(512 << 20),
            max_cpu: Some(150),
            on_limit: Some(OnLimit::Stop),
        }
    );
    assert_eq!(
        (
            t[1].limits.max_cpu,
            t[1].limits.on_cpu(),
            t[1].limits.on_memory()
        ),
        (Some(50), OnLimit::Warn, OnLimit::Warn)
    );
    let plain = ok("tasks:\n  a: {cmd: x}\n");
    assert!(plain.tasks[0].limits.is_empty());
    assert_eq!(
        (
            plain.tasks[0].limits.on_memory(),
            plain.tasks[0].limits.on_cpu()
        ),
        (OnLimit::Restart, OnLimit::Warn)
    );
    assert_eq!(plain.settings.max_disk, 1 << 30);
    assert_eq!(
        plain.settings.cpu_window,
        std::time::Duration::from_secs(30)
    );
    let s = ok("settings: {max_disk: 2GB, cpu_window: 5s}\ntasks:\n  a: {cmd: x}\n").settings;
    assert_eq!((s.max_disk, s.cpu_window.as_secs()), (2 << 30, 5));

    // Located errors, with the unit rules.
    let (m, line, col) = one_err("tasks:\n  a: {cmd: x, max_memory: 512}\n");
    assert_eq!(
        (m.as_str(), line, col),
        (
            "invalid size for `max_memory` in task `a`: `512` has no unit",
            2,
            27
        )
    );
    err_has(
        "tasks:\n  a: {cmd: x, max_memory: 5XB}\n",
        "unknown unit `XB`",
    );
    err_has(
        "tasks:\n  a: {cmd: x, max_memory: 10KB}\n",
        "less than 1 MB",
    );
    err_has(
        "tasks:\n  a: {cmd: x, max_memory: 900TB}\n",
        "(this machine's memory)",
    );
    err_has("tasks:\n  a: {cmd: x, max_memory: [1]}\n", "a size");
    let (m, line, _) = one_err("tasks:\n  a: {cmd: x, max_cpu: 0%}\n");
    assert!(
        m.starts_with("`max_cpu` in task `a` is 0%, outside 1%–"),
        "{m}"
    );
    assert_eq!(line, 2);
    err_has(
        "tasks:\n  a: {cmd: x, max_cpu: 99999%}\n",
        "all of this machine's cores",
    );
    err_has(
        "tasks:\n  a: {cmd: x, max_cpu: lots}\n",
        "invalid percentage",
    );
    err_has(
        "tasks:\n  a: {cmd: x, on_limit: restrat}\n",
        "invalid `on_limit` in task `a`: `restrat`",
    );
    err_has(
        "tasks:\n  a: {cmd: x, on_limit: [stop]}\n",
        "`restart`, `stop` or `warn`",
    );
    err_has(
        "settings: {max_disk: 100KB}\ntasks:\n  a: {cmd: x}\n",
        "less than 1 MB",
    );
    err_has(
        "settings: {max_disk: lots}\ntasks:\n  a: {cmd: x}\n",
        "invalid size",
    );
    err_has(
        "settings: {cpu_window: 0s}\ntasks:\n  a: {cmd: x}\n",
        "more than zero",
    );
}
