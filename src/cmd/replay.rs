//! `portradar replay FILE`: the dashboard over a recording, drawn as the live one is (colour and
//! plain characters chosen alike); what the reader says of a torn tail goes to its header.

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
    let (no_color, ascii) = super::dashboard::looks(args.no_color, args.ascii);
    portradar::ui::replay(
        recording,
        portradar::ui::ReplayOptions {
            no_color,
            ascii,
            filter,
            note,
        },
    )
}
