//! A real terminal for tests of the dashboard and `bts attach`: a tmux server of the test's own (its
//! socket in the project's temp dir, so it never touches a tmux the user runs), one
//! window of a fixed size running a command, keys sent with `send-keys`, the screen read
//! with `capture-pane`. Dropping it kills the server and what runs in it.

use std::path::PathBuf;
use std::process::Command;

use super::{eventually_every, require_tool, Project, BTS, DEADLINE};

pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// `bts args…` in a `width`×`height` terminal in the project's dir; `None` (after
    /// [`require_tool`] said so) without tmux. When bts exits, the pane prints
    /// `EXITED <code>` and stays.
    pub fn bts(p: &Project, args: &str, width: u16, height: u16) -> Option<Tmux> {
        Tmux::bts_env(p, "", args, width, height)
    }

    /// [`Tmux::bts`] with `env` (`NAME=value …`) set for bts.
    pub fn bts_env(p: &Project, env: &str, args: &str, width: u16, height: u16) -> Option<Tmux> {
        require_tool("tmux", "the dashboard in a real terminal")?;
        let t = Tmux {
            socket: p.file("tmux.sock"),
        };
        let script = format!("{env} {BTS} {args}; echo \"EXITED $?\"; exec sleep 600");
        let ok = t
            .tmux(&[
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                "-c",
                &p.path().display().to_string(),
                &script,
                ";",
                // OSC 52 from the pane lands in tmux's paste buffers.
                "set-option",
                "-g",
                "set-clipboard",
                "on",
            ])
            .status
            .success();
        assert!(ok, "tmux new-session failed");
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("running tmux")
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Send keys (tmux names: `Enter`, `Escape`, `C-c`, or text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success(), "send-keys {keys:?}");
    }

    /// Wait until the screen satisfies `pred`; returns it.
    pub fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = eventually_every(DEADLINE, std::time::Duration::from_millis(50), || {
            last = self.screen();
            pred(&last)
        });
        assert!(ok, "the screen never showed {what}:\n{last}");
        last
    }

    /// The screen with its colours and attributes as escape sequences.
    pub fn screen_escaped(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-e", "-t", "t"]).stdout)
            .into_owned()
    }

    /// The pid of the bts the pane runs (the child of the pane's shell), on Linux.
    pub fn bts_pid(&self) -> Option<i32> {
        let out = self.tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"]);
        let shell: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == shell && stat.contains("(bts)")).then_some(pid)
        })
    }

    /// Whether the pane is on the alternate screen (a full-screen program owns it).
    pub fn alternate_on(&self) -> bool {
        let out = self.tmux(&["display-message", "-p", "-t", "t", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// The newest paste buffer (what an OSC 52 copy put there).
    pub fn paste_buffer(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["show-buffer"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
