//! `snapshot --format json`: one object whose fields are documented in the README. Keys are
//! snake_case and stable; `version` changes when a field changes meaning.

use super::rfc3339;
use crate::model::{Destination, ReuseGroup, Service, Snapshot, StateCounts, TimeWaitSummary};
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
    #[serde(skip_serializing_if = "Option::is_none")]
    sockets: Option<Sockets<'a>>,
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
struct SocketJson {
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
}

impl From<&SockRecord> for SocketJson {
    fn from(r: &SockRecord) -> Self {
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
        }
    }
}

/// The socket list, serialized one record at a time (no copy of the table).
struct Sockets<'a>(&'a [SockRecord]);

impl Serialize for Sockets<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(SocketJson::from))
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
    let doc = Document {
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
        sockets: sockets.map(Sockets),
    };
    match layout {
        Layout::Pretty => serde_json::to_writer_pretty(&mut *out, &doc)?,
        Layout::Line => serde_json::to_writer(&mut *out, &doc)?,
    }
    out.write_all(b"\n")
}
