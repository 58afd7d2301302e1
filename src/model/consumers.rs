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
    /// The process that connected `local` to `remote`, as (pid, command), when allocator events
    /// saw it: for the sockets [`Attributor::owner`] cannot tell (TIME_WAIT, short-lived ones).
    fn connector(&self, _local: Endpoint, _remote: Endpoint) -> Option<(u32, &str)> {
        None
    }
}

/// The sockets toward one destination that one holder has.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Consumer {
    /// The process, when processes were looked up and it was found (for TIME_WAIT, only from the
    /// allocator events: the process that called connect()).
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
    // (destination, pid, cgroup id) → states and command: one hash lookup per outbound socket.
    type Group<'w> = (StateCounts, Option<&'w str>);
    let mut groups: FxHashMap<(usize, Option<u32>, u64), Group<'_>> = FxHashMap::default();
    for (i, r) in records.iter().enumerate() {
        if r.state == TcpState::Listen {
            continue;
        }
        let Some(&d) = index.get(&r.remote) else {
            continue;
        };
        let owner = who
            .owner(r.inode)
            .or_else(|| who.connector(r.local, r.remote));
        let key = (d, owner.map(|(pid, _)| pid), cgroups.id(i));
        let group = groups
            .entry(key)
            .or_insert_with(|| (StateCounts::default(), owner.map(|(_, comm)| comm)));
        group.0.add(r.state);
    }
    let mut lists: Vec<Vec<Consumer>> = vec![Vec::new(); destinations.len()];
    for ((d, pid, cgroup), (by_state, comm)) in groups {
        let path = who.cgroup_path(cgroup);
        lists[d].push(Consumer {
            pid,
            comm: comm.map(str::to_string),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::{rec, snapshot, tw};
    use crate::settings::KernelSettings;

    /// Sockets 1-3 belong to pid 10, 4 to pid 20; cgroup 5 is `/system.slice/app.service`.
    struct Fake;

    impl Attributor for Fake {
        fn cgroup_path(&self, id: u64) -> Option<&str> {
            (id == 5).then_some("/system.slice/app.service")
        }

        fn owner(&self, inode: u32) -> Option<(u32, &str)> {
            match inode {
                1..=3 => Some((10, "app")),
                4 => Some((20, "cron")),
                _ => None,
            }
        }
    }

    #[test]
    fn sockets_group_by_process_and_cgroup_most_first() {
        let dst = "10.0.0.1:443";
        let mut records = Vec::new();
        for (port, inode) in [(40001, 1), (40002, 2), (40003, 3), (40004, 4)] {
            let mut r = rec(&format!("10.0.0.9:{port}"), dst, TcpState::Established);
            r.inode = inode;
            records.push(r);
        }
        records.push(tw("10.0.0.9:40005", dst, 1000));
        let mut cgroups = Cgroups::default();
        for id in [5, 5, 5, 5, 0] {
            cgroups.push(id);
        }
        let settings = KernelSettings::with_range(40000, 40999);
        let mut snap = snapshot(&records, &settings, &[]);
        attach(&mut snap.destinations, &records, &cgroups, &Fake);
        let consumers = snap.destinations[0].consumers.as_ref().unwrap();
        let got: Vec<_> = consumers
            .iter()
            .map(|c| (c.pid, c.comm.as_deref(), c.unit.as_deref(), c.sockets))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(10), Some("app"), Some("app.service"), 3),
                (None, None, None, 1),
                (Some(20), Some("cron"), Some("app.service"), 1),
            ]
        );
        assert_eq!(consumers[1].by_state.get(TcpState::TimeWait), 1);
        assert_eq!(consumers[0].label().as_deref(), Some("app[10]"));
    }

    /// Knows no inode; knows who connected from port 40005.
    struct Connected;

    impl Attributor for Connected {
        fn cgroup_path(&self, _: u64) -> Option<&str> {
            None
        }

        fn owner(&self, _: u32) -> Option<(u32, &str)> {
            None
        }

        fn connector(&self, local: Endpoint, _: Endpoint) -> Option<(u32, &str)> {
            (local.port == 40005).then_some((30, "curl"))
        }
    }

    #[test]
    fn a_time_wait_takes_the_process_that_connected_it_when_known() {
        let dst = "10.0.0.1:443";
        let records = [
            tw("10.0.0.9:40005", dst, 1000),
            tw("10.0.0.9:40006", dst, 1000),
        ];
        let settings = KernelSettings::with_range(40000, 40999);
        let mut snap = snapshot(&records, &settings, &[]);
        attach(
            &mut snap.destinations,
            &records,
            &Cgroups::default(),
            &Connected,
        );
        let consumers = snap.destinations[0].consumers.as_ref().unwrap();
        let got: Vec<_> = consumers
            .iter()
            .map(|c| (c.pid, c.comm.as_deref(), c.sockets))
            .collect();
        assert_eq!(got, vec![(None, None, 1), (Some(30), Some("curl"), 1)]);
    }
}
