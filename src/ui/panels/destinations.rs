//! The destinations panel: one row per remote endpoint of outbound connections with its sockets,
//! TIME_WAIT, ports of the range used, headroom (the tightest of its local ips), new connections
//! per second and the model's forecast of exhaustion at that rate ("holds" when TIME_WAIT gives
//! ports back fast enough). Only the visible rows are built; columns are dropped, least useful
//! first, when the panel is narrow.

use super::{Panel, block, render_collapsed};
use crate::model::Destination;
use crate::ui::app::App;
use crate::ui::format::{duration, rate, thousands};
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;
use std::time::Duration;

/// Column titles in screen order, the destination first.
const TITLES: [&str; 7] = [
    "destination",
    "sockets",
    "TW",
    "used",
    "free",
    "new/s",
    "full in",
];
/// Which columns go first when the panel is narrow (indices into [`TITLES`]).
const DROP_ORDER: [usize; 5] = [6, 1, 5, 2, 3];
/// Headroom under this share of the range is a warning.
const LOW_HEADROOM: f64 = 0.1;

/// Exhaustion sooner than this is an error, sooner than [`WARN_EXHAUSTION_S`] a warning.
const ERROR_EXHAUSTION_S: f64 = 60.0;
const WARN_EXHAUSTION_S: f64 = 600.0;

/// One row's cells, and the style of its headroom and time to exhaustion.
fn cells(d: &Destination, range_size: u32, theme: Theme) -> ([String; 7], Style) {
    let free = d.min_free().unwrap_or(range_size);
    let exhausted_in = d.forecast.as_ref().and_then(|f| f.exhausted_in_s);
    let full_in = match (free, &d.forecast) {
        (0, _) => "full".to_string(),
        (_, None) => "—".to_string(),
        (_, Some(_)) => exhausted_in.map_or("holds".to_string(), |s| {
            duration(Duration::from_secs_f64(s))
        }),
    };
    let soon = |limit: f64| exhausted_in.is_some_and(|s| s < limit);
    let style = if free == 0 || soon(ERROR_EXHAUSTION_S) {
        theme.error()
    } else if f64::from(free) < f64::from(range_size) * LOW_HEADROOM || soon(WARN_EXHAUSTION_S) {
        theme.warning()
    } else {
        Style::new()
    };
    let cells = [
        d.remote.to_string(),
        thousands(u64::from(d.sockets)),
        thousands(u64::from(d.time_wait())),
        thousands(u64::from(d.ports_in_range)),
        thousands(u64::from(free)),
        d.new_per_s.map_or("—".to_string(), rate),
        full_in,
    ];
    (cells, style)
}

/// The one-line summary: how many, and the busiest.
pub fn summary(app: &App) -> String {
    let Some(s) = app.snapshot() else {
        return String::new();
    };
    match app.selected_destination().or(s.destinations.first()) {
        Some(d) => format!(
            "{} · {} {} ports, {} free",
            thousands(s.destinations.len() as u64),
            d.remote,
            thousands(u64::from(d.ports_in_range)),
            thousands(u64::from(d.min_free().unwrap_or(0)))
        ),
        None => "none".into(),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, focused: bool, expanded: bool) {
    let theme = app.theme;
    if !expanded {
        render_collapsed(
            Panel::Destinations,
            &summary(app),
            focused,
            area,
            buf,
            theme,
        );
        return;
    }
    let count = app.snapshot().map_or(0, |s| s.destinations.len());
    let detail = format!("{} · sort {}", thousands(count as u64), app.sort.label());
    let frame = block(Panel::Destinations, detail, focused, theme);
    let inner = frame.inner(area);
    frame.render(area, buf);
    let (Some(view), true) = (app.view.as_ref(), inner.height > 1) else {
        return;
    };
    let snapshot = &view.snapshot;
    if snapshot.destinations.is_empty() {
        buf.set_stringn(
            inner.x,
            inner.y,
            "no outbound connections",
            usize::from(inner.width),
            theme.dim(),
        );
        return;
    }
    let window = app
        .destinations
        .window(view.order.len(), usize::from(inner.height - 1));
    let size = snapshot.settings.port_range.size();
    let rows: Vec<(usize, [String; 7], Style)> = window
        .map(|i| {
            let (c, s) = cells(&snapshot.destinations[view.order[i] as usize], size, theme);
            (i, c, s)
        })
        .collect();
    let mut widths: Vec<usize> = TITLES.iter().map(|t| t.chars().count()).collect();
    for (_, c, _) in &rows {
        for (w, text) in widths.iter_mut().zip(c) {
            *w = (*w).max(text.chars().count());
        }
    }
    let mut shown = [true; 7];
    let total = |shown: &[bool; 7]| -> usize {
        widths
            .iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|(w, _)| w + 1)
            .sum::<usize>()
    };
    for i in DROP_ORDER {
        if total(&shown) <= usize::from(inner.width) {
            break;
        }
        shown[i] = false;
    }
    let mut line = |y: u16, texts: &[String; 7], style: Style, free_style: Style| {
        buf.set_style(
            Rect {
                y,
                height: 1,
                ..inner
            },
            style,
        );
        let mut x = usize::from(inner.x);
        for (col, text) in texts.iter().enumerate().filter(|(c, _)| shown[*c]) {
            let w = widths[col];
            let room = usize::from(inner.right()).saturating_sub(x);
            if room == 0 {
                break;
            }
            // The destination is left-aligned, numbers right-aligned.
            let cell = if col == 0 {
                format!("{text:<w$}")
            } else {
                format!("{text:>w$}")
            };
            let cell_style = if col == 4 || col == 6 {
                style.patch(free_style)
            } else {
                style
            };
            buf.set_stringn(x as u16, y, &cell, room, cell_style);
            x += w + 1;
        }
    };
    let titles = TITLES.map(String::from);
    line(inner.y, &titles, theme.bold(), Style::new());
    let selected = if focused {
        theme.selected()
    } else {
        theme.selected_unfocused()
    };
    for (row, (i, texts, free_style)) in rows.iter().enumerate() {
        let style = if *i == app.destinations.selected() {
            selected
        } else {
            Style::new()
        };
        line(inner.y + 1 + row as u16, texts, style, *free_style);
    }
}
