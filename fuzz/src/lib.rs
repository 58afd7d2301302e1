//! What the fuzz targets share: a socket built from fuzzer bytes.

use portradar::socket::{BoundDev, Endpoint, SockRecord, TcpState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Bytes a [`socket`] takes from the front of the input.
pub const SOCKET_BYTES: usize = 40;

/// A socket record and the interface index it is bound to, from the first [`SOCKET_BYTES`] bytes of
/// `data` (`None` when shorter): family, state, ports, interface and both addresses. An IPv6 socket
/// is given an IPv4-mapped address when a flag bit says so, since IPv4 prefixes match those.
pub fn socket(data: &[u8]) -> Option<(SockRecord, u32)> {
    let b: &[u8; SOCKET_BYTES] = data.first_chunk()?;
    let flags = b[0];
    let state = TcpState::ALL[usize::from(b[1]) % TcpState::ALL.len()];
    let sport = u16::from_ne_bytes([b[2], b[3]]);
    let dport = u16::from_ne_bytes([b[4], b[5]]);
    // Small interface indexes are the interesting ones. Not 255 and up: a record keeps those as one
    // value (BoundDev), so `dev` on them is decided only by the kernel, as documented.
    let ifindex = u32::from(b[6] % 4);
    let addr = |at: usize, mapped: bool| -> IpAddr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&b[at..at + 16]);
        if flags & 1 == 0 {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        } else if mapped {
            IpAddr::V6(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]).to_ipv6_mapped())
        } else {
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    };
    let local = Endpoint::new(addr(8, flags & 2 != 0), sport);
    let remote = Endpoint::new(addr(24, flags & 4 != 0), dport);
    let record = SockRecord {
        dev: BoundDev::from_kernel(ifindex),
        ..SockRecord::new(local, remote, state)
    };
    Some((record, ifindex))
}
