//! Where the experiment runs when not in the current network namespace: `probe --netns NS` enters an
//! existing one, `probe --range` makes a throwaway one of its own, so changing `ip_local_port_range`
//! touches nothing else on the host.
//!
//! Either way a dedicated thread changes namespace (setns or `unshare(CLONE_NEWNET)` move only the
//! calling thread) and runs the experiment there: sockets and `/proc/sys/net` follow the calling
//! thread's namespace. For `--range` the thread brings `lo` up and writes the range; when it ends,
//! the last reference to the namespace goes with it and the kernel removes it: nothing is left
//! behind, nothing to clean up on failure. Both need CAP_SYS_ADMIN.

use super::ProbeError;
use super::range::PORT_RANGE_PATH;
use super::socket;
use crate::collect::netns::{self, NetnsSpec};
use crate::settings::PortRange;
use libc::{c_char, c_short};
use std::io;
use std::os::fd::AsRawFd;
use std::thread;

/// Ports below this are privileged in a new namespace, and `ip_local_port_range` may not start there.
const DEFAULT_UNPRIVILEGED_PORT_START: u16 = 1024;
const UNPRIVILEGED_PORT_START_PATH: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";

/// Runs `work` on a thread inside a private network namespace whose `ip_local_port_range` is `range`.
pub(super) fn with_range<T: Send>(
    range: PortRange,
    work: impl FnOnce() -> Result<T, ProbeError> + Send,
) -> Result<T, ProbeError> {
    on_own_thread(|| {
        enter_new_namespace()?;
        bring_up_loopback()?;
        set_range(range)?;
        work()
    })
}

/// Runs `work` on a thread inside the existing network namespace `spec` names.
pub(super) fn within<T: Send>(
    spec: &NetnsSpec,
    work: impl FnOnce() -> Result<T, ProbeError> + Send,
) -> Result<T, ProbeError> {
    on_own_thread(|| {
        netns::enter(spec)?;
        work()
    })
}

/// Runs `work` on a thread of its own, whose namespace it may change, and waits for it.
fn on_own_thread<T: Send>(
    work: impl FnOnce() -> Result<T, ProbeError> + Send,
) -> Result<T, ProbeError> {
    thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn enter_new_namespace() -> Result<(), ProbeError> {
    // SAFETY: plain system call; CLONE_NEWNET affects the calling thread only.
    socket::check(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map_err(|e| {
        match e.raw_os_error() {
            Some(libc::EPERM) => ProbeError::NeedsPrivilege(e),
            _ => namespace_error("create it")(e),
        }
    })
}

/// The interface-flags requests, typed as `ioctl` takes them: `c_ulong` with glibc, `c_int` with musl.
const GET_FLAGS: libc::Ioctl = libc::SIOCGIFFLAGS as libc::Ioctl;
const SET_FLAGS: libc::Ioctl = libc::SIOCSIFFLAGS as libc::Ioctl;

/// `ip link set lo up`, as SIOCGIFFLAGS / SIOCSIFFLAGS.
fn bring_up_loopback() -> Result<(), ProbeError> {
    let bring_up = || -> io::Result<()> {
        let fd = socket::open(libc::AF_INET, libc::SOCK_DGRAM)?;
        // SAFETY: all-zero bytes are a valid ifreq (empty name, no flags).
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (to, from) in request.ifr_name.iter_mut().zip(b"lo") {
            *to = *from as c_char;
        }
        // SAFETY: `request` is a valid ifreq naming an interface; the kernel fills in its flags.
        socket::check(unsafe { libc::ioctl(fd.as_raw_fd(), GET_FLAGS, &mut request) })?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as c_short };
        // SAFETY: as above, now with IFF_UP set.
        socket::check(unsafe { libc::ioctl(fd.as_raw_fd(), SET_FLAGS, &request) })
    };
    bring_up().map_err(namespace_error("bring lo up"))
}

/// Writes `ip_local_port_range`, first letting unprivileged ports start at `low` when it is below
/// the default 1024 (the kernel refuses a range that starts among privileged ports).
fn set_range(range: PortRange) -> Result<(), ProbeError> {
    if range.low < DEFAULT_UNPRIVILEGED_PORT_START {
        write_sysctl(UNPRIVILEGED_PORT_START_PATH, &range.low.to_string())?;
    }
    write_sysctl(PORT_RANGE_PATH, &format!("{} {}", range.low, range.high))
}

fn write_sysctl(path: &str, value: &str) -> Result<(), ProbeError> {
    std::fs::write(path, value).map_err(namespace_error(&format!("write {value} to {path}")))
}

fn namespace_error(step: &str) -> impl FnOnce(io::Error) -> ProbeError {
    let step = step.to_string();
    move |source| ProbeError::Namespace { step, source }
}
