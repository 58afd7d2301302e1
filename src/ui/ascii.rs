//! Plain characters for terminals without braille or box drawing (`--ascii`, chosen by itself for
//! `TERM=dumb` and `TERM=linux`): a character per port use for the dial and its legend, and an ASCII
//! stand-in for every other symbol the dashboard draws, put in place over a finished frame.

use crate::model::PortUse;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// A recent allocation on the dial's trail.
pub const TRAIL: char = '~';
/// A needle's predicted window.
pub const WINDOW: char = '=';
/// A needle.
pub const NEEDLE: char = '*';

/// The character of ports doing `u` on the dial and in its legend.
pub fn mark(u: PortUse) -> char {
    match u {
        PortUse::Free => '.',
        PortUse::Established => '#',
        PortUse::TimeWait => '+',
        PortUse::Other => 'o',
        PortUse::Bound => ':',
        PortUse::Reserved => 'x',
    }
}

/// The ASCII stand-in for `c`: itself when it is ASCII, `?` for a symbol the dashboard does not
/// draw.
pub fn plain(c: char) -> char {
    match c {
        ' '..='~' => c,
        '·' | '—' | '–' | '━' | '─' | '═' | '╌' | '╍' => '-',
        '│' | '┃' | '║' | '❚' | '╎' | '╏' => '|',
        '\u{2500}'..='\u{257F}' => '+',
        '▁' | '▂' => '_',
        '▃' | '▄' => '-',
        '▅' | '▆' => '=',
        '\u{2580}'..='\u{259F}' => '#',
        '→' | '▶' | '▸' => '>',
        '←' => '<',
        '↑' | '▲' => '^',
        '↓' | '▼' => 'v',
        '⚠' => '!',
        '✗' | '×' => 'x',
        '●' => '*',
        '…' => '.',
        '⏎' => '<',
        '⌈' => '[',
        '⌉' => ']',
        _ => '?',
    }
}

/// Replaces every symbol in `area` of `buf` by its ASCII stand-in.
pub fn downgrade(buf: &mut Buffer, area: Rect) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            if !cell.symbol().is_ascii() {
                let plain: String = cell.symbol().chars().take(1).map(plain).collect();
                cell.set_symbol(&plain);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_use_has_a_character_of_its_own() {
        let mut marks: Vec<char> = PortUse::ALL.iter().map(|u| mark(*u)).collect();
        marks.extend([TRAIL, WINDOW, NEEDLE]);
        let n = marks.len();
        marks.sort();
        marks.dedup();
        assert_eq!(marks.len(), n);
        assert!(marks.iter().all(char::is_ascii_graphic));
    }

    #[test]
    fn a_frame_comes_out_in_ascii() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 12, 1));
        buf.set_string(0, 0, "┌─ ⚠ 8→9 ⣿│", ratatui::style::Style::new());
        let area = buf.area;
        downgrade(&mut buf, area);
        let row: String = (0..12).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert_eq!(row, "+- ! 8>9 ?| ");
    }
}
