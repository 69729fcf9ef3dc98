//! Dependencies and the rules across tasks: a task's `depends_on` (list, map of
//! conditions, or compose's long form), then unique ports, known dependency targets, the
//! default condition (`healthy` if the target has a probe, else `started`) and no cycles.

use std::collections::BTreeMap;

use super::{Draft, DEPENDENCY_KEYS, V};
use crate::manifest::diag::{did_you_mean, Diagnostic};
use crate::manifest::fields;
use crate::manifest::graph::find_cycles;
use crate::manifest::model::{Condition, Dependency};
use crate::manifest::node::{Node, Pos, Value};

impl V<'_> {
    pub(super) fn depends_on(
        &mut self,
        n: &Node,
        field: &str,
    ) -> Vec<(String, Option<Condition>, Pos)> {
        let mut out = Vec::new();
        match &n.value {
            Value::Seq(items) => {
                for it in items {
                    match it.scalar_text() {
                        Some(t) => out.push((t.to_string(), None, it.pos)),
                        None => self.type_err(
                            it,
                            &format!("each item of {field}"),
                            "a task name",
                            "list task names: `depends_on: [db, api]`",
                        ),
                    }
                }
            }
            Value::Map(map) => {
                for (k, v) in map {
                    let Some(t) = k.scalar_text() else {
                        self.type_err(
                            k,
                            &format!("a key of {field}"),
                            "a task name",
                            "write `depends_on: {db: healthy}`",
                        );
                        continue;
                    };
                    // `db: healthy`, or compose's long form `db: {condition: service_healthy}`.
                    let cond_node = match v.as_map() {
                        Some(m) => {
                            let at = format!("in `depends_on.{t}`");
                            let entries = self.entries(v, DEPENDENCY_KEYS, &at, false);
                            match entries.into_iter().next() {
                                Some(e) => Some(e.value),
                                None => {
                                    if !m.is_empty() {
                                        continue;
                                    }
                                    None
                                }
                            }
                        }
                        None => Some(v.clone()),
                    };
                    let cond = match cond_node {
                        Some(c) if !c.is_null() => match self.condition(&c, field) {
                            Some(c) => Some(c),
                            None => continue,
                        },
                        _ => None,
                    };
                    out.push((t.to_string(), cond, k.pos));
                }
            }
            Value::Scalar { .. } if !n.is_null() => {
                if let Some(t) = n.scalar_text() {
                    out.push((t.to_string(), None, n.pos));
                }
            }
            _ if n.is_null() => {}
            _ => self.type_err(
                n,
                field,
                "a list of task names or a map of task: condition",
                "write `depends_on: [db]` or `depends_on: {db: healthy}`",
            ),
        }
        out
    }

    fn condition(&mut self, n: &Node, field: &str) -> Option<Condition> {
        let conds = fields::CONDITIONS;
        match n.scalar_text() {
            Some("started" | "service_started") => Some(Condition::Started),
            Some("healthy" | "service_healthy") => Some(Condition::Healthy),
            Some("completed" | "completed_successfully" | "service_completed_successfully") => {
                Some(Condition::Completed)
            }
            Some(other) => {
                let hint = match did_you_mean(other, conds) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "use `started`, `healthy` or `completed`".into(),
                };
                self.err(
                    n.pos,
                    format!("invalid condition `{other}` in {field}"),
                    hint,
                );
                None
            }
            None => {
                self.type_err(
                    n,
                    &format!("a condition in {field}"),
                    "`started`, `healthy` or `completed`",
                    "write `depends_on: {db: healthy}`",
                );
                None
            }
        }
    }

    /// Rules across tasks: unique ports, known dependency targets, no cycles.
    pub(super) fn cross_checks(&mut self, drafts: &mut [Draft]) {
        let mut seen: Vec<(u16, &str, Pos)> = Vec::new();
        let mut port_errs = Vec::new();
        for d in drafts.iter() {
            for &(p, pos) in &d.ports {
                match seen.iter().find(|(q, _, _)| *q == p) {
                    Some((_, other, first)) => port_errs.push(Diagnostic::at(pos, format!("port {p} is declared by tasks `{other}` and `{}`", d.task.name)).hint(format!(
                        "a port belongs to one task: change one of them (task `{other}` declares it on line {})",
                        first.line
                    ))),
                    None => seen.push((p, &d.task.name, pos)),
                }
            }
        }
        self.diags.extend(port_errs);

        let names: Vec<String> = drafts.iter().map(|d| d.task.name.clone()).collect();
        let has_probe: Vec<bool> = drafts.iter().map(|d| d.task.health.is_some()).collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); drafts.len()];
        let mut edge_pos: BTreeMap<(usize, usize), Pos> = BTreeMap::new();
        for (i, d) in drafts.iter_mut().enumerate() {
            for (target, cond, pos) in std::mem::take(&mut d.deps) {
                let Some(j) = names.iter().position(|n| *n == target) else {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let hint = match did_you_mean(&target, &refs) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("defined tasks: {}", refs.join(", ")),
                    };
                    self.err(
                        pos,
                        format!("task `{}` depends on unknown task `{target}`", d.task.name),
                        hint,
                    );
                    continue;
                };
                if d.task.depends_on.iter().any(|x| x.task == target) {
                    continue;
                }
                let condition = cond.unwrap_or(if has_probe[j] {
                    Condition::Healthy
                } else {
                    Condition::Started
                });
                d.task.depends_on.push(Dependency {
                    task: target,
                    condition,
                });
                edges[i].push(j);
                edge_pos.entry((i, j)).or_insert(pos);
            }
        }
        for cycle in find_cycles(&edges) {
            let mut path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            path.push(&names[cycle[0]]);
            let next = cycle.get(1).copied().unwrap_or(cycle[0]);
            let pos = edge_pos.get(&(cycle[0], next)).copied().unwrap_or_default();
            self.err(
                pos,
                format!("dependency cycle: {}", path.join(" -> ")),
                "remove one of these `depends_on` entries so the tasks can start in order",
            );
        }
    }
}
