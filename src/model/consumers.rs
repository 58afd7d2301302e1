//! Who holds the ports toward each destination: its sockets grouped by holder (process when known,
//! and cgroup), with the unit, container or pod the cgroup names. Pure: the lookups come from an
//! [`Attributor`] (`attribution::Attribution` reads the kernel and `/proc` for it).

use super::{Destination, StateCounts};
use crate::attribution::unit;
use crate::collect::Cgroups;
use crate::socket::{Endpoint, SockRecord, TcpState};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Where the model looks up who holds a socket.
pub trait Attributor {
    /// The path of cgroup `id` (0: none known).
    fn cgroup_path(&self, id: u64) -> Option<&str>;
    /// The process holding socket `inode`, as (pid, command), when it was looked up and found.
    fn owner(&self, inode: u32) -> Option<(u32, &str)>;
}

/// The sockets toward one destination that one holder has.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Consumer {
    /// The process, when processes were looked up and it was found (never for TIME_WAIT).
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// The cgroup v2 path, when the kernel gave one (never for TIME_WAIT).
    pub cgroup: Option<String>,
    /// The unit, container or pod the cgroup names.
    pub unit: Option<String>,
    pub sockets: u32,
    pub by_state: StateCounts,
}

impl Consumer {
    /// A short name for a table cell: the command, else the unit, else the cgroup.
    pub fn label(&self) -> Option<String> {
        match (&self.comm, self.pid) {
            (Some(comm), Some(pid)) => Some(format!("{comm}[{pid}]")),
            _ => self.unit.clone().or_else(|| self.cgroup.clone()),
        }
    }
}

/// Fills `consumers` of every destination from the outbound sockets of `records` (with `cgroups`
/// index for index), most sockets first. A socket counts toward the destination it is connected
/// to; listeners are never counted.
pub fn attach(
    destinations: &mut [Destination],
    records: &[SockRecord],
    cgroups: &Cgroups,
    who: &impl Attributor,
) {
    let index: FxHashMap<Endpoint, usize> = destinations
        .iter()
        .enumerate()
        .map(|(i, d)| (d.remote, i))
        .collect();
    // (destination, pid, cgroup id) → sockets and states.
    let mut groups: FxHashMap<(usize, Option<u32>, u64), StateCounts> = FxHashMap::default();
    for (i, r) in records.iter().enumerate() {
        if r.state == TcpState::Listen {
            continue;
        }
        let Some(&d) = index.get(&r.remote) else {
            continue;
        };
        let pid = who.owner(r.inode).map(|(pid, _)| pid);
        let cgroup = cgroups.id(i);
        groups.entry((d, pid, cgroup)).or_default().add(r.state);
    }
    let mut lists: Vec<Vec<Consumer>> = vec![Vec::new(); destinations.len()];
    let mut comms: FxHashMap<u32, String> = FxHashMap::default();
    for r in records {
        if let Some((pid, comm)) = who.owner(r.inode) {
            comms.entry(pid).or_insert_with(|| comm.to_string());
        }
    }
    for ((d, pid, cgroup), by_state) in groups {
        let path = who.cgroup_path(cgroup);
        lists[d].push(Consumer {
            pid,
            comm: pid.and_then(|p| comms.get(&p).cloned()),
            cgroup: path.map(str::to_string),
            unit: path.and_then(unit::derive).map(|u| u.to_string()),
            sockets: u32::try_from(by_state.total()).unwrap_or(u32::MAX),
            by_state,
        });
    }
    for (dest, mut list) in destinations.iter_mut().zip(lists) {
        list.sort_by(|a, b| {
            b.sockets
                .cmp(&a.sockets)
                .then(a.pid.cmp(&b.pid))
                .then(a.cgroup.cmp(&b.cgroup))
        });
        dest.consumers = Some(list);
    }
}
