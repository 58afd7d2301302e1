//! The dial's legend: a swatch of each port use's colour or texture, its name and how many ports of
//! the range it covers.

use crate::model::{PortMap, PortUse};
use crate::ui::format::thousands;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

/// Uses in legend order: the busy ones first.
const ORDER: [PortUse; 6] = [
    PortUse::Established,
    PortUse::TimeWait,
    PortUse::Other,
    PortUse::Bound,
    PortUse::Reserved,
    PortUse::Free,
];
/// Most rows the legend may take before it switches to short names.
const MAX_ROWS: usize = 3;
/// Swatch width in cells.
const SWATCH: usize = 2;

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

/// The legend's entries laid out for one width.
pub(super) struct Legend {
    entries: Vec<(PortUse, String)>,
    columns: usize,
    cell: usize,
}

impl Legend {
    /// Lays the entries out in as many columns as `width` holds, with full names if they fit in
    /// [`MAX_ROWS`] rows.
    pub fn new(ports: &PortMap, width: u16) -> Legend {
        let counts = ports.counts(0, ports.len());
        let layout = |name: fn(PortUse) -> &'static str| {
            let entries: Vec<(PortUse, String)> = ORDER
                .iter()
                .map(|u| {
                    (
                        *u,
                        format!("{} {}", name(*u), thousands(u64::from(counts[*u as usize]))),
                    )
                })
                .collect();
            let cell = entries
                .iter()
                .map(|(_, t)| t.chars().count())
                .max()
                .unwrap_or(0)
                + SWATCH
                + 2;
            let columns = (usize::from(width) / cell).clamp(1, ORDER.len());
            Legend {
                entries,
                columns,
                cell,
            }
        };
        let full = layout(PortUse::label);
        if full.rows() <= MAX_ROWS {
            full
        } else {
            layout(short)
        }
    }

    pub fn rows(&self) -> usize {
        self.entries.len().div_ceil(self.columns)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: Theme) {
        for (i, (u, text)) in self.entries.iter().enumerate() {
            let (row, col) = (i / self.columns, i % self.columns);
            let x = area.x + (col * self.cell) as u16;
            let y = area.y + row as u16;
            if y >= area.bottom() || x >= area.right() {
                continue;
            }
            let texture = theme.texture(*u);
            let swatch: String = (0..SWATCH).map(|c| texture.braille(c, 0)).collect();
            let room = usize::from(area.right() - x);
            buf.set_stringn(x, y, &swatch, room, Style::new().fg(theme.port_use(*u)));
            let x = x + SWATCH as u16 + 1;
            if x < area.right() {
                buf.set_stringn(x, y, text, usize::from(area.right() - x), Style::new());
            }
        }
    }
}
