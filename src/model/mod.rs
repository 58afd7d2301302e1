//! The model: pure aggregation of one socket table into a [`Snapshot`] (no I/O).
//!
//! It classifies each connection as inbound (its local port is held by a listener, now or lately, or
//! lies outside the ephemeral range while the remote port lies inside it) or outbound,
//! groups outbound ones by destination with their headroom, finds local ports reused by several
//! 4-tuples, maps every port of the ephemeral range for the dial and summarises TIME_WAIT.

pub mod consumers;
mod destinations;
mod events;
mod forecast;
mod headroom;
mod history;
mod portgroups;
mod portmap;
mod recent;
pub mod reuse;
mod services;
mod states;
mod timewait;

pub use consumers::{Attributor, Consumer};
pub use destinations::Destination;
pub use events::{DestinationEvents, EventInput, EventsSummary, Failer, PickSeen, ResyncFound};
pub use forecast::Forecast;
pub use headroom::Headroom;
pub use history::History;
pub use portmap::{PortMap, PortUse};
pub use reuse::{ReuseGroup, Tuple};
pub use services::Service;
pub use states::StateCounts;
pub use timewait::TimeWaitSummary;

use crate::collect::Source;
use crate::pointer::Score;
use crate::portset::PortSet;
use crate::settings::{KernelSettings, PortRange};
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
    /// Why sock_diag netlink was refused, when procfs is read in its place.
    pub fallback: Option<String>,
    pub netns: Option<String>,
    /// The filter the table was dumped with, as the user wrote it.
    pub filter: Option<String>,
    /// When the bind side (BOUND_INACTIVE sockets, explicit binds) was read: with the table on a
    /// small host, up to 10 s earlier on a large one. `None` from procfs.
    pub bind_side_read_at: Option<SystemTime>,
    /// What went wrong in this refresh that the snapshot works around (a namespace deleted under
    /// it, kernel settings that could not be read): one line each, shown in the header.
    pub warnings: Vec<String>,
}

impl Meta {
    /// A snapshot taken at `taken_at` from `source`, unfiltered, in the current namespace.
    pub fn new(taken_at: SystemTime, source: Source) -> Meta {
        Meta {
            taken_at,
            source,
            fallback: None,
            netns: None,
            filter: None,
            bind_side_read_at: None,
            warnings: Vec::new(),
        }
    }
}

/// Most allocations a snapshot lists (the dial's trail is short).
const MAX_ALLOCATIONS: usize = 32;

/// New auto-allocated local ports seen since the previous refresh, and how well the pointer model
/// predicted them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocations {
    /// The latest new outbound ports in the range that the kernel chose, oldest first (by inode).
    pub recent: Vec<u16>,
    /// How many new allocations this refresh saw in all.
    pub count: u32,
    /// The pointer model's running score since the first refresh.
    pub score: Score,
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
    /// Local endpoints shared by several outbound 4-tuples, most tuples first (at most
    /// [`reuse::MAX_GROUPS`] of them).
    pub reused_ports: Vec<ReuseGroup>,
    /// How many local endpoints are shared by several outbound 4-tuples in all.
    pub reused_ports_total: u32,
    pub ports: PortMap,
    pub time_wait: TimeWaitSummary,
    pub allocations: Allocations,
    /// Seconds since the previous refresh fed to the same [`History`], if any.
    pub elapsed_s: Option<f64>,
    /// What allocator events counted since they started; `None` without events.
    pub events: Option<EventsSummary>,
    /// How the lookup of the sockets' processes went, when processes were asked for.
    pub processes: Option<crate::attribution::Resolution>,
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
    /// Ports of this table's listeners.
    pub listen: PortSet,
    /// Ports whose connections are inbound: this table's listeners and those seen lately.
    pub served: PortSet,
    /// Local ports outside the range that clients connect from: in SYN_SENT now or lately.
    pub client_binds: PortSet,
    /// Ports connect() must skip for every destination: reserved, or held by a bind()-ed socket.
    pub blocked: PortSet,
    range: PortRange,
}

impl PortFacts {
    fn new(input: &Input<'_>) -> PortFacts {
        let range = input.settings.port_range;
        let mut listen = PortSet::new();
        let mut blocked = PortSet::new();
        let mut client_binds = PortSet::new();
        for p in input.listen_ports {
            listen.insert(*p);
        }
        for r in input.records {
            match r.state {
                TcpState::Listen => listen.insert(r.local.port),
                TcpState::BoundInactive => blocked.insert(r.local.port),
                TcpState::SynSent if !range.contains(r.local.port) => {
                    client_binds.insert(r.local.port)
                }
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
        PortFacts {
            served: listen.clone(),
            listen,
            client_binds,
            blocked,
            range,
        }
    }

    /// A connection is outbound when it is connecting (SYN_SENT); else inbound when a listener
    /// serves (or lately served) its local port, or when its local port lies outside the range and
    /// its remote port inside (a server's side, listener or not), unless a client was seen binding
    /// that local port; else outbound.
    pub fn direction(&self, r: &SockRecord) -> Direction {
        if !r.state.is_connection() {
            return Direction::None;
        }
        let served = || {
            self.served.contains(r.local.port)
                || (!self.range.contains(r.local.port)
                    && self.range.contains(r.remote.port)
                    && !self.client_binds.contains(r.local.port))
        };
        if r.state != TcpState::SynSent && served() {
            Direction::Inbound
        } else {
            Direction::Outbound
        }
    }
}

/// Aggregates one table. `history` carries what earlier refreshes saw (for rates and new
/// allocations) and is updated; pass a fresh [`History`] for a one-shot snapshot.
pub fn build(input: &Input<'_>, meta: Meta, history: &mut History) -> Snapshot {
    build_with_events(input, meta, history, None)
}

/// [`build`] with what allocator events saw since the previous refresh: the picks are the
/// allocations (short-lived connections included, and counted as new), the pointers are those of
/// the model fed with every pick where it has one, and destinations get their event counts.
pub fn build_with_events(
    input: &Input<'_>,
    meta: Meta,
    history: &mut History,
    events: Option<&EventInput>,
) -> Snapshot {
    let mut facts = PortFacts::new(input);
    history.recall_ports(&mut facts, meta.taken_at);
    let seen = history.advance(input.records, meta.taken_at);
    let mut destinations = destinations::aggregate(input, &facts, &seen);
    let new_ports = seen.allocations(input, &facts);
    let elapsed_s = seen.elapsed_s;
    if let Some(ev) = events.filter(|_| elapsed_s.is_some()) {
        events::count_short_lived(&mut destinations, &seen, &ev.picks);
    }
    history.smooth_rates(&mut destinations, elapsed_s);
    let settings = input.settings;
    let mut score = history.track_pointers(settings.port_range, &new_ports, &mut destinations);
    let mut recent: Vec<u16> = new_ports.iter().map(|a| a.port).collect();
    if let Some(ev) = events {
        events::count(&mut destinations, ev);
        for d in &mut destinations {
            if let Some(p) = history::pointer_key(d).and_then(|k| ev.pointers.get(&k)) {
                d.pointer = Some(p.clone());
            }
        }
        score = ev.score;
        recent = ev.picks.iter().map(|p| p.local.port).collect();
    }
    let skip = recent.len().saturating_sub(MAX_ALLOCATIONS);
    let allocations = Allocations {
        count: recent.len() as u32,
        recent: recent.split_off(skip),
        score,
    };
    for d in &mut destinations {
        d.forecast = d.new_per_s.zip(d.tightest()).map(|(rate, h)| {
            forecast::forecast(
                h,
                rate,
                d.ports_in_range,
                settings.port_range.size(),
                settings.tcp_tw_reuse_delay_ms,
            )
        });
    }
    let mut totals = StateCounts::default();
    for r in input.records {
        totals.add(r.state);
    }
    let (reused_ports, reused_ports_total) = reuse::find(input.records, &facts);
    Snapshot {
        destinations,
        services: services::aggregate(input.records, &facts),
        reused_ports,
        reused_ports_total,
        ports: PortMap::build(input, &facts),
        time_wait: TimeWaitSummary::build(input.records),
        allocations,
        elapsed_s,
        events: events.and_then(|e| e.summary.clone()),
        processes: None,
        settings: settings.clone(),
        totals,
        meta,
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Builders for model tests.
    use super::{History, Input, Meta, Snapshot, build};
    use crate::collect::Source;
    use crate::settings::KernelSettings;
    use crate::socket::{SockRecord, TcpState, TimerKind};
    use std::time::SystemTime;

    pub fn rec(local: &str, remote: &str, state: TcpState) -> SockRecord {
        SockRecord::new(local.parse().unwrap(), remote.parse().unwrap(), state)
    }

    /// A one-shot snapshot of `records` with `explicit` bound ports.
    pub fn snapshot(
        records: &[SockRecord],
        settings: &KernelSettings,
        explicit: &[u16],
    ) -> Snapshot {
        let input = Input {
            records,
            listen_ports: &[],
            explicit_bind_ports: explicit,
            settings,
        };
        let meta = Meta::new(SystemTime::UNIX_EPOCH, Source::Netlink);
        build(&input, meta, &mut History::default())
    }

    pub fn tw(local: &str, remote: &str, expires_ms: u32) -> SockRecord {
        SockRecord {
            timer: TimerKind::Timewait,
            expires_ms,
            ..rec(local, remote, TcpState::TimeWait)
        }
    }
}
