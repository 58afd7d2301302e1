//! Output: a [`Snapshot`](crate::model::Snapshot) rendered as JSON, as aligned tables, as a short
//! summary, or as Prometheus metrics. Pure text building; the binary writes it.

pub mod json;
pub mod metrics;
pub mod summary;
pub mod table;
mod timefmt;

pub use timefmt::rfc3339;

use crate::model::Snapshot;
use std::borrow::Cow;

/// `singular` as it follows the count `n`: `1 socket`, `0 sockets`, `2 sockets`.
pub fn noun(n: u64, singular: &str) -> Cow<'_, str> {
    if n == 1 {
        Cow::Borrowed(singular)
    } else {
        Cow::Owned(format!("{singular}s"))
    }
}

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
    for warning in &snap.meta.warnings {
        out += &format!("warning: {warning}\n");
    }
    out += &format!(
        "port range {}-{} ({} {})  reserved {}  tcp_tw_reuse {}\n",
        s.port_range.low,
        s.port_range.high,
        s.port_range.size(),
        noun(u64::from(s.port_range.size()), "port"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::{rec, snapshot};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::Established;

    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(noun(1, "socket"), "socket");
        assert_eq!(noun(0, "socket"), "sockets");
        assert_eq!(noun(2, "port"), "ports");
        let one = [rec("127.0.0.1:40000", "127.0.0.2:80", Established)];
        let text = summary::render(&snapshot(
            &one,
            &KernelSettings::with_range(40000, 40000),
            &[],
        ));
        assert!(text.contains("(1 port)"), "{text}");
        assert!(text.contains("1 port used, 1 socket ("), "{text}");
    }
}
