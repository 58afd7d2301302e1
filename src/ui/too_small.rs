//! What a screen smaller than [`MIN_WIDTH`] x [`MIN_HEIGHT`] shows instead of the dashboard: a
//! request to enlarge it, in the longest wording whose words all fit, word-wrapped and centred;
//! nothing at all when not even the shortest does.

use super::format::wrap;
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// The wordings, longest first.
fn wordings(area: Rect) -> [String; 4] {
    let need = format!("{MIN_WIDTH}x{MIN_HEIGHT}");
    [
        format!(
            "enlarge the terminal: portradar needs {need}, this one is {}x{}",
            area.width, area.height
        ),
        format!("enlarge the terminal to {need}"),
        format!("enlarge to {need}"),
        need,
    ]
}

/// The rows of the longest wording that fits in `area` without cutting a word.
fn message(area: Rect) -> Vec<String> {
    let (width, height) = (usize::from(area.width), usize::from(area.height));
    wordings(area)
        .iter()
        .map(|w| wrap(w, width))
        .find(|rows| rows.len() <= height && rows.iter().all(|r| r.chars().count() <= width))
        .unwrap_or_default()
}

/// Draws the message in the middle of `area`.
pub fn render(area: Rect, buf: &mut Buffer, theme: Theme) {
    let rows = message(area);
    let top = area.y + (area.height - rows.len() as u16) / 2;
    for (y, row) in (top..).zip(&rows) {
        let x = area.x + (area.width - row.chars().count() as u16) / 2;
        buf.set_string(x, y, row, theme.warning());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wording_shortens_as_the_screen_does() {
        let rows = |w, h| message(Rect::new(0, 0, w, h));
        assert_eq!(
            rows(100, 15),
            ["enlarge the terminal: portradar needs 60x16, this one is 100x15"]
        );
        assert_eq!(
            rows(40, 10),
            [
                "enlarge the terminal: portradar needs",
                "60x16, this one is 40x10"
            ]
        );
        assert_eq!(rows(10, 3), ["enlarge to", "60x16"]);
        assert_eq!(rows(30, 1), ["enlarge the terminal to 60x16"]);
        assert_eq!(rows(5, 1), ["60x16"]);
        assert!(rows(1, 1).is_empty() && rows(4, 20).is_empty());
    }
}
