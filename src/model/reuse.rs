//! Reuse groups: local endpoints (ip, port) shared by several outbound 4-tuples. One local port
//! serving many destinations is the seed's lesson made visible: only the 4-tuple must be unique.

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

pub(crate) fn find(records: &[SockRecord], facts: &PortFacts) -> Vec<ReuseGroup> {
    let mut out: Vec<&SockRecord> = records
        .iter()
        .filter(|r| facts.direction(r) == Direction::Outbound)
        .collect();
    out.sort_unstable_by_key(|r| (r.local, r.remote));
    let mut groups: Vec<ReuseGroup> = out
        .chunk_by(|a, b| a.local == b.local)
        .filter(|run| run.len() > 1)
        .map(|run| {
            let tuples: Vec<Tuple> = run
                .iter()
                .map(|r| Tuple {
                    local: r.local,
                    remote: r.remote,
                    state: r.state,
                })
                .collect();
            let remotes = 1 + tuples
                .windows(2)
                .filter(|w| w[0].remote != w[1].remote)
                .count();
            ReuseGroup {
                local: run[0].local,
                tuples,
                remotes: remotes as u32,
            }
        })
        .collect();
    groups.sort_by(|a, b| (b.tuples.len(), a.local).cmp(&(a.tuples.len(), b.local)));
    groups
}

#[cfg(test)]
mod tests {
    use crate::collect::Source;
    use crate::model::testkit::rec;
    use crate::model::{History, Input, Meta, build};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::*;
    use std::time::SystemTime;

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
        let input = Input {
            records: &records,
            listen_ports: &[],
            explicit_bind_ports: &[],
            settings: &settings,
        };
        let meta = Meta {
            taken_at: SystemTime::UNIX_EPOCH,
            source: Source::Netlink,
            netns: None,
            filter: None,
        };
        let s = build(&input, meta, &mut History::default());
        assert_eq!(s.reused_ports.len(), 1);
        let g = &s.reused_ports[0];
        assert_eq!(g.local.to_string(), "127.0.0.1:40000");
        assert_eq!(g.remotes, 3);
        let remotes: Vec<String> = g.tuples.iter().map(|t| t.remote.to_string()).collect();
        assert_eq!(remotes, ["127.0.3.1:80", "127.0.3.2:80", "127.0.3.3:80"]);
    }
}
