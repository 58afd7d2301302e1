//! The model: pure aggregation of one socket table into a [`Snapshot`] (no I/O).
//!
//! It classifies each connection as inbound (its local port is held by a listener) or outbound,
//! groups outbound ones by destination with their headroom, finds local ports reused by several
//! 4-tuples, maps every port of the ephemeral range for the dial and summarises TIME_WAIT.

mod destinations;
mod forecast;
mod history;
mod portmap;
mod reuse;
mod services;
mod states;
mod timewait;

pub use destinations::{Destination, Headroom};
pub use forecast::Forecast;
pub use history::History;
pub use portmap::{PortMap, PortUse};
pub use reuse::{ReuseGroup, Tuple};
pub use services::Service;
pub use states::StateCounts;
pub use timewait::TimeWaitSummary;

use crate::collect::Source;
use crate::portset::PortSet;
use crate::settings::KernelSettings;
use crate::socket::{SockRecord, TcpState};
use std::time::SystemTime;

/// Everything the model needs from one collection.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub records: &'a [SockRecord],
    /// Local ports of LISTEN sockets over the whole table, whatever the filter (may repeat).
    pub listen_ports: &'a [u16],
    /// Ports in the range held by explicitly bound sockets over the whole table.
    pub explicit_bind_ports: &'a [u16],
    pub settings: &'a KernelSettings,
}

/// Facts about how and when a snapshot was taken.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub taken_at: SystemTime,
    pub source: Source,
    pub netns: Option<String>,
    /// The filter the table was dumped with, as the user wrote it.
    pub filter: Option<String>,
}

/// New auto-allocated local ports seen since the previous refresh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocations {
    /// New outbound ports in the range that the kernel chose, oldest first (by socket inode).
    pub recent: Vec<u16>,
}

impl Allocations {
    /// The most recently allocated port seen.
    pub fn newest(&self) -> Option<u16> {
        self.recent.last().copied()
    }
}

/// One aggregated view of the socket table: what the outputs and the dashboard show.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub meta: Meta,
    pub settings: KernelSettings,
    pub totals: StateCounts,
    /// Outbound connections per remote endpoint, most ports used first.
    pub destinations: Vec<Destination>,
    /// Inbound connections per local service endpoint, most sockets first.
    pub services: Vec<Service>,
    /// Local endpoints shared by several outbound 4-tuples, most tuples first.
    pub reused_ports: Vec<ReuseGroup>,
    pub ports: PortMap,
    pub time_wait: TimeWaitSummary,
    pub allocations: Allocations,
    /// Seconds since the previous refresh fed to the same [`History`], if any.
    pub elapsed_s: Option<f64>,
}

/// How a socket relates to this host's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// A connection to a listener of this host.
    Inbound,
    /// A connection this host opened.
    Outbound,
    /// No connection: LISTEN, CLOSE, BOUND_INACTIVE.
    None,
}

/// Port facts shared by the aggregations of one table.
pub(crate) struct PortFacts {
    pub listen: PortSet,
    /// Ports connect() must skip for every destination: reserved, or held by a bind()-ed socket.
    pub blocked: PortSet,
}

impl PortFacts {
    fn new(input: &Input<'_>) -> PortFacts {
        let mut listen = PortSet::new();
        let mut blocked = PortSet::new();
        for p in input.listen_ports {
            listen.insert(*p);
        }
        for r in input.records {
            match r.state {
                TcpState::Listen => listen.insert(r.local.port),
                TcpState::BoundInactive => blocked.insert(r.local.port),
                _ => {}
            }
        }
        blocked.union_with(&listen);
        for p in input.explicit_bind_ports {
            blocked.insert(*p);
        }
        for [lo, hi] in &input.settings.reserved_ports {
            for p in *lo..=*hi {
                blocked.insert(p);
            }
        }
        PortFacts { listen, blocked }
    }

    pub fn direction(&self, r: &SockRecord) -> Direction {
        if !r.state.is_connection() {
            Direction::None
        } else if self.listen.contains(r.local.port) {
            Direction::Inbound
        } else {
            Direction::Outbound
        }
    }
}

/// Aggregates one table. `history` carries what earlier refreshes saw (for rates and new
/// allocations) and is updated; pass a fresh [`History`] for a one-shot snapshot.
pub fn build(input: &Input<'_>, meta: Meta, history: &mut History) -> Snapshot {
    let facts = PortFacts::new(input);
    let seen = history.advance(input.records, meta.taken_at);
    let mut destinations = destinations::aggregate(input, &facts, &seen);
    let allocations = seen.allocations(input, &facts);
    let elapsed_s = seen.elapsed_s;
    history.smooth_rates(&mut destinations, elapsed_s);
    let settings = input.settings;
    for d in &mut destinations {
        d.forecast = d.new_per_s.and_then(|rate| {
            forecast::forecast(
                d,
                rate,
                settings.port_range.size(),
                settings.tcp_tw_reuse_delay_ms,
            )
        });
    }
    let mut totals = StateCounts::default();
    for r in input.records {
        totals.add(r.state);
    }
    Snapshot {
        destinations,
        services: services::aggregate(input.records, &facts),
        reused_ports: reuse::find(input.records, &facts),
        ports: PortMap::build(input, &facts),
        time_wait: TimeWaitSummary::build(input.records),
        allocations,
        elapsed_s,
        settings: settings.clone(),
        totals,
        meta,
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Builders for model tests.
    use crate::socket::{Endpoint, SockRecord, TcpState, TimerKind};

    pub fn ep(s: &str) -> Endpoint {
        let addr: std::net::SocketAddr = s.parse().expect("test endpoint");
        Endpoint::new(addr.ip(), addr.port())
    }

    pub fn rec(local: &str, remote: &str, state: TcpState) -> SockRecord {
        SockRecord {
            local: ep(local),
            remote: ep(remote),
            state,
            timer: TimerKind::Off,
            retrans: 0,
            expires_ms: 0,
            uid: 0,
            inode: 0,
            cookie: 0,
        }
    }

    pub fn tw(local: &str, remote: &str, expires_ms: u32) -> SockRecord {
        SockRecord {
            timer: TimerKind::Timewait,
            expires_ms,
            ..rec(local, remote, TcpState::TimeWait)
        }
    }
}
