//! The raw record the BPF program writes for one TCP state change (`struct event` in
//! bpf/allocator.bpf.c), parsed into a [`Transition`].

use crate::socket::Endpoint;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of one record in bytes.
pub const RECORD_LEN: usize = 96;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// `sk_userlocks` bit: bind() gave the socket a local address.
pub const SOCK_BINDADDR_LOCK: u8 = 4;
/// `sk_userlocks` bit: bind() gave the socket a local port.
pub const SOCK_BINDPORT_LOCK: u8 = 8;

/// One TCP state change of a socket, as the tracepoint saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// CLOCK_BOOTTIME in nanoseconds.
    pub time_ns: u64,
    /// The socket cookie (sock_diag's `idiag_cookie`).
    pub cookie: u64,
    /// cgroup v2 id of the task running when the state changed; recorded for CLOSE→SYN_SENT and
    /// the changes out of SYN_SENT only (0 for the others, which mostly run in softirq context).
    pub cgroup: u64,
    /// Process id (tgid) of that task (0 where the cgroup is).
    pub pid: u32,
    /// Its command name (empty where the cgroup is 0).
    pub comm: String,
    /// Inode of the socket's network namespace.
    pub netns: u32,
    /// Local address and port (`inet_sport`: 0 until the port is chosen).
    pub local: Endpoint,
    pub remote: Endpoint,
    /// Kernel state numbers (`TCP_SYN_SENT` = 2, `TCP_CLOSE` = 7, ...).
    pub old_state: u8,
    pub new_state: u8,
    /// The socket's `sk_userlocks` ([`SOCK_BINDADDR_LOCK`], [`SOCK_BINDPORT_LOCK`]).
    pub userlocks: u8,
}

/// A record that is not what the program writes: wrong size or an unknown address family.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("event record of {0} bytes, expected {RECORD_LEN}")]
    Size(usize),
    #[error("event record with unknown address family {0}")]
    Family(u16),
}

impl Transition {
    /// Parses one record (native byte order, ports in network order).
    pub fn parse(raw: &[u8]) -> Result<Transition, RecordError> {
        let raw: &[u8; RECORD_LEN] = raw.try_into().map_err(|_| RecordError::Size(raw.len()))?;
        let u64_at = |at: usize| u64::from_ne_bytes(sub(raw, at));
        let u32_at = |at: usize| u32::from_ne_bytes(sub(raw, at));
        let be16_at = |at: usize| u16::from_be_bytes(sub(raw, at));
        let family = u16::from_ne_bytes(sub(raw, 68));
        let ip = |at: usize| -> Result<IpAddr, RecordError> {
            match family {
                AF_INET => Ok(Ipv4Addr::from(sub::<4>(raw, at)).into()),
                AF_INET6 => Ok(Ipv6Addr::from(sub::<16>(raw, at)).into()),
                other => Err(RecordError::Family(other)),
            }
        };
        let comm = &raw[80..96];
        let comm_len = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
        Ok(Transition {
            time_ns: u64_at(0),
            cookie: u64_at(8),
            cgroup: u64_at(16),
            pid: u32_at(24),
            netns: u32_at(28),
            local: Endpoint::new(ip(32)?, be16_at(64)),
            remote: Endpoint::new(ip(48)?, be16_at(66)),
            old_state: raw[70],
            new_state: raw[71],
            userlocks: raw[72],
            comm: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
        })
    }
}

/// `N` bytes of `raw` from `at` (every caller's range lies inside the record).
fn sub<const N: usize>(raw: &[u8; RECORD_LEN], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&raw[at..at + N]);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record as the program writes it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn raw(
        family: u16,
        saddr: &[u8],
        sport: u16,
        daddr: &[u8],
        dport: u16,
        old: u8,
        new: u8,
        comm: &str,
    ) -> Vec<u8> {
        let mut r = vec![0u8; RECORD_LEN];
        r[0..8].copy_from_slice(&123_456_789u64.to_ne_bytes());
        r[8..16].copy_from_slice(&77u64.to_ne_bytes());
        r[16..24].copy_from_slice(&1u64.to_ne_bytes());
        r[24..28].copy_from_slice(&4242u32.to_ne_bytes());
        r[28..32].copy_from_slice(&4_026_531_840u32.to_ne_bytes());
        r[32..32 + saddr.len()].copy_from_slice(saddr);
        r[48..48 + daddr.len()].copy_from_slice(daddr);
        r[64..66].copy_from_slice(&sport.to_be_bytes());
        r[66..68].copy_from_slice(&dport.to_be_bytes());
        r[68..70].copy_from_slice(&family.to_ne_bytes());
        r[70] = old;
        r[71] = new;
        r[72] = SOCK_BINDADDR_LOCK;
        r[80..80 + comm.len()].copy_from_slice(comm.as_bytes());
        r
    }

    #[test]
    fn parses_an_ipv4_record() {
        let t = Transition::parse(&raw(
            2,
            &[127, 0, 0, 1],
            40000,
            &[10, 0, 0, 5],
            443,
            2,
            1,
            "curl",
        ))
        .unwrap();
        assert_eq!(t.time_ns, 123_456_789);
        assert_eq!(t.cookie, 77);
        assert_eq!(t.cgroup, 1);
        assert_eq!(t.pid, 4242);
        assert_eq!(t.netns, 4_026_531_840);
        assert_eq!(t.local.to_string(), "127.0.0.1:40000");
        assert_eq!(t.remote.to_string(), "10.0.0.5:443");
        assert_eq!((t.old_state, t.new_state), (2, 1));
        assert_eq!(t.userlocks, SOCK_BINDADDR_LOCK);
        assert_eq!(t.comm, "curl");
    }

    #[test]
    fn parses_an_ipv6_record_with_a_full_comm() {
        let mut d = [0u8; 16];
        d[15] = 1;
        let t = Transition::parse(&raw(10, &d, 1, &d, 2, 7, 2, "0123456789abcdef")).unwrap();
        assert_eq!(t.local.to_string(), "[::1]:1");
        assert_eq!(t.remote.to_string(), "[::1]:2");
        assert_eq!(t.comm, "0123456789abcdef");
    }

    #[test]
    fn rejects_a_short_record_and_an_unknown_family() {
        assert_eq!(Transition::parse(&[0; 10]), Err(RecordError::Size(10)));
        let r = raw(1, &[], 0, &[], 0, 7, 2, "x");
        assert_eq!(Transition::parse(&r), Err(RecordError::Family(1)));
    }
}
