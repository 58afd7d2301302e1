//! Every network namespace of the host: the named ones (bind mounts in `/run/netns`, made by `ip
//! netns` and CNI plugins, and Docker's in `/var/run/docker/netns`), found even when no process is
//! in them, and those of every process (`/proc/*/ns/net`), which finds the unnamed ones. The same
//! namespace seen several ways is listed once (by the inode of its nsfs file).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Directories of named namespaces, and the prefix their labels get.
const NAMED_DIRS: [(&str, &str); 2] = [("/run/netns", ""), ("/var/run/docker/netns", "docker:")];

/// One network namespace of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Its name (`ip netns` name, `docker:NAME`), `host` for init's (this process's when init's
    /// cannot be read), or `pid PID (COMM)` for an unnamed one, after its oldest process (preceded
    /// by the unit, container or pod that process's cgroup names).
    pub label: String,
    /// The inode of its nsfs file: the namespace's identity (`ip netns identify`, `lsns`).
    pub inode: u64,
    /// A file that holds it, to enter it.
    pub path: PathBuf,
}

/// Why a namespace could not be entered.
#[derive(Debug, thiserror::Error)]
#[error("entering network namespace {label} ({}): {source}", path.display())]
pub struct EnterError {
    pub label: String,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Namespace {
    /// Opens the namespace's file, so it stays enterable (and alive) while the file is open.
    pub fn open(&self) -> Result<File, EnterError> {
        File::open(&self.path).map_err(|source| self.error(source))
    }

    /// Moves the calling thread into the namespace held by `file` (from [`Namespace::open`]).
    /// A thread already there stays put (so a user without CAP_SYS_ADMIN still reads their own).
    pub fn enter(&self, file: &File) -> Result<(), EnterError> {
        if fs::metadata("/proc/thread-self/ns/net").is_ok_and(|m| m.ino() == self.inode) {
            return Ok(());
        }
        // SAFETY: `file` is an open descriptor for the whole call; setns only reads it and moves
        // only the calling thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(self.error(io::Error::last_os_error()));
        }
        Ok(())
    }

    fn error(&self, source: io::Error) -> EnterError {
        EnterError {
            label: self.label.clone(),
            path: self.path.clone(),
            source,
        }
    }
}

/// The namespaces of the host: init's first, then the named ones by name, then the unnamed ones by
/// their oldest process.
pub fn discover() -> Vec<Namespace> {
    let Ok(nsfs) = fs::metadata("/proc/self/ns/net").map(|m| m.dev()) else {
        return Vec::new();
    };
    // Init's namespace is the host's; where init cannot be read (a sandbox), this process's stands in.
    let init = fs::metadata("/proc/1/ns/net")
        .or_else(|_| fs::metadata("/proc/self/ns/net"))
        .ok()
        .map(|m| m.ino());
    let mut found: BTreeMap<u64, Namespace> = BTreeMap::new();
    let mut named: Vec<(String, PathBuf)> = Vec::new();
    for (dir, prefix) in NAMED_DIRS {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            named.push((format!("{prefix}{name}"), entry.path()));
        }
    }
    named.sort();
    for (label, path) in named {
        add(&mut found, nsfs, &path, || label.clone());
    }
    for (pid, path) in process_namespaces() {
        add(&mut found, nsfs, &path, || {
            if init == fs::metadata(&path).ok().map(|m| m.ino()) {
                "host".to_string()
            } else {
                owner_label(pid)
            }
        });
    }
    let mut list: Vec<Namespace> = found.into_values().collect();
    list.sort_by_key(|ns| {
        (
            Some(ns.inode) != init,
            ns.path.starts_with("/proc"),
            ns.label.clone(),
        )
    });
    list
}

/// Adds the namespace `path` holds, unless it is known already or `path` is not a namespace file
/// (an `ip netns` name whose bind mount is gone is a plain file on another device).
fn add(
    found: &mut BTreeMap<u64, Namespace>,
    nsfs: u64,
    path: &Path,
    label: impl FnOnce() -> String,
) {
    let Ok(meta) = fs::metadata(path) else {
        return;
    };
    if meta.dev() != nsfs {
        return;
    }
    found.entry(meta.ino()).or_insert_with(|| Namespace {
        label: label(),
        inode: meta.ino(),
        path: path.to_path_buf(),
    });
}

/// `(pid, /proc/PID/ns/net)` of every process, oldest (lowest pid) first.
fn process_namespaces() -> Vec<(u32, PathBuf)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .map(|pid| (pid, PathBuf::from(format!("/proc/{pid}/ns/net"))))
        .collect()
}

/// `pid PID (COMM)`, after the unit, container or pod its cgroup names when there is one
/// (`pod 0f3b… (containerd 4f1c0e9a7b2d) · pid 812 (nginx)`).
fn owner_label(pid: u32) -> String {
    let process = format!("pid {pid} ({})", comm(pid));
    let unit = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|text| {
            let path = text
                .lines()
                .find_map(|l| l.strip_prefix("0::"))?
                .to_string();
            crate::attribution::unit::derive(&path)
        });
    match unit {
        Some(unit) => format!("{unit} · {process}"),
        None => process,
    }
}

/// The command name of `pid`, `?` when it is gone.
fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_namespace_is_found_once() {
        let mine = fs::metadata("/proc/self/ns/net").unwrap().ino();
        let all = discover();
        assert_eq!(
            all.iter().filter(|ns| ns.inode == mine).count(),
            1,
            "{all:?}"
        );
        let mut inodes: Vec<u64> = all.iter().map(|ns| ns.inode).collect();
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(inodes.len(), all.len(), "no namespace twice");
    }
}
