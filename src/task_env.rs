//! The environment bts adds to a task's own, in one place for the supervisor and for
//! `bts export`: `PORT` (the task's first declared port, unless its env sets one),
//! `BTS_TASK`, `BTS_PROJECT`, `BTS_INSTANCE` (when a supervisor runs it) and
//! `BTS_PORT_<TASK>` for every task of the stack that declares a port
//! (docs/behaviour.md#files).

use crate::manifest::Task;

/// What every task of one stack gets: built once per manifest.
#[derive(Debug, Clone, Default)]
pub struct StackEnv {
    common: Vec<(String, String)>,
}

impl StackEnv {
    /// `instance` names the supervisor (`<pid>.<start time>`); exports have none.
    pub fn new(project: &str, tasks: &[Task], instance: Option<&str>) -> Self {
        let mut common = vec![("BTS_PROJECT".to_string(), project.to_string())];
        if let Some(i) = instance {
            common.push(("BTS_INSTANCE".to_string(), i.to_string()));
        }
        for t in tasks {
            if let Some(p) = t.ports.first() {
                common.push((format!("BTS_PORT_{}", env_suffix(&t.name)), p.to_string()));
                // A replicated task's name stands for its first copy's port too.
                if let Some(r) = t.replica.as_ref().filter(|r| r.index == 1) {
                    common.push((format!("BTS_PORT_{}", env_suffix(&r.of)), p.to_string()));
                }
            }
        }
        StackEnv { common }
    }

    /// The variables bts adds for `task`, in order. `port_given`: the environment the
    /// task inherits already has `PORT` (it is then left alone).
    pub fn added(&self, task: &Task, port_given: bool) -> Vec<(String, String)> {
        let mut env = Vec::with_capacity(self.common.len() + 2);
        if let Some(p) = task.ports.first() {
            if !task.env.contains_key("PORT") && !port_given {
                env.push(("PORT".into(), p.to_string()));
            }
        }
        env.push(("BTS_TASK".into(), task.name.clone()));
        if let Some(r) = &task.replica {
            env.push(("BTS_REPLICA".into(), r.index.to_string()));
        }
        env.extend(self.common.iter().cloned());
        env
    }

    /// The task's own env (manifest, env files) followed by what bts adds.
    pub fn full(&self, task: &Task, port_given: bool) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = task
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(self.added(task, port_given));
        env
    }
}

/// `web-dev` → `WEB_DEV`, for `BTS_PORT_<TASK>`.
pub fn env_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::CommandSpec;

    #[test]
    fn replicas_get_their_index_and_the_name_its_first_port() {
        use crate::manifest::Replica;
        let copy = |i: u32| {
            let mut t = Task::with_defaults(
                &format!("web.{i}"),
                CommandSpec::Shell("x".into()),
                "/".into(),
            );
            t.ports = vec![3000 + i as u16 - 1];
            t.replica = Some(Replica {
                of: "web".into(),
                index: i,
            });
            t
        };
        let (one, two) = (copy(1), copy(2));
        let stack = StackEnv::new("shop", &[one.clone(), two.clone()], None);
        let env = stack.added(&two, false);
        assert_eq!(env[0], ("PORT".into(), "3001".into()));
        assert!(env.contains(&("BTS_REPLICA".into(), "2".into())));
        assert!(env.contains(&("BTS_PORT_WEB".into(), "3000".into())));
        assert!(env.contains(&("BTS_PORT_WEB_2".into(), "3001".into())));
    }

    #[test]
    fn port_task_and_stack_variables() {
        let mut web = Task::with_defaults("web-dev", CommandSpec::Shell("x".into()), "/".into());
        web.ports = vec![3000];
        let worker = Task::with_defaults("worker", CommandSpec::Shell("x".into()), "/".into());
        let stack = StackEnv::new("shop", &[web.clone(), worker.clone()], Some("1.2"));
        let env = stack.added(&web, false);
        assert_eq!(env[0], ("PORT".into(), "3000".into()));
        assert!(env.contains(&("BTS_TASK".into(), "web-dev".into())));
        assert!(env.contains(&("BTS_PROJECT".into(), "shop".into())));
        assert!(env.contains(&("BTS_INSTANCE".into(), "1.2".into())));
        assert!(env.contains(&("BTS_PORT_WEB_DEV".into(), "3000".into())));
        assert!(!stack.added(&web, true).iter().any(|(k, _)| k == "PORT"));
        assert!(!stack.added(&worker, false).iter().any(|(k, _)| k == "PORT"));
    }
}
