//! The dial's legends: under the ring, the needles by name (`━1 127.0.1.1:8080`, in each needle's
//! colour), then a swatch of each port use's colour or texture (or character) with its name and how
//! many ports of the range it covers. Both are laid out for one width and drawn the same way.

use crate::model::{PortMap, PortUse};
use crate::ui::ascii;
use crate::ui::format::thousands;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};

/// Uses in legend order: the busy ones first.
const ORDER: [PortUse; 6] = [
    PortUse::Established,
    PortUse::TimeWait,
    PortUse::Other,
    PortUse::Bound,
    PortUse::Reserved,
    PortUse::Free,
];
/// Most rows the uses may take before they switch to short names.
const MAX_ROWS: usize = 3;
/// Swatch width in cells.
const SWATCH: usize = 2;
/// Cells between two needles' entries on a row.
const GAP: usize = 2;

fn short(u: PortUse) -> &'static str {
    match u {
        PortUse::Established => "estab",
        PortUse::TimeWait => "TW",
        PortUse::Other => "other",
        PortUse::Bound => "bound",
        PortUse::Reserved => "resv",
        PortUse::Free => "free",
    }
}

/// One entry: a swatch of [`SWATCH`] cells in its style, then a text.
struct Entry {
    swatch: String,
    style: Style,
    text: String,
}

impl Entry {
    fn width(&self) -> usize {
        SWATCH + 1 + self.text.chars().count()
    }
}

/// Entries placed on rows: each with its column (in cells) and row.
pub(super) struct Legend {
    placed: Vec<(Entry, usize, usize)>,
}

impl Legend {
    /// The port uses in as many equal columns as `width` holds, with full names if they fit in
    /// [`MAX_ROWS`] rows.
    pub fn uses(ports: &PortMap, width: u16, theme: Theme) -> Legend {
        let counts = ports.counts(0, ports.len());
        let layout = |name: fn(PortUse) -> &'static str| {
            let entries: Vec<Entry> = ORDER
                .iter()
                .map(|u| Entry {
                    swatch: (0..SWATCH)
                        .map(|c| match theme.ascii() {
                            true => ascii::mark(*u),
                            false => theme.texture(*u).braille(c, 0),
                        })
                        .collect(),
                    style: Style::new().fg(theme.port_use(*u)),
                    text: format!("{} {}", name(*u), thousands(u64::from(counts[*u as usize]))),
                })
                .collect();
            let cell = entries.iter().map(Entry::width).max().unwrap_or(0) + 1;
            let columns = (usize::from(width) / cell).clamp(1, ORDER.len());
            Legend {
                placed: entries
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (e, i % columns * cell, i / columns))
                    .collect(),
            }
        };
        let full = layout(PortUse::label);
        if full.rows() <= MAX_ROWS {
            full
        } else {
            layout(short)
        }
    }

    /// The needles, each a line in its colour with its label and its name, packed left to right
    /// into at most `max_rows` rows of `width`; the needles that do not fit are left out (see
    /// [`Legend::len`]).
    pub fn needles<'n>(
        needles: impl IntoIterator<Item = (char, Color, &'n str)>,
        width: u16,
        max_rows: usize,
        theme: Theme,
    ) -> Legend {
        let mut placed = Vec::new();
        let (mut x, mut row) = (0, 0);
        for (label, color, name) in needles {
            let entry = Entry {
                swatch: format!("━{label}"),
                style: theme.bold().fg(color),
                text: name.to_string(),
            };
            if x > 0 && x + entry.width() > usize::from(width) {
                (x, row) = (0, row + 1);
            }
            if row >= max_rows {
                break;
            }
            let w = entry.width();
            placed.push((entry, x, row));
            x += w + GAP;
        }
        Legend { placed }
    }

    /// How many entries were placed.
    pub fn len(&self) -> usize {
        self.placed.len()
    }

    pub fn rows(&self) -> usize {
        self.placed.last().map_or(0, |(_, _, row)| row + 1)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        for (entry, col, row) in &self.placed {
            let x = area.x + *col as u16;
            let y = area.y + *row as u16;
            if y >= area.bottom() || x >= area.right() {
                continue;
            }
            let room = usize::from(area.right() - x);
            buf.set_stringn(x, y, &entry.swatch, room, entry.style);
            let x = x + SWATCH as u16 + 1;
            if x < area.right() {
                buf.set_stringn(
                    x,
                    y,
                    &entry.text,
                    usize::from(area.right() - x),
                    Style::new(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_pack_into_rows_and_the_rest_is_left_out() {
        let names = [
            "10.0.0.5:443",
            "10.0.0.8:6379",
            "[2001:db8::1]:443",
            "10.0.0.6:5432",
        ];
        let needles = || {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| ((b'1' + i as u8) as char, Color::Reset, *n))
        };
        let theme = Theme::new(false);
        // 15 + 2 + 16 fit in 34; the IPv6 name starts the second row, the last the third.
        let legend = Legend::needles(needles(), 34, 3, theme);
        assert_eq!((legend.len(), legend.rows()), (4, 3));
        let legend = Legend::needles(needles(), 34, 2, theme);
        assert_eq!((legend.len(), legend.rows()), (3, 2));
        let legend = Legend::needles(needles(), 200, 1, theme);
        assert_eq!((legend.len(), legend.rows()), (4, 1));
        assert_eq!(Legend::needles(needles().take(0), 80, 2, theme).rows(), 0);
    }
}
