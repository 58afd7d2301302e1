//! `--netns NS` / `-N NS`: which network namespace to read, and moving the calling thread into it,
//! like `ss -N`. NS is a name given by `ip netns add` (`/run/netns/NAME`), a path to a namespace file
//! (`/proc/PID/ns/net`, `/var/run/docker/netns/X`: anything with a `/`), or a process id (all digits:
//! the namespace of that process, `/proc/PID/ns/net`).
//!
//! Only the calling thread moves. The binary calls [`enter`] first thing, before it starts other threads,
//! so everything it opens afterwards (the netlink socket, `/proc/thread-self/net/*`, `/proc/sys/net/*`)
//! belongs to that namespace, and threads it starts later inherit it. A socket opened before the call
//! stays in the old namespace.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where iproute2 keeps named network namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// The `-N, --netns` option, for every command that can run in another network namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct NetnsArg {
    /// Network namespace: a name (/run/netns/NAME), a path (/proc/PID/ns/net) or a PID, as `ss -N`
    /// (needs root).
    #[arg(short = 'N', long = "netns", value_name = "NS")]
    pub netns: Option<NetnsSpec>,
}

/// A network namespace as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsSpec {
    /// `ip netns` name: `/run/netns/NAME`.
    Name(String),
    /// A namespace file.
    Path(PathBuf),
    /// The namespace of a process: `/proc/PID/ns/net`.
    Pid(u32),
}

/// Why a namespace could not be named or entered.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("bad network namespace name {name:?}: {why}")]
    BadName { name: String, why: &'static str },
    #[error("network namespace {name:?} does not exist ({} not found); `ip netns list` shows the names", path.display())]
    NoSuchName { name: String, path: PathBuf },
    #[error("network namespace file {} does not exist", path.display())]
    NoSuchPath { path: PathBuf },
    #[error("no process {pid}, so no network namespace {}", path.display())]
    NoSuchPid { pid: u32, path: PathBuf },
    #[error("{} is not a network namespace", path.display())]
    NotANetns { path: PathBuf },
    #[error("entering network namespace {}: permission denied (needs CAP_SYS_ADMIN, e.g. root)", path.display())]
    Permission { path: PathBuf },
    #[error("entering network namespace {}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl NetnsError {
    /// True when the namespace named does not exist or is not one: a mistake in the command line,
    /// as opposed to a namespace that exists but cannot be entered.
    pub fn is_usage(&self) -> bool {
        !matches!(self, NetnsError::Permission { .. } | NetnsError::Io { .. })
    }
}

impl FromStr for NetnsSpec {
    type Err = NetnsError;

    /// All digits: a process id; with a `/`: a path; otherwise an `ip netns` name.
    fn from_str(text: &str) -> Result<NetnsSpec, NetnsError> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(NetnsSpec::Pid)
                .map_err(|_| NetnsError::BadName {
                    name: text.to_string(),
                    why: "it is too large for a process id",
                });
        }
        if text.contains('/') {
            return Ok(NetnsSpec::Path(PathBuf::from(text)));
        }
        let why = match text {
            "" => "it is empty",
            "." | ".." => "it is not a name",
            _ if text.contains('\0') => "it contains a NUL byte",
            _ => return Ok(NetnsSpec::Name(text.to_string())),
        };
        Err(NetnsError::BadName {
            name: text.to_string(),
            why,
        })
    }
}

impl fmt::Display for NetnsSpec {
    /// As the user wrote it (the label snapshots carry).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsSpec::Name(name) => f.write_str(name),
            NetnsSpec::Path(path) => write!(f, "{}", path.display()),
            NetnsSpec::Pid(pid) => write!(f, "{pid}"),
        }
    }
}

impl NetnsSpec {
    /// The namespace file to open.
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsSpec::Name(name) => Path::new(NETNS_RUN_DIR).join(name),
            NetnsSpec::Path(path) => path.clone(),
            NetnsSpec::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        }
    }
}

/// Moves the calling thread into the network namespace `spec` names.
pub fn enter(spec: &NetnsSpec) -> Result<(), NetnsError> {
    let path = spec.path();
    let file = File::open(&path).map_err(|source| open_error(spec, path.clone(), source))?;
    // SAFETY: `file` is an open descriptor for the whole call; setns only reads it.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(setns_error(path, io::Error::last_os_error()));
    }
    Ok(())
}

fn open_error(spec: &NetnsSpec, path: PathBuf, source: io::Error) -> NetnsError {
    match (source.kind(), spec) {
        (io::ErrorKind::NotFound, NetnsSpec::Name(name)) => NetnsError::NoSuchName {
            name: name.clone(),
            path,
        },
        (io::ErrorKind::NotFound, NetnsSpec::Path(_)) => NetnsError::NoSuchPath { path },
        (io::ErrorKind::NotFound, NetnsSpec::Pid(pid)) => NetnsError::NoSuchPid { pid: *pid, path },
        (io::ErrorKind::PermissionDenied, _) => NetnsError::Permission { path },
        _ => NetnsError::Io { path, source },
    }
}

fn setns_error(path: PathBuf, source: io::Error) -> NetnsError {
    match source.raw_os_error() {
        Some(libc::EPERM) => NetnsError::Permission { path },
        Some(libc::EINVAL) => NetnsError::NotANetns { path },
        _ => NetnsError::Io { path, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> NetnsSpec {
        text.parse().unwrap()
    }

    #[test]
    fn names_paths_and_pids_are_told_apart() {
        assert_eq!(spec("blue"), NetnsSpec::Name("blue".into()));
        assert_eq!(spec("blue").path(), PathBuf::from("/run/netns/blue"));
        assert_eq!(
            spec("/var/run/docker/netns/1a2b"),
            NetnsSpec::Path("/var/run/docker/netns/1a2b".into())
        );
        assert_eq!(spec("./ns").path(), PathBuf::from("./ns"));
        assert_eq!(spec("4242"), NetnsSpec::Pid(4242));
        assert_eq!(spec("4242").path(), PathBuf::from("/proc/4242/ns/net"));
        for text in ["blue", "/proc/1/ns/net", "4242"] {
            assert_eq!(spec(text).to_string(), text);
        }
    }

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        for (name, why) in [
            ("", "empty"),
            ("..", "not a name"),
            ("x\0y", "NUL"),
            ("99999999999", "too large"),
        ] {
            let err = name.parse::<NetnsSpec>().unwrap_err();
            assert!(matches!(err, NetnsError::BadName { .. }), "{name:?}: {err}");
            assert!(err.to_string().contains(why), "{err}");
            assert!(err.is_usage());
        }
    }

    #[test]
    fn a_missing_namespace_is_a_usage_error_that_says_what_is_missing() {
        let err = enter(&spec("portradar-no-such-namespace")).unwrap_err();
        assert!(matches!(err, NetnsError::NoSuchName { .. }), "{err}");
        assert!(err.to_string().contains("ip netns list"), "{err}");
        assert!(err.is_usage());
        let err = enter(&spec("/portradar/no/such/file")).unwrap_err();
        assert!(matches!(err, NetnsError::NoSuchPath { .. }), "{err}");
        // Process ids are at most 2^22 on Linux.
        let err = enter(&spec("4294967295")).unwrap_err();
        assert!(
            matches!(
                err,
                NetnsError::NoSuchPid {
                    pid: 4294967295,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_namespace_is_refused() {
        // Opening works for anyone; setns then says EINVAL (or EPERM without privilege).
        let err = enter(&spec("/proc/self/ns/uts")).unwrap_err();
        assert!(
            matches!(
                err,
                NetnsError::NotANetns { .. } | NetnsError::Permission { .. }
            ),
            "{err}"
        );
    }
}
