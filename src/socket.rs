//! The socket record: one TCP socket as portradar keeps it, parsed from the kernel and never boxed.
//!
//! Everything downstream (filters, model, output) works on [`SockRecord`]; the collectors are the only
//! code that knows the wire formats it comes from.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Kernel TCP states, numbered as in `include/net/tcp_states.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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

    /// The upper-case kernel name, as in JSON output: `TIME_WAIT`.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
        }
    }

    /// Parses a state name as a user types it: kernel names in any case, with `-` or `_`
    /// (`time-wait`, `TIME_WAIT`), and the names `ss` uses (`fin-wait-1`, `closed`, `listening`).
    pub fn parse(name: &str) -> Option<TcpState> {
        let norm: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let state = match norm.as_str() {
            "ESTABLISHED" | "ESTAB" => TcpState::Established,
            "SYNSENT" => TcpState::SynSent,
            "SYNRECV" => TcpState::SynRecv,
            "FINWAIT1" => TcpState::FinWait1,
            "FINWAIT2" => TcpState::FinWait2,
            "TIMEWAIT" => TcpState::TimeWait,
            "CLOSE" | "CLOSED" => TcpState::Close,
            "CLOSEWAIT" => TcpState::CloseWait,
            "LASTACK" => TcpState::LastAck,
            "LISTEN" | "LISTENING" => TcpState::Listen,
            "CLOSING" => TcpState::Closing,
            "NEWSYNRECV" => TcpState::NewSynRecv,
            "BOUNDINACTIVE" => TcpState::BoundInactive,
            _ => return None,
        };
        Some(state)
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
        for s in TcpState::ALL {
            assert_eq!(TcpState::parse(s.name()), Some(s));
        }
    }

    #[test]
    fn endpoints_print_like_ss() {
        let v4 = Endpoint::new("127.0.0.1".parse().unwrap(), 80);
        let v6 = Endpoint::new("::1".parse().unwrap(), 443);
        assert_eq!(v4.to_string(), "127.0.0.1:80");
        assert_eq!(v6.to_string(), "[::1]:443");
    }
}
