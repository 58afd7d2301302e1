//! Inbound connections grouped per service: the local endpoint a listener of this host serves.
//! A busy server has thousands of peers; they are counted here, never listed as destinations.

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
