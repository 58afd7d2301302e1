//! Lines made of pieces that are never split: the header's facts and the focused destination's
//! details are lists of [`Item`]s, packed into as few lines of a given width as they fit in, with a
//! dim ` · ` between the pieces of a line.

use super::theme::Theme;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

const SEPARATOR: &str = " · ";

/// One piece of text, kept on one line.
pub struct Item(pub Vec<Span<'static>>);

impl Item {
    pub fn plain(text: String) -> Item {
        Item(vec![Span::raw(text)])
    }

    pub fn styled(text: String, style: Style) -> Item {
        Item(vec![Span::styled(text, style)])
    }

    fn width(&self) -> usize {
        self.0.iter().map(|s| s.width()).sum()
    }
}

/// Packs items into lines of `width` columns (an item wider than that gets a line of its own).
pub fn pack(items: Vec<Item>, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for item in items {
        let w = item.width();
        if used > 0 && used + SEPARATOR.len() + w > width {
            lines.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        if used > 0 {
            line.push(Span::styled(SEPARATOR, theme.dim()));
            used += SEPARATOR.chars().count();
        }
        line.extend(item.0);
        used += w;
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_fill_lines_and_are_never_split() {
        let items = ["alpha", "beta", "gamma", "a-very-long-item"]
            .map(|t| Item::plain(t.into()))
            .into_iter()
            .collect();
        let lines: Vec<String> = pack(items, 14, Theme::new(false))
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(lines, ["alpha · beta", "gamma", "a-very-long-item"]);
    }
}
