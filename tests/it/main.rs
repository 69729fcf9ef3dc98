//! Integration tests: every test runs the real `bts` binary against a manifest in a
//! temp dir (see `common`).

mod attach;
mod catchup;
mod check;
mod checkpoint;
mod cluster;
mod common;
mod control;
mod crash;
mod cycles;
mod ecosystem;
mod fuzz_gen;
mod guarantees;
mod handoff;
mod health;
mod include;
mod limits;
mod live_reload;
mod loader_fuzz;
mod manifest;
mod mcp;
mod output;
mod reliability;
mod replicas;
mod responsive;
mod run;
mod safety;
mod scale;
mod ui;
mod up;
mod watch;
