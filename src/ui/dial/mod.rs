//! The dial widget: the port range as a braille ring (see [`geometry`] for where ports sit and
//! [`ring`] for what is drawn), the range's ends labelled at the top, a block of text in the
//! middle (what the ring is about, its headroom, the needle's port) and a legend below.
//!
//! The needle's port is an input, so any pointer model can drive it.

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

/// Where the needle points and what to say about it (`needle 40123 · inferred`).
#[derive(Clone, Debug, PartialEq)]
pub struct Needle {
    pub port: u16,
    pub label: String,
}

/// The dial over one port map.
pub struct Dial<'a> {
    ports: &'a PortMap,
    range: PortRange,
    theme: Theme,
    title: Line<'a>,
    centre: Vec<(String, Style)>,
    needle: Option<Needle>,
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

    pub fn needle(mut self, needle: Option<Needle>) -> Dial<'a> {
        self.needle = needle;
        self
    }

    /// Recent allocations, oldest first: drawn as marks fading with age.
    pub fn trail(mut self, trail: &'a [u16]) -> Dial<'a> {
        self.trail = trail;
        self
    }

    /// Writes the range's ends on the top row, on each side of the gap at 12 o'clock.
    fn render_ends(&self, area: Rect, centre_col: u16, buf: &mut Buffer) {
        let low = format!("{}→", self.range.low);
        let high = self.range.high.to_string();
        let style = self.theme.bold();
        let x = area.x + centre_col + 1;
        if x < area.right() {
            buf.set_stringn(x, area.y, &low, usize::from(area.right() - x), style);
        }
        if let Some(x) = (area.x + centre_col).checked_sub(high.len() as u16 + 1)
            && x >= area.x
        {
            buf.set_string(x, area.y, &high, style);
        }
    }

    /// Writes the centre text in a box inscribed in a circle of `radius` dots around `centre`.
    fn render_centre(&self, area: Rect, centre: (f64, f64), radius: f64, buf: &mut Buffer) {
        let mut lines = self.centre.clone();
        if let Some(n) = &self.needle {
            lines.push((n.label.clone(), self.theme.dim()));
        }
        // A box of `w` cells by `n` rows reaches (w, 2n) dots from the centre.
        let width_for = |n: usize| (radius * radius - (2.0 * n as f64).powi(2)).max(0.0).sqrt() as usize;
        let mut n = 1;
        let wrapped = loop {
            let wrapped = wrap(&lines, width_for(n));
            if wrapped.len() <= n || width_for(n + 1) < 6 {
                break wrapped;
            }
            n += 1;
        };
        let width = width_for(n);
        let shown = wrapped.len().min(n);
        let (cx, cy) = ((centre.0 / 2.0) as u16, (centre.1 / 4.0) as u16);
        let top = (area.y + cy).saturating_sub((shown.saturating_sub(1) / 2) as u16);
        for (i, (text, style)) in wrapped.iter().take(shown).enumerate() {
            let len = text.chars().count().min(width) as u16;
            let x = (area.x + cx).saturating_sub(len.saturating_sub(1) / 2).max(area.x);
            let y = top + i as u16;
            if y < area.bottom() && x < area.right() {
                buf.set_stringn(x, y, text, usize::from(len), *style);
            }
        }
    }
}

/// Greedy word wrap of each line to `width` columns (words longer than that are cut).
fn wrap(lines: &[(String, Style)], width: usize) -> Vec<(String, Style)> {
    let mut out = Vec::new();
    for (text, style) in lines {
        let mut current = String::new();
        for word in text.split(' ') {
            let needed = current.chars().count() + usize::from(!current.is_empty()) + word.chars().count();
            if !current.is_empty() && needed > width {
                out.push((std::mem::take(&mut current), *style));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push((current, *style));
    }
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
        let canvas = Rect { height: canvas_rows, ..inner };
        if show_legend {
            let below = Rect { y: inner.y + canvas_rows, height: legend_rows, ..inner };
            legend.render(below, buf, self.theme);
        }
        if canvas.width < 4 || canvas.height < 3 {
            return;
        }
        // Dots: 2 per column, 4 per row. The top row holds the range's ends.
        let (w, h) = (usize::from(canvas.width) * 2, usize::from(canvas.height) * 4);
        let centre = ((w - 1) as f64 / 2.0, 4.0 + (h - 5) as f64 / 2.0);
        let outer = centre.0.min((h - 5) as f64 / 2.0) - 0.5;
        let bar = (outer * 0.22).round().max(2.0);
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
            needle: self.needle.as_ref().map(|n| n.port),
            trail: self.trail,
        };
        let text_radius = ring.inner_radius() - 1.0;
        Canvas::default()
            .marker(Marker::Braille)
            .x_bounds([0.0, (w - 1) as f64])
            .y_bounds([0.0, (h - 1) as f64])
            .paint(|ctx| ctx.draw(&ring))
            .render(canvas, buf);
        self.render_ends(canvas, (centre.0 / 2.0) as u16, buf);
        self.render_centre(canvas, centre, text_radius, buf);
    }
}
