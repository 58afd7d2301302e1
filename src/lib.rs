//! portradar: how a Linux host uses its TCP ports.
//!
//! Data flows one way: `collect` (kernel → [`collect::Table`]) → `model` (pure aggregation into a
//! [`model::Snapshot`]) → `output` (JSON, tables) and `ui` (the live dashboard).

pub mod collect;
pub mod events;
pub mod filter;
pub mod model;
pub mod output;
pub mod pointer;
pub mod portset;
pub mod probe;
pub mod refresh;
pub mod settings;
pub mod socket;
pub mod ui;
