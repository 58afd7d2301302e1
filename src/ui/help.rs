//! The `?` overlay: every key, and how to read the dial.

use super::keys::KEYS;
use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

const DIAL: [&str; 5] = [
    "The ring is the ephemeral port range, clockwise from its low end at 12 o'clock.",
    "Bars outside it: ports in use, as long as the share of the arc's ports in use.",
    "Ticks inside it: ports connect() skips (reserved, or bound by listeners and bind()).",
    "The needle: the newest port connect() picked (inferred); marks: the last ones.",
    "Middle: the focused destination and how many more connect() calls can succeed.",
];

/// Draws the overlay in the middle of `area`.
pub fn render(area: Rect, buf: &mut Buffer, theme: Theme) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|k| {
            Line::from(vec![
                Span::styled(format!("{:>7}", k.keys), theme.bold()),
                Span::raw(format!("  {}", k.long)),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled("Reading the dial", theme.bold()));
    lines.extend(DIAL.iter().map(|l| Line::raw(*l)));
    lines.push(Line::default());
    lines.push(Line::styled("Any key closes this help.", theme.dim()));
    let width = area.width.saturating_sub(4).min(90);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    Clear.render(popup, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(" Keys ").border_style(theme.border(true)))
        .render(popup, buf);
}
