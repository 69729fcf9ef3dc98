//! The lifecycle of tasks as a pure state machine: the phases a task goes through, why it
//! fails, the restart and health policies, and the core that turns an event and the time
//! into effects. Nothing here does I/O or reads a clock; the executor in
//! crate::supervisor carries the effects out. See docs/architecture.md.

pub mod effect;
pub mod event;
pub mod exit;
pub mod machine;
pub mod origin;
pub mod phase;
pub mod policy;
pub mod reason;
pub mod task_state;

mod requests;
mod run;
mod schedule;
mod stop;

pub use effect::{Audit, Effect, Level, StopWhy};
pub use event::{CheckpointResult, Event, Request, TaskId, Timer, TimerKind, WaiterId};
pub use exit::ExitInfo;
pub use machine::{Core, CoreOptions, Member, Mode, TaskSlot, Until};
pub use origin::Origin;
pub use phase::{CheckpointEnd, Degraded, Health, Phase, RunId, Running, StopDetail, StopIntent};
pub use reason::{FailReason, PreflightProblem};
pub use run::WATCH_DEBOUNCE;
pub use task_state::TaskState;
