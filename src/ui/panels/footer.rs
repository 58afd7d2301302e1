//! The footer: the keys, as many as the width holds (the table in `keys` puts the vital ones
//! first).

use crate::ui::keys::keys_for;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The keys of the live dashboard, or of a replay (`replay`).
pub fn render(area: Rect, buf: &mut Buffer, theme: Theme, replay: bool) {
    let mut spans = Vec::new();
    let mut used = 0;
    for k in keys_for(replay) {
        let key = format!(" {} ", k.keys);
        let word = format!(" {}  ", k.short);
        let w = key.chars().count() + word.chars().count();
        if used + w > usize::from(area.width) + 1 {
            break;
        }
        used += w;
        spans.push(Span::styled(key, theme.key()));
        spans.push(Span::raw(word));
    }
    Line::from(spans).render(area, buf);
}
