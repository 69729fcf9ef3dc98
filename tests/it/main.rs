//! Integration tests: every test runs the real `bts` binary against a manifest in a
//! temp dir (see `common`).

mod check;
mod common;
mod control;
mod ecosystem;
mod health;
mod manifest;
mod output;
mod safety;
mod up;
mod watch;
