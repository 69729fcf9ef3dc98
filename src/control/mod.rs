//! Control of a running supervisor from another process: the JSON-lines protocol, the
//! Unix-socket server inside the supervisor, and the client the commands use.

pub mod client;
pub mod protocol;
pub mod server;
