//! `portradar replay FILE`: the dashboard over a recording.

use super::parse_filter;
use crate::cli::ReplayArgs;
use anyhow::Result;
use portradar::record::Recording;

pub fn run(args: &ReplayArgs) -> Result<()> {
    let filter = parse_filter(&args.filter)?;
    let recording = Recording::open(&args.file)?;
    let note = recording
        .truncation
        .map(|t| super::snapshot::truncation_note(&args.file, t));
    let no_color = args.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    portradar::ui::replay(
        recording,
        portradar::ui::ReplayOptions {
            no_color,
            ascii: args.ascii,
            filter,
            note,
        },
    )
}
