//! Allocator events: every local port the kernel picks for a connect(), and every connect() whose
//! port search fails, as they happen.
//!
//! A small BPF program (bpf/allocator.bpf.c, compiled into bpf/allocator.bpf.o and embedded) on the
//! `sock:inet_sock_set_state` tracepoint writes one record per TCP state change into a ring buffer. The pieces, in data-flow order:
//! - [`Watcher`] (`bpf.rs`) checks the requirements, loads and attaches the program, and drains the
//!   ring buffer; [`EventsError`] (`error.rs`) says in one line why events are unavailable.
//! - [`Transition`] (`record.rs`) is one parsed record.
//! - [`Classifier`] (`classify.rs`) turns transitions into [`Event`]s, pure and bounded.
//! - [`EventSource`] (`source.rs`) puts the two together: events, one loss count, a wait.
//! - [`Change`] and [`Changes`] (`changes.rs`): every state change of the namespace's sockets,
//!   queued for the socket table maintained between dumps.
//! - [`Ledger`] (`ledger.rs`) tallies one namespace's events for the dashboard and `snapshot
//!   --watch`: counts per destination, picks since the last refresh, a pointer model fed per pick.
//! - [`BootClock`] (`clock.rs`) maps the records' boot-time stamps to wall-clock time; `line.rs`
//!   prints events as text or JSON lines.
//!
//! Records come from every network namespace of the host; each carries its namespace's inode, and
//! callers choose which namespaces to show.

mod bpf;
mod changes;
mod classify;
mod clock;
pub mod connectors;
mod error;
mod ledger;
mod line;
mod record;
mod source;

pub use bpf::Watcher;
pub use changes::{Change, Changes, MAX_QUEUED};
pub use classify::Classifier;
pub use clock::{BootClock, boottime_ns};
pub use connectors::Connectors;
pub use error::EventsError;
pub use ledger::{Ledger, LivePick};
pub use line::{json_line, json_lost_line, text_line, text_lost_line};
pub use record::{RecordError, SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK, Transition};
pub use source::{EventSource, Wake};

use crate::socket::{Endpoint, SockRecord, TcpState};

/// What a connect() did with its local port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The kernel chose the local port (no bind() before connect()).
    Pick,
    /// The socket was bound to its port before connect().
    Bound,
    /// bind() gave an address with IP_BIND_ADDRESS_NO_PORT; the kernel chose the port at connect().
    NoPort,
    /// The port search failed: connect() returned EADDRNOTAVAIL.
    Fail,
}

impl EventKind {
    /// The name in text and JSON output: `pick`, `bound`, `no_port`, `fail`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Pick => "pick",
            EventKind::Bound => "bound",
            EventKind::NoPort => "no_port",
            EventKind::Fail => "fail",
        }
    }
}

/// One allocator event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// CLOCK_BOOTTIME in nanoseconds of the state change that revealed the event.
    pub time_ns: u64,
    /// The local end: the port picked or bound; port 0 for a failure.
    pub local: Endpoint,
    pub remote: Endpoint,
    /// The state the socket entered at that change (CLOSE for a failure).
    pub state: TcpState,
    /// The process that called connect(), its command name and cgroup v2 id.
    pub pid: u32,
    pub comm: String,
    pub cgroup: u64,
    /// Inode of the network namespace.
    pub netns: u32,
    /// The socket cookie, as sock_diag reports it (joins events to the socket table).
    pub cookie: u64,
}

impl Event {
    /// The event as a socket record, for the filter language: addresses and ports are the event's,
    /// the state is [`Event::state`].
    pub fn as_record(&self) -> SockRecord {
        let mut record = SockRecord::new(self.local, self.remote, self.state);
        record.cookie = self.cookie;
        record
    }
}
