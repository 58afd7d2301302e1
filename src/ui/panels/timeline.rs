//! The replay's time line in the header: play state and speed, the recording's start, a bar with
//! the position, its end, and where the table on screen was taken.

use crate::output::rfc3339;
use crate::ui::app::App;
use crate::ui::format::duration;
use crate::ui::pack::Item;
use ratatui::text::Span;
use std::time::{Duration, SystemTime};

/// Cells of the bar.
const BAR: usize = 20;

/// Where a replay stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub start: SystemTime,
    pub end: SystemTime,
    /// When the table on screen was taken.
    pub at: SystemTime,
    /// Its number (from 1) and how many tables the recording holds.
    pub table: (usize, usize),
    pub playing: bool,
    /// Recorded seconds per second of replay.
    pub speed: f64,
    /// What the recording's reader has to say (a torn tail).
    pub note: Option<String>,
}

/// `hh:mm:ss` of an RFC 3339 time (the date shows once, at the start).
fn clock(t: SystemTime) -> String {
    rfc3339(t)[11..19].to_string()
}

fn since(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or_default()
}

/// The header items of a replay.
pub fn items(app: &App) -> Vec<Item> {
    let Some(t) = &app.timeline else {
        return Vec::new();
    };
    let theme = app.theme;
    let state = if t.playing { "▶" } else { "❚❚" };
    let total = since(t.start, t.end);
    let pos = since(t.start, t.at);
    let filled = if total.is_zero() {
        BAR
    } else {
        ((pos.as_secs_f64() / total.as_secs_f64()) * BAR as f64).round() as usize
    }
    .min(BAR);
    let bar = format!("{}{}", "━".repeat(filled), "─".repeat(BAR - filled));
    let start = rfc3339(t.start);
    vec![
        Item::styled(format!("replay {state} {}×", t.speed), theme.bold()),
        Item(vec![
            Span::raw(format!("{} {} ", &start[..10], clock(t.start))),
            Span::styled(bar, theme.key()),
            Span::raw(format!(" {}", clock(t.end))),
        ]),
        Item::plain(format!(
            "at {} (+{} of {}, table {}/{})",
            clock(t.at),
            duration(pos),
            duration(total),
            t.table.0,
            t.table.1
        )),
    ]
}

/// The note of a replay, for the header's problems.
pub fn note(app: &App) -> Option<Item> {
    let note = app.timeline.as_ref()?.note.as_ref()?;
    Some(Item::styled(note.clone(), app.theme.warning()))
}
