//! Output: a [`Snapshot`](crate::model::Snapshot) rendered as JSON, as aligned tables, or as a short
//! summary. Pure text building; the binary writes it.

pub mod json;
pub mod summary;
pub mod table;
mod timefmt;

pub use timefmt::rfc3339;

use crate::model::Snapshot;

/// The reserved spans as `1100,1200-1210`, or `none`.
fn reserved_text(snap: &Snapshot) -> String {
    let spans = &snap.settings.reserved_ports;
    if spans.is_empty() {
        return "none".to_string();
    }
    spans
        .iter()
        .map(|[lo, hi]| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The header lines both text formats start with: where, when, the range and the totals.
fn header(snap: &Snapshot) -> String {
    let s = &snap.settings;
    let mut out = format!(
        "portradar  {}  source {}  kernel {}  netns {}{}\n",
        rfc3339(snap.meta.taken_at),
        source_name(snap),
        s.kernel_release,
        snap.meta.netns.as_deref().unwrap_or("-"),
        snap.meta
            .filter
            .as_deref()
            .map(|f| format!("  filter: {f}"))
            .unwrap_or_default(),
    );
    out += &format!(
        "port range {}-{} ({} ports)  reserved {}  tcp_tw_reuse {}\n",
        s.port_range.low,
        s.port_range.high,
        s.port_range.size(),
        reserved_text(snap),
        s.tcp_tw_reuse
    );
    let states: Vec<String> = snap
        .totals
        .nonzero()
        .map(|(st, n)| format!("{st} {n}"))
        .collect();
    out += &format!(
        "sockets {}: {}\n",
        snap.totals.total(),
        if states.is_empty() {
            "none".to_string()
        } else {
            states.join("  ")
        }
    );
    out
}

fn source_name(snap: &Snapshot) -> &'static str {
    match snap.meta.source {
        crate::collect::Source::Netlink => "netlink",
        crate::collect::Source::Procfs => "procfs",
    }
}
