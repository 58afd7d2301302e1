//! Socket inodes → the process holding them (`/proc/PID/fd/*` → `socket:[INODE]`, through the
//! `procfs` crate), for a chosen set of sockets only, within a time budget, with a cache.
//!
//! Processes are listed and named by the `procfs` crate; their descriptors are read with `readdir`
//! and `readlink` directly, so a walk can stop between two descriptors and resume there.
//!
//! A walk costs a few microseconds per descriptor, seconds on a host with a million sockets, so it is
//! never done for the whole table: the caller asks for the inodes it will show. A walk cut short by
//! its budget resumes where it stopped on the next call, and says meanwhile that it is partial.

use rustc_hash::{FxHashMap, FxHashSet};
use std::time::{Duration, Instant};

/// Descriptors read between two looks at the clock.
const CHECK_EVERY: usize = 256;

/// The process that holds a socket (the first found when several share it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// The command name (`/proc/PID/stat`'s comm, at most 15 bytes).
    pub comm: String,
}

/// How the last [`ProcessMap::resolve`] went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The walk ran out of budget before it saw every process: some sockets asked for may still
    /// have an owner that is not known yet.
    pub partial: bool,
    /// Sockets asked for and their owners found.
    pub wanted: usize,
    pub found: usize,
    /// Time spent in this call.
    pub took: Duration,
}

/// Owners of socket inodes, found by walking `/proc`.
#[derive(Debug, Default)]
pub struct ProcessMap {
    owners: FxHashMap<u32, Owner>,
    /// Pids the walk in progress has still to read, the next one last (empty when no walk is in
    /// progress).
    pending: Vec<i32>,
    /// Descriptor entries of the next pending process already read.
    resume_at: usize,
    /// How the last call went.
    last: Resolution,
}

impl ProcessMap {
    pub fn new() -> ProcessMap {
        ProcessMap::default()
    }

    /// Finds the owners of `wanted` (socket inodes; 0 is ignored: TIME_WAIT entries have no inode)
    /// that are not known yet, reading `/proc` for at most `budget`. Owners of sockets no longer
    /// wanted are forgotten. A walk that runs out of budget goes on from where it stopped on the
    /// next call.
    pub fn resolve(&mut self, wanted: &FxHashSet<u32>, budget: Duration) -> Resolution {
        let start = Instant::now();
        self.owners.retain(|inode, _| wanted.contains(inode));
        let missing: FxHashSet<u32> = wanted
            .iter()
            .copied()
            .filter(|i| *i != 0 && !self.owners.contains_key(i))
            .collect();
        if missing.is_empty() {
            self.pending.clear();
        } else {
            // A walk in progress goes on, looking for the new sockets too (on a busy host the set
            // changes every refresh: starting over would never finish); those held by processes
            // it has passed already are found by the next walk.
            if self.pending.is_empty() {
                self.pending = pids();
                self.resume_at = 0;
            }
            self.walk(&missing, start + budget);
        }
        let found = wanted
            .iter()
            .filter(|i| self.owners.contains_key(i))
            .count();
        self.last = Resolution {
            partial: !self.pending.is_empty(),
            wanted: wanted.iter().filter(|i| **i != 0).count(),
            found,
            took: start.elapsed(),
        };
        self.last
    }

    /// Reads pending processes until every missing inode is found, none is left, or `deadline`.
    /// A process with many descriptors is read in pieces: the deadline is checked every
    /// [`CHECK_EVERY`] descriptors, and the next call resumes at the descriptor where this one
    /// stopped.
    fn walk(&mut self, missing: &FxHashSet<u32>, deadline: Instant) {
        let mut left = missing.len();
        while let Some(&pid) = self.pending.last() {
            let (new, done) = self.read_process(pid, missing, deadline);
            left = left.saturating_sub(new);
            if done {
                self.pending.pop();
                self.resume_at = 0;
            }
            if left == 0 {
                self.pending.clear();
                self.resume_at = 0;
                return;
            }
            if Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Records the owner of each socket of `pid` among `missing`, from descriptor entry
    /// `self.resume_at` on; returns how many were new and whether the process was read to its end.
    fn read_process(
        &mut self,
        pid: i32,
        missing: &FxHashSet<u32>,
        deadline: Instant,
    ) -> (usize, bool) {
        let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return (0, true);
        };
        let mut comm = None;
        let mut new = 0;
        for (n, entry) in entries.enumerate().skip(self.resume_at) {
            if n % CHECK_EVERY == 0 && n > self.resume_at && Instant::now() >= deadline {
                self.resume_at = n;
                return (new, false);
            }
            let Some(inode) = entry.ok().and_then(|e| socket_inode(&e.path())) else {
                continue;
            };
            if !missing.contains(&inode) || self.owners.contains_key(&inode) {
                continue;
            }
            let comm = comm.get_or_insert_with(|| command(pid));
            self.owners.insert(
                inode,
                Owner {
                    pid: pid.unsigned_abs(),
                    comm: comm.clone(),
                },
            );
            new += 1;
        }
        (new, true)
    }

    /// The owner of socket `inode`, when found.
    pub fn owner(&self, inode: u32) -> Option<&Owner> {
        self.owners.get(&inode)
    }

    /// How the last call went.
    pub fn last(&self) -> Resolution {
        self.last
    }
}

/// The inode of the socket a `/proc/PID/fd/N` link points to (`socket:[INODE]`).
fn socket_inode(link: &std::path::Path) -> Option<u32> {
    let target = std::fs::read_link(link).ok()?;
    let text = target.to_str()?;
    text.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The command name of `pid` (its comm), `?` when it is gone.
fn command(pid: i32) -> String {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .map_or_else(|_| String::from("?"), |s| s.comm)
}

/// Every process id in `/proc`, newest last (so the walk, which pops, reads the newest first: a
/// busy client is more often a young process than init).
fn pids() -> Vec<i32> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = all.flatten().map(|p| p.pid()).collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// The inode of a socket this process holds, as sock_diag reports it.
    fn inode_of(socket: &std::net::TcpListener) -> u32 {
        use std::os::fd::AsRawFd;
        let link = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).unwrap();
        u32::try_from(link.ino()).unwrap()
    }

    #[test]
    fn finds_this_process_and_forgets_what_is_no_longer_wanted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = inode_of(&listener);
        let mut map = ProcessMap::new();
        let wanted: FxHashSet<u32> = [inode, 0].into_iter().collect();
        let r = map.resolve(&wanted, Duration::from_secs(60));
        assert!(!r.partial);
        assert_eq!((r.wanted, r.found), (1, 1));
        let owner = map.owner(inode).unwrap();
        assert_eq!(owner.pid, std::process::id());
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(owner.comm, comm.trim_end());
        map.resolve(&FxHashSet::default(), Duration::ZERO);
        assert_eq!(map.owner(inode), None);
    }

    #[test]
    fn a_zero_budget_reads_one_process_and_says_partial() {
        let mut map = ProcessMap::new();
        // An inode no process holds: the walk cannot end early.
        let wanted: FxHashSet<u32> = [u32::MAX].into_iter().collect();
        let first = map.resolve(&wanted, Duration::ZERO);
        assert!(first.partial, "{first:?}");
        assert_eq!(first.found, 0);
        let mut calls = 1;
        while map.resolve(&wanted, Duration::ZERO).partial {
            calls += 1;
            assert!(calls < 1_000_000, "the walk must make progress");
        }
        assert!(calls > 1, "one process per call");
    }
}
