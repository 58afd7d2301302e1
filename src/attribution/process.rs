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
const CHECK_EVERY: usize = 64;

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

/// The process holding a socket (the first found when several share it), and the last call that
/// asked for it.
#[derive(Clone, Copy, Debug)]
struct Held {
    pid: u32,
    asked: u32,
}

/// Owners of socket inodes, found by walking `/proc`.
#[derive(Debug, Default)]
pub struct ProcessMap {
    owners: FxHashMap<u32, Held>,
    /// Command names by pid (`/proc/PID/stat`'s comm): one per process, not per socket.
    comms: FxHashMap<u32, String>,
    /// Counts calls, to forget the owners of sockets no longer asked for.
    call: u32,
    /// Pids the walk in progress has still to read, the next one last (empty when no walk is in
    /// progress).
    pending: Vec<i32>,
    /// Descriptor entries of the next pending process already read.
    resume_at: usize,
}

/// Owners of sockets not asked for are forgotten once they outnumber those asked for by this many.
const FORGET_SLACK: usize = 4096;

impl ProcessMap {
    pub fn new() -> ProcessMap {
        ProcessMap::default()
    }

    /// Finds the owners of `wanted` (socket inodes; 0 is ignored: TIME_WAIT entries have no inode)
    /// that are not known yet, reading `/proc` for at most `budget`. One pass over `wanted`, one
    /// hash lookup each. Owners of sockets no longer wanted are forgotten from time to time. A walk
    /// that runs out of budget goes on from where it stopped on the next call.
    pub fn resolve(
        &mut self,
        wanted: impl IntoIterator<Item = u32>,
        budget: Duration,
    ) -> Resolution {
        let start = Instant::now();
        self.call = self.call.wrapping_add(1);
        let mut asked = 0;
        let mut missing: FxHashSet<u32> = FxHashSet::default();
        for inode in wanted.into_iter().filter(|i| *i != 0) {
            asked += 1;
            match self.owners.get_mut(&inode) {
                Some(held) => held.asked = self.call,
                None => {
                    missing.insert(inode);
                }
            }
        }
        if self.owners.len() > 2 * asked + FORGET_SLACK {
            self.forget_unasked();
        }
        let mut found_now = 0;
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
            found_now = self.walk(&missing, start + budget);
        }
        Resolution {
            partial: !self.pending.is_empty(),
            wanted: asked,
            found: asked - missing.len() + found_now,
            took: start.elapsed(),
        }
    }

    /// Forgets the owners of sockets the last call did not ask for, and the names of processes
    /// that then hold none.
    fn forget_unasked(&mut self) {
        let call = self.call;
        self.owners.retain(|_, held| held.asked == call);
        let pids: FxHashSet<u32> = self.owners.values().map(|h| h.pid).collect();
        self.comms.retain(|pid, _| pids.contains(pid));
    }

    /// Reads pending processes until every missing inode is found, none is left, or `deadline`.
    /// A process with many descriptors is read in pieces: the deadline is checked every
    /// [`CHECK_EVERY`] descriptors, and the next call resumes at the descriptor where this one
    /// stopped.
    /// Returns how many owners it found.
    fn walk(&mut self, missing: &FxHashSet<u32>, deadline: Instant) -> usize {
        let mut found = 0;
        while let Some(&pid) = self.pending.last() {
            let (new, done) = self.read_process(pid, missing, deadline);
            found += new;
            if done {
                self.pending.pop();
                self.resume_at = 0;
            }
            if found == missing.len() {
                self.pending.clear();
                self.resume_at = 0;
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        found
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
            let pid = pid.unsigned_abs();
            self.comms.entry(pid).or_insert_with(|| command(pid));
            self.owners.insert(
                inode,
                Held {
                    pid,
                    asked: self.call,
                },
            );
            new += 1;
        }
        (new, true)
    }

    /// The pid and command of the process holding socket `inode`, when found.
    pub fn owner(&self, inode: u32) -> Option<(u32, &str)> {
        let pid = self.owners.get(&inode)?.pid;
        Some((pid, self.comms.get(&pid).map_or("?", String::as_str)))
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
fn command(pid: u32) -> String {
    let Ok(pid) = i32::try_from(pid) else {
        return String::from("?");
    };
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
        let r = map.resolve([inode, 0], Duration::from_secs(60));
        assert!(!r.partial);
        assert_eq!((r.wanted, r.found), (1, 1));
        let (pid, comm) = map.owner(inode).unwrap();
        assert_eq!(pid, std::process::id());
        let mine = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(comm, mine.trim_end());
        let again = map.resolve([inode], Duration::ZERO);
        assert_eq!((again.found, again.partial), (1, false), "from the cache");
        map.resolve([], Duration::ZERO);
        map.forget_unasked();
        assert_eq!(map.owner(inode), None);
    }

    #[test]
    fn a_zero_budget_reads_one_process_and_says_partial() {
        let mut map = ProcessMap::new();
        // An inode no process holds: the walk cannot end early.
        let wanted = [u32::MAX];
        let first = map.resolve(wanted, Duration::ZERO);
        assert!(first.partial, "{first:?}");
        assert_eq!(first.found, 0);
        let mut calls = 1;
        while map.resolve(wanted, Duration::ZERO).partial {
            calls += 1;
            assert!(calls < 1_000_000, "the walk must make progress");
        }
        assert!(calls > 1, "one process per call");
    }
}
