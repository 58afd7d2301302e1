//! The socket record: one TCP socket as portradar keeps it, parsed from the kernel and never boxed.
//!
//! Everything downstream (filters, model, output) works on [`SockRecord`]; the collectors are the only
//! code that knows the wire formats it comes from.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Kernel TCP states, numbered as in `include/net/tcp_states.h`. Every name a state has lives in
/// [`STATE_NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
    BoundInactive = 13,
}

/// The names of one state.
pub struct StateNames {
    /// The kernel's name, as in JSON output and tables: `TIME_WAIT`.
    pub kernel: &'static str,
    /// The word the filter's `state` takes, lower case with dashes, as `ss` spells it: `time-wait`.
    pub word: &'static str,
    /// The short name `ss` prints in its State column: `TIME-WAIT`, `ESTAB`, `UNCONN`.
    pub short: &'static str,
    /// Other spellings users type (`listening`, `closed`).
    pub aliases: &'static [&'static str],
}

/// Every name of every state, in kernel order (index = state number - 1): the one table the parser,
/// the output and the dashboard read.
pub const STATE_NAMES: [StateNames; 13] = {
    const fn n(
        kernel: &'static str,
        word: &'static str,
        short: &'static str,
        aliases: &'static [&'static str],
    ) -> StateNames {
        StateNames {
            kernel,
            word,
            short,
            aliases,
        }
    }
    [
        n("ESTABLISHED", "established", "ESTAB", &[]),
        n("SYN_SENT", "syn-sent", "SYN-SENT", &[]),
        n("SYN_RECV", "syn-recv", "SYN-RECV", &["syn-rcv"]),
        n("FIN_WAIT1", "fin-wait-1", "FIN-WAIT-1", &[]),
        n("FIN_WAIT2", "fin-wait-2", "FIN-WAIT-2", &[]),
        n("TIME_WAIT", "time-wait", "TIME-WAIT", &[]),
        n("CLOSE", "close", "UNCONN", &["closed", "unconnected"]),
        n("CLOSE_WAIT", "close-wait", "CLOSE-WAIT", &[]),
        n("LAST_ACK", "last-ack", "LAST-ACK", &[]),
        n("LISTEN", "listen", "LISTEN", &["listening"]),
        n("CLOSING", "closing", "CLOSING", &[]),
        n("NEW_SYN_RECV", "new-syn-recv", "NEW-SYN-RECV", &[]),
        n("BOUND_INACTIVE", "bound-inactive", "BOUND-INACTIVE", &[]),
    ]
};

impl TcpState {
    /// Every state, in kernel order.
    pub const ALL: [TcpState; 13] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
        TcpState::BoundInactive,
    ];

    /// The state for a kernel state number, if it is one.
    pub fn from_kernel(n: u8) -> Option<TcpState> {
        TcpState::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The kernel's number for this state.
    pub fn kernel_number(self) -> u8 {
        self as u8
    }

    /// This state's bit in an inet_diag state mask (`1 << state`).
    pub fn mask_bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Every name of this state.
    pub fn names(self) -> &'static StateNames {
        &STATE_NAMES[usize::from(self.kernel_number()) - 1]
    }

    /// The upper-case kernel name, as in JSON output: `TIME_WAIT`.
    pub fn name(self) -> &'static str {
        self.names().kernel
    }

    /// The filter's word for the state: `time-wait`.
    pub fn word(self) -> &'static str {
        self.names().word
    }

    /// The short name `ss` prints: `TIME-WAIT`, `ESTAB`.
    pub fn short_name(self) -> &'static str {
        self.names().short
    }

    /// Parses a state name as a user types it: any name in [`STATE_NAMES`], in any case, with `-`, `_`
    /// or neither (`time-wait`, `TIME_WAIT`, `fin-wait-1`, `estab`, `listening`).
    pub fn parse(name: &str) -> Option<TcpState> {
        let key = |text: &str| -> String {
            text.chars()
                .filter(|c| *c != '-' && *c != '_')
                .map(|c| c.to_ascii_uppercase())
                .collect()
        };
        let wanted = key(name);
        TcpState::ALL.into_iter().find(|s| {
            let n = s.names();
            [n.kernel, n.word, n.short]
                .iter()
                .chain(n.aliases)
                .any(|candidate| key(candidate) == wanted)
        })
    }

    /// True for the states that hold a connection's 4-tuple (everything but LISTEN, CLOSE and
    /// BOUND_INACTIVE, which have no remote end).
    pub fn is_connection(self) -> bool {
        !matches!(
            self,
            TcpState::Listen | TcpState::Close | TcpState::BoundInactive
        )
    }
}

/// Serializes as the kernel name: `"TIME_WAIT"`.
impl Serialize for TcpState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The timer the kernel reports for a socket (`idiag_timer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    #[default]
    Off,
    /// Retransmit timer (`on` in ss).
    On,
    Keepalive,
    /// The TIME_WAIT timer (also reported for FIN_WAIT2 orphans kept as timewait minisockets).
    Timewait,
    /// Zero-window probe timer (`persist` in ss).
    Persist,
}

impl TimerKind {
    /// The timer for a kernel `idiag_timer` value; unknown values read as `Off`.
    pub fn from_kernel(n: u8) -> TimerKind {
        match n {
            1 => TimerKind::On,
            2 => TimerKind::Keepalive,
            3 => TimerKind::Timewait,
            4 => TimerKind::Persist,
            _ => TimerKind::Off,
        }
    }

    /// The name `ss -o` prints.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Off => "off",
            TimerKind::On => "on",
            TimerKind::Keepalive => "keepalive",
            TimerKind::Timewait => "timewait",
            TimerKind::Persist => "persist",
        }
    }
}

/// An IP address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Endpoint {
        Endpoint { ip, port }
    }
}

/// Prints `ip:port`, or `[ipv6]:port`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// Parses `ip:port` or `[ipv6]:port`.
impl std::str::FromStr for Endpoint {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Endpoint, Self::Err> {
        let addr: std::net::SocketAddr = s.parse()?;
        Ok(Endpoint::new(addr.ip(), addr.port()))
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Inet,
    Inet6,
}

/// One TCP socket as the kernel reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockRecord {
    pub local: Endpoint,
    pub remote: Endpoint,
    pub state: TcpState,
    pub timer: TimerKind,
    /// Retransmits (`idiag_retrans`).
    pub retrans: u8,
    /// Remaining time of the timer in milliseconds (`idiag_expires`), 0 when no timer runs.
    pub expires_ms: u32,
    pub uid: u32,
    pub inode: u32,
    pub cookie: u64,
    /// The device the socket is bound to (`idiag_if`).
    pub dev: BoundDev,
}

/// The interface a socket is bound to (SO_BINDTODEVICE, or the scope of a link-local IPv6 address),
/// kept in one byte so that a [`SockRecord`] stays 64 bytes: 0 for none, the interface index up to
/// 254, and 255 for any index from 255 up. `dev` filters on such an index are decided exactly by the
/// kernel's bytecode; in user space every socket on an index from 255 up counts as bound to each of
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BoundDev(u8);

impl BoundDev {
    /// Not bound to a device.
    pub const NONE: BoundDev = BoundDev(0);

    /// From the kernel's `idiag_if`.
    pub fn from_kernel(ifindex: u32) -> BoundDev {
        BoundDev(u8::try_from(ifindex).unwrap_or(u8::MAX))
    }

    /// True when the socket is (or, for indexes from 255 up, may be) bound to interface `ifindex`;
    /// `ifindex` 0 asks for sockets bound to no device.
    pub fn is(self, ifindex: u32) -> bool {
        self == BoundDev::from_kernel(ifindex)
    }
}

impl SockRecord {
    /// A socket with no timer and zero uid, inode and cookie (for recordings, fixtures and tests).
    pub fn new(local: Endpoint, remote: Endpoint, state: TcpState) -> SockRecord {
        SockRecord {
            local,
            remote,
            state,
            timer: TimerKind::Off,
            retrans: 0,
            expires_ms: 0,
            uid: 0,
            inode: 0,
            cookie: 0,
            dev: BoundDev::NONE,
        }
    }

    /// The socket's family, from its local address.
    pub fn family(&self) -> Family {
        match self.local.ip {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_numbers_round_trip() {
        for s in TcpState::ALL {
            assert_eq!(TcpState::from_kernel(s.kernel_number()), Some(s));
        }
        assert_eq!(TcpState::from_kernel(0), None);
        assert_eq!(TcpState::from_kernel(14), None);
    }

    #[test]
    fn state_names_parse_in_user_spellings() {
        assert_eq!(TcpState::parse("time-wait"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse("TIME_WAIT"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse("fin-wait-1"), Some(TcpState::FinWait1));
        assert_eq!(TcpState::parse("listening"), Some(TcpState::Listen));
        assert_eq!(
            TcpState::parse("bound-inactive"),
            Some(TcpState::BoundInactive)
        );
        assert_eq!(TcpState::parse("waiting"), None);
        assert_eq!(TcpState::parse("ESTAB"), Some(TcpState::Established));
        assert_eq!(TcpState::parse("UNCONN"), Some(TcpState::Close));
        assert_eq!(TcpState::parse("syn-rcv"), Some(TcpState::SynRecv));
        for s in TcpState::ALL {
            for name in [s.name(), s.word(), s.short_name()] {
                assert_eq!(TcpState::parse(name), Some(s), "{name}");
            }
        }
    }

    #[test]
    fn state_names_and_json_use_the_one_table() {
        assert_eq!(TcpState::TimeWait.name(), "TIME_WAIT");
        assert_eq!(TcpState::TimeWait.word(), "time-wait");
        assert_eq!(TcpState::TimeWait.short_name(), "TIME-WAIT");
        assert_eq!(TcpState::FinWait1.word(), "fin-wait-1");
        assert_eq!(TcpState::Close.short_name(), "UNCONN");
        for s in TcpState::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
    }

    #[test]
    fn a_record_stays_64_bytes_and_keeps_small_device_indexes() {
        assert_eq!(std::mem::size_of::<SockRecord>(), 64);
        assert!(BoundDev::from_kernel(0).is(0) && !BoundDev::from_kernel(0).is(1));
        assert!(BoundDev::from_kernel(254).is(254) && !BoundDev::from_kernel(254).is(255));
        assert!(
            BoundDev::from_kernel(300).is(70_000),
            "large indexes share one value"
        );
        assert!(!BoundDev::from_kernel(300).is(2));
    }

    #[test]
    fn endpoints_print_like_ss() {
        let v4 = Endpoint::new("127.0.0.1".parse().unwrap(), 80);
        let v6 = Endpoint::new("::1".parse().unwrap(), 443);
        assert_eq!(v4.to_string(), "127.0.0.1:80");
        assert_eq!(v6.to_string(), "[::1]:443");
    }
}
