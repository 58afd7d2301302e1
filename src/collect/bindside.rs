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
    use std::net::{Ipv4Addr, SocketAddr, TcpListener};
    use std::os::fd::{FromRawFd, OwnedFd};

    /// A port the kernel has just handed out on loopback, free again.
    fn free_port() -> u16 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    }

    /// A TCP socket bound to 127.0.0.1:`port` that neither listens nor connects: BOUND_INACTIVE.
    fn bound_inactive(port: u16) -> OwnedFd {
        // SAFETY: plain socket(2); the descriptor is owned by the returned OwnedFd.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        // SAFETY: `fd` was just opened and nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `addr` is a valid sockaddr_in of `len` bytes for the whole call.
        let rc = unsafe { libc::bind(fd, (&raw const addr).cast(), len) };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        owned
    }

    #[test]
    fn a_reading_on_threads_equals_one_on_a_single_thread() {
        let listen_port = free_port();
        let _listener =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, listen_port))).unwrap();
        let inactive_port = free_port();
        let _inactive = bound_inactive(inactive_port);
        let range = PortRange {
            low: 1,
            high: u16::MAX,
        };
        let mine = [listen_port, inactive_port];
        let reading = |concurrent| {
            let mut side = BindSide::open().expect("netlink");
            side.read(range, concurrent).expect("bind-side dumps");
            let explicit: Vec<u16> = (side.explicit.iter().copied())
                .filter(|p| mine.contains(p))
                .collect();
            let inactive: Vec<SockRecord> = (side.bound_inactive.iter())
                .map(|(r, _)| *r)
                .filter(|r| mine.contains(&r.local.port))
                .collect();
            (explicit, inactive)
        };
        let (threads, one) = (reading(true), reading(false));
        let mut sorted = mine;
        sorted.sort_unstable();
        assert_eq!(threads.0, sorted, "explicit binds on threads");
        assert_eq!(
            threads.1.len(),
            1,
            "the bound-inactive socket: {:?}",
            threads.1
        );
        assert_eq!(threads.1[0].local.port, inactive_port);
        assert_eq!(threads, one);
    }

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
