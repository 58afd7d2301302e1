//! Subcommands that live in the binary.

pub mod events;
