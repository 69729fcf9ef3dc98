//! In-process tests of the supervisor core (bts::lifecycle): no processes, no sleeps.
//! A harness plays the executor: it answers spawns, delivers timers when the fake clock
//! passes them, and records every effect for the assertions.

mod destructive;
mod guards;
mod health;
mod limits;
mod reload;
mod requests;
mod restart;
mod schedule;
mod shutdown;
mod texts;

use std::collections::BTreeSet;
use std::time::Duration;

use bts::lifecycle::{
    Core, CoreOptions, Effect, Event, ExitInfo, Phase, Request, RunId, StopWhy, TaskId, TaskState,
    Timer,
};
use bts::manifest::{CommandSpec, Condition, Dependency, Health, Probe, RestartPolicy, Task};
use tokio::time::Instant;

pub fn task(name: &str) -> Task {
    Task::with_defaults(name, CommandSpec::Shell("true".into()), "/".into())
}

pub fn restarting(name: &str, policy: RestartPolicy) -> Task {
    Task {
        restart: policy,
        ..task(name)
    }
}

pub fn depends(mut t: Task, on: &str, condition: Condition) -> Task {
    t.depends_on.push(Dependency {
        task: on.into(),
        condition,
    });
    t
}

pub fn probed(mut t: Task, retries: u32, start_period: Duration) -> Task {
    t.health = Some(Health {
        probe: Probe::Tcp {
            host: None,
            port: 1,
        },
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(2),
        retries,
        start_period,
    });
    t
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub struct Harness {
    pub core: Core,
    pub now: Instant,
    /// Every effect so far, in order.
    pub log: Vec<Effect>,
    /// The effects of the last step.
    pub last: Vec<Effect>,
    timers: Vec<(Instant, Timer)>,
    next_pid: i32,
    next_waiter: u64,
}

impl Harness {
    /// Every task selected.
    pub fn new(tasks: Vec<Task>) -> Self {
        let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Self::with(tasks, &names, CoreOptions::default())
    }

    pub fn with(tasks: Vec<Task>, selected: &[&str], opts: CoreOptions) -> Self {
        let now = Instant::now();
        let selected: BTreeSet<String> = selected.iter().map(|s| s.to_string()).collect();
        Harness {
            core: Core::new(&tasks, &selected, opts, now),
            now,
            log: vec![],
            last: vec![],
            timers: vec![],
            next_pid: 1000,
            next_waiter: 0,
        }
    }

    pub fn step(&mut self, ev: Event) -> Vec<Effect> {
        let effects = self.core.step(ev, self.now);
        for e in &effects {
            if let Effect::Arm { at, timer } = e {
                self.timers.push((*at, *timer));
            }
        }
        self.log.extend(effects.iter().cloned());
        self.last = effects.clone();
        effects
    }

    pub fn boot(&mut self) -> Vec<Effect> {
        self.step(Event::Boot)
    }

    /// Boot and answer every spawn the boot asked for.
    pub fn boot_and_spawn(&mut self) {
        self.boot();
        self.spawn_all();
    }

    pub fn id(&self, name: &str) -> TaskId {
        self.core.find(name).expect("known task")
    }

    pub fn state(&self, name: &str) -> TaskState {
        self.core.slot(self.id(name)).state()
    }

    pub fn phase(&self, name: &str) -> &Phase {
        &self.core.slot(self.id(name)).phase
    }

    /// The run `name` is (being) spawned for.
    pub fn run_of(&self, name: &str) -> RunId {
        match self.phase(name) {
            Phase::Spawning { run, .. } => *run,
            Phase::Running(r) => r.run,
            Phase::Checkpointing { attempt, .. } => *attempt,
            p => panic!("{name} has no run: {p:?}"),
        }
    }

    /// Answer the pending spawn of `name` as the executor would.
    pub fn spawned(&mut self, name: &str) -> RunId {
        let run = self.run_of(name);
        let pid = self.next_pid;
        self.next_pid += 1;
        self.step(Event::Spawned {
            task: self.id(name),
            run,
            pid,
        });
        run
    }

    /// Answer every pending spawn, repeatedly (a spawn may let a dependent start).
    pub fn spawn_all(&mut self) {
        loop {
            let pending: Vec<String> = self
                .core
                .slots()
                .iter()
                .filter(|s| matches!(s.phase, Phase::Spawning { .. }))
                .map(|s| s.task.name.clone())
                .collect();
            if pending.is_empty() {
                return;
            }
            for n in pending {
                self.spawned(&n);
            }
        }
    }

    pub fn exit(&mut self, name: &str, code: i32) -> Vec<Effect> {
        let run = self.run_of(name);
        self.step(Event::Exited {
            task: self.id(name),
            run,
            exit: ExitInfo::code(code),
        })
    }

    pub fn probe(&mut self, name: &str, ok: bool) -> Vec<Effect> {
        let run = self.run_of(name);
        self.step(Event::Probe {
            task: self.id(name),
            run,
            ok,
            detail: if ok { "ok".into() } else { "refused".into() },
        })
    }

    /// Move the clock on, delivering every timer that falls due, in order.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.timers.sort_by_key(|t| t.0);
            match self.timers.first() {
                Some(&(at, timer)) if at <= until => {
                    self.timers.remove(0);
                    self.now = self.now.max(at);
                    self.step(Event::Timer(timer));
                }
                _ => break,
            }
        }
        self.now = until;
    }

    pub fn request(&mut self, make: impl FnOnce(u64) -> Request) -> u64 {
        self.next_waiter += 1;
        let w = self.next_waiter;
        self.step(Event::Request(make(w)));
        w
    }

    pub fn interrupt(&mut self) -> Vec<Effect> {
        self.step(Event::Interrupt {
            signal: "SIGINT".into(),
        })
    }

    /// The answer to waiter `w` so far: (messages, failed).
    pub fn answer(&self, w: u64) -> Option<(Vec<String>, bool)> {
        self.log.iter().find_map(|e| match e {
            Effect::Answer {
                waiter,
                messages,
                failed,
                ..
            } if *waiter == w => Some((messages.clone(), *failed)),
            _ => None,
        })
    }

    /// Stop effects of the last step, by task name.
    pub fn stops(&self, effects: &[Effect]) -> Vec<(String, StopWhy)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Stop { task, why, .. } => {
                    Some((self.core.slot(*task).task.name.clone(), *why))
                }
                _ => None,
            })
            .collect()
    }

    pub fn spawns(&self, effects: &[Effect]) -> Vec<(String, bool)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Spawn { task, fresh, .. } => {
                    Some((self.core.slot(*task).task.name.clone(), *fresh))
                }
                _ => None,
            })
            .collect()
    }

    /// Every state a task went through, as printed (`from → to`).
    pub fn states_of(&self, name: &str) -> Vec<TaskState> {
        let id = self.id(name);
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::State { task, to, .. } if *task == id => Some(*to),
                _ => None,
            })
            .collect()
    }
}
