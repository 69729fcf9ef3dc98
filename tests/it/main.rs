//! Integration tests: every test runs the real `bts` binary against a manifest in a
//! temp dir (see `common`).

mod common;
mod health;
mod up;
