//! `replicas: N` (docs/behaviour.md#replicas): a task runs as N tasks `NAME.1 … NAME.N`,
//! each its own task to the rest of bts (process group, log, digest, restart budget).
//! Copy `i` has each declared port + `i - 1` (foreman's convention), so the port rules
//! apply to every copy; `depends_on: [NAME]` means every copy. `bts scale` replaces the
//! counts through `V::scale`.

use super::{Draft, V};
use crate::manifest::model::{Probe, Replica};

/// The most copies of one task.
pub const MAX_REPLICAS: u64 = 64;

/// Move a tcp or http probe of one of `declared` ports by `shift` (copy `shift + 1`).
fn shift_probe(probe: &mut Probe, declared: &[u16], shift: u16) {
    match probe {
        Probe::Tcp { port, .. } if declared.contains(port) => *port += shift,
        Probe::Http(url) => {
            for p in declared {
                let from = format!(":{p}");
                if let Some(i) = url.find(&from) {
                    let end = i + from.len();
                    let next = url.as_bytes().get(end).copied();
                    if next.is_none_or(|b| !b.is_ascii_digit()) {
                        url.replace_range(i..end, &format!(":{}", p + shift));
                        return;
                    }
                }
            }
        }
        _ => {}
    }
}

impl V<'_> {
    /// Expand every replicated task into its copies, and dependencies on it into one
    /// per copy.
    pub(super) fn expand_replicas(&mut self, drafts: Vec<Draft>) -> Vec<Draft> {
        let mut out = Vec::with_capacity(drafts.len());
        let mut groups: Vec<(String, u32)> = Vec::new();
        for d in drafts {
            let count = self
                .scale
                .get(&d.task.name)
                .copied()
                .or(d.replicas.map(|r| r.0));
            let Some(count) = count else {
                out.push(d);
                continue;
            };
            let base = d.task.name.clone();
            let at = d
                .replicas
                .map_or(d.ports.first().map(|p| p.1).unwrap_or_default(), |r| r.1);
            let top = d.task.ports.iter().copied().max().unwrap_or(0);
            if u32::from(top) + count - 1 > 65_535 {
                self.err(
                    at,
                    format!(
                        "task `{base}` has {count} replicas: port {top} + {} is past 65535",
                        count - 1
                    ),
                    "lower `replicas` or the port",
                );
                continue;
            }
            groups.push((base.clone(), count));
            for i in 1..=count {
                let shift = (i - 1) as u16;
                let mut copy = Draft {
                    task: d.task.clone(),
                    deps: d.deps.clone(),
                    ports: d.ports.iter().map(|&(p, pos)| (p + shift, pos)).collect(),
                    replicas: None,
                };
                copy.task.name = format!("{base}.{i}");
                copy.task.ports = d.task.ports.iter().map(|p| p + shift).collect();
                // A probe of a declared port checks this copy's port.
                if let Some(h) = copy.task.health.as_mut() {
                    shift_probe(&mut h.probe, &d.task.ports, shift);
                }
                copy.task.replica = Some(Replica {
                    of: base.clone(),
                    index: i,
                });
                out.push(copy);
            }
        }
        if groups.is_empty() {
            return out;
        }
        for d in &mut out {
            let mut deps = Vec::with_capacity(d.deps.len());
            for (target, cond, pos) in std::mem::take(&mut d.deps) {
                match groups.iter().find(|g| g.0 == target) {
                    Some((base, n)) => {
                        deps.extend((1..=*n).map(|i| (format!("{base}.{i}"), cond, pos)))
                    }
                    None => deps.push((target, cond, pos)),
                }
            }
            d.deps = deps;
        }
        // A copy's name may be another task's.
        let mut clashes = Vec::new();
        for d in out.iter().filter(|d| d.task.replica.is_none()) {
            if let Some(copy) = out
                .iter()
                .find(|c| c.task.replica.is_some() && c.task.name == d.task.name)
            {
                let of = copy.task.replica.as_ref().map_or("", |r| r.of.as_str());
                clashes.push(crate::manifest::diag::Diagnostic::whole(
                    format!(
                        "task `{}` (line {}) has the name of a replica of `{of}`",
                        d.task.name, d.task.line
                    ),
                    "rename that task: the copies of a replicated task are NAME.1 … NAME.N",
                ));
            }
        }
        self.diags.extend(clashes);
        out
    }
}
