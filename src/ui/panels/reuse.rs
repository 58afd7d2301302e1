//! The reuse panel: local endpoints shared by several outbound 4-tuples, one row each, with the
//! tuples that share it (remote endpoint and state) listed along the row as far as it reaches.

use super::{Panel, block, placeholder, render_collapsed};
use crate::model::ReuseGroup;
use crate::ui::app::App;
use crate::ui::format::thousands;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

/// The row of one group: `127.0.0.1:40000 ×3 → 10.0.0.1:80 ESTAB, 10.0.0.2:80 TIME-WAIT, +1`,
/// as many tuples as `width` holds and a count of the others.
fn row(g: &ReuseGroup, local_width: usize, width: usize) -> String {
    let n = g.tuples.len();
    let mut out = format!("{:<local_width$} ×{n} →", g.local.to_string());
    for (i, t) in g.tuples.iter().enumerate() {
        let part = format!(" {} {}", t.remote, t.state.short_name());
        let rest = n - i - 1;
        // Room for this tuple and, if others follow, for the ", +N" that may end the row.
        let tail = if rest > 0 {
            format!(", +{rest}").len()
        } else {
            0
        };
        if i > 0 && out.chars().count() + part.chars().count() + tail > width {
            out.push_str(&format!(" +{}", n - i));
            break;
        }
        out.push_str(&part);
        if rest > 0 {
            out.push(',');
        }
    }
    out
}

/// The one-line summary: how many, and the most shared.
pub fn summary(app: &App) -> String {
    let Some(s) = app.snapshot() else {
        return String::new();
    };
    match s.reused_ports.first() {
        Some(g) => format!(
            "{} · {} shared by {} tuples",
            thousands(u64::from(s.reused_ports_total)),
            g.local,
            g.tuples.len()
        ),
        None => "none".into(),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, focused: bool, expanded: bool) {
    let theme = app.theme;
    if !expanded {
        render_collapsed(Panel::Reuse, &summary(app), focused, area, buf, theme);
        return;
    }
    let groups = app.snapshot().map_or(&[][..], |s| &s.reused_ports[..]);
    let total = app.snapshot().map_or(0, |s| s.reused_ports_total);
    // The model keeps the most shared ones only.
    let detail = if total as usize > groups.len() {
        format!(
            "{} · top {}",
            thousands(u64::from(total)),
            thousands(groups.len() as u64)
        )
    } else {
        thousands(u64::from(total))
    };
    let frame = block(Panel::Reuse, detail, focused, theme);
    let inner = frame.inner(area);
    frame.render(area, buf);
    if inner.is_empty() {
        return;
    }
    if groups.is_empty() {
        let text = "no local port is shared by several connections";
        placeholder(text, inner, buf, theme);
        return;
    }
    let window = app.reuse.window(groups.len(), usize::from(inner.height));
    let local_width = groups[window.clone()]
        .iter()
        .map(|g| g.local.to_string().len())
        .max()
        .unwrap_or(0);
    let selected = if focused {
        theme.selected()
    } else {
        theme.selected_unfocused()
    };
    for (y, i) in (inner.y..).zip(window) {
        let style = if i == app.reuse.selected() {
            selected
        } else {
            Style::new()
        };
        buf.set_style(
            Rect {
                y,
                height: 1,
                ..inner
            },
            style,
        );
        let text = row(&groups[i], local_width, usize::from(inner.width));
        buf.set_stringn(inner.x, y, &text, usize::from(inner.width), style);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tuple;
    use crate::socket::{Endpoint, TcpState};

    fn ep(s: &str) -> Endpoint {
        let a: std::net::SocketAddr = s.parse().unwrap();
        Endpoint::new(a.ip(), a.port())
    }

    #[test]
    fn rows_list_tuples_then_count_the_rest() {
        let local = ep("127.0.0.1:40000");
        let tuples = (1..=5)
            .map(|i| Tuple {
                local,
                remote: ep(&format!("10.0.0.{i}:80")),
                state: TcpState::Established,
            })
            .collect();
        let g = ReuseGroup {
            local,
            tuples,
            remotes: 5,
        };
        assert_eq!(
            row(&g, 15, 200),
            "127.0.0.1:40000 ×5 → 10.0.0.1:80 ESTAB, 10.0.0.2:80 ESTAB, 10.0.0.3:80 ESTAB, 10.0.0.4:80 ESTAB, 10.0.0.5:80 ESTAB"
        );
        assert_eq!(
            row(&g, 15, 61),
            "127.0.0.1:40000 ×5 → 10.0.0.1:80 ESTAB, 10.0.0.2:80 ESTAB, +3"
        );
        assert_eq!(
            row(&g, 15, 60),
            "127.0.0.1:40000 ×5 → 10.0.0.1:80 ESTAB, +4"
        );
    }
}
