//! The `?` overlay: every key, and how to read the dial and the forecasts (left out when the screen
//! is too short). `q` quits from it as from anywhere, any other key closes it, and its title says
//! so.

use super::keys::keys_for;
use super::popup;
use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

const READING: [&str; 11] = [
    "Reading the dial and the forecasts",
    "Ring: the ephemeral port range, clockwise from its low end at the top.",
    "Bars outside: ports in use, longer as more of the arc's ports are used.",
    "Ticks inside: ports connect() skips (reserved, or bound by bind/listen).",
    "Needles: where the next connect() to a destination should start, inferred",
    "from the ports seen; the arc after each is its predicted window, and % right",
    "how often new ports landed in it. Unfocused: the busiest destinations,",
    "numbered as in the legend; focused: that one. Marks: the last allocations.",
    "Middle: the focused destination's headroom and outlook, or the unused ports.",
    "Full in: until connect() fails at the current rate; holds: never does;",
    "⚠: over half the range used, connect() scans the other parity, slower.",
];

/// Draws the overlay in the middle of `area`, with the keys of a replay when `replay`.
pub fn render(area: Rect, buf: &mut Buffer, theme: Theme, replay: bool) {
    let mut lines: Vec<Line> = keys_for(replay)
        .map(|k| {
            Line::from(vec![
                Span::styled(format!("{:>7}", k.keys), theme.bold()),
                Span::raw(format!("  {}", k.long)),
            ])
        })
        .collect();
    // The guide's bold title sets it apart from the keys: no blank line, so it fits in 24 rows.
    if area.height as usize >= lines.len() + READING.len() + 2 {
        lines.push(Line::styled(READING[0], theme.bold()));
        lines.extend(READING[1..].iter().map(|l| Line::raw(*l)));
    }
    popup::render(
        area,
        buf,
        lines,
        " Keys · q quits · any other key closes ",
        theme,
    );
}
