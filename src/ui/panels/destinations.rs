//! The destinations panel: one row per remote endpoint of outbound connections with its sockets,
//! TIME_WAIT, ports of the range used, headroom (the tightest of its local ips), new connections
//! per second (smoothed), the sustainable rate and the forecast of exhaustion at the current rate
//! ("holds" when TIME_WAIT gives ports back fast enough), marked ⚠ past half the range, and who
//! holds most of its ports once that is known (the first column dropped). Only the
//! visible rows are built; columns are dropped, least useful first, when the panel is narrow. Below
//! the rows go the focused destination's details (forecast, TIME_WAIT release schedule, inferred
//! pointer), or, when a listed destination is past half the range and there is room, what ⚠ means.

use super::{Panel, block, placeholder, render_collapsed};
use crate::model::Destination;
use crate::output::noun;
use crate::ui::app::App;
use crate::ui::format::{rate, thousands};
use crate::ui::live;
use crate::ui::outlook::{self, HALF_RANGE_MARK, Outlook};
use crate::ui::pack::pack;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Widget;

/// Columns in screen order, the destination first.
const COLUMNS: usize = 11;
const TITLES: [&str; COLUMNS] = [
    "destination",
    "sockets",
    "TW",
    "used",
    "free",
    "new/s",
    "sust/s",
    "full in",
    "fail 1m/all",
    "failing",
    "top consumer",
];
/// The columns allocator events fill, hidden without them.
const EVENT_COLUMNS: [usize; 2] = [8, 9];
/// The column of who holds most of the destination's ports, shown once consumers are known.
const TOP_CONSUMER: usize = 10;
/// Which columns go first when the panel is narrow (indices into [`TITLES`]).
const DROP_ORDER: [usize; 9] = [TOP_CONSUMER, 1, 6, 9, 2, 3, 5, 8, 7];
/// The columns styled by how urgent the destination's outlook is.
const URGENT: [usize; 2] = [4, 7];

/// One row's cells, and the style of its headroom and outlook.
fn cells(d: &Destination, range_size: u32, theme: Theme) -> ([String; COLUMNS], Style) {
    let mut full_in = Outlook::of(d, range_size).cell();
    if outlook::half_range_used(d) {
        full_in = format!("{full_in} {HALF_RANGE_MARK}");
    }
    let cells = [
        d.remote.to_string(),
        thousands(u64::from(d.sockets)),
        thousands(u64::from(d.time_wait())),
        thousands(u64::from(d.ports_in_range)),
        thousands(u64::from(d.min_free().unwrap_or(range_size))),
        d.new_per_s.map_or("—".to_string(), rate),
        (d.forecast.as_ref()).map_or("—".to_string(), |f| rate(f.sustainable_per_s)),
        full_in,
        live::failures_cell(d),
        live::failing_cell(d),
        top_consumer(d).unwrap_or_default(),
    ];
    (cells, outlook::urgency(d, range_size, theme))
}

/// Who holds most of `d`'s sockets and how many (`nginx[812] 120`), when consumers are known.
fn top_consumer(d: &Destination) -> Option<String> {
    let top = d.consumers.as_ref()?.first()?;
    Some(format!(
        "{} {}",
        top.label()?,
        thousands(u64::from(top.sockets))
    ))
}

/// The one-line summary: how many, and the busiest.
pub fn summary(app: &App) -> String {
    let Some(s) = app.snapshot() else {
        return String::new();
    };
    match app.selected_destination().or(s.destinations.first()) {
        Some(d) => format!(
            "{} · {} {} {}, {} free",
            thousands(s.destinations.len() as u64),
            d.remote,
            thousands(u64::from(d.ports_in_range)),
            noun(u64::from(d.ports_in_range), "port"),
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
        placeholder("no outbound connections", inner, buf, theme);
        return;
    }
    let size = snapshot.settings.port_range.size();
    let width = usize::from(inner.width);
    let list_rows = usize::from(inner.height - 1);
    let listed = view.order.len();
    // Below the list: the focused destination's details, in all its rows but one; or what ⚠ means,
    // in rows it leaves spare (so the scan is over a screenful of destinations at most).
    let notes: Vec<Line> = match app.focused_destination() {
        Some(d) => {
            let failures = Some(live::details(d, theme)).filter(|g| !g.is_empty());
            let groups = failures.into_iter().chain(outlook::details(d, size, theme));
            let mut lines: Vec<Line> = groups.flat_map(|g| pack(g, width, theme)).collect();
            lines.truncate(list_rows.saturating_sub(1));
            lines
        }
        None if listed < list_rows
            && snapshot.destinations.iter().any(outlook::half_range_used) =>
        {
            let lines = pack(outlook::half_range_items(theme), width, theme);
            if listed + lines.len() <= list_rows {
                lines
            } else {
                Vec::new()
            }
        }
        None => Vec::new(),
    };
    let window = app.destinations.window(listed, list_rows - notes.len());
    let rows: Vec<(usize, [String; COLUMNS], Style)> = window
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
    let mut shown = [true; COLUMNS];
    if snapshot.events.is_none() {
        EVENT_COLUMNS.iter().for_each(|c| shown[*c] = false);
    }
    shown[TOP_CONSUMER] = rows.iter().any(|(_, c, _)| !c[TOP_CONSUMER].is_empty());
    let total = |shown: &[bool; COLUMNS]| -> usize {
        widths
            .iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|(w, _)| w + 1)
            .sum::<usize>()
    };
    for i in DROP_ORDER {
        if total(&shown) <= width {
            break;
        }
        shown[i] = false;
    }
    let mut line = |y: u16, texts: &[String; COLUMNS], style: Style, urgency: Style| {
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
            // The destination and the consumer are left-aligned, numbers right-aligned.
            let cell = if col == 0 || col == TOP_CONSUMER {
                format!("{text:<w$}")
            } else {
                format!("{text:>w$}")
            };
            let cell_style = if URGENT.contains(&col) {
                style.patch(urgency)
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
    for (row, (i, texts, urgency)) in rows.iter().enumerate() {
        let style = if *i == app.destinations.selected() {
            selected
        } else {
            Style::new()
        };
        line(inner.y + 1 + row as u16, texts, style, *urgency);
    }
    // Right under the rows, a blank row apart when there is room.
    let gap = usize::from(list_rows > rows.len() + notes.len());
    let top = inner.y + 1 + (rows.len() + gap) as u16;
    for (y, note) in (top..).zip(&notes) {
        note.render(
            Rect {
                y,
                height: 1,
                ..inner
            },
            buf,
        );
    }
}
