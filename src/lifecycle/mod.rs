//! The lifecycle of tasks as a pure state machine: the phases a task goes through, why it
//! fails, and (in later steps) the core that turns an event and the time into effects.
//! Nothing here does I/O or reads a clock; see docs/architecture.md.

pub mod reason;
pub mod task_state;

pub use reason::{FailReason, PreflightProblem};
pub use task_state::TaskState;
