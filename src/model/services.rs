//! Inbound connections grouped per service: the local endpoint a listener of this host serves, or
//! served lately, or that a server's side shows (see [`super::PortFacts::direction`]). A busy server
//! has thousands of peers; they are counted here, never listed as destinations.

use super::{Direction, PortFacts, StateCounts};
use crate::socket::{Endpoint, SockRecord};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Inbound connections to one local endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub local: Endpoint,
    pub sockets: u32,
    pub by_state: StateCounts,
}

pub(crate) fn aggregate(records: &[SockRecord], facts: &PortFacts) -> Vec<Service> {
    let mut by_local: FxHashMap<Endpoint, Service> = FxHashMap::default();
    for r in records
        .iter()
        .filter(|r| facts.direction(r) == Direction::Inbound)
    {
        let s = by_local.entry(r.local).or_insert_with(|| Service {
            local: r.local,
            sockets: 0,
            by_state: StateCounts::default(),
        });
        s.sockets += 1;
        s.by_state.add(r.state);
    }
    let mut out: Vec<Service> = by_local.into_values().collect();
    out.sort_by(|a, b| (b.sockets, a.local).cmp(&(a.sockets, b.local)));
    out
}

#[cfg(test)]
mod tests {
    use crate::collect::Source;
    use crate::model::testkit::{rec, snapshot, tw};
    use crate::model::{History, Input, Meta, Snapshot, build};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::*;
    use std::time::{Duration, SystemTime};

    fn names(s: &Snapshot) -> (Vec<String>, Vec<String>) {
        (
            s.services.iter().map(|s| s.local.to_string()).collect(),
            s.destinations
                .iter()
                .map(|d| d.remote.to_string())
                .collect(),
        )
    }

    #[test]
    fn a_server_side_outside_the_range_is_inbound_without_its_listener() {
        let settings = KernelSettings::with_range(40000, 40999);
        let records = [
            // A closed listener's TIME_WAIT entries.
            tw("127.0.0.1:5000", "127.0.0.2:40001", 30_000),
            tw("127.0.0.1:5000", "127.0.0.3:40002", 30_000),
            // A client bound to 6000 connecting to a service inside the range, and its older
            // connection from the same port.
            rec("127.0.0.1:6000", "127.0.0.9:40500", SynSent),
            tw("127.0.0.1:6000", "127.0.0.8:40500", 30_000),
            // An ordinary client toward a service inside the range.
            rec("127.0.0.1:40100", "127.0.0.7:40500", Established),
        ];
        let (services, destinations) = names(&snapshot(&records, &settings, &[]));
        assert_eq!(services, vec!["127.0.0.1:5000"]);
        assert_eq!(
            destinations,
            vec!["127.0.0.7:40500", "127.0.0.8:40500", "127.0.0.9:40500"]
        );
    }

    #[test]
    fn a_listener_seen_lately_keeps_its_connections_inbound() {
        // Listener and peers inside the range: only the memory of the listener tells.
        let settings = KernelSettings::with_range(40000, 40999);
        let listener = rec("127.0.0.1:40500", "0.0.0.0:0", Listen);
        let left = tw("127.0.0.1:40500", "127.0.0.2:40001", 30_000);
        let mut history = History::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut at = |records: &[_], secs| {
            let input = Input {
                records,
                listen_ports: &[],
                explicit_bind_ports: &[],
                settings: &settings,
            };
            let meta = Meta::new(t0 + Duration::from_secs(secs), Source::Netlink);
            names(&build(&input, meta, &mut history))
        };
        let inbound = (vec!["127.0.0.1:40500".to_string()], vec![]);
        assert_eq!(at(&[listener, left], 0), inbound);
        assert_eq!(at(&[left], 1), inbound);
        assert_eq!(at(&[left], 119), inbound);
        // Forgotten two minutes after it was last seen.
        let outbound = (vec![], vec!["127.0.0.2:40001".to_string()]);
        assert_eq!(at(&[left], 121), outbound);
    }
}
