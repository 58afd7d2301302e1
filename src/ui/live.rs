//! What allocator events add to the dashboard's text: whether events are live (and why not), each
//! destination's failed connect()s (last minute / in all) and the processes that made them, and
//! how many busy ports the latest pick skipped.

use super::format::thousands;
use super::pack::Item;
use super::theme::Theme;
use crate::model::Destination;
use crate::pointer::{PointerEstimate, SKIP_RUN_LIMIT};

/// Whether allocator events feed the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventsStatus {
    Live,
    /// Why not: the reason events are unavailable, or `--no-events`.
    Off(String),
}

/// The header's item: `events live` (with the records `lost` so far, in the warning colour, when
/// there are any: each hid one state change), or `events off` (the reason goes to the status line).
pub(crate) fn header_item(status: &EventsStatus, lost: u64, theme: Theme) -> Item {
    match status {
        EventsStatus::Live if lost > 0 => Item::styled(
            format!("events live, {} lost", thousands(lost)),
            theme.warning(),
        ),
        EventsStatus::Live => Item::plain("events live".into()),
        EventsStatus::Off(_) => Item::styled("events off".into(), theme.warning()),
    }
}

/// The status line's item when events are off: why.
pub(crate) fn reason_item(status: &EventsStatus, theme: Theme) -> Option<Item> {
    match status {
        EventsStatus::Live => None,
        EventsStatus::Off(reason) => Some(Item::styled(reason.clone(), theme.warning())),
    }
}

/// The failures cell: `last minute/in all`, `—` without events.
pub(crate) fn failures_cell(d: &Destination) -> String {
    match (d.failures_last_minute, d.connect_failures) {
        (Some(minute), Some(all)) => format!("{}/{}", thousands(minute), thousands(all)),
        _ => "—".into(),
    }
}

/// The processes that failed, the most failing one first: `curl/1234 +2`.
pub(crate) fn failing_cell(d: &Destination) -> String {
    match d.failing.split_first() {
        None => String::new(),
        Some((top, [])) => format!("{}/{}", top.comm, top.pid),
        Some((top, rest)) => format!("{}/{} +{}", top.comm, top.pid, rest.len()),
    }
}

/// The focused destination's failures, with every process that made them.
pub(crate) fn details(d: &Destination, theme: Theme) -> Vec<Item> {
    let (Some(minute), Some(all)) = (d.failures_last_minute, d.connect_failures) else {
        return Vec::new();
    };
    if all == 0 {
        return vec![Item::styled("no failed connect()".into(), theme.dim())];
    }
    let style = if minute > 0 {
        theme.error()
    } else {
        theme.warning()
    };
    let mut items = vec![Item::styled(
        format!(
            "failed connect(): {} in the last minute, {} in all",
            thousands(minute),
            thousands(all)
        ),
        style,
    )];
    items.extend(d.failing.iter().map(|f| {
        Item::plain(format!(
            "{} (pid {}) ×{}",
            f.comm,
            f.pid,
            thousands(f.count)
        ))
    }));
    items
}

/// `skipped 12 busy ports` when the latest pick had to skip some.
pub(crate) fn skipped(p: &PointerEstimate) -> Option<String> {
    match p.skipped? {
        0 => None,
        1 => Some("last pick skipped 1 busy port".into()),
        n if n >= SKIP_RUN_LIMIT => Some(format!(
            "last pick skipped {}+ busy ports",
            thousands(u64::from(n))
        )),
        n => Some(format!(
            "last pick skipped {} busy ports",
            thousands(u64::from(n))
        )),
    }
}
