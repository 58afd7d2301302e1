//! [`Attribution`]: the state kept between refreshes to say who holds the sockets — the cgroup
//! names always (free: the ids come with the dump), the process map when asked for, for the sockets
//! that will be shown, within a time budget per refresh.

use super::{CgroupNames, ProcessMap, Resolution};
use crate::collect::Cgroups;
use crate::events::Connectors;
use crate::model::{Attributor, Destination, consumers};
use crate::socket::{Endpoint, SockRecord};
use rustc_hash::FxHashSet;
use std::time::Duration;

/// Which sockets to look the processes of up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessScope {
    /// Those toward the first N destinations (most ports used first: the ones on screen).
    TopDestinations(usize),
    /// Every socket of the table (`snapshot --processes --sockets`).
    All,
}

/// How processes are looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessLookup {
    pub scope: ProcessScope,
    /// Most time one refresh spends reading `/proc`; the rest waits for the next refresh.
    pub budget: Duration,
}

impl ProcessLookup {
    /// The dashboard's: the sockets toward the destinations a screen can list (the busiest), at
    /// most 50 ms of the refresh thread per refresh (the UI thread never waits on it); a walk that
    /// needs more goes on at the next refresh, and the consumers view says partial meanwhile.
    pub const DASHBOARD: ProcessLookup = ProcessLookup {
        scope: ProcessScope::TopDestinations(64),
        budget: Duration::from_millis(50),
    };
}

/// Cgroup names and, when asked for, socket owners.
#[derive(Debug)]
pub struct Attribution {
    cgroups: CgroupNames,
    processes: Option<(ProcessLookup, ProcessMap)>,
    /// Who connected the table's connections, as allocator events saw it.
    connectors: Connectors,
}

impl Attribution {
    /// Cgroups only; processes when `lookup` is given.
    pub fn new(lookup: Option<ProcessLookup>) -> Attribution {
        Attribution {
            cgroups: CgroupNames::new(),
            processes: lookup.map(|l| (l, ProcessMap::new())),
            connectors: Connectors::default(),
        }
    }

    /// Brings names and owners up to date for one table (`cgroups` index for index with `records`)
    /// and fills each destination's consumers. Returns how the process lookup went, when asked for.
    pub fn attribute(
        &mut self,
        destinations: &mut [Destination],
        records: &[SockRecord],
        cgroups: &Cgroups,
    ) -> Option<Resolution> {
        self.cgroups.learn(cgroups.distinct().iter().copied());
        let resolution = self.processes.as_mut().map(|(lookup, map)| {
            map.resolve(wanted(lookup.scope, destinations, records), lookup.budget)
        });
        consumers::attach(destinations, records, cgroups, self);
        resolution
    }

    /// Who connected the next table's connections (from the allocator events' ledger, see
    /// [`crate::events::Ledger::connectors`]): used, when processes are looked up, for the sockets
    /// `/proc` cannot tell.
    pub fn set_connectors(&mut self, connectors: Connectors) {
        self.connectors = connectors;
    }

    /// True when processes are looked up.
    pub fn has_processes(&self) -> bool {
        self.processes.is_some()
    }
}

impl Attributor for Attribution {
    fn cgroup_path(&self, id: u64) -> Option<&str> {
        self.cgroups.path(id)
    }

    fn owner(&self, inode: u32) -> Option<(u32, &str)> {
        let (_, map) = self.processes.as_ref()?;
        map.owner(inode)
    }

    fn connector(&self, local: Endpoint, remote: Endpoint) -> Option<(u32, &str)> {
        self.processes.as_ref()?;
        self.connectors.get(local, remote)
    }
}

/// The inodes of the sockets `scope` selects.
fn wanted<'a>(
    scope: ProcessScope,
    destinations: &[Destination],
    records: &'a [SockRecord],
) -> impl Iterator<Item = u32> + 'a {
    let shown: Option<FxHashSet<_>> = match scope {
        ProcessScope::All => None,
        ProcessScope::TopDestinations(n) => {
            Some(destinations.iter().take(n).map(|d| d.remote).collect())
        }
    };
    records
        .iter()
        .filter(move |r| shown.as_ref().is_none_or(|s| s.contains(&r.remote)))
        .map(|r| r.inode)
}
