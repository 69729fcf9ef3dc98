//! bts as a library: the binary (`src/main.rs`) parses the command line and calls into
//! these modules; tests use them in-process (the supervisor core above all).

pub mod annotate;
pub mod check;
pub mod cli;
pub mod clock;
pub mod completions;
pub mod control;
pub mod ctl;
pub mod digest;
pub mod errors;
pub mod escapees;
pub mod events;
pub mod export;
pub mod filewatch;
pub mod handoff;
pub mod hash;
pub mod init;
pub mod lifecycle;
pub mod logs;
pub mod manifest;
pub mod orphans;
pub mod output;
pub mod preflight;
pub mod probe;
pub mod process;
pub mod receipt;
pub mod redact;
pub mod runner;
pub mod schema;
pub mod selector;
pub mod state_dir;
pub mod state_file;
pub mod supervisor;
pub mod task_env;
pub mod up;
pub mod usage;
