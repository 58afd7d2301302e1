//! Reuse groups: local endpoints (ip, port) shared by several outbound 4-tuples. One local port
//! serving many destinations is the article's lesson made visible: only the 4-tuple must be unique.

use super::portgroups::PortGroups;
use super::{Direction, PortFacts};
use crate::socket::{Endpoint, SockRecord, TcpState};
use serde::Serialize;

/// One 4-tuple of a reuse group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tuple {
    pub local: Endpoint,
    pub remote: Endpoint,
    pub state: TcpState,
}

/// A local endpoint and the outbound 4-tuples that share it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReuseGroup {
    pub local: Endpoint,
    /// The 4-tuples, ordered by remote endpoint.
    pub tuples: Vec<Tuple>,
    /// Number of distinct remote endpoints among them.
    pub remotes: u32,
}

/// Most groups a snapshot keeps (those with the most tuples): on a host where every local port
/// serves many destinations, listing them all would cost more memory than the whole socket table.
pub const MAX_GROUPS: usize = 1000;

/// The reuse groups of a table: the largest [`MAX_GROUPS`], most tuples first (then by local
/// endpoint), and how many there are.
pub(crate) fn find(records: &[SockRecord], facts: &PortFacts) -> (Vec<ReuseGroup>, u32) {
    let mut by_port = PortGroups::from_pairs(
        (0..records.len() as u32)
            .filter(|i| facts.direction(&records[*i as usize]) == Direction::Outbound)
            .map(|i| (records[i as usize].local.port, i)),
    );
    // A port's group is small but for a port shared by many tuples; stable, so tuples keep the
    // table's order.
    for group in by_port.groups_mut().filter(|g| g.len() > 1) {
        group.sort_by_key(|i| records[*i as usize].local.ip);
    }
    let mut runs: Vec<&[u32]> = by_port
        .groups()
        .flat_map(|g| g.chunk_by(|a, b| records[*a as usize].local == records[*b as usize].local))
        .filter(|run| run.len() > 1)
        .collect();
    let total = runs.len() as u32;
    let rank = |run: &&[u32]| (std::cmp::Reverse(run.len()), records[run[0] as usize].local);
    if runs.len() > MAX_GROUPS {
        runs.select_nth_unstable_by_key(MAX_GROUPS, rank);
        runs.truncate(MAX_GROUPS);
    }
    runs.sort_unstable_by_key(rank);
    let groups = runs.into_iter().map(|run| group(records, run)).collect();
    (groups, total)
}

fn group(records: &[SockRecord], run: &[u32]) -> ReuseGroup {
    let mut tuples: Vec<Tuple> = run
        .iter()
        .map(|i| {
            let r = &records[*i as usize];
            Tuple {
                local: r.local,
                remote: r.remote,
                state: r.state,
            }
        })
        .collect();
    tuples.sort_by_key(|t| t.remote);
    let remotes = 1 + tuples
        .windows(2)
        .filter(|w| w[0].remote != w[1].remote)
        .count();
    ReuseGroup {
        local: tuples[0].local,
        tuples,
        remotes: remotes as u32,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::testkit::{rec, snapshot};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::*;

    #[test]
    fn a_port_shared_by_three_destinations_is_one_group() {
        let records = [
            rec("127.0.0.1:40000", "127.0.3.1:80", Established),
            rec("127.0.0.1:40000", "127.0.3.2:80", Established),
            rec("127.0.0.1:40000", "127.0.3.3:80", TimeWait),
            rec("127.0.0.2:40000", "127.0.3.1:80", Established),
            rec("127.0.0.1:40001", "127.0.3.1:80", Established),
            // Inbound: a listener's port is shared by its peers, which is not reuse.
            rec("127.0.0.1:80", "0.0.0.0:0", Listen),
            rec("127.0.0.1:80", "127.0.0.5:1", Established),
            rec("127.0.0.1:80", "127.0.0.5:2", Established),
        ];
        let settings = KernelSettings::with_range(32768, 60999);
        let s = snapshot(&records, &settings, &[]);
        assert_eq!((s.reused_ports.len(), s.reused_ports_total), (1, 1));
        let g = &s.reused_ports[0];
        assert_eq!(g.local.to_string(), "127.0.0.1:40000");
        assert_eq!(g.remotes, 3);
        let remotes: Vec<String> = g.tuples.iter().map(|t| t.remote.to_string()).collect();
        assert_eq!(remotes, ["127.0.3.1:80", "127.0.3.2:80", "127.0.3.3:80"]);
    }
}
