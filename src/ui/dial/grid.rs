//! The dial in plain characters: a grid of cells onto which the [`Ring`] paints its dots, as many
//! per cell as braille has, each cell keeping the character and colour of the last dot painted in
//! it.

use super::ring::{Dots, Ring};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};

/// Dots across and down a cell, as braille has.
const DOTS_PER_CELL: (usize, usize) = (2, 4);

/// The dial in plain characters: per cell, the character and colour of the last dot painted in it.
pub struct Grid {
    columns: usize,
    cells: Vec<Option<(char, Color)>>,
}

impl Grid {
    /// A grid for `area`, its dots painted by `ring`.
    pub fn of(ring: &Ring, area: Rect) -> Grid {
        let columns = usize::from(area.width);
        let mut grid = Grid {
            columns,
            cells: vec![None; columns * usize::from(area.height)],
        };
        ring.paint(&mut grid);
        grid
    }

    /// Writes the painted cells into `area`, which the grid was made for.
    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        for (i, cell) in self.cells.iter().enumerate() {
            if let Some((mark, color)) = cell {
                let (x, y) = ((i % self.columns) as u16, (i / self.columns) as u16);
                buf[(area.x + x, area.y + y)]
                    .set_char(*mark)
                    .set_style(Style::new().fg(*color));
            }
        }
    }
}

impl Dots for Grid {
    fn paint(&mut self, x: usize, y: usize, color: Color, mark: char) {
        let i = y / DOTS_PER_CELL.1 * self.columns + x / DOTS_PER_CELL.0;
        if let Some(cell) = self.cells.get_mut(i) {
            *cell = Some((mark, color));
        }
    }
}
