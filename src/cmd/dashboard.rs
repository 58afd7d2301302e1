//! The live dashboard (no subcommand): its options as the dashboard takes them, colour and
//! braille chosen from the flags and the environment.

use super::{enter_netns, parse_filter};
use crate::cli::DashboardArgs;
use anyhow::Result;

/// Terminals that cannot draw braille: the dial falls back to plain characters there.
const PLAIN_TERMS: [&str; 2] = ["dumb", "linux"];

/// Colour off and plain characters, from the flags and the environment (NO_COLOR, TERM).
pub(super) fn looks(no_color: bool, ascii: bool) -> (bool, bool) {
    let no_color = no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ascii =
        ascii || std::env::var("TERM").is_ok_and(|term| PLAIN_TERMS.contains(&term.as_str()));
    (no_color, ascii)
}

pub fn run(args: &DashboardArgs) -> Result<()> {
    enter_netns(&args.scope)?;
    let filter = parse_filter(&args.filter)?;
    let (no_color, ascii) = looks(args.no_color, args.ascii);
    portradar::ui::run(portradar::ui::Options {
        interval_ms: args.interval,
        families: args.scope.families(),
        netns: args.scope.netns().map(ToString::to_string),
        no_color,
        ascii,
        filter,
        record: args.record.clone(),
        events: !args.no_events,
        all_netns: args.all_netns,
    })
}
