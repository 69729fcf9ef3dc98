//! `bts mcp`: bts as a Model Context Protocol server over stdio, for AI coding agents.
//! The server (rmcp) offers the supervisor's operations as tools; each tool runs the
//! matching `bts` command (so the agent gets exactly the CLI's behaviour, messages and
//! hints) and answers compactly, within the token budget of one hand-off.

mod cli;
mod server;
mod tail;

pub use server::{config_snippet, serve};
