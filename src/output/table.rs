//! `snapshot --format table`: the header, then aligned tables of destinations (with headroom),
//! services, reused local ports and TIME_WAIT, readable in 100 columns.

use super::{header, noun};
use crate::model::{Destination, ReuseGroup, Service, Snapshot};
use crate::socket::TcpState;

/// Most reused ports listed; the rest are counted (JSON has them all).
const MAX_REUSED: usize = 50;
/// Most tuples shown per reused port.
const MAX_TUPLES: usize = 3;

/// The snapshot as aligned tables.
pub fn render(snap: &Snapshot) -> String {
    let mut out = header(snap);
    out += "\nDESTINATIONS (outbound connections by remote endpoint)\n";
    out += &destinations(&snap.destinations);
    out += "\nSERVICES (inbound connections by local endpoint)\n";
    out += &services(&snap.services);
    out += "\nREUSED LOCAL PORTS (one local ip:port in several 4-tuples)\n";
    out += &reused(&snap.reused_ports, snap.reused_ports_total as usize);
    let tw = &snap.time_wait;
    out += &format!(
        "\nTIME_WAIT {}: free within 10 s {}, 30 s {}, 60 s {}\n",
        tw.count, tw.freeing_10s, tw.freeing_30s, tw.freeing_60s
    );
    out
}

fn destinations(dests: &[Destination]) -> String {
    let rows = dests
        .iter()
        .map(|d| {
            let headroom = d
                .headroom
                .iter()
                .map(|h| format!("{} free from {}", h.free, h.local_ip))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                d.remote.to_string(),
                d.sockets.to_string(),
                d.by_state.get(TcpState::Established).to_string(),
                d.time_wait().to_string(),
                d.ports_in_range.to_string(),
                d.new_per_s.map_or("-".into(), |r| format!("{r:.1}")),
                headroom,
            ]
        })
        .collect();
    columns(
        &[
            "REMOTE",
            "SOCKETS",
            "ESTAB",
            "TIME_WAIT",
            "PORTS",
            "NEW/S",
            "HEADROOM",
        ],
        rows,
    )
}

fn services(services: &[Service]) -> String {
    let rows = services
        .iter()
        .map(|s| {
            vec![
                s.local.to_string(),
                s.sockets.to_string(),
                s.by_state.get(TcpState::Established).to_string(),
                s.by_state.get(TcpState::TimeWait).to_string(),
                s.by_state.others().to_string(),
            ]
        })
        .collect();
    columns(&["LOCAL", "SOCKETS", "ESTAB", "TIME_WAIT", "OTHER"], rows)
}

fn reused(groups: &[ReuseGroup], total: usize) -> String {
    let rows = groups
        .iter()
        .take(MAX_REUSED)
        .map(|g| {
            let mut remotes: Vec<String> = g
                .tuples
                .iter()
                .take(MAX_TUPLES)
                .map(|t| format!("{} {}", t.remote, t.state))
                .collect();
            if g.tuples.len() > MAX_TUPLES {
                remotes.push(format!("+{} more", g.tuples.len() - MAX_TUPLES));
            }
            vec![
                g.local.to_string(),
                g.tuples.len().to_string(),
                remotes.join(", "),
            ]
        })
        .collect();
    let mut out = columns(&["LOCAL", "TUPLES", "REMOTES"], rows);
    let shown = groups.len().min(MAX_REUSED);
    if total > shown {
        let more = total - shown;
        out += &format!("  ... {more} more reused {}\n", noun(more as u64, "port"));
    }
    out
}

/// Left-aligns the first column and the last, right-aligns the numbers between; two spaces apart.
/// An empty table prints as `  (none)`.
fn columns(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "  (none)\n".to_string();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let last = headers.len() - 1;
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| match i {
                0 => format!("{cell:<w$}"),
                i if i == last => cell.clone(),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        format!("  {}", padded.join("  ")).trim_end().to_string() + "\n"
    };
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut out = line(&head);
    for row in &rows {
        out += &line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_numbers_right() {
        let rows = vec![
            vec!["127.0.0.1:80".into(), "3".into(), "a".into()],
            vec!["[::1]:443".into(), "12".into(), "b c".into()],
        ];
        let text = columns(&["REMOTE", "SOCKETS", "NOTE"], rows);
        assert_eq!(
            text,
            "  REMOTE        SOCKETS  NOTE\n  127.0.0.1:80        3  a\n  [::1]:443          12  b c\n"
        );
        assert_eq!(columns(&["A"], vec![]), "  (none)\n");
    }
}
