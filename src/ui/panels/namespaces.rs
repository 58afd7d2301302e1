//! The namespaces view (`portradar --all-netns`): one row per network namespace of the host, the
//! tightest headroom first — its name (or the process that owns it), sockets, port range, tightest
//! destination with its free ports and "full in", and how old its reading is (namespaces are read
//! one after the other over the refresh interval). Enter opens a namespace's dashboard.

use crate::refresh::namespaces::NsSummary;
use crate::ui::cursor::{Cursor, Move};
use crate::ui::format::{duration, thousands};
use crate::ui::outlook::Outlook;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use std::time::{Duration, SystemTime};

const TITLES: [&str; 7] = [
    "namespace",
    "sockets",
    "range",
    "tightest destination",
    "free",
    "full in",
    "read",
];

/// The namespaces' latest readings and the selection.
#[derive(Default)]
pub struct NamespacesView {
    /// Tightest headroom first.
    list: Vec<NsSummary>,
    cursor: Cursor,
}

impl NamespacesView {
    /// Takes a namespace's new reading, keeping the selection on the same namespace.
    pub fn update(&mut self, summary: NsSummary) {
        let selected = self.selected().map(|s| s.namespace.inode);
        match (self.list.iter_mut()).find(|s| s.namespace.inode == summary.namespace.inode) {
            Some(slot) => *slot = summary,
            None => self.list.push(summary),
        }
        self.list.sort_by(|a, b| {
            (a.headroom(), &a.namespace.label).cmp(&(b.headroom(), &b.namespace.label))
        });
        if let Some(inode) = selected
            && let Some(i) = self.list.iter().position(|s| s.namespace.inode == inode)
        {
            self.cursor.select(i, self.list.len());
        }
    }

    pub fn apply(&mut self, m: Move) {
        self.cursor.apply(m, self.list.len());
    }

    pub fn selected(&self) -> Option<&NsSummary> {
        self.list.get(self.cursor.selected())
    }

    /// The row of one namespace.
    fn cells(s: &NsSummary, now: SystemTime) -> [String; 7] {
        let age = now.duration_since(s.read_at).unwrap_or(Duration::ZERO);
        let read = format!("{} ago", duration(age));
        let snap = match &s.snapshot {
            Ok(snap) => snap,
            Err(e) => {
                return [
                    s.namespace.label.clone(),
                    e.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    read,
                ];
            }
        };
        let size = snap.settings.port_range.size();
        let range = format!(
            "{}-{}",
            snap.settings.port_range.low, snap.settings.port_range.high
        );
        let (dest, free, full_in) = match s.tightest() {
            Some((d, free)) => (
                d.remote.to_string(),
                thousands(u64::from(free)),
                Outlook::of(d, size).cell(),
            ),
            None => ("—".into(), thousands(u64::from(size)), "—".into()),
        };
        [
            s.namespace.label.clone(),
            thousands(snap.totals.total()),
            range,
            dest,
            free,
            full_in,
            read,
        ]
    }

    /// Draws the view: a title line, the column titles, the rows.
    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: Theme, interval: Duration) {
        let width = usize::from(area.width);
        let title = format!(
            " portradar · {} network namespaces, tightest headroom first · each read once per {} · ⏎ opens, q quits",
            self.list.len(),
            duration(interval)
        );
        buf.set_stringn(area.x, area.y, title, width, theme.bold());
        if area.height < 3 {
            return;
        }
        let now = SystemTime::now();
        let rows_room = usize::from(area.height - 2);
        let window = self.cursor.window(self.list.len(), rows_room);
        let rows: Vec<(usize, [String; 7])> = window
            .map(|i| (i, Self::cells(&self.list[i], now)))
            .collect();
        let mut widths = TITLES.map(|t| t.chars().count());
        for (_, r) in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String; 7]| -> String {
            let mut out = String::new();
            for (col, (c, w)) in cells.iter().zip(widths).enumerate() {
                let right = matches!(col, 1 | 4);
                if right {
                    out.push_str(&format!("{c:>w$} "));
                } else {
                    out.push_str(&format!("{c:<w$} "));
                }
            }
            out
        };
        buf.set_stringn(
            area.x,
            area.y + 1,
            line(&TITLES.map(String::from)),
            width,
            theme.bold(),
        );
        for (row, (i, cells)) in rows.iter().enumerate() {
            let style = if *i == self.cursor.selected() {
                theme.selected()
            } else {
                Default::default()
            };
            buf.set_stringn(area.x, area.y + 2 + row as u16, line(cells), width, style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::namespaces::Namespace;
    use crate::model::testkit::{rec, snapshot};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState;
    use std::sync::Arc;

    /// A reading of namespace `inode` with `busy` connections to one destination in a 100-port range.
    fn reading(label: &str, inode: u64, busy: u16) -> NsSummary {
        let records: Vec<_> = (0..busy)
            .map(|i| {
                rec(
                    &format!("10.0.0.9:{}", 40000 + i),
                    "10.0.0.1:443",
                    TcpState::Established,
                )
            })
            .collect();
        let settings = KernelSettings::with_range(40000, 40099);
        NsSummary {
            namespace: Namespace {
                label: label.into(),
                inode,
                path: "/run/netns/x".into(),
            },
            read_at: SystemTime::now(),
            took: Duration::ZERO,
            snapshot: Ok(Arc::new(snapshot(&records, &settings, &[]))),
        }
    }

    #[test]
    fn tightest_first_and_the_selection_follows_its_namespace() {
        let mut view = NamespacesView::default();
        view.update(reading("calm", 1, 5));
        assert_eq!(view.selected().unwrap().namespace.label, "calm");
        view.update(reading("busy", 2, 90));
        view.update(reading("failed", 3, 0));
        view.list[2].snapshot = Err("gone".into());
        let order: Vec<_> = view
            .list
            .iter()
            .map(|s| s.namespace.label.as_str())
            .collect();
        assert_eq!(order, ["busy", "calm", "failed"]);
        assert_eq!(view.selected().unwrap().namespace.label, "calm", "followed");
        assert_eq!(view.list[0].headroom(), 10);
        let cells = NamespacesView::cells(&view.list[0], SystemTime::now());
        assert_eq!(
            cells[1..5],
            ["90", "40000-40099", "10.0.0.1:443", "10"].map(String::from)
        );
        // A new reading of the calm one, now the tightest: it moves up, still selected.
        view.update(reading("calm", 1, 95));
        assert_eq!(view.list[0].namespace.label, "calm");
        assert_eq!(view.selected().unwrap().namespace.label, "calm");
    }
}
