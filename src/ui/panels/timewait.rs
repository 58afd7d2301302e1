//! The TIME_WAIT panel: how many TIME_WAIT sockets, how many ports they give back within 10, 30
//! and 60 s, a histogram of their remaining seconds (0 to 60) and a sparkline of the count over the
//! last minutes.

use super::{Panel, block, render_collapsed};
use crate::output::noun;
use crate::ui::app::App;
use crate::ui::format::{duration, thousands};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Sparkline, Widget};

/// Seconds of the histogram (0..=60).
const SECONDS: usize = 61;

/// `4,567 sockets · 1,234 ports free in 10 s · 2,345 in 30 s · 4,567 in 60 s`.
pub fn summary(app: &App) -> String {
    let Some(s) = app.snapshot() else {
        return String::new();
    };
    let tw = &s.time_wait;
    let n = |v: u32| thousands(u64::from(v));
    format!(
        "{} {} · {} {} free in 10 s · {} in 30 s · {} in 60 s",
        n(tw.count),
        noun(u64::from(tw.count), "socket"),
        n(tw.freeing_10s),
        noun(u64::from(tw.freeing_10s), "port"),
        n(tw.freeing_30s),
        n(tw.freeing_60s)
    )
}

/// The histogram's bins for `width` columns: one second each, or as many seconds as it takes.
fn bins(remaining: &[u32], width: usize) -> (Vec<u64>, usize) {
    let per_bin = SECONDS.div_ceil(width.max(1));
    let bins = remaining
        .chunks(per_bin)
        .map(|c| c.iter().map(|v| u64::from(*v)).sum())
        .collect();
    (bins, per_bin)
}

/// The axis under the histogram: `0 s`, `30` and `60 s` under their bins.
fn axis(bins: usize, per_bin: usize, width: usize) -> String {
    let mut row = vec![' '; width.max(bins)];
    let mut put = |col: usize, text: &str| {
        for (i, c) in text.chars().enumerate() {
            if let Some(slot) = row.get_mut(col + i) {
                *slot = c;
            }
        }
    };
    put(0, "0 s");
    put((30 / per_bin).saturating_sub(1), "30");
    put((60 / per_bin).saturating_sub(3), "60 s");
    put(bins + 2, "← seconds left");
    row.into_iter()
        .take(width)
        .collect::<String>()
        .trim_end()
        .to_string()
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, focused: bool, expanded: bool) {
    let theme = app.theme;
    if !expanded {
        render_collapsed(Panel::TimeWait, &summary(app), focused, area, buf, theme);
        return;
    }
    let frame = block(Panel::TimeWait, String::new(), focused, theme);
    let inner = frame.inner(area);
    frame.render(area, buf);
    let Some(s) = app.snapshot() else { return };
    if inner.is_empty() {
        return;
    }
    let width = usize::from(inner.width);
    buf.set_stringn(inner.x, inner.y, summary(app), width, Style::new());
    let rest = inner.height - 1;
    let (hist_rows, spark_rows) = match rest {
        0 => (0, 0),
        1..=5 => (rest.saturating_sub(1).max(1), 0),
        _ => ((rest - 1) / 2, rest - 2 - (rest - 1) / 2),
    };
    let color = theme.port_use(crate::model::PortUse::TimeWait);
    let mut y = inner.y + 1;
    if hist_rows > 0 {
        let (data, per_bin) = bins(&s.time_wait.remaining_s, width);
        let hist = Rect {
            y,
            height: hist_rows,
            width: data.len() as u16,
            ..inner
        };
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(color))
            .render(hist, buf);
        y += hist_rows;
        if y < inner.bottom() {
            buf.set_stringn(
                inner.x,
                y,
                axis(data.len(), per_bin, width),
                width,
                theme.dim(),
            );
            y += 1;
        }
    }
    if spark_rows > 0 {
        let samples: Vec<u64> = app.time_wait_counts.newest(width).map(u64::from).collect();
        let spark = Rect {
            y,
            height: spark_rows,
            ..inner
        };
        Sparkline::default().data(&samples).render(spark, buf);
        let span = app.interval * samples.len() as u32;
        let max = samples.iter().max().copied().unwrap_or(0);
        let label = format!(
            "count over the last {} · max {}",
            duration(span),
            thousands(max)
        );
        buf.set_stringn(inner.x, y + spark_rows, label, width, theme.dim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_histograms_merge_seconds() {
        let remaining: Vec<u32> = (0..61).collect();
        let (wide, per) = bins(&remaining, 80);
        assert_eq!((wide.len(), per, wide[60]), (61, 1, 60));
        let (narrow, per) = bins(&remaining, 30);
        assert_eq!((narrow.len(), per), (21, 3));
        assert_eq!(narrow.iter().sum::<u64>(), (0..61).sum::<u64>());
        assert_eq!(
            axis(61, 1, 80),
            "0 s                          30                          60 s  ← seconds left"
        );
    }
}
