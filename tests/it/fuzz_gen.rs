//! Random manifests for the loader property tests (shared: the in-process unit test in
//! `src/manifest/fuzz_tests.rs` includes this file by path, and `loader_fuzz` runs the real
//! binary's `check` on a sample). Built from the manifest's real vocabulary, then mutated
//! byte-wise, from a fixed-seed xorshift generator: no dependency, reproducible.

#![allow(dead_code)]

/// xorshift64*: small, deterministic, good enough to pick grammar productions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const TOP: &[&str] = &[
    "version", "name", "env_file", "env", "settings", "defaults", "tasks", "tsks", "",
];
const SETTINGS: &[&str] = &[
    "state_dir",
    "output",
    "digest_interval",
    "notes",
    "secrets",
    "outptu",
];
const SECRETS: &[&str] = &["public", "mask", "redact"];
const TASK: &[&str] = &[
    "cmd",
    "args",
    "cwd",
    "wd",
    "env",
    "ports",
    "health",
    "restart",
    "max_restarts",
    "restart_window",
    "backoff",
    "depends_on",
    "stop_signal",
    "stop_timeout",
    "log_max_kb",
    "log_keep",
    "errors",
    "warnings",
    "watch",
    "destructive",
    "checkpoint",
    "checkpoint_timeout",
    "autostart",
    "comand",
];
const HEALTH: &[&str] = &[
    "http",
    "tcp",
    "cmd",
    "log",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "htp",
];
const SCALARS: &[&str] = &[
    "0",
    "1",
    "-1",
    "65535",
    "65536",
    "99999999999999999999999",
    "1.5",
    "true",
    "no",
    "~",
    "null",
    "''",
    "\"\"",
    "2s",
    "500ms",
    "1m 30s",
    "5x",
    "10000000000000h",
    "SIGTERM",
    "SIGKILL",
    "HUP",
    "SIGNOPE",
    "on-failure",
    "always",
    "never",
    "healthy",
    "started",
    "completed",
    "full",
    "summary",
    "quiet",
    "echo hi",
    "exec sleep 1",
    "'(?i)error'",
    "'['",
    "'(a'",
    "'\\\\'",
    "\"${HOME}\"",
    "\"${UNSET_VAR}\"",
    "\"${X:-d}\"",
    "\"${\"",
    "\"$${X}\"",
    "web",
    "db",
    "a",
    "é",
    "\"日本\"",
    "127.0.0.1:80",
    "http://127.0.0.1:1/",
    "[]",
    "{}",
    "[1, 2]",
    "[web, db]",
    "{ db: healthy }",
    "{ web: started, db: nope }",
    "&a x",
    "*a",
    "!!str 3",
    "!!binary aGk=",
    "|\n      multi\n      line",
    ">-\n      folded",
    "[[[[",
    "{{",
    "'unterminated",
    "\"bad \\q escape\"",
    "@",
    "`",
    "%",
    "- x",
    ":",
];
const NAMES: &[&str] = &[
    "web",
    "db",
    "api",
    "worker",
    "a",
    "A-b_c.d",
    "-bad",
    "bad name",
    "é",
    "0",
    "x.y",
    "\"quoted\"",
    "''",
    "web",
];

fn scalar(r: &mut Rng) -> String {
    r.pick(SCALARS).to_string()
}

fn indent(n: usize) -> String {
    " ".repeat(n)
}

/// A mapping of `keys` at `depth`, each value a scalar, a list or a nested mapping.
fn mapping(r: &mut Rng, keys: &[&str], depth: usize, out: &mut String) {
    for _ in 0..r.below(5) + 1 {
        let key = r.pick(keys);
        out.push_str(&indent(depth * 2));
        out.push_str(key);
        out.push(':');
        match r.below(6) {
            0 => {
                out.push('\n');
                for _ in 0..r.below(3) + 1 {
                    out.push_str(&format!("{}- {}\n", indent(depth * 2 + 2), scalar(r)));
                }
            }
            1 if depth < 4 => {
                out.push('\n');
                let sub = if key == "health" { HEALTH } else { TASK };
                mapping(r, sub, depth + 1, out);
            }
            _ => out.push_str(&format!(" {}\n", scalar(r))),
        }
    }
}

/// One random manifest: mostly well-formed YAML in the manifest's shape, then a few
/// byte-level mutations on some of them.
pub fn manifest(r: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..r.below(4) + 1 {
        match r.pick(TOP) {
            "tasks" | "tsks" => {
                s.push_str(if r.chance(90) { "tasks:\n" } else { "tsks:\n" });
                for _ in 0..r.below(4) + 1 {
                    s.push_str(&format!("  {}:", r.pick(NAMES)));
                    if r.chance(15) {
                        s.push_str(&format!(" {}\n", scalar(r)));
                        continue;
                    }
                    s.push('\n');
                    if r.chance(80) {
                        s.push_str(&format!("    cmd: {}\n", scalar(r)));
                    }
                    mapping(r, TASK, 2, &mut s);
                    if r.chance(40) {
                        s.push_str("    health:\n");
                        mapping(r, HEALTH, 3, &mut s);
                    }
                    if r.chance(30) {
                        s.push_str(&format!(
                            "    depends_on: [{}]\n",
                            r.pick(NAMES).trim_matches('"')
                        ));
                    }
                }
            }
            "settings" => {
                s.push_str("settings:\n");
                mapping(r, SETTINGS, 1, &mut s);
                if r.chance(30) {
                    s.push_str("  secrets:\n");
                    mapping(r, SECRETS, 2, &mut s);
                }
            }
            "env" | "defaults" => {
                s.push_str(if r.chance(50) {
                    "env:\n"
                } else {
                    "defaults:\n"
                });
                mapping(r, TASK, 1, &mut s);
            }
            "" => s.push_str(&format!("{}\n", scalar(r))),
            key => s.push_str(&format!("{key}: {}\n", scalar(r))),
        }
    }
    if r.chance(40) {
        mutate(r, &mut s);
    }
    s
}

const NOISE: &[&str] = &[
    ":", " ", "\t", "\n", "-", "'", "\"", "{", "}", "[", "]", ",", "#", "&", "*", "!", "|", ">",
    "%", "@", "`", "?", "é", "日", "\u{feff}", "\r", "${", "\\", "\0", "<<: *a",
];

fn mutate(r: &mut Rng, s: &mut String) {
    for _ in 0..r.below(4) + 1 {
        let mut bytes: Vec<char> = s.chars().collect();
        let at = r.below(bytes.len() + 1);
        match r.below(3) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => {
                let len = r.below(bytes.len() - at).min(20);
                bytes.drain(at..at + len);
            }
            _ => {
                for (i, c) in r.pick(NOISE).chars().enumerate() {
                    bytes.insert(at + i, c);
                }
            }
        }
        *s = bytes.into_iter().collect();
    }
}
