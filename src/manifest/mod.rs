//! The manifest: discovery, the positioned YAML tree (the raw layer), validation into
//! [`model`], and the diagnostics that name file, line and column. No logic here.

pub mod diag;
pub mod discover;
pub mod fields;
pub mod graph;
pub mod interp;
pub mod load;
pub mod model;
pub mod node;
pub mod procfile;
pub mod size;
pub mod validate;

pub use diag::ManifestError;
pub use discover::discover;
pub use load::load;
pub use load::{implicit, load_or_implicit, load_path, load_path_scaled};
pub use model::*;

#[cfg(test)]
mod fuzz_tests;
