//! Task log files: the writer that appends timestamped lines and rotates them into
//! gzip files.

pub mod tail;
pub mod writer;

pub use writer::LogWriter;
