//! portradar: how a Linux host uses its TCP ports.
//!
//! Data flows one way: `collect` (kernel → [`collect::Table`]) → `model` (pure aggregation into a
//! [`model::Snapshot`]) → `output` (JSON, tables) and `ui` (the live dashboard). `refresh` drives the
//! first two: one refresh at a time ([`refresh::Refresher`]), or a worker thread refreshing every
//! interval that each live mode reads reports from ([`refresh::Worker`]).
//!
//! The modules public here are the ones the binary, the integration tests and the benchmark use.

pub mod attribution;
pub mod collect;
pub mod events;
pub mod export;
pub mod filter;
pub mod model;
pub mod output;
pub mod pointer;
mod portset;
pub mod probe;
pub mod record;
pub mod refresh;
pub mod settings;
pub mod socket;
pub mod ui;
