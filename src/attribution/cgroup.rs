//! cgroup v2 ids → paths. The id a socket carries (`INET_DIAG_CGROUP_ID`) is the inode of its
//! cgroup's directory in the cgroup2 mount, so one walk of the mount maps every id to its path, as
//! `ss --cgroup` does. The map is kept and walked again when an id it does not know appears, at
//! most once per [`REWALK_EVERY`] (a socket whose cgroup is gone would otherwise make every lookup
//! walk).

use rustc_hash::FxHashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Least time between two walks of the mount.
pub const REWALK_EVERY: Duration = Duration::from_secs(5);

/// The id of the root cgroup.
const ROOT_ID: u64 = 1;

/// Cgroup ids and their paths (relative to the cgroup2 mount, starting with `/`).
#[derive(Debug, Default)]
pub struct CgroupNames {
    mount: Option<PathBuf>,
    paths: FxHashMap<u64, String>,
    walked: Option<Instant>,
    /// Least time between two walks ([`REWALK_EVERY`]).
    rewalk_every: Duration,
}

impl CgroupNames {
    /// Finds the cgroup2 mount of this process; walks it on the first lookup.
    pub fn new() -> CgroupNames {
        let mount = fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|text| cgroup2_mount(&text));
        CgroupNames::at(mount, REWALK_EVERY)
    }

    /// The names under the cgroup2 mount `mount`, walked at most once per `rewalk_every`.
    pub fn at(mount: Option<PathBuf>, rewalk_every: Duration) -> CgroupNames {
        CgroupNames {
            mount,
            rewalk_every,
            ..CgroupNames::default()
        }
    }

    /// Makes sure every id of `ids` that can be known is: walks the mount when one is missing and
    /// the last walk is older than [`REWALK_EVERY`].
    pub fn learn(&mut self, ids: impl IntoIterator<Item = u64>) {
        let missing = ids
            .into_iter()
            .any(|id| id != 0 && id != ROOT_ID && !self.paths.contains_key(&id));
        let due = self
            .walked
            .is_none_or(|at| at.elapsed() >= self.rewalk_every);
        if missing && due {
            self.walk();
        }
    }

    /// The path of cgroup `id`: `/` for the root, `None` for 0 (no cgroup known) or an id not found.
    pub fn path(&self, id: u64) -> Option<&str> {
        match id {
            0 => None,
            ROOT_ID => Some("/"),
            id => self.paths.get(&id).map(String::as_str),
        }
    }

    /// Walks the whole mount again.
    fn walk(&mut self) {
        self.walked = Some(Instant::now());
        let Some(mount) = &self.mount else {
            return;
        };
        self.paths.clear();
        let mut stack = vec![(mount.clone(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if !is_dir {
                    continue;
                }
                let path = format!("{rel}/{name}");
                if let Ok(meta) = entry.metadata() {
                    self.paths.insert(meta.ino(), path.clone());
                }
                stack.push((entry.path(), path));
            }
        }
    }
}

/// The mount point of the first cgroup2 file system in a `/proc/PID/mountinfo` text: its fifth
/// field, for a line whose file system type (after the ` - ` separator) is `cgroup2`.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        if after.split(' ').next()? != "cgroup2" {
            return None;
        }
        let point = before.split(' ').nth(4)?;
        Some(PathBuf::from(unescape_octal(point)))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\040`-style octal escapes.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_hybrid_or_unified() {
        let hybrid = "\
25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let spaced = r"30 23 0:26 / /mnt/my\040cgroups rw - cgroup2 none rw";
        assert_eq!(
            cgroup2_mount(spaced),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
        assert_eq!(cgroup2_mount("27 25 0:24 / /x rw - cgroup cgroup rw"), None);
        assert_eq!(cgroup2_mount("garbage"), None);
    }

    #[test]
    fn a_walk_maps_directory_inodes_to_paths_and_new_ids_wait_for_the_next_walk() {
        let root = std::env::temp_dir().join(format!("prtest-cgnames-{}", std::process::id()));
        let leaf = root.join("system.slice/app.service");
        fs::create_dir_all(&leaf).unwrap();
        let ino = |p: &std::path::Path| fs::metadata(p).unwrap().ino();
        let mut names = CgroupNames::at(Some(root.clone()), Duration::from_secs(3600));
        names.learn([ino(&leaf)]);
        assert_eq!(names.path(ino(&leaf)), Some("/system.slice/app.service"));
        assert_eq!(
            names.path(ino(&root.join("system.slice"))),
            Some("/system.slice")
        );
        let mut eager = CgroupNames::at(Some(root.clone()), Duration::ZERO);
        eager.learn([ino(&leaf)]);
        let later = root.join("later.scope");
        fs::create_dir(&later).unwrap();
        names.learn([ino(&later)]);
        assert_eq!(
            names.path(ino(&later)),
            None,
            "walked less than an hour ago"
        );
        eager.learn([ino(&later)]);
        assert_eq!(eager.path(ino(&later)), Some("/later.scope"));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn zero_is_unknown_and_one_is_the_root() {
        let names = CgroupNames::default();
        assert_eq!(names.path(0), None);
        assert_eq!(names.path(ROOT_ID), Some("/"));
        assert_eq!(names.path(12345), None);
    }
}
