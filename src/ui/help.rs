//! The `?` overlay: every key, and how to read the dial (left out when the screen is too short).

use super::keys::KEYS;
use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

const DIAL: [&str; 6] = [
    "Reading the dial",
    "Ring: the ephemeral port range, clockwise from its low end at the top.",
    "Bars outside: ports in use, longer as more of the arc's ports are used.",
    "Ticks inside: ports connect() skips (reserved, or bound by bind/listen).",
    "Needle: where the next connect() should start (inferred); marks: last ports.",
    "Middle: the focused destination's headroom, or the unused ports.",
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
    if area.height as usize >= lines.len() + DIAL.len() + 3 {
        lines.push(Line::default());
        lines.push(Line::styled(DIAL[0], theme.bold()));
        lines.extend(DIAL[1..].iter().map(|l| Line::raw(*l)));
    }
    let width = lines.iter().map(Line::width).max().unwrap_or(0) as u16 + 4;
    let width = width.min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    Clear.render(popup, buf);
    Paragraph::new(lines)
        .block(
            Block::bordered()
                .title(" Keys · any key closes ")
                .border_style(theme.border(true)),
        )
        .render(popup, buf);
}
