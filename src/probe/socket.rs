//! The probe's client socket, on libc directly: std cannot bind() before connect(), set
//! `IP_LOCAL_PORT_RANGE` or connect without blocking. Every descriptor is an [`OwnedFd`], closed on
//! drop; `SO_LINGER` 0 makes that close a reset, so the probe leaves no TIME_WAIT behind.

use super::ProbeError;
use crate::settings::PortRange;
use libc::{c_int, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage, socklen_t};
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `IP_LOCAL_PORT_RANGE` (include/uapi/linux/in.h, Linux 6.3): `(high << 16) | low` narrows the range
/// connect() and bind(0) search on this socket.
const IP_LOCAL_PORT_RANGE: c_int = 51;

/// A non-blocking TCP socket that resets its connection when dropped.
pub(super) struct ProbeSocket {
    fd: OwnedFd,
}

impl ProbeSocket {
    /// A socket of `dst`'s address family.
    pub fn new(dst: &SocketAddr) -> Result<ProbeSocket, ProbeError> {
        let fd = open(family(dst), libc::SOCK_STREAM | libc::SOCK_NONBLOCK)
            .map_err(ProbeError::socket("socket"))?;
        let socket = ProbeSocket { fd };
        let reset_on_close = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        socket
            .set_option(libc::SOL_SOCKET, libc::SO_LINGER, &reset_on_close)
            .map_err(ProbeError::socket("setsockopt(SO_LINGER)"))?;
        Ok(socket)
    }

    /// Narrows the ports this socket may get to `range` with `IP_LOCAL_PORT_RANGE`.
    pub fn restrict_ports(&self, range: PortRange) -> Result<(), ProbeError> {
        let value = (u32::from(range.high) << 16) | u32::from(range.low);
        self.set_option(libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE, &value)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOPROTOOPT) => ProbeError::SocketRangeUnsupported(e),
                _ => ProbeError::Socket {
                    call: "setsockopt(IP_LOCAL_PORT_RANGE)",
                    source: e,
                },
            })
    }

    /// bind() to the wildcard address and port 0: the kernel picks the port now, as bind() does.
    pub fn bind_any_port(&self, dst: &SocketAddr) -> Result<(), ProbeError> {
        let any = match dst {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let (addr, len) = to_raw(&any);
        // SAFETY: `addr` is a valid socket address of `len` bytes.
        let ret = unsafe { libc::bind(self.raw(), (&raw const addr).cast::<sockaddr>(), len) };
        check(ret).map_err(ProbeError::socket("bind"))
    }

    /// Starts connecting to `dst` without waiting for the handshake. The local port is allocated
    /// inside this call, so it is readable afterwards even when the connection is refused.
    pub fn start_connect(&self, dst: &SocketAddr) -> io::Result<()> {
        let (addr, len) = to_raw(dst);
        // SAFETY: `addr` is a valid socket address of `len` bytes.
        let ret = unsafe { libc::connect(self.raw(), (&raw const addr).cast::<sockaddr>(), len) };
        match check(ret) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(()),
            other => other,
        }
    }

    /// The local address (getsockname): port 0 while none is allocated.
    pub fn local_addr(&self) -> Result<SocketAddr, ProbeError> {
        // SAFETY: all-zero bytes are a valid sockaddr_storage.
        let mut addr: sockaddr_storage = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<sockaddr_storage>() as socklen_t;
        // SAFETY: `addr` has room for `len` bytes, and getsockname writes at most that.
        let ret =
            unsafe { libc::getsockname(self.raw(), (&raw mut addr).cast::<sockaddr>(), &mut len) };
        check(ret).map_err(ProbeError::socket("getsockname"))?;
        from_raw(&addr).ok_or_else(|| ProbeError::Socket {
            call: "getsockname",
            source: io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
        })
    }

    fn set_option<T>(&self, level: c_int, name: c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` points to a live `T` of the size passed.
        let ret = unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                (value as *const T).cast(),
                mem::size_of::<T>() as socklen_t,
            )
        };
        check(ret)
    }

    fn raw(&self) -> c_int {
        self.fd.as_raw_fd()
    }
}

/// Opens a socket of `domain` and `kind` (close-on-exec) as an owned descriptor.
pub(super) fn open(domain: c_int, kind: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the descriptor it returns is owned by nobody else.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    check(fd)?;
    // SAFETY: `fd` is a fresh, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A system call's return value as a result: negative means `errno`.
pub(super) fn check(ret: c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn family(addr: &SocketAddr) -> c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// `addr` as the kernel takes it.
fn to_raw(addr: &SocketAddr) -> (sockaddr_storage, socklen_t) {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large enough and aligned for any socket address.
            unsafe { (&raw mut storage).cast::<sockaddr_in>().write(sin) };
            mem::size_of::<sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { (&raw mut storage).cast::<sockaddr_in6>().write(sin6) };
            mem::size_of::<sockaddr_in6>()
        }
    };
    (storage, len as socklen_t)
}

/// The address the kernel wrote, if it is IPv4 or IPv6.
fn from_raw(storage: &sockaddr_storage) -> Option<SocketAddr> {
    match c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const sockaddr_storage).cast::<sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const sockaddr_storage).cast::<sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_round_trip_through_the_kernel_layout() {
        for text in [
            "127.0.0.1:8080",
            "10.1.2.3:1",
            "[::1]:443",
            "[fe80::1%2]:22",
        ] {
            let addr: SocketAddr = text.parse().unwrap();
            let (raw, len) = to_raw(&addr);
            assert!(len as usize <= mem::size_of::<sockaddr_storage>());
            assert_eq!(from_raw(&raw), Some(addr), "{text}");
        }
    }
}
