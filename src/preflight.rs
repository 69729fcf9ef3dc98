//! Pre-flight: the environment checks run before a task starts (by the supervisor, before
//! every start) and by `bts check` — the working directory exists, the command can be
//! found, the declared ports are free. Each check is a function of one task and returns
//! problems instead of failing, so a caller can report all of them. A busy port names its
//! holder (Linux: /proc) and suggests a free port nearby.

use std::ffi::OsString;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::manifest::{CommandSpec, Task};

/// One thing that would stop a task from starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub task: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn new(task: &Task, message: String, hint: Option<String>) -> Self {
        Problem {
            task: task.name.clone(),
            message,
            hint,
        }
    }
}

/// Every pre-flight problem of `task`. `avoid` are ports not to suggest as free ones
/// (the ports other tasks declare).
pub fn check_task(task: &Task, avoid: &[u16]) -> Vec<Problem> {
    let mut out = Vec::new();
    let cwd_ok = check_cwd(task, &mut out);
    check_command(task, cwd_ok, &mut out);
    check_ports(task, avoid, &mut out);
    out
}

/// The working directory exists and is a directory. Returns whether it does.
pub fn check_cwd(task: &Task, out: &mut Vec<Problem>) -> bool {
    match std::fs::metadata(&task.cwd) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => {
            out.push(Problem::new(
                task,
                format!("cwd {} is not a directory", task.cwd.display()),
                Some("point `cwd` at a directory (relative to the manifest)".into()),
            ));
            false
        }
        Err(e) => {
            out.push(Problem::new(
                task,
                format!(
                    "cwd {} does not exist ({})",
                    task.cwd.display(),
                    io_reason(&e)
                ),
                Some(format!(
                    "create it (`mkdir -p {}`) or fix `cwd` (relative to the manifest)",
                    task.cwd.display()
                )),
            ));
            false
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The command's program can be found: for `Exec` the program, for `Shell` the first
/// word that names a program (see [`shell_program`]). A relative path is resolved against
/// the task's cwd (so it is skipped when the cwd is missing: that was reported already).
pub fn check_command(task: &Task, cwd_ok: bool, out: &mut Vec<Problem>) {
    let program = match &task.command {
        CommandSpec::Exec { program, .. } => program.clone(),
        CommandSpec::Shell(s) => match shell_program(s) {
            Some(p) => p,
            None => return,
        },
    };
    if program.contains('/') {
        if !cwd_ok && !Path::new(&program).is_absolute() {
            return;
        }
        let path = task.cwd.join(&program);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && is_executable(&m) => {}
            Ok(m) if m.is_file() => out.push(Problem::new(
                task,
                format!("command `{program}` is not executable"),
                Some(format!("make it executable: `chmod +x {}`", path.display())),
            )),
            Ok(_) => out.push(Problem::new(
                task,
                format!("command `{program}` is a directory"),
                Some("fix `cmd`".into()),
            )),
            Err(_) => out.push(Problem::new(
                task,
                format!("command `{program}` not found ({})", path.display()),
                Some("fix the path in `cmd` (relative paths start from the task's cwd)".into()),
            )),
        }
        return;
    }
    let path_var = task_path_var(task);
    let cwd = if cwd_ok {
        task.cwd.clone()
    } else {
        PathBuf::from("/")
    };
    if which::which_in(&program, path_var, cwd).is_err() {
        out.push(Problem::new(
            task,
            format!("command `{program}` not found on PATH"),
            Some(format!(
                "install `{program}`, or add its directory to PATH (in your shell or the task's `env`), or use its full path in `cmd` (now `{}`)",
                task.command.display()
            )),
        ));
    }
}

/// The PATH the task will run with: its own env's, else the calling environment's.
fn task_path_var(task: &Task) -> Option<OsString> {
    task.env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| std::env::var_os("PATH"))
}

#[cfg(unix)]
fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_m: &std::fs::Metadata) -> bool {
    true
}

/// Shell reserved words: the command is a compound command, not a program to look up.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "in", "function", "{", "}", "[[", "]]", "((", "(",
];

/// Builtins of POSIX sh, bash and dash: nothing to find on PATH.
const BUILTINS: &[&str] = &[
    ":",
    ".",
    "source",
    "alias",
    "bg",
    "break",
    "builtin",
    "cd",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "suspend",
    "test",
    "[",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// Words after which the next word is the command (`exec node x`, `command -v`, `! cmd`).
const PREFIXES: &[&str] = &["exec", "command", "time", "!"];

/// The program a shell command line runs first, if it can be known without running a
/// shell: skips `VAR=value` assignments and `exec`/`command`/`time` (and their options);
/// `None` for keywords, builtins, and words built from expansions (`$X`, `` ` ``, globs).
pub fn shell_program(cmd: &str) -> Option<String> {
    let mut rest = cmd;
    loop {
        let (word, after, raw_had_expansion) = next_word(rest)?;
        rest = after;
        if raw_had_expansion {
            return None;
        }
        if is_assignment(&word) {
            continue;
        }
        // `X=1; cmd`, `(cmd)`, `cmd1 && cmd2`: the first command may come after operators.
        if matches!(word.as_str(), ";" | "&" | "|" | "(") {
            continue;
        }
        // A redirection, maybe with its fd (`2>&1`, `>&-`, `>>log`, `2>/dev/null`):
        // neither the fd nor the target is the command.
        if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
            if let Some((next, _, _)) = next_word(rest) {
                if next == "<" || next == ">" {
                    continue;
                }
            }
        }
        if matches!(word.as_str(), "<" | ">") {
            let (mut target, mut after, _) = next_word(rest)?;
            // `>>`, `>&`, `>|`, `<<`, `<&`: the operator goes on.
            while matches!(target.as_str(), ">" | "<" | "&" | "|") {
                (target, after, _) = next_word(after)?;
            }
            rest = after;
            continue;
        }
        if PREFIXES.contains(&word.as_str()) {
            // Skip the prefix's options (`exec -a name` takes an argument).
            loop {
                let (w, a, _) = next_word(rest)?;
                if w == "-a" {
                    rest = next_word(a)?.1;
                } else if w.starts_with('-') && w.len() > 1 {
                    rest = a;
                } else {
                    break;
                }
            }
            continue;
        }
        if KEYWORDS.contains(&word.as_str()) || BUILTINS.contains(&word.as_str()) {
            return None;
        }
        return Some(word);
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The next shell word of `s` with quotes and backslashes removed, the rest of the line,
/// and whether the word contains an expansion bts cannot resolve statically. Operators
/// (`;`, `|`, `&`, `(`, `<`, `>`, …) end a word and are returned as one-character words.
fn next_word(s: &str) -> Option<(String, &str, bool)> {
    let s = s.trim_start();
    let mut chars = s.char_indices().peekable();
    let (_, first) = *chars.peek()?;
    if "();|&<>".contains(first) {
        return Some((first.to_string(), &s[first.len_utf8()..], false));
    }
    let mut word = String::new();
    let mut expansion = false;
    let mut end = s.len();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() || "();|&<>".contains(c) => {
                end = i;
                break;
            }
            '\'' => {
                for (_, q) in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                while let Some((_, q)) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                word.push(e);
                            }
                        }
                        '$' | '`' => {
                            expansion = true;
                            word.push(q);
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    word.push(e);
                }
            }
            '$' | '`' | '*' | '?' | '[' | '~' => {
                // `[` alone is the test builtin, handled by the caller.
                if !(c == '[' && word.is_empty()) {
                    expansion = true;
                }
                word.push(c);
            }
            _ => word.push(c),
        }
    }
    let expansion = expansion && !(word == "[" || word == "[[");
    Some((word, &s[end..], expansion))
}

/// Problems with the task's declared ports (each in use by something else).
pub fn check_ports(task: &Task, avoid: &[u16], out: &mut Vec<Problem>) {
    for &port in &task.ports {
        if let Some(msg) = port_problem(port, avoid) {
            out.push(Problem::new(task, msg, None));
        }
    }
}

/// `None` when `port` is free, else the message to show, naming the holder and a free
/// port: `port 3000 is in use by pid 4242 (node) — stop it, or use 3001 (free)`. The
/// suggestion is never one of `avoid` (the ports other tasks declare).
pub fn port_problem(port: u16, avoid: &[u16]) -> Option<String> {
    if port_is_free(port) {
        return None;
    }
    let suggestion = match free_port_near(port, avoid) {
        Some(p) => format!("use {p} (free)"),
        None => "use another port".to_string(),
    };
    Some(match port_holder(port) {
        Some((pid, Some(comm))) => {
            format!("port {port} is in use by pid {pid} ({comm}) — stop it, or {suggestion}")
        }
        Some((pid, None)) => {
            format!("port {port} is in use by pid {pid} — stop it, or {suggestion}")
        }
        None => format!("port {port} is in use — stop what holds it, or {suggestion}"),
    })
}

/// Whether nothing listens on `port`: binding it on the IPv4 loopback, the IPv4 wildcard
/// and the IPv6 wildcard all succeed (a task may bind any of them; Linux refuses a
/// wildcard bind while a specific address of that port has a listener). Only
/// `AddrInUse` counts: an unsupported address family (no IPv6) says nothing about the port.
pub fn port_is_free(port: u16) -> bool {
    let addrs = [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    ];
    addrs.iter().all(|a| match TcpListener::bind(a) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::AddrInUse,
    })
}

/// The first free port after `port` (up to 100 further), skipping `avoid`.
pub fn free_port_near(port: u16, avoid: &[u16]) -> Option<u16> {
    (1..=100u16)
        .filter_map(|i| port.checked_add(i))
        .find(|p| !avoid.contains(p) && port_is_free(*p))
}

/// The process listening on `port` and its command name, when the OS lets us see it.
#[cfg(target_os = "linux")]
pub fn port_holder(port: u16) -> Option<(u32, Option<String>)> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        // Other users' fds are unreadable without privileges: skipped, hence the fallback.
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .ok()
                        .map(|c| c.trim().to_string());
                    return Some((pid, comm.filter(|c| !c.is_empty())));
                }
            }
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
pub fn port_holder(_port: u16) -> Option<(u32, Option<String>)> {
    None
}

/// Socket inodes of TCP listeners on `port`, from /proc/net/tcp and tcp6 (see proc(5):
/// `local_address` is `HEXADDR:HEXPORT`, `st` 0A is LISTEN, the 10th column the inode).
#[cfg(target_os = "linux")]
fn listening_inodes(port: u16) -> Vec<u64> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        out.extend(parse_listeners(&text, port));
    }
    out
}

#[cfg(target_os = "linux")]
fn parse_listeners(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit_once(':')?.1;
            let p = u16::from_str_radix(local_port, 16).ok()?;
            (p == port && *cols.get(3)? == LISTEN)
                .then(|| cols.get(9)?.parse::<u64>().ok())
                .flatten()
        })
        .filter(|inode| *inode != 0)
        .collect()
}

/// Descriptors a supervisor holds for itself (socket, lock, state and event files, the
/// runtime) and for each running task (its output pipe, the child's pidfd, its log, a
/// probe or checkpoint now and then): an estimate on the safe side.
const OWN_FILES: u64 = 32;
const FILES_PER_TASK: u64 = 5;

/// Open files `tasks` tasks need, about.
pub fn open_files_needed(tasks: usize) -> u64 {
    OWN_FILES + FILES_PER_TASK * tasks as u64
}

/// The problem, if the hard open-files limit is too low for `tasks` tasks (bts raises
/// the soft limit to the hard one itself, docs/behaviour.md#limits): the message and
/// its hint.
pub fn open_files_problem(tasks: usize) -> Option<(String, String)> {
    let (_, hard) = crate::process::unix::open_files_limit().ok()?;
    let need = open_files_needed(tasks);
    (need > hard).then(|| {
        (
            format!("{tasks} tasks need about {need} open files; the limit is {hard}"),
            format!(
                "raise it (`ulimit -n {need}` where the hard limit allows, else `LimitNOFILE=` of the \
                 service or /etc/security/limits.conf), or start fewer tasks"
            ),
        )
    })
}

/// Pre-flight for every task of a manifest, problems in file order.
pub fn check_all(tasks: &[Task]) -> Vec<Problem> {
    let declared: Vec<u16> = tasks.iter().flat_map(|t| t.ports.iter().copied()).collect();
    tasks
        .iter()
        .flat_map(|t| check_task(t, &declared))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_program_finds_the_first_real_command() {
        let p = |s: &str| shell_program(s);
        assert_eq!(p("pnpm dev").as_deref(), Some("pnpm"));
        assert_eq!(
            p("  FOO=1 BAR='a b' node server.js").as_deref(),
            Some("node")
        );
        assert_eq!(
            p("exec -a name uvicorn app:app").as_deref(),
            Some("uvicorn")
        );
        assert_eq!(p("exec ./bin/server").as_deref(), Some("./bin/server"));
        assert_eq!(p("'my prog' --x").as_deref(), Some("my prog"));
        assert_eq!(p("cargo run -p api && echo done").as_deref(), Some("cargo"));
        assert_eq!(p("command -v x").as_deref(), Some("x"));
        assert_eq!(p("NODE_ENV=production"), None);
        assert_eq!(p("X=1; node app.js").as_deref(), Some("node"));
        assert_eq!(p("i=0; while [ $i -lt 3 ]; do x; done"), None);
        assert_eq!(p("(node app.js)").as_deref(), Some("node"));
        assert_eq!(p("exec 2>&1; sleep 1").as_deref(), Some("sleep"));
        assert_eq!(p(">&2 node app.js").as_deref(), Some("node"));
        assert_eq!(p("exec >&- 2>&-; sleep 60").as_deref(), Some("sleep"));
        assert_eq!(p("2>/dev/null node x >> log").as_deref(), Some("node"));
        assert_eq!(p("exec node server.js 2>&1").as_deref(), Some("node"));
        for s in [
            "echo hi",
            "cd x && make",
            "if true; then x; fi",
            "(cd x; y)",
            "{ a; }",
            "[ -f x ] && y",
            ". ./env.sh",
            "while :; do x; done",
            "$CMD --flag",
            "`which node` x",
            "~/bin/x",
            "",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }

    #[test]
    fn assignments() {
        assert!(is_assignment("A=1"));
        assert!(is_assignment("_a1="));
        assert!(!is_assignment("=1"));
        assert!(!is_assignment("1A=x"));
        assert!(!is_assignment("--opt=x"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0BB8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 777 1\n   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        assert_eq!(parse_listeners(table, 3000), vec![12345]);
        assert_eq!(parse_listeners(table, 80), vec![999]);
        assert!(parse_listeners(table, 81).is_empty());
    }

    #[test]
    fn a_held_port_names_this_process() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!port_is_free(port));
        let msg = port_problem(port, &[]).expect("busy");
        if cfg!(target_os = "linux") {
            assert!(
                msg.contains(&format!("in use by pid {}", std::process::id())),
                "{msg}"
            );
        }
        assert!(
            msg.contains("(free)") || msg.contains("another port"),
            "{msg}"
        );
        drop(l);
    }
}
