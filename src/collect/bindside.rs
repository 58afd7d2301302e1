//! The bind-hash side of the table: BOUND_INACTIVE sockets (bound, neither listening nor connected)
//! and the ports of explicitly bound sockets, which connect() skips for every destination.
//!
//! Both come from dumps that make the kernel walk the whole table again (the bind hash for
//! BOUND_INACTIVE, every socket through the `not autobound` bytecode for explicit binds): about a
//! second at a million sockets. So they are read every refresh while that is cheap, and on a slower
//! cadence ([`SLOW_PERIOD`]) once it is not; in between, the last reading is reused and the table says
//! when it was taken.
//!
//! Each of the two dumps has a netlink socket of its own, opened with the collector (so in the
//! namespace the collector reads), and they run on threads of their own, concurrently with the main
//! dump: the kernel walks its tables in the thread that reads the reply, so the three walks use every
//! core there is instead of queueing on one.

use super::netlink::Dumper;
use super::{ALL_STATES, CollectError, Families, Query, Table, both, dump_families};
use crate::filter::{Filter, KernelFilter, PortOp};
use crate::portset::PortSet;
use crate::settings::PortRange;
use crate::socket::{SockRecord, TcpState};
use std::time::{Duration, Instant, SystemTime};

/// A reading that took longer than this is refreshed only every [`SLOW_PERIOD`].
const CHEAP: Duration = Duration::from_millis(50);
/// A reading that took this long is taken on threads of their own next time (about 10k sockets).
const CONCURRENT_FROM: Duration = Duration::from_millis(10);
/// How often an expensive reading is repeated.
pub const SLOW_PERIOD: Duration = Duration::from_secs(10);

/// States of the explicit-bind dump: all but TIME_WAIT and NEW_SYN_RECV (their minisockets carry no
/// lock flags, so `not autobound` rejects them anyway: leaving them out of the mask spares the kernel
/// the bytecode) and BOUND_INACTIVE (read by its own dump).
pub(super) const EXPLICIT_BIND_STATES: u32 = ALL_STATES
    & !(1 << TcpState::TimeWait as u32)
    & !(1 << TcpState::NewSynRecv as u32)
    & !(1 << TcpState::BoundInactive as u32);

/// The last reading of the bind side, and when to take the next.
pub(super) struct BindSide {
    /// The socket of the BOUND_INACTIVE dump.
    inactive_dumper: Dumper,
    /// The socket of the explicit-bind dump.
    explicit_dumper: Dumper,
    /// The explicit-bind filter, compiled for one port range.
    filter: Option<(PortRange, KernelFilter)>,
    ports: PortSet,
    explicit: Vec<u16>,
    /// BOUND_INACTIVE sockets with their cgroup ids.
    bound_inactive: Vec<(SockRecord, u64)>,
    read: Option<Reading>,
}

struct Reading {
    range: PortRange,
    at: Instant,
    wall: SystemTime,
    took: Duration,
}

impl BindSide {
    /// Opens the two sockets in the calling thread's network namespace.
    pub fn open() -> Result<BindSide, CollectError> {
        Ok(BindSide {
            inactive_dumper: Dumper::open()?,
            explicit_dumper: Dumper::open()?,
            filter: None,
            ports: PortSet::new(),
            explicit: Vec::new(),
            bound_inactive: Vec::new(),
            read: None,
        })
    }

    /// True when the bind side should be read again: never read, another range, cheap to read, or
    /// older than [`SLOW_PERIOD`].
    pub fn due(&self, range: PortRange) -> bool {
        self.read
            .as_ref()
            .is_none_or(|r| r.range != range || r.took < CHEAP || r.at.elapsed() >= SLOW_PERIOD)
    }

    /// True when the bind side is worth reading on threads of their own: the last reading was
    /// slow enough for a walk to outweigh starting a thread, or there was none (a one-shot snapshot).
    /// Small tables stay on one thread, and their steady refreshes allocate nothing.
    pub fn concurrent(&self) -> bool {
        self.read.as_ref().is_none_or(|r| r.took >= CONCURRENT_FROM)
    }

    /// Reads the bind side: when `concurrent`, the BOUND_INACTIVE dump on a thread of its own while
    /// this one reads the explicit binds.
    pub fn read(&mut self, range: PortRange, concurrent: bool) -> Result<(), CollectError> {
        let start = Instant::now();
        let wall = SystemTime::now();
        self.read = None;
        self.bound_inactive.clear();
        let (dumper, records) = (&mut self.inactive_dumper, &mut self.bound_inactive);
        let (inactive, explicit) = both(
            concurrent,
            || {
                dump_families(
                    dumper,
                    Families::BOTH,
                    TcpState::BoundInactive.mask_bit(),
                    &[],
                    &mut |r, cgroup| records.push((r, cgroup)),
                )
            },
            || {
                read_explicit(
                    &mut self.explicit_dumper,
                    &mut self.filter,
                    &mut self.ports,
                    range,
                )
            },
        );
        for (r, _) in &self.bound_inactive {
            if range.contains(r.local.port) {
                self.ports.insert(r.local.port);
            }
        }
        self.explicit.clear();
        self.ports.drain_into(&mut self.explicit);
        inactive?;
        explicit?;
        self.read = Some(Reading {
            range,
            at: start,
            wall,
            took: start.elapsed(),
        });
        Ok(())
    }

    /// Adds the last reading to `table`: the BOUND_INACTIVE sockets the query selects, the explicit
    /// binds, and when they were read.
    pub fn fill(&self, query: &Query, table: &mut Table) {
        let wanted = query
            .filter
            .as_ref()
            .is_none_or(|f| f.kernel().states & TcpState::BoundInactive.mask_bit() != 0);
        if wanted {
            let selected = self.bound_inactive.iter().filter(|(r, _)| {
                query.families.contains(r.family())
                    && query.filter.as_ref().is_none_or(|f| f.matches(r))
            });
            for (r, cgroup) in selected {
                table.records.push(*r);
                table.cgroups.push(*cgroup);
            }
        }
        table.explicit_bind_ports.extend_from_slice(&self.explicit);
        table.bind_side_read_at = self.read.as_ref().map(|r| r.wall);
    }
}

/// Marks in `ports` the ports in `range` of sockets that are not `autobound`, both families, by a dump
/// on `dumper`; `cache` keeps the filter compiled for the last range.
fn read_explicit(
    dumper: &mut Dumper,
    cache: &mut Option<(PortRange, KernelFilter)>,
    ports: &mut PortSet,
    range: PortRange,
) -> Result<(), CollectError> {
    let kernel = match cache.take() {
        Some((cached, kernel)) if cached == range => kernel,
        _ => explicit_bind_filter(range),
    };
    let states = kernel.states & EXPLICIT_BIND_STATES;
    let result = dump_families(
        dumper,
        Families::BOTH,
        states,
        &kernel.bytecode,
        &mut |r, _| ports.insert(r.local.port),
    );
    *cache = Some((range, kernel));
    result
}

/// The kernel filter for explicitly bound sockets with a local port inside `range` (`autobound` is
/// ss's name for INET_DIAG_BC_AUTO).
fn explicit_bind_filter(range: PortRange) -> KernelFilter {
    let in_range = Filter::and(
        Filter::sport(PortOp::Ge, range.low),
        Filter::sport(PortOp::Le, range.high),
    );
    Filter::and(!Filter::autobound(), in_range).kernel()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_bind_filter_is_the_ss_expression() {
        let range = PortRange {
            low: 32768,
            high: 60999,
        };
        let typed = Filter::parse("not autobound and sport >= 32768 and sport <= 60999").unwrap();
        let built = explicit_bind_filter(range);
        assert_eq!(built, typed.kernel());
        assert!(built.exact && !built.bytecode.is_empty());
    }
}
