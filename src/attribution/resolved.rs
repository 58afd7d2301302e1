//! [`Resolved`]: who holds each socket of one table, copied out of an [`Attribution`] so that
//! another thread can print it after the next refresh has moved on (the refresh worker's reports).

use super::Attribution;
use crate::collect::Cgroups;
use crate::model::Attributor;
use crate::output::json::Who;
use crate::socket::SockRecord;
use rustc_hash::FxHashMap;

/// The cgroup paths and socket owners of one table, owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    paths: FxHashMap<u64, String>,
    owners: FxHashMap<u32, (u32, String)>,
    processes: bool,
}

impl Resolved {
    /// What `who` knows of `records` (and their `cgroups`, index for index) now.
    pub fn of(who: &Attribution, records: &[SockRecord], cgroups: &Cgroups) -> Resolved {
        Resolved::from_attributor(who, who.has_processes(), records, cgroups)
    }

    fn from_attributor(
        who: &impl Attributor,
        processes: bool,
        records: &[SockRecord],
        cgroups: &Cgroups,
    ) -> Resolved {
        let paths = cgroups
            .distinct()
            .iter()
            .filter_map(|&id| Some((id, who.cgroup_path(id)?.to_string())))
            .collect();
        let owners = if processes {
            records
                .iter()
                .filter(|r| r.inode != 0)
                .filter_map(|r| {
                    let (pid, comm) = who.owner(r.inode)?;
                    Some((r.inode, (pid, comm.to_string())))
                })
                .collect()
        } else {
            FxHashMap::default()
        };
        Resolved {
            paths,
            owners,
            processes,
        }
    }
}

impl Attributor for Resolved {
    fn cgroup_path(&self, id: u64) -> Option<&str> {
        self.paths.get(&id).map(String::as_str)
    }

    fn owner(&self, inode: u32) -> Option<(u32, &str)> {
        self.owners
            .get(&inode)
            .map(|(pid, comm)| (*pid, comm.as_str()))
    }
}

impl Who for Resolved {
    fn has_processes(&self) -> bool {
        self.processes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::TcpState;

    /// Knows cgroup 7 and the owner of inode 42.
    struct Known;

    impl Attributor for Known {
        fn cgroup_path(&self, id: u64) -> Option<&str> {
            (id == 7).then_some("/system.slice/web.service")
        }

        fn owner(&self, inode: u32) -> Option<(u32, &str)> {
            (inode == 42).then_some((1234, "curl"))
        }
    }

    fn record(inode: u32) -> SockRecord {
        let mut r = SockRecord::new(
            "10.0.0.1:1001".parse().unwrap(),
            "10.0.0.2:443".parse().unwrap(),
            TcpState::Established,
        );
        r.inode = inode;
        r
    }

    #[test]
    fn copies_what_is_known_of_the_table_only() {
        let records = [record(42), record(43)];
        let mut cgroups = Cgroups::default();
        cgroups.push(7);
        cgroups.push(8);
        let r = Resolved::from_attributor(&Known, true, &records, &cgroups);
        assert_eq!(r.cgroup_path(7), Some("/system.slice/web.service"));
        assert_eq!(r.cgroup_path(8), None);
        assert_eq!(r.owner(42), Some((1234, "curl")));
        assert_eq!(r.owner(43), None);
        assert!(r.has_processes());
    }

    #[test]
    fn without_processes_no_owner_is_copied() {
        let records = [record(42)];
        let r = Resolved::from_attributor(&Known, false, &records, &Cgroups::default());
        assert_eq!(r.owner(42), None);
        assert!(!r.has_processes());
    }
}
