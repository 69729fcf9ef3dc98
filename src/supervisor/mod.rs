//! The executor of a `bts up`: it owns the processes, files and sockets, feeds what
//! happens to the pure core (crate::lifecycle) and carries out the effects the core
//! returns. See docs/architecture.md#the-loop.

mod answers;
mod archive;
mod digest_writer;
mod disk;
mod effects;
mod executor;
mod limits;
mod live_reload;
mod notes;
mod probes;
mod replies;
mod report;
mod spawn;

pub use executor::{Options, Supervisor};
