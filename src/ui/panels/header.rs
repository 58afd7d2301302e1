//! The header: host, kernel, netns, source, port range and size, reserved ports, filter, refresh
//! interval, events (and how far the table kept from them was from the last full dump) and
//! live/frozen on top; totals by state; then problems (a failed or slow refresh, why
//! netlink was given up for procfs).
//! Items are packed into as few lines as the width allows and never split.

use crate::collect::Source;
use crate::model::{ResyncFound, Snapshot};
use crate::output::noun;
use crate::refresh::effective_interval;
use crate::ui::app::App;
use crate::ui::format::{interval, thousands};
use crate::ui::live;
use crate::ui::pack::{Item, pack};
use crate::ui::panels::timeline;
use crate::ui::theme::Theme;
use ratatui::text::{Line, Span};
use std::time::Duration;

/// A refresh slower than this (or than half the interval) is pointed out.
const SLOW: Duration = Duration::from_millis(250);

/// Reserved ports inside the range.
fn reserved_in_range(snapshot: &Snapshot) -> u32 {
    let range = snapshot.settings.port_range;
    snapshot
        .settings
        .reserved_ports
        .iter()
        .map(|[lo, hi]| {
            let (lo, hi) = ((*lo).max(range.low), (*hi).min(range.high));
            if lo <= hi { u32::from(hi - lo) + 1 } else { 0 }
        })
        .sum()
}

fn main_items(app: &App) -> Vec<Item> {
    let theme = app.theme;
    let mut items = vec![
        Item::styled("portradar".into(), theme.bold()),
        Item::plain(app.host.clone()),
    ];
    if let Some(s) = app.snapshot() {
        let range = s.settings.port_range;
        items.push(Item::plain(format!("kernel {}", s.settings.kernel_release)));
        items.push(Item::plain(format!(
            "netns {}",
            s.meta.netns.as_deref().unwrap_or("-")
        )));
        items.push(match s.meta.source {
            Source::Netlink => Item::plain("netlink".into()),
            Source::Procfs => Item::styled("procfs (netlink refused)".into(), theme.warning()),
        });
        items.push(Item::plain(format!(
            "range {}–{} ({})",
            range.low,
            range.high,
            thousands(u64::from(range.size()))
        )));
        items.push(Item::plain(match reserved_in_range(s) {
            0 => "reserved none".into(),
            n => format!("reserved {}", thousands(u64::from(n))),
        }));
    }
    if let Some(f) = &app.filter {
        let pending = if app.filter_pending() {
            " (applying…)"
        } else {
            ""
        };
        items.push(Item(vec![
            Span::styled("filter ", theme.bold()),
            Span::raw(format!("{}{pending}", f.text())),
        ]));
    }
    if app.timeline.is_some() {
        items.extend(timeline::items(app));
        return items;
    }
    items.push(Item::plain(format!("every {}", interval(app.interval))));
    if let Some(status) = &app.events {
        let events = app.snapshot().and_then(|s| s.events.as_ref());
        items.push(live::header_item(
            status,
            events.map_or(0, |e| e.lost),
            theme,
        ));
        if let Some(found) = events.and_then(|e| e.resync) {
            items.push(resync_item(found, theme));
        }
    }
    items.push(if app.frozen {
        Item::styled(" ❚❚ FROZEN ".into(), theme.frozen())
    } else {
        Item::plain("● live".into())
    });
    items
}

/// The last resync's differences and how many the churn during its dump explains; more than that
/// means the kept table drifted, shown as a warning.
fn resync_item(found: ResyncFound, theme: Theme) -> Item {
    let text = if found.differences == 0 {
        "resync diff 0".to_string()
    } else {
        format!(
            "resync diff {} (churn explains {})",
            thousands(found.differences),
            thousands(found.explainable)
        )
    };
    if found.drifted() {
        Item::styled(text, theme.warning())
    } else {
        Item::plain(text)
    }
}

fn total_items(app: &App) -> Vec<Item> {
    let Some(s) = app.snapshot() else {
        return vec![Item::styled(
            "waiting for the first refresh…".into(),
            app.theme.dim(),
        )];
    };
    let total = s.totals.total();
    let mut items = vec![Item::plain(format!(
        "{} {}",
        thousands(total),
        noun(total, "socket")
    ))];
    items.extend(s.totals.nonzero().map(|(state, n)| {
        Item::plain(format!(
            "{} {}",
            state.short_name(),
            thousands(u64::from(n))
        ))
    }));
    items
}

fn status_items(app: &App) -> Vec<Item> {
    let theme = app.theme;
    let mut items = Vec::new();
    if let Some(e) = &app.error {
        let kept = if app.snapshot().is_some() {
            "; showing the last good snapshot"
        } else {
            ""
        };
        items.push(Item::styled(
            format!("⚠ refresh failed: {e}{kept}"),
            theme.error(),
        ));
    }
    if let Some(took) = app.took.filter(|t| *t >= SLOW.min(app.interval / 2)) {
        let effective = effective_interval(app.interval, took);
        let stretched = if effective > app.interval {
            format!(", interval stretched to {}", interval(effective))
        } else {
            String::new()
        };
        items.push(Item::styled(
            format!(
                "refresh took {} ms{stretched}",
                thousands(took.as_millis() as u64)
            ),
            theme.warning(),
        ));
    }
    if let Some(reason) = app.snapshot().and_then(|s| s.meta.fallback.as_deref()) {
        items.push(Item::styled(
            format!("netlink refused: {reason}; reading /proc/net/tcp and tcp6"),
            theme.warning(),
        ));
    }
    for warning in app.snapshot().map_or(&[][..], |s| &s.meta.warnings) {
        items.push(Item::styled(warning.clone(), theme.warning()));
    }
    if let Some(age) = app.snapshot().and_then(bind_side_age) {
        items.push(Item::styled(
            format!("bound ports read {} ago", interval(age)),
            theme.warning(),
        ));
    }
    items.extend(timeline::note(app));
    if let Some(reason) = app
        .events
        .as_ref()
        .and_then(|s| live::reason_item(s, theme))
    {
        items.push(reason);
    }
    items
}

/// How old the snapshot's bind side (BOUND_INACTIVE, explicit binds) is, when it was not read with
/// the table (large tables read it every 10 s).
fn bind_side_age(snap: &Snapshot) -> Option<Duration> {
    let age = snap
        .meta
        .taken_at
        .duration_since(snap.meta.bind_side_read_at?)
        .ok()?;
    (age >= Duration::from_secs(1)).then_some(age)
}

/// The header's lines for `width` columns, at most `max` of them: totals give way to problems.
pub fn lines(app: &App, width: u16, max: usize) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let main = pack(main_items(app), width, app.theme);
    let mut totals = pack(total_items(app), width, app.theme);
    let status = pack(status_items(app), width, app.theme);
    let room = max.saturating_sub(main.len() + status.len()).max(1);
    totals.truncate(room);
    let mut out = main;
    out.extend(totals);
    out.extend(status);
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Source;
    use crate::model::{EventsSummary, testkit};
    use crate::refresh::Report;
    use crate::settings::KernelSettings;
    use crate::ui::app::Config;
    use crate::ui::live::EventsStatus;
    use std::sync::Arc;

    /// A dashboard with no snapshot yet.
    fn test_app() -> App {
        App::new(Config {
            host: "h".into(),
            interval: Duration::from_secs(1),
            no_color: true,
            ascii: false,
            filter: None,
        })
    }

    /// The header's lines at 200 columns, one per line.
    fn text(app: &App) -> String {
        lines(app, 200, 8)
            .iter()
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn the_header_says_why_netlink_was_given_up() {
        let mut snap = testkit::snapshot(&[], &KernelSettings::with_range(1000, 1009), &[]);
        snap.meta.source = Source::Procfs;
        snap.meta.fallback = Some("cannot open a NETLINK_SOCK_DIAG socket: denied".into());
        let mut app = test_app();
        assert!(!text(&app).contains("netlink refused:"));
        assert!(app.on_report(Report {
            generation: 1,
            epoch: 0,
            took: Duration::ZERO,
            outcome: Ok(Arc::new(snap)),
            sockets: None,
        }));
        assert!(
            text(&app).contains(
                "netlink refused: cannot open a NETLINK_SOCK_DIAG socket: denied; \
                 reading /proc/net/tcp and tcp6"
            ),
            "{}",
            text(&app)
        );
    }

    /// Shows a snapshot (the `generation`th) whose events lost `lost` records and whose last
    /// resync found `resync`, events being live.
    fn show_events(app: &mut App, generation: u64, lost: u64, resync: Option<ResyncFound>) {
        app.set_events(EventsStatus::Live);
        let mut snap = testkit::snapshot(&[], &KernelSettings::with_range(1000, 1009), &[]);
        snap.events = Some(EventsSummary {
            source: "bpf".into(),
            picks: 0,
            failures: 0,
            lost,
            resync,
        });
        assert!(app.on_report(Report {
            generation,
            epoch: 0,
            took: Duration::ZERO,
            outcome: Ok(Arc::new(snap)),
            sockets: None,
        }));
    }

    #[test]
    fn the_header_shows_the_last_resyncs_differences_and_what_explains_them() {
        let mut app = test_app();
        assert!(!text(&app).contains("resync"));
        let found = ResyncFound {
            differences: 1234,
            explainable: 2000,
        };
        show_events(&mut app, 1, 0, Some(found));
        assert!(
            text(&app).contains("resync diff 1,234 (churn explains 2,000)"),
            "{}",
            text(&app)
        );
        let quiet = ResyncFound {
            differences: 0,
            explainable: 0,
        };
        show_events(&mut app, 2, 0, Some(quiet));
        assert!(text(&app).contains("resync diff 0 "), "{}", text(&app));
        show_events(&mut app, 3, 0, None);
        assert!(!text(&app).contains("resync"));
    }

    #[test]
    fn the_header_counts_lost_event_records() {
        let mut app = test_app();
        show_events(&mut app, 1, 0, None);
        assert!(text(&app).contains("events live "), "{}", text(&app));
        assert!(!text(&app).contains("lost"), "{}", text(&app));
        show_events(&mut app, 2, 1200, None);
        assert!(
            text(&app).contains("events live, 1,200 lost"),
            "{}",
            text(&app)
        );
    }
}
