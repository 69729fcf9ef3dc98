//! The logic of `--output summary` (docs/behaviour.md#output-modes): which lines are errors or warnings, what
//! a line's *shape* is, how consecutive lines of one task fold, how the shared terminal
//! budget is split between tasks, and the "lines not shown" notes. Everything here is
//! pure: no I/O, no clock (time comes in as an `Instant`), so every rule is unit-tested
//! with synthetic time. The pump owns one [`Classifier`] and [`Folder`] per task; all
//! tasks share one [`Budget`] and one [`NotShown`] (each behind a `Mutex`).
//!
//! One module per concept: `classify` (error and warning lines), `shape` (a line with
//! its values replaced by placeholders), `fold` (runs of like lines), `across` (like
//! lines of different tasks), `budget` (the shared terminal budget) and `not_shown` (the
//! hidden-lines note); the unit tests of the first five are in `tests`.

mod across;
mod budget;
mod classify;
mod fold;
mod not_shown;
mod shape;
#[cfg(test)]
mod tests;

pub use across::{Across, ACROSS_WINDOW};
pub use budget::{
    Budget, ACTIVE_WINDOW, ERROR_BURST, ERROR_RATE, FAIR_RATE, IDLE_RATE, POOL_BURST, POOL_RATE,
    TASK_BORROW, TASK_BURST,
};
pub use classify::{Class, Classifier};
pub use fold::{Emit, Folder, FOLD_QUIET, FOLD_WINDOW, SLOW_GAP, SLOW_NOTE};
pub use not_shown::{group_digits, NotShown, NOTE_EVERY, NOTE_GAP};
pub use shape::shape_into;
