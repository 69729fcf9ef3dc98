//! The `settings` map: `state_dir`, `output`, `digest_interval`, `notes`, `secrets`,
//! `max_disk` and `cpu_window`, with their defaults when a key is absent.

use std::time::Duration;

use super::values::found;
use super::{SECRETS_KEYS, SETTINGS_KEYS, V};
use crate::manifest::diag::did_you_mean;
use crate::manifest::fields;
use crate::manifest::model::{OutputMode, Secrets, Settings, DEFAULT_CPU_WINDOW, DEFAULT_MAX_DISK};
use crate::manifest::node::Node;

impl V<'_> {
    pub(super) fn settings(&mut self, n: Option<&Node>) -> Option<Settings> {
        let mut s = Settings {
            state_dir: self.dir.join(".bts"),
            output: OutputMode::Summary,
            digest_interval: Duration::from_secs(300),
            notes: None,
            secrets: Secrets::default(),
            max_disk: DEFAULT_MAX_DISK,
            cpu_window: DEFAULT_CPU_WINDOW,
            reload: None,
        };
        let Some(n) = n else { return Some(s) };
        if n.is_null() {
            return Some(s);
        }
        if n.as_map().is_none() {
            self.type_err(
                n,
                "`settings`",
                "a map",
                "write settings as `key: value` lines under `settings:`",
            );
            return None;
        }
        let before = self.diags.len();
        for e in self.entries(n, SETTINGS_KEYS, "in `settings`", false) {
            let v = &e.value;
            match e.key.as_str() {
                "state_dir" => {
                    if let Some(p) = self.path(v, "`settings.state_dir`") {
                        s.state_dir = p;
                    }
                }
                "output" => match v.scalar_text() {
                    Some("summary") => s.output = OutputMode::Summary,
                    Some("full") => s.output = OutputMode::Full,
                    Some("quiet") => s.output = OutputMode::Quiet,
                    other => {
                        let modes = fields::OUTPUT_MODES;
                        let hint = match other.and_then(|o| did_you_mean(o, modes)) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => "use `summary`, `full` or `quiet`".to_string(),
                        };
                        self.err(
                            v.pos,
                            format!(
                                "invalid `settings.output`: {}",
                                other.map_or_else(|| found(v).to_string(), |o| format!("`{o}`"))
                            ),
                            hint,
                        );
                    }
                },
                "digest_interval" => {
                    if let Some(d) = self.duration(v, "`settings.digest_interval`", true) {
                        s.digest_interval = d;
                    }
                }
                "notes" => s.notes = self.path(v, "`settings.notes`"),
                "max_disk" => {
                    // Room for at least the current logs of a small stack.
                    let limit = (u64::MAX >> 1, "the largest size bts takes");
                    if let Some(b) = self.size(v, "`settings.max_disk`", 1 << 20, limit) {
                        s.max_disk = b;
                    }
                }
                "reload" => s.reload = self.boolean(v, "`settings.reload`"),
                "cpu_window" => {
                    if let Some(d) = self.duration(v, "`settings.cpu_window`", true) {
                        s.cpu_window = d;
                    }
                }
                "secrets" => {
                    if v.is_null() {
                        continue;
                    }
                    if v.as_map().is_none() {
                        self.type_err(
                            v,
                            "`settings.secrets`",
                            "a map with `public`, `mask`, `redact`",
                            "see the README's manifest reference",
                        );
                        continue;
                    }
                    for se in self.entries(v, SECRETS_KEYS, "in `settings.secrets`", false) {
                        let field = format!("`settings.secrets.{}`", se.key);
                        match se.key.as_str() {
                            "public" => {
                                s.secrets.public =
                                    self.glob_list(&se.value, &field).unwrap_or_default()
                            }
                            "mask" => {
                                s.secrets.mask =
                                    self.glob_list(&se.value, &field).unwrap_or_default()
                            }
                            _ => {
                                s.secrets.redact =
                                    self.regex_list(&se.value, &field).unwrap_or_default()
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        (self.diags.len() == before).then_some(s)
    }
}
