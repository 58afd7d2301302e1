//! `snapshot --format summary`: a few lines for a quick look or a chat message: the range, the
//! totals, the destinations using the most ports, the most reused local ports.

use super::{header, noun};
use crate::model::Snapshot;

/// How many destinations and reused ports the summary names.
const TOP: usize = 5;

/// The snapshot in a few lines.
pub fn render(snap: &Snapshot) -> String {
    let mut out = header(snap);
    let range = snap.settings.port_range.size();
    for d in snap.destinations.iter().take(TOP) {
        let free = d
            .min_free()
            .map_or(String::from("-"), |f| format!("{f} of {range}"));
        out += &format!(
            "dest {}: {} {} used, {} {} ({} TIME_WAIT), headroom {}\n",
            d.remote,
            d.ports_in_range,
            noun(d.ports_in_range.into(), "port"),
            d.sockets,
            noun(d.sockets.into(), "socket"),
            d.time_wait(),
            free
        );
    }
    if snap.destinations.len() > TOP {
        let more = snap.destinations.len() - TOP;
        out += &format!("... {more} more {}\n", noun(more as u64, "destination"));
    }
    for g in snap.reused_ports.iter().take(TOP) {
        out += &format!(
            "reused {}: {} tuples to {} {}\n",
            g.local,
            g.tuples.len(),
            g.remotes,
            noun(g.remotes.into(), "remote")
        );
    }
    let total = snap.reused_ports_total as usize;
    if total > TOP {
        let more = total - TOP;
        out += &format!("... {more} more reused {}\n", noun(more as u64, "port"));
    }
    let tw = &snap.time_wait;
    out += &format!(
        "TIME_WAIT {}: {} free within 10 s\n",
        tw.count, tw.freeing_10s
    );
    out
}
