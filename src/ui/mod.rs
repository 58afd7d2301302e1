//! The live dashboard.
//!
//! STUB: the dashboard helper replaces this module.

use crate::collect::Families;
use crate::filter::Filter;

/// How the dashboard was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub interval_ms: u64,
    pub families: Families,
    pub netns: Option<String>,
    pub no_color: bool,
    pub filter: Option<Filter>,
}

/// Runs the dashboard until the user quits.
pub fn run(_options: Options) -> anyhow::Result<()> {
    anyhow::bail!("the dashboard is not built yet; try `portradar snapshot`")
}
