//! A bordered popup centred over the dashboard: the help overlay and the consumers view. It is as
//! wide as its widest line or its title (plus border and margin) and as tall as its lines, both
//! within the area, and clears what lies under it.

use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

/// Draws `lines` in a bordered box titled `title`, centred in `area`.
pub fn render(area: Rect, buf: &mut Buffer, lines: Vec<Line>, title: &str, theme: Theme) {
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let width = (widest.max(title.chars().count()) as u16 + 4).min(area.width);
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
                .title(title)
                .border_style(theme.border(true)),
        )
        .render(popup, buf);
}
