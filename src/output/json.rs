//! `snapshot --format json`: one object whose fields are documented in the README. Keys are
//! snake_case and stable; `version` changes when a field changes meaning.

use super::rfc3339;
use crate::attribution::Resolution;
use crate::collect::Cgroups;
use crate::model::Attributor;
use crate::model::{
    Destination, EventsSummary, ReuseGroup, Service, Snapshot, StateCounts, TimeWaitSummary,
};
use crate::pointer::Score;
use crate::settings::{KernelSettings, PortRange};
use crate::socket::{Endpoint, Family, SockRecord, TcpState, TimerKind};
use serde::Serialize;

/// The JSON format's version.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    taken_at: String,
    source: crate::collect::Source,
    netns: Option<&'a str>,
    filter: Option<&'a str>,
    bind_side_read_at: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    kernel: &'a str,
    port_range: RangeJson,
    reserved_ports: &'a [[u16; 2]],
    sysctls: Sysctls,
    totals: Totals<'a>,
    destinations: &'a [Destination],
    services: &'a [Service],
    reused_ports: &'a [ReuseGroup],
    reused_ports_total: u32,
    time_wait: &'a TimeWaitSummary,
    pointer: Pointer<'a>,
    /// Allocator events since the start (null without them).
    events: Option<&'a EventsSummary>,
    /// How the lookup of processes went; null when processes were not asked for.
    processes: Option<ProcessesJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sockets: Option<Sockets<'a>>,
}

#[derive(Serialize)]
struct ProcessesJson {
    /// The `/proc` walk ran out of its time budget: some sockets may lack their process.
    partial: bool,
    sockets_looked_up: usize,
    sockets_found: usize,
    took_ms: f64,
}

impl From<Resolution> for ProcessesJson {
    fn from(r: Resolution) -> Self {
        ProcessesJson {
            partial: r.partial,
            sockets_looked_up: r.wanted,
            sockets_found: r.found,
            took_ms: r.took.as_secs_f64() * 1000.0,
        }
    }
}

#[derive(Serialize)]
struct RangeJson {
    low: u16,
    high: u16,
    size: u32,
}

impl From<PortRange> for RangeJson {
    fn from(r: PortRange) -> Self {
        RangeJson {
            low: r.low,
            high: r.high,
            size: r.size(),
        }
    }
}

#[derive(Serialize)]
struct Sysctls {
    tcp_tw_reuse: u8,
    tcp_tw_reuse_delay_ms: u32,
    tcp_fin_timeout: u32,
    tcp_max_tw_buckets: u64,
    file_nr: [u64; 3],
    file_max: u64,
    nr_open: u64,
    rlimit_nofile: [u64; 2],
}

impl From<&KernelSettings> for Sysctls {
    fn from(s: &KernelSettings) -> Self {
        Sysctls {
            tcp_tw_reuse: s.tcp_tw_reuse,
            tcp_tw_reuse_delay_ms: s.tcp_tw_reuse_delay_ms,
            tcp_fin_timeout: s.tcp_fin_timeout,
            tcp_max_tw_buckets: s.tcp_max_tw_buckets,
            file_nr: s.file_nr,
            file_max: s.file_max,
            nr_open: s.nr_open,
            rlimit_nofile: s.rlimit_nofile,
        }
    }
}

#[derive(Serialize)]
struct Totals<'a> {
    sockets: u64,
    by_state: &'a StateCounts,
}

#[derive(Serialize)]
struct Pointer<'a> {
    /// The kernel's search start is secret: portradar infers it from the ports it sees allocated.
    inferred: bool,
    newest_auto_port: Option<u16>,
    recent_allocations: &'a [u16],
    /// How often the predicted window held the next port, since the first refresh.
    score: Score,
    hit_rate: Option<f64>,
}

#[derive(Serialize)]
struct SocketJson<'a> {
    family: Family,
    state: TcpState,
    local: Endpoint,
    remote: Endpoint,
    timer: &'static str,
    expires_ms: u32,
    retrans: u8,
    uid: u32,
    inode: u32,
    cookie: u64,
    /// The cgroup v2 path; null for TIME_WAIT and where the kernel gives none.
    cgroup: Option<&'a str>,
    /// Present when processes were looked up.
    #[serde(flatten)]
    process: Option<ProcessJson<'a>>,
}

#[derive(Serialize)]
struct ProcessJson<'a> {
    pid: Option<u32>,
    comm: Option<&'a str>,
}

impl<'a> SocketJson<'a> {
    fn new(r: &SockRecord, cgroup: u64, who: Option<&'a dyn Who>) -> Self {
        SocketJson {
            family: r.family(),
            state: r.state,
            local: r.local,
            remote: r.remote,
            timer: TimerKind::name(r.timer),
            expires_ms: r.expires_ms,
            retrans: r.retrans,
            uid: r.uid,
            inode: r.inode,
            cookie: r.cookie,
            cgroup: who.and_then(|w| w.cgroup_path(cgroup)),
            process: who.filter(|w| w.has_processes()).map(|w| {
                let owner = w.owner(r.inode);
                ProcessJson {
                    pid: owner.map(|(pid, _)| pid),
                    comm: owner.map(|(_, comm)| comm),
                }
            }),
        }
    }
}

/// What the socket list needs to say who holds each socket.
pub trait Who: Attributor {
    /// True when processes were looked up (the sockets then carry `pid` and `comm`).
    fn has_processes(&self) -> bool;
}

impl Who for crate::attribution::Attribution {
    fn has_processes(&self) -> bool {
        crate::attribution::Attribution::has_processes(self)
    }
}

/// The sockets of a table, with their cgroup ids (index for index, may be empty) and who holds them.
#[derive(Clone, Copy)]
pub struct SocketList<'a> {
    pub records: &'a [SockRecord],
    pub cgroups: Option<&'a Cgroups>,
    pub who: Option<&'a dyn Who>,
}

impl<'a> SocketList<'a> {
    /// The records alone: no cgroup, no process.
    pub fn plain(records: &'a [SockRecord]) -> SocketList<'a> {
        SocketList {
            records,
            cgroups: None,
            who: None,
        }
    }
}

/// The socket list, serialized one record at a time (no copy of the table).
struct Sockets<'a>(SocketList<'a>);

impl Serialize for Sockets<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list = self.0;
        s.collect_seq(
            list.records
                .iter()
                .enumerate()
                .map(|(i, r)| SocketJson::new(r, list.cgroups.map_or(0, |c| c.id(i)), list.who)),
        )
    }
}

/// How a JSON document is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Indented, for people.
    Pretty,
    /// On one line, for a stream of documents (`snapshot --watch`).
    Line,
}

/// Writes the snapshot as JSON laid out as asked, then a newline, with the socket list when
/// `sockets` is given.
pub fn write(
    snap: &Snapshot,
    sockets: Option<&[SockRecord]>,
    layout: Layout,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    write_with(snap, sockets.map(SocketList::plain), layout, out)
}

/// [`write()`] with a socket list that can say who holds each socket.
pub fn write_with(
    snap: &Snapshot,
    sockets: Option<SocketList<'_>>,
    layout: Layout,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    finish(&document(snap, sockets), layout, out)
}

/// Writes the snapshots of several namespaces (`--all-netns`) as one object,
/// `{"version": 1, "namespaces": [snapshot, …]}`, each snapshot with its `netns` set.
pub fn write_namespaces<'a>(
    namespaces: impl IntoIterator<Item = (&'a Snapshot, Option<SocketList<'a>>)>,
    layout: Layout,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct AllNamespaces<'a> {
        version: u32,
        namespaces: Vec<Document<'a>>,
    }
    let all = AllNamespaces {
        version: VERSION,
        namespaces: namespaces
            .into_iter()
            .map(|(snap, sockets)| document(snap, sockets))
            .collect(),
    };
    finish(&all, layout, out)
}

fn finish(
    doc: &impl Serialize,
    layout: Layout,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    match layout {
        Layout::Pretty => serde_json::to_writer_pretty(&mut *out, doc)?,
        Layout::Line => serde_json::to_writer(&mut *out, doc)?,
    }
    out.write_all(b"\n")
}

/// The JSON object of one snapshot.
fn document<'a>(snap: &'a Snapshot, sockets: Option<SocketList<'a>>) -> Document<'a> {
    Document {
        version: VERSION,
        taken_at: rfc3339(snap.meta.taken_at),
        source: snap.meta.source,
        netns: snap.meta.netns.as_deref(),
        filter: snap.meta.filter.as_deref(),
        bind_side_read_at: snap.meta.bind_side_read_at.map(rfc3339),
        warnings: &snap.meta.warnings,
        kernel: &snap.settings.kernel_release,
        port_range: snap.settings.port_range.into(),
        reserved_ports: &snap.settings.reserved_ports,
        sysctls: (&snap.settings).into(),
        totals: Totals {
            sockets: snap.totals.total(),
            by_state: &snap.totals,
        },
        destinations: &snap.destinations,
        services: &snap.services,
        reused_ports: &snap.reused_ports,
        reused_ports_total: snap.reused_ports_total,
        time_wait: &snap.time_wait,
        pointer: Pointer {
            inferred: true,
            newest_auto_port: snap.allocations.newest(),
            recent_allocations: &snap.allocations.recent,
            score: snap.allocations.score,
            hit_rate: snap.allocations.score.rate(),
        },
        events: snap.events.as_ref(),
        processes: snap.processes.map(ProcessesJson::from),
        sockets: sockets.map(Sockets),
    }
}
