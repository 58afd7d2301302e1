//! Collection: kernel → [`Table`]. Reads the TCP socket table through sock_diag netlink (falling back to
//! `/proc/net/tcp{,6}` when netlink is refused) and the kernel's port settings from procfs.
//!
//! A [`Collector`] owns every buffer a refresh needs (three netlink sockets, each with its request and
//! 32 KiB receive buffer, so the bind side's dumps can run beside the main one; procfs line buffer; a
//! 65536-bit port set) and fills a caller-owned [`Table`] whose vectors keep their capacity between
//! refreshes: a steady-state refresh allocates nothing per socket and nothing big.

mod bindside;
mod cgroups;
pub mod maintained;
pub mod namespaces;
mod netlink;
pub mod netns;
mod procfs;
mod raw;
pub mod sysctl;

pub use cgroups::Cgroups;
pub use raw::RawError;

/// The byte parsers, reachable by the fuzz targets (`fuzz/`): built only under `cfg(fuzzing)`, which
/// cargo-fuzz sets.
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use super::procfs::{parse_line, parse_sockstat};
    pub use super::raw::{Step, walk_datagram};
}

use crate::filter::{Filter, KernelFilter};
use crate::portset::PortSet;
use crate::settings::PortRange;
use crate::socket::{Family, SockRecord, TcpState};
use bindside::BindSide;
use netlink::Dumper;
use serde::Serialize;
use std::io;
use std::path::PathBuf;

/// Kernel state mask with every TCP state, ESTABLISHED (1) to BOUND_INACTIVE (13).
pub const ALL_STATES: u32 = ((1 << 14) - 1) & !1;

/// States of the main dump: all but BOUND_INACTIVE, which makes the kernel walk the bind hash as
/// well and is read with the rest of the bind side (see `bindside`).
const MAIN_STATES: u32 = ALL_STATES & !(1 << TcpState::BoundInactive as u32);

/// Where a table came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Netlink,
    Procfs,
}

/// Which address families to dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    pub const BOTH: Families = Families { v4: true, v6: true };

    /// True when `family` is selected.
    pub fn contains(self, family: Family) -> bool {
        match family {
            Family::Inet => self.v4,
            Family::Inet6 => self.v6,
        }
    }

    /// The one family selected, or `None` when both are.
    fn only(self) -> Option<Family> {
        match (self.v4, self.v6) {
            (true, false) => Some(Family::Inet),
            (false, true) => Some(Family::Inet6),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self.only() {
            Some(Family::Inet) => "IPv4",
            Some(Family::Inet6) => "IPv6",
            None => "TCP",
        }
    }
}

/// What to dump.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub families: Families,
    pub filter: Option<DumpFilter>,
    /// The ephemeral port range (`ip_local_port_range`): explicit binds are reported inside it.
    pub port_range: PortRange,
}

/// A filter ready for dumps: the parsed filter and its kernel part (state mask and bytecode), compiled
/// once when the filter is set rather than on every dump.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpFilter {
    filter: Filter,
    kernel: KernelFilter,
}

impl DumpFilter {
    /// Compiles `filter`'s kernel part.
    pub fn new(filter: Filter) -> DumpFilter {
        DumpFilter {
            kernel: filter.kernel(),
            filter,
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// What the kernel is asked to filter ([`Filter::kernel`]), as compiled.
    pub fn kernel(&self) -> &KernelFilter {
        &self.kernel
    }

    /// User-space evaluation on one record ([`Filter::matches`]).
    pub fn matches(&self, record: &SockRecord) -> bool {
        self.filter.matches(record)
    }
}

/// One dump of the socket table. Reused between refreshes so big buffers are not re-allocated.
#[derive(Clone, Debug)]
pub struct Table {
    /// Sockets that passed the query's filter.
    pub records: Vec<SockRecord>,
    /// The cgroup v2 id of each record (`INET_DIAG_CGROUP_ID`), index for index: 0 where the kernel
    /// gives none (TIME_WAIT, NEW_SYN_RECV, kernels before 5.8, procfs). Kept beside the records so a
    /// record stays 64 bytes.
    pub cgroups: Cgroups,
    /// Local ports held by explicitly bound sockets (bind() with a port: listeners, explicit client
    /// binds), over the whole table whatever the filter, sorted and unique. connect() skips these.
    /// Netlink: sockets that are not `autobound` (no SOCK_BINDPORT_LOCK), any family, inside the
    /// query's port range. Like ss, this cannot see a TIME_WAIT left by an explicitly bound socket
    /// (minisockets carry no lock flags) nor a socket bound to port 0 (no lock, although connect() skips
    /// its port too). Procfs cannot tell at all, so there it is approximated by LISTEN ports in the range.
    pub explicit_bind_ports: Vec<u16>,
    /// Local ports of LISTEN sockets over the whole table whatever the filter, sorted and unique:
    /// the model needs them to tell inbound connections from outbound ones in a filtered table.
    pub listen_ports: Vec<u16>,
    /// When the bind side (BOUND_INACTIVE sockets, explicit binds) was last read: every refresh on a
    /// small table, every few seconds on a large one. `None` from procfs.
    pub bind_side_read_at: Option<std::time::SystemTime>,
    pub source: Source,
}

impl Table {
    /// An empty table; its vectors grow on the first refresh and are reused after that.
    pub fn new() -> Table {
        Table {
            records: Vec::new(),
            cgroups: Cgroups::default(),
            explicit_bind_ports: Vec::new(),
            listen_ports: Vec::new(),
            bind_side_read_at: None,
            source: Source::Netlink,
        }
    }

    fn clear(&mut self) {
        self.records.clear();
        self.cgroups.clear();
        self.explicit_bind_ports.clear();
        self.listen_ports.clear();
        self.bind_side_read_at = None;
    }
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

/// A collection failure.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(#[source] io::Error),
    #[error("sock_diag {} dump: sending the request failed: {source}", family_name(*family))]
    Send { family: Families, source: io::Error },
    #[error("sock_diag {} dump: receiving failed: {source}", family_name(*family))]
    Recv { family: Families, source: io::Error },
    #[error("sock_diag {} dump: the kernel answered {}", family_name(*family), errno_text(*errno))]
    Kernel { family: Families, errno: i32 },
    #[error("sock_diag {} dump: a {len}-byte datagram was truncated to the {capacity}-byte buffer", family_name(*family))]
    Truncated {
        family: Families,
        len: usize,
        capacity: usize,
    },
    #[error("sock_diag {} dump: malformed reply: {source}", family_name(*family))]
    Malformed { family: Families, source: RawError },
    #[error("filter bytecode of {len} bytes does not fit in a netlink attribute")]
    BytecodeTooLong { len: usize },
    #[error("netlink is not in use: this collector reads procfs")]
    NetlinkUnavailable,
    #[error("reading {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} line {line}: {what}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("getrlimit(RLIMIT_NOFILE): {0}")]
    Rlimit(#[source] io::Error),
}

impl CollectError {
    /// True when the kernel marked the dump interrupted (NLM_F_DUMP_INTR): the table changed under
    /// it, and another dump may succeed.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            CollectError::Malformed {
                source: RawError::DumpInterrupted { .. },
                ..
            }
        )
    }

    /// True when the error means netlink is not available here (no socket, or the kernel or a sandbox
    /// refuses the dump), so the collector should read procfs instead.
    pub fn is_refusal(&self) -> bool {
        let errno = match self {
            CollectError::Open(_) => return true,
            CollectError::Send { source, .. } | CollectError::Recv { source, .. } => {
                source.raw_os_error()
            }
            CollectError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        };
        matches!(
            errno,
            Some(
                libc::EPERM
                    | libc::EACCES
                    | libc::EPROTONOSUPPORT
                    | libc::ENOENT
                    | libc::EOPNOTSUPP
                    | libc::EAFNOSUPPORT
            )
        )
    }
}

fn family_name(family: Families) -> &'static str {
    family.name()
}

/// `EPERM (Operation not permitted)`: the symbolic name where it is a usual one, and the system's text.
fn errno_text(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        _ => "errno",
    };
    format!("{name} ({})", io::Error::from_raw_os_error(errno))
}

/// Reads the socket table, by netlink while the kernel allows it and from procfs for good after that.
pub struct Collector {
    netlink: Option<Netlink>,
    procfs: procfs::Reader,
    fallback_reason: Option<String>,
    /// Procfs fallback: LISTEN ports in the range, standing in for explicit binds.
    bound: PortSet,
    listen: PortSet,
}

impl Collector {
    /// Opens the netlink sockets, or falls back to procfs when it cannot ([`Collector::fallback_reason`]
    /// says why).
    /// Call it after `netns::enter`, on the thread that entered: a socket belongs to the namespace it
    /// is opened in, so all of them are opened here rather than on the threads that use them.
    pub fn open() -> Collector {
        match Netlink::open() {
            Ok(netlink) => Collector::with(Some(netlink)),
            Err(refused) => {
                let mut collector = Collector::with(None);
                collector.fall_back(&refused);
                collector
            }
        }
    }

    /// A collector that reads procfs only, as the fallback does.
    pub fn procfs() -> Collector {
        Collector::with(None)
    }

    fn with(netlink: Option<Netlink>) -> Collector {
        Collector {
            netlink,
            procfs: procfs::Reader::new(),
            fallback_reason: None,
            bound: PortSet::new(),
            listen: PortSet::new(),
        }
    }

    /// Where the tables come from now.
    pub fn source(&self) -> Source {
        match self.netlink {
            Some(_) => Source::Netlink,
            None => Source::Procfs,
        }
    }

    /// Why netlink was given up, when it was.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Appends to `out` the sockets of a netlink TCP dump of `families`, in `kernel.states`, filtered by
    /// `kernel.bytecode` when it is not empty. Netlink only: in procfs mode it returns
    /// [`CollectError::NetlinkUnavailable`]; a refused dump switches the collector to procfs.
    pub fn dump_kernel(
        &mut self,
        families: Families,
        kernel: &KernelFilter,
        out: &mut Vec<SockRecord>,
    ) -> Result<(), CollectError> {
        let result = match self.netlink.as_mut() {
            Some(netlink) => dump_families(
                &mut netlink.main,
                families,
                kernel.states,
                &kernel.bytecode,
                &mut |r, _| out.push(r),
            ),
            None => Err(CollectError::NetlinkUnavailable),
        };
        if let Err(e) = &result
            && e.is_refusal()
        {
            self.fall_back(e);
        }
        result
    }

    /// Clears and fills `table` for `query`: the sockets that pass the filter, the explicitly bound
    /// ports in the query's range over the whole table, and the source. When netlink is refused it
    /// falls back to procfs for good and serves this refresh from there. A dump the kernel marks
    /// interrupted (NLM_F_DUMP_INTR) is taken again once.
    pub fn collect(&mut self, query: &Query, table: &mut Table) -> Result<(), CollectError> {
        if let Some(netlink) = self.netlink.as_mut() {
            table.source = Source::Netlink;
            let mut result = collect_netlink(netlink, &mut self.listen, query, table);
            if result.as_ref().is_err_and(CollectError::is_interrupted) {
                result = collect_netlink(netlink, &mut self.listen, query, table);
            }
            match result {
                Err(e) if e.is_refusal() => self.fall_back(&e),
                other => return other,
            }
        }
        table.source = Source::Procfs;
        self.collect_procfs(query, table)
    }

    /// One pass over both procfs tables: records for the query, LISTEN ports in the range as explicit
    /// binds (procfs cannot tell explicit client binds from automatic ones).
    fn collect_procfs(&mut self, query: &Query, table: &mut Table) -> Result<(), CollectError> {
        table.clear();
        let (records, bound, listen) = (&mut table.records, &mut self.bound, &mut self.listen);
        let result = self.procfs.read_all(&mut |family, r| {
            if r.state == TcpState::Listen {
                listen.insert(r.local.port);
                if query.port_range.contains(r.local.port) {
                    bound.insert(r.local.port);
                }
            }
            if query.families.contains(family)
                && query.filter.as_ref().is_none_or(|f| f.matches(&r))
            {
                records.push(r);
            }
        });
        self.bound.drain_into(&mut table.explicit_bind_ports);
        self.listen.drain_into(&mut table.listen_ports);
        table.cgroups.pad_to(table.records.len());
        result
    }

    /// Gives netlink up for good. The reason is kept for the user (the dashboard's header, a
    /// snapshot's notice on stderr): printing it here would land under the dashboard's screen.
    fn fall_back(&mut self, reason: &CollectError) {
        self.netlink = None;
        self.fallback_reason = Some(reason.to_string());
    }
}

/// The netlink sockets: one for the main dump, two more for the bind side's.
struct Netlink {
    main: Dumper,
    bind_side: BindSide,
}

impl Netlink {
    fn open() -> Result<Netlink, CollectError> {
        Ok(Netlink {
            main: Dumper::open()?,
            bind_side: BindSide::open()?,
        })
    }
}

/// The netlink half of [`Collector::collect`]. When the bind side is due and worth it
/// ([`BindSide::concurrent`]), it is read on threads of their own while this one dumps the records.
fn collect_netlink(
    netlink: &mut Netlink,
    listen: &mut PortSet,
    query: &Query,
    table: &mut Table,
) -> Result<(), CollectError> {
    table.clear();
    // A new table is sized from the kernel's own count; later refreshes keep its capacity.
    if table.records.capacity() == 0
        && query.filter.is_none()
        && let Some(hint) = procfs::table_size_hint()
    {
        // Headroom for sockets that appear while the dump runs.
        table.records.reserve(hint + hint / 8);
        table.cgroups.reserve(hint + hint / 8);
    }
    let (dumper, bind_side) = (&mut netlink.main, &mut netlink.bind_side);
    let range = query.port_range;
    let due = bind_side.due(range);
    let concurrent = due && bind_side.concurrent();
    let (side, main) = both(
        concurrent,
        || due.then(|| bind_side.read(range, concurrent)),
        || {
            dump_records(dumper, query, &mut table.records, &mut table.cgroups)
                .and_then(|()| dump_listen_ports(dumper, query, &table.records, listen))
        },
    );
    listen.drain_into(&mut table.listen_ports);
    main?;
    side.transpose()?;
    bind_side.fill(query, table);
    Ok(())
}

/// Marks the ports of every LISTEN socket: from the records when the table is unfiltered, else by a
/// LISTEN-only dump, which walks only the kernel's listening hash and so stays cheap.
fn dump_listen_ports(
    dumper: &mut Dumper,
    query: &Query,
    records: &[SockRecord],
    listen: &mut PortSet,
) -> Result<(), CollectError> {
    if query.filter.is_none() {
        records
            .iter()
            .filter(|r| r.state == TcpState::Listen)
            .for_each(|r| listen.insert(r.local.port));
        return Ok(());
    }
    dump_families(
        dumper,
        Families::BOTH,
        TcpState::Listen.mask_bit(),
        &[],
        &mut |r, _| listen.insert(r.local.port),
    )
}

/// Appends the sockets that pass the query, and their cgroup ids: the kernel filters what it can, and
/// when its part is not the whole filter, the rest is checked here.
fn dump_records(
    dumper: &mut Dumper,
    query: &Query,
    records: &mut Vec<SockRecord>,
    cgroups: &mut Cgroups,
) -> Result<(), CollectError> {
    let mut keep = |r, cgroup| {
        records.push(r);
        cgroups.push(cgroup);
    };
    let Some(filter) = &query.filter else {
        return dump_families(dumper, query.families, MAIN_STATES, &[], &mut keep);
    };
    let kernel = filter.kernel();
    let check = (!kernel.exact).then_some(filter);
    dump_families(
        dumper,
        query.families,
        kernel.states & MAIN_STATES,
        &kernel.bytecode,
        &mut |r, cgroup| {
            if check.is_none_or(|f| f.matches(&r)) {
                keep(r, cgroup);
            }
        },
    )
}

/// Runs `a` and `b`, `a` on a thread of its own when `concurrent` (the kernel walks its tables in the
/// thread that reads a dump, so two dumps on two threads use two cores), else `a` then `b`. A panic
/// on the other thread carries on in this one.
fn both<A: Send, B>(
    concurrent: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B,
) -> (A, B) {
    if !concurrent {
        let a = a();
        return (a, b());
    }
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = b();
        let a = a
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

/// One netlink dump of the selected families.
fn dump_families(
    dumper: &mut Dumper,
    families: Families,
    states: u32,
    bytecode: &[u8],
    visit: &mut impl FnMut(SockRecord, u64),
) -> Result<(), CollectError> {
    dumper.dump(families, states & ALL_STATES, bytecode, visit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_masks_cover_every_state() {
        let all = TcpState::ALL.iter().fold(0, |m, s| m | s.mask_bit());
        assert_eq!(ALL_STATES, all);
        let bound_inactive = TcpState::BoundInactive.mask_bit();
        assert_eq!(MAIN_STATES | bound_inactive, all);
        assert_eq!(
            bindside::EXPLICIT_BIND_STATES,
            all & !TcpState::TimeWait.mask_bit()
                & !TcpState::NewSynRecv.mask_bit()
                & !bound_inactive
        );
    }

    #[test]
    fn an_interrupted_dump_is_retried_not_a_refusal() {
        let interrupted = CollectError::Malformed {
            family: Families::BOTH,
            source: RawError::DumpInterrupted { offset: 0 },
        };
        assert!(interrupted.is_interrupted() && !interrupted.is_refusal());
        let other = CollectError::Malformed {
            family: Families::BOTH,
            source: RawError::UnknownState {
                offset: 0,
                state: 99,
            },
        };
        assert!(!other.is_interrupted());
    }

    #[test]
    fn refusals_are_the_errors_that_mean_no_netlink_here() {
        let kernel = |errno| CollectError::Kernel {
            family: Families::BOTH,
            errno,
        };
        assert!(kernel(libc::EPERM).is_refusal());
        assert!(kernel(libc::ENOENT).is_refusal());
        assert!(!kernel(libc::EINVAL).is_refusal());
        assert!(CollectError::Open(io::Error::from_raw_os_error(libc::EMFILE)).is_refusal());
        assert!(!CollectError::BytecodeTooLong { len: 1 }.is_refusal());
        assert_eq!(
            kernel(libc::EACCES).to_string(),
            "sock_diag TCP dump: the kernel answered EACCES (Permission denied (os error 13))"
        );
    }
}
