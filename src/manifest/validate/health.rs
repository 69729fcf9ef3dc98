//! A task's `health` map: exactly one probe (`http`, `tcp`, `cmd` or `log`) and the
//! timing keys `interval`, `timeout`, `start_period` and `retries`.

use std::time::Duration;

use super::{Entry, HEALTH_KEYS, V};
use crate::manifest::fields::PROBE_KINDS;
use crate::manifest::model::{Health, Probe};
use crate::manifest::node::{Node, Pos};

impl V<'_> {
    pub(super) fn health(&mut self, n: &Node, key_pos: Pos, at: &str) -> Option<Health> {
        let field = format!("`health` {at}");
        if n.as_map().is_none() {
            self.type_err(
                n,
                &field,
                "a map with one probe (`http`, `tcp`, `cmd` or `log`)",
                "e.g. `health: {http: http://127.0.0.1:4000/healthz}`",
            );
            return None;
        }
        let before = self.diags.len();
        let entries = self.entries(n, HEALTH_KEYS, &format!("in {field}"), false);
        let probes: Vec<&Entry> = entries
            .iter()
            .filter(|e| PROBE_KINDS.contains(&e.key.as_str()))
            .collect();
        let mut h = Health {
            probe: Probe::Cmd(String::new()),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::from_secs(60),
        };
        match probes.as_slice() {
            [] => self.err(
                key_pos,
                format!("{field} has no probe"),
                "add one of `http: <url>`, `tcp: <port>`, `cmd: <command>`, `log: <regex>`",
            ),
            [p] => {
                let pf = format!("`health.{}` {at}", p.key);
                let v = &p.value;
                let probe = match p.key.as_str() {
                    "http" => self.nonempty_string(v, &pf).and_then(|u| {
                        if u.starts_with("http://") || u.starts_with("https://") {
                            Some(Probe::Http(u))
                        } else {
                            self.err(
                                v.pos,
                                format!("{pf} is not an http(s) URL: `{u}`"),
                                "write a full URL, e.g. `http://127.0.0.1:4000/healthz`",
                            );
                            None
                        }
                    }),
                    "tcp" => self.tcp_target(v, &pf),
                    "cmd" => self.nonempty_string(v, &pf).map(Probe::Cmd),
                    _ => self
                        .nonempty_string(v, &pf)
                        .filter(|re| self.regex_ok(re, v.pos, &pf))
                        .map(Probe::Log),
                };
                if let Some(p) = probe {
                    h.probe = p;
                }
            }
            [first, rest @ ..] => {
                let names: Vec<String> = probes.iter().map(|p| format!("`{}`", p.key)).collect();
                self.err(
                    rest[0].key_pos,
                    format!("{field} has several probes ({})", names.join(", ")),
                    format!(
                        "a task has one probe: keep `{}` or another one, not several",
                        first.key
                    ),
                );
            }
        }
        for e in &entries {
            let f = format!("`health.{}` {at}", e.key);
            match e.key.as_str() {
                "interval" => h.interval = self.duration(&e.value, &f, true).unwrap_or(h.interval),
                "timeout" => h.timeout = self.duration(&e.value, &f, true).unwrap_or(h.timeout),
                "start_period" => {
                    h.start_period = self.duration(&e.value, &f, false).unwrap_or(h.start_period)
                }
                "retries" => {
                    h.retries = self
                        .uint(&e.value, &f, 1, 1_000_000)
                        .map_or(3, |n| n as u32)
                }
                _ => {}
            }
        }
        (self.diags.len() == before).then_some(h)
    }

    fn tcp_target(&mut self, n: &Node, field: &str) -> Option<Probe> {
        if n.as_int().is_some() {
            return self
                .port(n, field)
                .map(|port| Probe::Tcp { host: None, port });
        }
        let text = self.nonempty_string(n, field)?;
        let hint = "write a port (`tcp: 4000`) or `host:port` (`tcp: \"localhost:5432\"`)";
        if let Ok(p) = text.trim().parse::<i64>() {
            return match u16::try_from(p) {
                Ok(port) if port > 0 => Some(Probe::Tcp { host: None, port }),
                _ => {
                    self.err(
                        n.pos,
                        format!("port {p} in {field} is outside 1–65535"),
                        hint,
                    );
                    None
                }
            };
        }
        let parsed = text.rsplit_once(':').and_then(|(h, p)| {
            let host = h.trim_start_matches('[').trim_end_matches(']');
            let port = p.parse::<u16>().ok().filter(|p| *p > 0)?;
            (!host.is_empty()).then(|| Probe::Tcp {
                host: Some(host.to_string()),
                port,
            })
        });
        if parsed.is_none() {
            self.err(n.pos, format!("invalid {field}: `{text}`"), hint);
        }
        parsed
    }
}
