//! Wire format of sock_diag replies: walks the netlink messages of one received datagram and parses each
//! `inet_diag_msg` straight from its bytes into a [`SockRecord`], without boxing the netlink crate's
//! messages and without allocating per socket.
//!
//! Every length comes from the kernel and is checked before it is used: a short or lying message gives a
//! [`RawError`], never a panic or a read out of bounds.
//!
//! Layout of one reply (all integers in host order unless noted):
//! ```text
//! nlmsghdr      0  u32 len | 4 u16 type | 6 u16 flags | 8 u32 seq | 12 u32 pid        (16 bytes)
//! inet_diag_msg 0  u8 family | 1 u8 state | 2 u8 timer | 3 u8 retrans
//!               4  be16 sport | 6 be16 dport | 8 [16] src | 24 [16] dst | 40 u32 if | 44 [2]u32 cookie
//!               52 u32 expires | 56 u32 rqueue | 60 u32 wqueue | 64 u32 uid | 68 u32 inode  (72 bytes)
//! ```
//! Attributes (`rtattr`: u16 len, u16 type, payload, padded to 4) follow the 72 bytes; only
//! `INET_DIAG_CGROUP_ID` (21, u64, Linux 5.8+, full sockets only) is read: it is handed to the visitor
//! beside the record (0 when absent), so the record stays 64 bytes.

use crate::socket::{BoundDev, Endpoint, SockRecord, TcpState, TimerKind};
use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, SOCK_DIAG_BY_FAMILY};

/// `TCPDIAG_GETSOCK`: the type of the request, and so of the replies, of a dump of both families.
pub const TCPDIAG_GETSOCK: u16 = 18;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDR_LEN: usize = 16;
/// Size of `struct inet_diag_msg`.
pub const INET_DIAG_MSG_LEN: usize = 72;
/// Byte offset of `idiag_expires` inside `inet_diag_msg`.
pub const EXPIRES_OFFSET: usize = 52;
/// `INET_DIAG_CGROUP_ID`: the cgroup v2 id of a full socket.
const INET_DIAG_CGROUP_ID: u16 = 21;
/// Size of `struct rtattr`.
const RTA_HDR_LEN: usize = 4;
/// `NLM_F_DUMP_INTR`: the kernel's tables changed during the dump, which may have missed or repeated
/// entries.
pub const NLM_F_DUMP_INTR: u16 = 0x10;

/// A datagram that does not hold well-formed sock_diag messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    #[error("{remaining} bytes left at offset {offset}, less than a 16-byte netlink header")]
    ShortHeader { offset: usize, remaining: usize },
    #[error(
        "netlink message at offset {offset} claims {nlmsg_len} bytes but {remaining} remain (minimum 16)"
    )]
    BadLength {
        offset: usize,
        nlmsg_len: u32,
        remaining: usize,
    },
    #[error("{what} at offset {offset} has {have} payload bytes, needs {need}")]
    ShortPayload {
        offset: usize,
        what: &'static str,
        have: usize,
        need: usize,
    },
    #[error("socket at offset {offset} has unknown address family {family}")]
    UnknownFamily { offset: usize, family: u8 },
    #[error("socket at offset {offset} has unknown TCP state {state}")]
    UnknownState { offset: usize, state: u8 },
    #[error("unexpected netlink message type {kind} at offset {offset}")]
    UnexpectedType { offset: usize, kind: u16 },
    #[error(
        "the kernel marked the dump interrupted (NLM_F_DUMP_INTR) at offset {offset}: the table changed while it was read"
    )]
    DumpInterrupted { offset: usize },
}

/// Where a dump stands after one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// More datagrams follow.
    More,
    /// NLMSG_DONE (or an ACK) ended the dump.
    Done,
    /// The kernel ended the dump with this errno (from NLMSG_ERROR or a negative NLMSG_DONE status).
    KernelError(i32),
}

/// The fixed part of one netlink message, as read from the wire.
#[derive(Clone, Copy, Debug)]
struct Header {
    len: usize,
    kind: u16,
    flags: u16,
    seq: u32,
}

/// Walks every netlink message of `datagram`, hands each socket of dump `seq` to `visit`, and says whether
/// the dump goes on. Messages of another sequence number (left over from an abandoned dump) are skipped.
/// A message of the dump flagged NLM_F_DUMP_INTR ends it with [`RawError::DumpInterrupted`]: the
/// caller takes the dump again rather than show a table that may miss or repeat sockets.
pub fn walk_datagram(
    datagram: &[u8],
    seq: u32,
    visit: &mut impl FnMut(SockRecord, u64),
) -> Result<Step, RawError> {
    if datagram.is_empty() {
        return Err(RawError::ShortHeader {
            offset: 0,
            remaining: 0,
        });
    }
    let mut offset = 0;
    while offset < datagram.len() {
        let rest = &datagram[offset..];
        let header = read_header(rest, offset)?;
        let payload = &rest[NLMSG_HDR_LEN..header.len];
        if header.seq == seq {
            if header.flags & NLM_F_DUMP_INTR != 0 {
                return Err(RawError::DumpInterrupted { offset });
            }
            match message(header.kind, payload, offset, visit)? {
                Step::More => {}
                end => return Ok(end),
            }
        }
        offset += align4(header.len).min(rest.len());
    }
    Ok(Step::More)
}

/// Reads and checks the header at the start of `rest`.
fn read_header(rest: &[u8], offset: usize) -> Result<Header, RawError> {
    let Some(hdr) = rest.first_chunk::<NLMSG_HDR_LEN>() else {
        return Err(RawError::ShortHeader {
            offset,
            remaining: rest.len(),
        });
    };
    let nlmsg_len = u32_at(hdr, 0);
    let len = nlmsg_len as usize;
    if len < NLMSG_HDR_LEN || len > rest.len() {
        return Err(RawError::BadLength {
            offset,
            nlmsg_len,
            remaining: rest.len(),
        });
    }
    Ok(Header {
        len,
        kind: u16::from_ne_bytes([hdr[4], hdr[5]]),
        flags: u16::from_ne_bytes([hdr[6], hdr[7]]),
        seq: u32_at(hdr, 8),
    })
}

/// Handles one message of the current dump.
fn message(
    kind: u16,
    payload: &[u8],
    offset: usize,
    visit: &mut impl FnMut(SockRecord, u64),
) -> Result<Step, RawError> {
    match kind {
        // Replies carry the request's type: TCPDIAG_GETSOCK for a dump of both families.
        SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
            visit(parse_inet_diag(payload, offset)?, cgroup_id(payload));
            Ok(Step::More)
        }
        NLMSG_DONE => Ok(done_status(payload)),
        NLMSG_ERROR => error_status(payload, offset),
        NLMSG_NOOP => Ok(Step::More),
        kind => Err(RawError::UnexpectedType { offset, kind }),
    }
}

/// NLMSG_DONE of a dump carries an `int` status (0, or a negative errno); the kernel may also send it
/// empty.
fn done_status(payload: &[u8]) -> Step {
    match payload.first_chunk::<4>().map(|b| i32::from_ne_bytes(*b)) {
        Some(status) if status < 0 => Step::KernelError(status.saturating_neg()),
        _ => Step::Done,
    }
}

/// NLMSG_ERROR carries `struct nlmsgerr`: a negative errno (0 is an ACK) and the request's header.
fn error_status(payload: &[u8], offset: usize) -> Result<Step, RawError> {
    let Some(bytes) = payload.first_chunk::<4>() else {
        return Err(RawError::ShortPayload {
            offset,
            what: "NLMSG_ERROR",
            have: payload.len(),
            need: 4,
        });
    };
    match i32::from_ne_bytes(*bytes) {
        0 => Ok(Step::Done),
        errno => Ok(Step::KernelError(errno.saturating_abs())),
    }
}

/// Parses the `inet_diag_msg` at the start of `payload` (the netlink message at `offset`).
fn parse_inet_diag(payload: &[u8], offset: usize) -> Result<SockRecord, RawError> {
    let Some(m) = payload.first_chunk::<INET_DIAG_MSG_LEN>() else {
        return Err(RawError::ShortPayload {
            offset,
            what: "inet_diag_msg",
            have: payload.len(),
            need: INET_DIAG_MSG_LEN,
        });
    };
    let state = state(m[1]).ok_or(RawError::UnknownState {
        offset,
        state: m[1],
    })?;
    let (local, remote) = endpoints(m, offset)?;
    Ok(SockRecord {
        local,
        remote,
        state,
        timer: TimerKind::from_kernel(m[2]),
        retrans: m[3],
        expires_ms: u32_at(m, EXPIRES_OFFSET),
        uid: u32_at(m, 64),
        inode: u32_at(m, 68),
        cookie: u64::from(u32_at(m, 48)) << 32 | u64::from(u32_at(m, 44)),
        dev: BoundDev::from_kernel(u32_at(m, 40)),
    })
}

/// The `INET_DIAG_CGROUP_ID` attribute among those after the `inet_diag_msg` of `payload`, 0 when
/// there is none (TIME_WAIT and NEW_SYN_RECV entries, kernels before 5.8) or the attributes are cut.
fn cgroup_id(payload: &[u8]) -> u64 {
    let mut rest = payload.get(INET_DIAG_MSG_LEN..).unwrap_or_default();
    while let Some(hdr) = rest.first_chunk::<RTA_HDR_LEN>() {
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let kind = u16::from_ne_bytes([hdr[2], hdr[3]]) & 0x3fff;
        if len < RTA_HDR_LEN || len > rest.len() {
            return 0;
        }
        if kind == INET_DIAG_CGROUP_ID
            && let Some(id) = rest[RTA_HDR_LEN..len].first_chunk::<8>()
        {
            return u64::from_ne_bytes(*id);
        }
        rest = rest.get(align4(len)..).unwrap_or_default();
    }
    0
}

/// The state of a dumped socket. The kernel reports the sockets that BOUND_INACTIVE (13) asks for with
/// their real state, CLOSE (7); no other dump returns CLOSE (a closing socket leaves the hash tables
/// before its state changes), so CLOSE reads as BOUND_INACTIVE. This keeps records consistent with
/// the state mask: `state bound-inactive` selects them in the kernel and in user space alike.
fn state(kernel: u8) -> Option<TcpState> {
    match TcpState::from_kernel(kernel)? {
        TcpState::Close => Some(TcpState::BoundInactive),
        state => Some(state),
    }
}

/// Local and remote endpoints of an `inet_diag_msg`, addresses read according to its family.
fn endpoints(m: &[u8; INET_DIAG_MSG_LEN], offset: usize) -> Result<(Endpoint, Endpoint), RawError> {
    let src: [u8; 16] = slice16(m, 8);
    let dst: [u8; 16] = slice16(m, 24);
    let (src, dst) = match m[0] {
        AF_INET => (v4(&src), v4(&dst)),
        AF_INET6 => (
            IpAddr::V6(Ipv6Addr::from(src)),
            IpAddr::V6(Ipv6Addr::from(dst)),
        ),
        family => return Err(RawError::UnknownFamily { offset, family }),
    };
    let sport = u16::from_be_bytes([m[4], m[5]]);
    let dport = u16::from_be_bytes([m[6], m[7]]);
    Ok((Endpoint::new(src, sport), Endpoint::new(dst, dport)))
}

/// The IPv4 address held in the first 4 bytes of a 16-byte address field.
fn v4(addr: &[u8; 16]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
}

/// The 16 bytes of `m` starting at `at` (`at + 16 <= 72` at every call site).
fn slice16(m: &[u8; INET_DIAG_MSG_LEN], at: usize) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&m[at..at + 16]);
    out
}

/// The host-order u32 at `at` in a fixed-size block.
fn u32_at<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `NLMSG_ALIGN`: netlink messages start on 4-byte boundaries.
fn align4(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEQ: u32 = 7;

    /// One netlink message: header plus payload, padded to 4 bytes.
    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDR_LEN + payload.len()) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&4242u32.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(align4(out.len()), 0);
        out
    }

    /// The fields of a hand-built `inet_diag_msg`.
    struct Diag {
        family: u8,
        state: u8,
        timer: u8,
        retrans: u8,
        sport: u16,
        dport: u16,
        src: Vec<u8>,
        dst: Vec<u8>,
        cookie: [u32; 2],
        expires: u32,
        uid: u32,
        inode: u32,
    }

    impl Diag {
        fn v4() -> Diag {
            Diag {
                family: AF_INET,
                state: 1,
                timer: 0,
                retrans: 0,
                sport: 40000,
                dport: 443,
                src: vec![127, 0, 0, 1],
                dst: vec![10, 1, 2, 3],
                cookie: [0x89ab_cdef, 0x0123_4567],
                expires: 0,
                uid: 1000,
                inode: 98765,
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let mut m = vec![self.family, self.state, self.timer, self.retrans];
            m.extend_from_slice(&self.sport.to_be_bytes());
            m.extend_from_slice(&self.dport.to_be_bytes());
            for addr in [&self.src, &self.dst] {
                let mut field = [0u8; 16];
                field[..addr.len()].copy_from_slice(addr);
                m.extend_from_slice(&field);
            }
            m.extend_from_slice(&3u32.to_ne_bytes()); // interface
            m.extend_from_slice(&self.cookie[0].to_ne_bytes());
            m.extend_from_slice(&self.cookie[1].to_ne_bytes());
            assert_eq!(m.len(), EXPIRES_OFFSET);
            for v in [self.expires, 11, 22, self.uid, self.inode] {
                m.extend_from_slice(&v.to_ne_bytes());
            }
            assert_eq!(m.len(), INET_DIAG_MSG_LEN);
            // An INET_DIAG_SHUTDOWN attribute, as the kernel always appends one.
            m.extend_from_slice(&[5, 0, 8, 0, 0, 0, 0, 0]);
            m
        }

        fn message(&self) -> Vec<u8> {
            nlmsg(SOCK_DIAG_BY_FAMILY, SEQ, &self.bytes())
        }
    }

    fn done() -> Vec<u8> {
        nlmsg(NLMSG_DONE, SEQ, &0i32.to_ne_bytes())
    }

    fn walk(datagram: &[u8]) -> (Result<Step, RawError>, Vec<SockRecord>) {
        let mut seen = Vec::new();
        let step = walk_datagram(datagram, SEQ, &mut |r, _| seen.push(r));
        (step, seen)
    }

    fn ep(s: &str) -> Endpoint {
        let addr: std::net::SocketAddr = s.parse().unwrap();
        Endpoint::new(addr.ip(), addr.port())
    }

    #[test]
    fn v4_socket_parses_every_field() {
        let (step, seen) = walk(&Diag::v4().message());
        assert_eq!(step, Ok(Step::More));
        assert_eq!(
            seen,
            vec![SockRecord {
                local: ep("127.0.0.1:40000"),
                remote: ep("10.1.2.3:443"),
                state: TcpState::Established,
                timer: TimerKind::Off,
                retrans: 0,
                expires_ms: 0,
                uid: 1000,
                inode: 98765,
                cookie: 0x0123_4567_89ab_cdef,
                dev: BoundDev::from_kernel(3),
            }]
        );
    }

    #[test]
    fn v6_socket_keeps_v6_and_mapped_addresses() {
        let mut d = Diag::v4();
        d.family = AF_INET6;
        d.state = 10;
        d.timer = 1;
        d.retrans = 2;
        d.expires = 180;
        d.src = "::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        d.dst = "::ffff:10.0.0.9"
            .parse::<Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec();
        let (step, seen) = walk(&d.message());
        assert_eq!(step, Ok(Step::More));
        let r = seen[0];
        assert_eq!(r.local, ep("[::1]:40000"));
        assert_eq!(r.remote, ep("[::ffff:10.0.0.9]:443"));
        assert!(r.remote.ip.is_ipv6());
        assert_eq!(
            (r.state, r.timer, r.retrans, r.expires_ms),
            (TcpState::Listen, TimerKind::On, 2, 180)
        );
    }

    #[test]
    fn time_wait_expiry_and_fin_wait2_minisocket() {
        let mut tw = Diag::v4();
        (tw.state, tw.timer, tw.expires, tw.uid, tw.inode) = (6, 3, 59_321, 0, 0);
        let mut fw2 = Diag::v4();
        (fw2.state, fw2.timer, fw2.expires) = (5, 3, 12_000);
        let mut dgram = tw.message();
        dgram.extend(fw2.message());
        let (_, seen) = walk(&dgram);
        assert_eq!(
            (seen[0].state, seen[0].timer, seen[0].expires_ms),
            (TcpState::TimeWait, TimerKind::Timewait, 59_321)
        );
        assert_eq!(
            (seen[1].state, seen[1].timer, seen[1].expires_ms),
            (TcpState::FinWait2, TimerKind::Timewait, 12_000)
        );
    }

    #[test]
    fn cgroup_id_is_read_past_other_attributes_and_zero_without_one() {
        let mut with = Diag::v4().bytes();
        with.extend_from_slice(&[4, 0, 20, 0]); // INET_DIAG_PAD, empty
        with.extend_from_slice(&[12, 0, 21, 0]);
        with.extend_from_slice(&0x1234_5678_9abcu64.to_ne_bytes());
        let mut ids = Vec::new();
        let mut dgram = nlmsg(SOCK_DIAG_BY_FAMILY, SEQ, &with);
        dgram.extend(Diag::v4().message());
        let mut cut = with.clone();
        cut.truncate(cut.len() - 4); // the attribute claims more than is left
        dgram.extend(nlmsg(SOCK_DIAG_BY_FAMILY, SEQ, &cut));
        let step = walk_datagram(&dgram, SEQ, &mut |_, id| ids.push(id));
        assert_eq!(step, Ok(Step::More));
        assert_eq!(ids, vec![0x1234_5678_9abc, 0, 0]);
    }

    #[test]
    fn close_is_reported_as_bound_inactive() {
        let mut d = Diag::v4();
        (d.state, d.dst) = (7, vec![0; 4]);
        let (_, seen) = walk(&d.message());
        assert_eq!(seen[0].state, TcpState::BoundInactive);
    }

    #[test]
    fn several_messages_then_done() {
        let mut dgram = Vec::new();
        for port in [1000u16, 1001, 1002] {
            let mut d = Diag::v4();
            d.sport = port;
            dgram.extend(d.message());
        }
        dgram.extend(done());
        // A message after DONE is not read.
        dgram.extend(Diag::v4().message());
        let (step, seen) = walk(&dgram);
        assert_eq!(step, Ok(Step::Done));
        let ports: Vec<u16> = seen.iter().map(|r| r.local.port).collect();
        assert_eq!(ports, vec![1000, 1001, 1002]);
    }

    #[test]
    fn done_may_be_empty_or_carry_an_errno() {
        assert_eq!(walk(&nlmsg(NLMSG_DONE, SEQ, &[])).0, Ok(Step::Done));
        let failed = nlmsg(NLMSG_DONE, SEQ, &(-libc::EINTR).to_ne_bytes());
        assert_eq!(walk(&failed).0, Ok(Step::KernelError(libc::EINTR)));
    }

    #[test]
    fn error_message_names_its_errno() {
        let mut payload = (-libc::EPERM).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0u8; 16]); // the request's header
        assert_eq!(
            walk(&nlmsg(NLMSG_ERROR, SEQ, &payload)).0,
            Ok(Step::KernelError(libc::EPERM))
        );
        let short = nlmsg(NLMSG_ERROR, SEQ, &[0xff, 0xff]);
        assert!(matches!(
            walk(&short).0,
            Err(RawError::ShortPayload {
                what: "NLMSG_ERROR",
                ..
            })
        ));
    }

    #[test]
    fn other_sequence_numbers_are_skipped() {
        let mut stale = Diag::v4().bytes();
        stale[1] = 99; // would be an error if it were read
        let mut dgram = nlmsg(SOCK_DIAG_BY_FAMILY, SEQ - 1, &stale);
        dgram.extend(nlmsg(NLMSG_DONE, SEQ - 1, &[0; 4]));
        dgram.extend(Diag::v4().message());
        let (step, seen) = walk(&dgram);
        assert_eq!((step, seen.len()), (Ok(Step::More), 1));
    }

    #[test]
    fn truncated_header_is_an_error() {
        let mut dgram = Diag::v4().message();
        dgram.extend_from_slice(&[40, 0, 0, 0, 20, 0]);
        let (step, seen) = walk(&dgram);
        assert_eq!(seen.len(), 1);
        assert!(matches!(
            step,
            Err(RawError::ShortHeader { remaining: 6, .. })
        ));
        assert!(matches!(
            walk(&[]).0,
            Err(RawError::ShortHeader { remaining: 0, .. })
        ));
    }

    #[test]
    fn truncated_payload_is_an_error() {
        let bytes = Diag::v4().bytes();
        for cut in [0, 1, 40, INET_DIAG_MSG_LEN - 1] {
            let (step, seen) = walk(&nlmsg(SOCK_DIAG_BY_FAMILY, SEQ, &bytes[..cut]));
            assert!(seen.is_empty());
            assert!(
                matches!(step, Err(RawError::ShortPayload { what: "inet_diag_msg", have, need: 72, .. }) if have == cut),
                "cut at {cut}: {step:?}"
            );
        }
        // A datagram cut in the middle of a message: its nlmsg_len no longer fits.
        let whole = Diag::v4().message();
        assert!(matches!(
            walk(&whole[..50]).0,
            Err(RawError::BadLength { .. })
        ));
    }

    #[test]
    fn lying_lengths_are_errors() {
        let msg = Diag::v4().message();
        for lie in [0u32, 1, 15, msg.len() as u32 + 1, u32::MAX] {
            let mut bad = msg.clone();
            bad[..4].copy_from_slice(&lie.to_ne_bytes());
            let (step, _) = walk(&bad);
            assert!(
                matches!(step, Err(RawError::BadLength { nlmsg_len, .. }) if nlmsg_len == lie),
                "{lie}: {step:?}"
            );
        }
        // Too small but still a header: the payload it leaves is too short.
        let mut small = msg.clone();
        small[..4].copy_from_slice(&20u32.to_ne_bytes());
        assert!(matches!(
            walk(&small).0,
            Err(RawError::ShortPayload { have: 4, .. })
        ));
    }

    #[test]
    fn unknown_family_state_and_type_are_errors() {
        let mut d = Diag::v4();
        d.family = 1;
        assert!(matches!(
            walk(&d.message()).0,
            Err(RawError::UnknownFamily { family: 1, .. })
        ));
        let mut d = Diag::v4();
        d.state = 14;
        assert!(matches!(
            walk(&d.message()).0,
            Err(RawError::UnknownState { state: 14, .. })
        ));
        let odd = nlmsg(99, SEQ, &[]);
        assert!(matches!(
            walk(&odd).0,
            Err(RawError::UnexpectedType { kind: 99, .. })
        ));
    }

    /// Sets the flags of the netlink message at the start of `msg`.
    fn with_flags(mut msg: Vec<u8>, flags: u16) -> Vec<u8> {
        msg[6..8].copy_from_slice(&flags.to_ne_bytes());
        msg
    }

    #[test]
    fn a_dump_marked_interrupted_is_an_error_naming_where() {
        let mut dgram = Diag::v4().message();
        let second = dgram.len();
        dgram.extend(with_flags(Diag::v4().message(), 2 | NLM_F_DUMP_INTR));
        dgram.extend(done());
        let (step, seen) = walk(&dgram);
        assert_eq!(step, Err(RawError::DumpInterrupted { offset: second }));
        assert_eq!(seen.len(), 1, "the sockets before the mark were handed out");
        // On DONE too, and only for the dump's own sequence number.
        let flagged_done = with_flags(done(), 2 | NLM_F_DUMP_INTR);
        assert_eq!(
            walk(&flagged_done).0,
            Err(RawError::DumpInterrupted { offset: 0 })
        );
        let mut stale = nlmsg(SOCK_DIAG_BY_FAMILY, SEQ - 1, &Diag::v4().bytes());
        stale[6..8].copy_from_slice(&NLM_F_DUMP_INTR.to_ne_bytes());
        stale.extend(done());
        assert_eq!(walk(&stale).0, Ok(Step::Done));
    }

    #[test]
    fn every_prefix_of_a_real_datagram_is_handled_without_panic() {
        let mut dgram = Diag::v4().message();
        dgram.extend(Diag::v4().message());
        dgram.extend(done());
        for cut in 0..dgram.len() {
            let _ = walk(&dgram[..cut]);
        }
        assert_eq!(walk(&dgram).0, Ok(Step::Done));
    }
}
