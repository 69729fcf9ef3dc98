//! Integration tests: every test runs the real `bts` binary against a manifest in a
//! temp dir (see `common`).

mod check;
mod common;
mod fuzz_gen;
mod control;
mod ecosystem;
mod health;
mod loader_fuzz;
mod manifest;
mod output;
mod reliability;
mod safety;
mod up;
mod watch;
