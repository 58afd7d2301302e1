//! Colours and textures. Colours are mid-tone 256-colour indices that read on dark and on light
//! backgrounds; text keeps the terminal's own foreground and stands out with bold and reverse
//! video. Without colour (`--no-color`, NO_COLOR) every colour is the terminal default and the dial
//! tells port uses apart by braille textures instead. In plain characters (`--ascii`) there are no
//! textures: the dial tells port uses apart by characters of their own (see [`super::ascii`]).

use crate::model::PortUse;
use ratatui::style::{Color, Modifier, Style};

/// A dot pattern, tested on absolute braille-dot coordinates so that the ring and the legend's
/// swatches show the same texture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Texture {
    /// Every dot.
    Solid,
    /// One dot row in four: a thin line.
    Line,
    /// Every other dot, as a checkerboard.
    Checker,
    /// Every other dot column.
    Columns,
    /// Every other dot row.
    Rows,
    /// One dot in four.
    Sparse,
}

impl Texture {
    /// Whether the dot at (`x`, `y`) is painted.
    pub fn covers(self, x: usize, y: usize) -> bool {
        match self {
            Texture::Solid => true,
            Texture::Line => y % 4 == 2,
            Texture::Checker => (x + y).is_multiple_of(2),
            Texture::Columns => x.is_multiple_of(2),
            Texture::Rows => y.is_multiple_of(2),
            Texture::Sparse => x.is_multiple_of(2) && y.is_multiple_of(2),
        }
    }

    /// The braille cell whose dots this texture covers at cell (`col`, `row`).
    pub fn braille(self, col: usize, row: usize) -> char {
        // Bit of each dot (dx, dy) in a braille cell, per Unicode's numbering.
        const BITS: [[u32; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
        let mut bits = 0;
        for (dx, column) in BITS.iter().enumerate() {
            for (dy, bit) in column.iter().enumerate() {
                if self.covers(col * 2 + dx, row * 4 + dy) {
                    bits |= bit;
                }
            }
        }
        char::from_u32(0x2800 + bits).unwrap_or(' ')
    }
}

/// How many needles have a colour of their own.
pub const NEEDLES: usize = 4;
/// 256-colour indices of the needles; 0 stands for the terminal's foreground.
const NEEDLE_COLORS: [u8; NEEDLES] = [0, 37, 170, 142];

/// How the dashboard paints things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    color: bool,
    ascii: bool,
}

impl Theme {
    pub fn new(color: bool) -> Theme {
        Theme {
            color,
            ascii: false,
        }
    }

    /// This theme, drawing in plain characters (ASCII) when `ascii` is set.
    pub fn with_ascii(self, ascii: bool) -> Theme {
        Theme { ascii, ..self }
    }

    /// Whether the screen is drawn in plain characters.
    pub fn ascii(&self) -> bool {
        self.ascii
    }

    fn pick(&self, indexed: u8) -> Color {
        if self.color {
            Color::Indexed(indexed)
        } else {
            Color::Reset
        }
    }

    /// The colour of ports doing `u` on the dial.
    pub fn port_use(&self, u: PortUse) -> Color {
        self.pick(match u {
            PortUse::Free => 244,
            PortUse::TimeWait => 208,
            PortUse::Other => 33,
            PortUse::Established => 34,
            PortUse::Bound => 135,
            PortUse::Reserved => 160,
        })
    }

    /// The texture of ports doing `u`: solid in colour (free is the thin ring itself), distinct
    /// patterns without colour, solid in plain characters (whose characters tell uses apart).
    pub fn texture(&self, u: PortUse) -> Texture {
        match (u, self.color) {
            _ if self.ascii => Texture::Solid,
            (PortUse::Free, _) => Texture::Line,
            (_, true) | (PortUse::Established, false) => Texture::Solid,
            (PortUse::TimeWait, false) => Texture::Checker,
            (PortUse::Other, false) => Texture::Columns,
            (PortUse::Bound, false) => Texture::Rows,
            (PortUse::Reserved, false) => Texture::Sparse,
        }
    }

    /// The colour of needle `slot` (modulo [`NEEDLES`]): the first (and the newest trail mark) is
    /// the terminal's own foreground, the others mid-tone colours unlike any port use's.
    pub fn needle(&self, slot: usize) -> Color {
        match NEEDLE_COLORS[slot % NEEDLES] {
            0 => Color::Reset,
            c => self.pick(c),
        }
    }

    /// Older trail marks.
    pub fn trail(&self) -> Color {
        self.pick(244)
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        Style::new().fg(self.pick(244))
    }

    /// The selected row of the focused panel.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// The selected row of a panel without focus.
    pub fn selected_unfocused(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn error(&self) -> Style {
        Style::new().fg(self.pick(160)).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        Style::new().fg(self.pick(208)).add_modifier(Modifier::BOLD)
    }

    /// A key name in the footer and the help.
    pub fn key(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }

    /// The "frozen" badge.
    pub fn frozen(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }

    /// A panel's border: bold and coloured when it has the focus.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            Style::new().fg(self.pick(33)).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(self.pick(244))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textures_tell_every_use_apart_without_colour() {
        let mono = Theme::new(false);
        let mut seen: Vec<Texture> = PortUse::ALL.iter().map(|u| mono.texture(*u)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), PortUse::ALL.len());
        assert!(
            PortUse::ALL
                .iter()
                .all(|u| mono.port_use(*u) == Color::Reset)
        );
        assert!((0..NEEDLES).all(|i| mono.needle(i) == Color::Reset));
    }

    #[test]
    fn needles_have_colours_of_their_own() {
        let theme = Theme::new(true);
        let mut colours: Vec<Color> = (0..NEEDLES).map(|i| theme.needle(i)).collect();
        colours.extend(PortUse::ALL.iter().map(|u| theme.port_use(*u)));
        let n = colours.len();
        colours.sort_by_key(|c| format!("{c:?}"));
        colours.dedup();
        assert_eq!(colours.len(), n, "a needle shares a colour");
    }

    #[test]
    fn braille_cells_follow_the_texture() {
        assert_eq!(Texture::Solid.braille(0, 0), '⣿');
        assert_eq!(Texture::Line.braille(3, 1), '⠤');
        assert_eq!(Texture::Columns.braille(0, 0), '⡇');
    }
}
