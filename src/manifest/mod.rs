//! The manifest: discovery, raw serde types, validation into [`model`], and the
//! diagnostics that name file, line and column.

pub mod model;

pub use model::*;
mod stopgap;
pub use stopgap::load;
