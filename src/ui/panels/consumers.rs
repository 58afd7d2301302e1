//! The consumers view (`c`): who holds the selected destination's ports — one row per process (when
//! the refresh looked processes up) or cgroup, with its unit, container or pod, its sockets and
//! their states — drawn over the dashboard, and with allocator events the processes whose
//! connect() toward it failed. Its title says when the process lookup is partial.

use crate::model::{Consumer, Destination, Snapshot};
use crate::ui::app::App;
use crate::ui::format::thousands;
use crate::ui::popup;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;

/// One consumer as text: holder, unit, sockets, states.
fn row(c: &Consumer) -> [String; 4] {
    let holder = match (&c.comm, c.pid) {
        (Some(comm), Some(pid)) => format!("{comm}[{pid}]"),
        _ => c
            .cgroup
            .clone()
            .unwrap_or_else(|| "(no process: TIME_WAIT)".into()),
    };
    let states: Vec<String> = c
        .by_state
        .nonzero()
        .map(|(s, n)| format!("{} {}", s.short_name(), thousands(u64::from(n))))
        .collect();
    [
        holder,
        c.unit.clone().unwrap_or_else(|| "—".into()),
        thousands(u64::from(c.sockets)),
        states.join(" "),
    ]
}

/// The view's lines for destination `d` of `snap`.
fn lines(snap: &Snapshot, d: &Destination, theme: Theme) -> Vec<Line<'static>> {
    let Some(consumers) = &d.consumers else {
        return vec![Line::raw("not attributed (procfs fallback: no cgroup ids)")];
    };
    let rows: Vec<[String; 4]> = consumers.iter().map(row).collect();
    let titles = ["holder", "unit / container / pod", "sockets", "states"].map(String::from);
    let mut widths = titles.clone().map(|t| t.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let text = |r: &[String; 4]| {
        let [a, b, c, d] = [widths[0], widths[1], widths[2], widths[3]];
        format!("{:<a$}  {:<b$}  {:>c$}  {:<d$}", r[0], r[1], r[2], r[3])
    };
    let mut out = vec![Line::styled(text(&titles), theme.bold())];
    out.extend(rows.iter().map(|r| Line::raw(text(r))));
    if snap.processes.is_none() {
        out.push(Line::styled(
            "processes not looked up: cgroups only",
            theme.dim(),
        ));
    }
    if snap.events.is_some() {
        out.extend(failed(d).into_iter().map(Line::raw));
    }
    out
}

/// With allocator events: the processes whose connect() toward `d` found no free port, most
/// failures first.
fn failed(d: &Destination) -> Vec<String> {
    let total = d.connect_failures.unwrap_or(0);
    if total == 0 {
        return vec![String::new(), "no connect() failed (no free port)".into()];
    }
    let mut out = vec![
        String::new(),
        format!(
            "connect() failed (no free port) {} times, by:",
            thousands(total)
        ),
    ];
    out.extend(
        (d.failing.iter()).map(|f| format!("  {}[{}]  {}", f.comm, f.pid, thousands(f.count))),
    );
    out
}

/// The view's title: the destination and how complete the process lookup is.
fn title(snap: &Snapshot, d: &Destination) -> String {
    let lookup = match snap.processes {
        Some(r) if r.partial => format!(" · processes partial ({} of {})", r.found, r.wanted),
        _ => String::new(),
    };
    format!(" Consumers of {}{lookup} · Esc closes ", d.remote)
}

/// Draws the view over `area` for the selected destination.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let (Some(snap), Some(d)) = (app.snapshot(), app.selected_destination()) else {
        return;
    };
    let lines = lines(snap, d, theme);
    let title = title(snap, d);
    popup::render(area, buf, lines, &title, theme);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StateCounts;
    use crate::socket::TcpState;

    fn consumer(pid: Option<u32>, cgroup: Option<&str>) -> Consumer {
        let mut by_state = StateCounts::default();
        for _ in 0..1200 {
            by_state.add(TcpState::Established);
        }
        by_state.add(TcpState::SynSent);
        Consumer {
            pid,
            comm: pid.map(|_| "curl".to_string()),
            cgroup: cgroup.map(str::to_string),
            unit: None,
            sockets: 1201,
            by_state,
        }
    }

    #[test]
    fn rows_name_the_process_else_the_cgroup_and_list_the_states() {
        let row0 = row(&consumer(Some(42), Some("/system.slice/x.service")));
        assert_eq!(row0[0], "curl[42]");
        assert_eq!(row0[2], "1,201");
        assert_eq!(
            row0[3],
            format!(
                "{} 1,200 {} 1",
                TcpState::Established.short_name(),
                TcpState::SynSent.short_name()
            )
        );
        assert_eq!(row(&consumer(None, Some("/a")))[0], "/a");
        assert_eq!(row(&consumer(None, None))[0], "(no process: TIME_WAIT)");
    }

    #[test]
    fn failures_name_who_failed_most_first() {
        use crate::model::Failer;
        use crate::model::testkit::{rec, snapshot};
        use crate::settings::KernelSettings;
        let records = [rec("10.0.0.9:40001", "10.0.0.1:443", TcpState::Established)];
        let snap = snapshot(&records, &KernelSettings::with_range(40000, 40999), &[]);
        let mut d = snap.destinations[0].clone();
        assert_eq!(failed(&d)[1], "no connect() failed (no free port)");
        d.connect_failures = Some(1500);
        d.failing = vec![
            Failer {
                pid: 7,
                comm: "curl".into(),
                count: 1400,
            },
            Failer {
                pid: 8,
                comm: "wget".into(),
                count: 100,
            },
        ];
        assert_eq!(
            failed(&d)[1..],
            [
                "connect() failed (no free port) 1,500 times, by:",
                "  curl[7]  1,400",
                "  wget[8]  100",
            ]
        );
    }
}
