//! The bodies of the binary's subcommands; `main.rs` only parses the command line and dispatches.

pub mod events;
pub mod snapshot;
