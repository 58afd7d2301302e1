//! `--netns NAME`: moves the calling thread into the network namespace `ip netns add NAME` created
//! (`/run/netns/NAME`), like `ss -N`.
//!
//! Only the calling thread moves. The binary calls [`enter`] first thing, before it starts other threads,
//! so everything it opens afterwards (the netlink socket, `/proc/thread-self/net/*`, `/proc/sys/net/*`)
//! belongs to that namespace. A netlink socket opened before the call stays in the old namespace.

use super::CollectError;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where iproute2 keeps named network namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// Enters the named network namespace for the calling thread.
pub fn enter(name: &str) -> Result<(), CollectError> {
    check_name(name)?;
    let path = Path::new(NETNS_RUN_DIR).join(name);
    let file = File::open(&path).map_err(|source| open_error(name, path.clone(), source))?;
    // SAFETY: `file` is an open descriptor for the whole call; setns only reads it.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(setns_error(name, path, io::Error::last_os_error()));
    }
    Ok(())
}

/// A namespace name is one path component.
fn check_name(name: &str) -> Result<(), CollectError> {
    let why = match name {
        "" => "it is empty",
        "." | ".." => "it is not a name",
        _ if name.contains('/') => "it contains '/'",
        _ if name.contains('\0') => "it contains a NUL byte",
        _ => return Ok(()),
    };
    Err(CollectError::BadNetnsName {
        name: name.to_string(),
        why,
    })
}

fn open_error(name: &str, path: PathBuf, source: io::Error) -> CollectError {
    let name = name.to_string();
    match source.kind() {
        io::ErrorKind::NotFound => CollectError::NoSuchNetns { name, path },
        io::ErrorKind::PermissionDenied => CollectError::NetnsPermission { name, path },
        _ => CollectError::Netns { name, path, source },
    }
}

fn setns_error(name: &str, path: PathBuf, source: io::Error) -> CollectError {
    let name = name.to_string();
    match source.raw_os_error() {
        Some(libc::EPERM) => CollectError::NetnsPermission { name, path },
        Some(libc::EINVAL) => CollectError::NotANetns { name, path },
        _ => CollectError::Netns { name, path, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        for (name, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("..", "not a name"),
            ("x\0y", "NUL"),
        ] {
            let err = enter(name).unwrap_err();
            assert!(
                matches!(err, CollectError::BadNetnsName { .. }),
                "{name:?}: {err}"
            );
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn a_missing_namespace_suggests_ip_netns_list() {
        let err = enter("portradar-no-such-namespace").unwrap_err();
        assert!(matches!(err, CollectError::NoSuchNetns { .. }), "{err}");
        assert!(err.to_string().contains("ip netns list"), "{err}");
    }
}
