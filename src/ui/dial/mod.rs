//! The dial widget: the port range as a braille ring (see [`geometry`] for where ports sit and
//! [`ring`] for what is drawn), the range's ends labelled at the top, a block of text in the
//! middle (what the ring is about, its headroom, the needle's port) and a legend below.
//!
//! The needle's port is an input: the caller decides what it points at (the pointer model's next
//! port, or the newest allocation) and says so in the centre text.

pub mod geometry;
mod legend;
mod ring;

use crate::model::PortMap;
use crate::settings::PortRange;
use crate::ui::theme::Theme;
use geometry::DialGeometry;
use legend::Legend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::canvas::Canvas;
use ratatui::widgets::{Block, Widget};
use ring::Ring;

/// The dial over one port map.
pub struct Dial<'a> {
    ports: &'a PortMap,
    range: PortRange,
    theme: Theme,
    title: Line<'a>,
    centre: Vec<(String, Style)>,
    needle: Option<u16>,
    trail: &'a [u16],
}

/// Rows of canvas under which the ring is too small to read; the legend goes first.
const MIN_CANVAS_ROWS: u16 = 7;

impl<'a> Dial<'a> {
    /// `ports` maps `range`, one use per port.
    pub fn new(ports: &'a PortMap, range: PortRange, theme: Theme) -> Dial<'a> {
        Dial {
            ports,
            range,
            theme,
            title: Line::default(),
            centre: Vec::new(),
            needle: None,
            trail: &[],
        }
    }

    pub fn title(mut self, title: impl Into<Line<'a>>) -> Dial<'a> {
        self.title = title.into();
        self
    }

    /// Lines for the middle of the ring, word-wrapped to fit inside it.
    pub fn centre(mut self, lines: Vec<(String, Style)>) -> Dial<'a> {
        self.centre = lines;
        self
    }

    /// The port the needle points at.
    pub fn needle(mut self, needle: Option<u16>) -> Dial<'a> {
        self.needle = needle;
        self
    }

    /// Recent allocations, oldest first: drawn as marks fading with age.
    pub fn trail(mut self, trail: &'a [u16]) -> Dial<'a> {
        self.trail = trail;
        self
    }

    /// Writes the range's ends on `row`, on each side of the gap at 12 o'clock.
    fn render_ends(&self, area: Rect, row: u16, centre_col: u16, buf: &mut Buffer) {
        let low = format!("{}→", self.range.low);
        let high = self.range.high.to_string();
        let style = self.theme.bold();
        let (x, y) = (area.x + centre_col + 1, area.y + row);
        if x < area.right() {
            buf.set_stringn(x, y, &low, usize::from(area.right() - x), style);
        }
        if let Some(x) = (area.x + centre_col).checked_sub(high.len() as u16 + 1)
            && x >= area.x
        {
            buf.set_string(x, y, &high, style);
        }
    }

    /// Writes the centre text in the widest box inscribed in a circle of `radius` dots around
    /// `centre` that holds the most lines; lines that do not fit are left out whole, the last first.
    fn render_centre(&self, area: Rect, centre: (f64, f64), radius: f64, buf: &mut Buffer) {
        let lines = &self.centre;
        // A box of `w` cells by `n` rows reaches (w, 2n) dots from the centre.
        let width_for =
            |n: usize| (radius * radius - (2.0 * n as f64).powi(2)).max(0.0).sqrt() as usize;
        let mut best: (usize, Vec<(String, Style)>) = (usize::MAX, Vec::new());
        for rows in (1..).take_while(|n| width_for(*n) >= 4) {
            let (kept, lost) = fit(lines, width_for(rows), rows);
            if lost < best.0 {
                best = (lost, kept);
            }
            if lost == 0 {
                break;
            }
        }
        let shown = best.1;
        let (cx, cy) = ((centre.0 / 2.0) as u16, (centre.1 / 4.0) as u16);
        let top = (area.y + cy).saturating_sub((shown.len().saturating_sub(1) / 2) as u16);
        for (i, (text, style)) in shown.iter().enumerate() {
            let len = text.chars().count() as u16;
            let x = (area.x + cx)
                .saturating_sub(len.saturating_sub(1) / 2)
                .max(area.x);
            let y = top + i as u16;
            if y < area.bottom() && x < area.right() {
                buf.set_stringn(x, y, text, usize::from(area.right() - x), *style);
            }
        }
    }
}

/// Word-wraps `lines` to `width` columns and keeps the first ones whose rows fit in `rows`;
/// returns the rows kept and how many lines were left out.
fn fit(lines: &[(String, Style)], width: usize, rows: usize) -> (Vec<(String, Style)>, usize) {
    let mut kept = Vec::new();
    for (i, (text, style)) in lines.iter().enumerate() {
        let wrapped = wrap(text, width);
        if kept.len() + wrapped.len() > rows || wrapped.iter().any(|w| w.chars().count() > width) {
            return (kept, lines.len() - i);
        }
        kept.extend(wrapped.into_iter().map(|w| (w, *style)));
    }
    (kept, 0)
}

/// Greedy word wrap of `text` to `width` columns (a longer word keeps a row of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let needed = current.chars().count() + 1 + word.chars().count();
        if !current.is_empty() && needed > width {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push(current);
    out
}

impl Widget for Dial<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = Block::bordered()
            .title(self.title.clone())
            .border_style(self.theme.border(false));
        let inner = block.inner(area);
        block.render(area, buf);
        let legend = Legend::new(self.ports, inner.width);
        let legend_rows = legend.rows() as u16;
        let show_legend = inner.height >= MIN_CANVAS_ROWS + legend_rows;
        let canvas_rows = inner.height - if show_legend { legend_rows } else { 0 };
        let canvas = Rect {
            height: canvas_rows,
            ..inner
        };
        if show_legend {
            let below = Rect {
                y: inner.y + canvas_rows,
                height: legend_rows,
                ..inner
            };
            legend.render(below, buf, self.theme);
        }
        if canvas.width < 4 || canvas.height < 3 {
            return;
        }
        // Dots: 2 per column, 4 per row. A row above the ring holds the range's ends; the ring
        // and that row are centred in the canvas.
        let (w, h) = (
            usize::from(canvas.width) * 2,
            usize::from(canvas.height) * 4,
        );
        let outer = ((w - 1) as f64 / 2.0).min((h - 5) as f64 / 2.0) - 0.5;
        let slack = ((h as f64 - 5.0 - 2.0 * outer) / 2.0).floor().max(0.0);
        let centre = ((w - 1) as f64 / 2.0, slack + 4.0 + outer);
        let label_row = ((slack as u16 + 4) / 4).saturating_sub(1);
        let bar = (outer * 0.22).round().clamp(2.0, 10.0);
        let radius = outer - bar;
        if radius < 6.0 {
            return;
        }
        let ring = Ring {
            geometry: DialGeometry::for_radius(self.range, radius),
            ports: self.ports,
            theme: self.theme,
            size: (w, h),
            centre,
            radius,
            bar,
            needle: self.needle,
            trail: self.trail,
        };
        let text_radius = ring.inner_radius() - 1.0;
        Canvas::default()
            .marker(Marker::Braille)
            .x_bounds([0.0, (w - 1) as f64])
            .y_bounds([0.0, (h - 1) as f64])
            .paint(|ctx| ctx.draw(&ring))
            .render(canvas, buf);
        self.render_ends(canvas, label_row, (centre.0 / 2.0) as u16, buf);
        self.render_centre(canvas, centre, text_radius, buf);
    }
}
