//! The fallback reader: `/proc/net/tcp` and `/proc/net/tcp6`, for hosts where sock_diag netlink is
//! refused.
//!
//! Files are read through `/proc/thread-self/net/` so the calling thread's network namespace is used
//! (the one `netns::enter` switched to). They are streamed line by line through one reused line buffer:
//! memory stays flat however large the table.
//!
//! What procfs cannot give: the socket cookie (0 here), BOUND_INACTIVE sockets (absent), and
//! NEW_SYN_RECV request sockets, which procfs prints as SYN_RECV.

use super::CollectError;
use crate::socket::{BoundDev, Endpoint, Family, SockRecord, TcpState, TimerKind};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The two tables, with the family their lines hold.
const FILES: [(&str, Family); 2] = [
    ("/proc/thread-self/net/tcp", Family::Inet),
    ("/proc/thread-self/net/tcp6", Family::Inet6),
];

/// Streams both procfs TCP tables, reusing its line buffer between refreshes.
pub struct Reader {
    line: Vec<u8>,
    ticks_per_second: u32,
}

impl Reader {
    pub fn new() -> Reader {
        Reader {
            line: Vec::with_capacity(256),
            ticks_per_second: clock_ticks(),
        }
    }

    /// Hands every socket of both tables to `visit`, with its family.
    pub fn read_all(
        &mut self,
        visit: &mut impl FnMut(Family, SockRecord),
    ) -> Result<(), CollectError> {
        for (path, family) in FILES {
            self.read_file(Path::new(path), family, visit)?;
        }
        Ok(())
    }

    fn read_file(
        &mut self,
        path: &Path,
        family: Family,
        visit: &mut impl FnMut(Family, SockRecord),
    ) -> Result<(), CollectError> {
        let read_error = |source| CollectError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut input = BufReader::with_capacity(64 * 1024, File::open(path).map_err(read_error)?);
        let mut number = 0;
        loop {
            self.line.clear();
            if input
                .read_until(b'\n', &mut self.line)
                .map_err(read_error)?
                == 0
            {
                return Ok(());
            }
            number += 1;
            if number == 1 {
                continue; // the column titles
            }
            let record = std::str::from_utf8(&self.line)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|text| parse_line(text, family, self.ticks_per_second))
                .map_err(|what| CollectError::Parse {
                    path: path.to_path_buf(),
                    line: number,
                    what,
                })?;
            visit(family, record);
        }
    }
}

/// `USER_HZ`, the unit of the `tm->when` column (100 on every mainstream architecture).
/// How many TCP sockets the kernel counts in this namespace (`sockstat`: IPv4 and IPv6 in use, plus
/// TIME_WAIT), to size the table before a dump: a vector grown by doubling to a million records
/// would copy them and, with glibc, keep both copies resident for a while. `None` when unreadable.
pub fn table_size_hint() -> Option<usize> {
    let mut total = 0;
    for path in [
        "/proc/thread-self/net/sockstat",
        "/proc/thread-self/net/sockstat6",
    ] {
        total += parse_sockstat(&std::fs::read_to_string(path).ok()?);
    }
    Some(total)
}

/// Sums the `inuse` and `tw` counts of the `TCP:` and `TCP6:` lines of a sockstat file.
pub fn parse_sockstat(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("TCP:") || l.starts_with("TCP6:"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .windows(2)
                .filter(|w| w[0] == "inuse" || w[0] == "tw")
                .filter_map(|w| w[1].parse::<usize>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn clock_ticks() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u32::try_from(hz).ok().filter(|hz| *hz > 0).unwrap_or(100)
}

/// Parses one data line of `/proc/net/tcp` (`family` Inet) or `/proc/net/tcp6` (Inet6):
/// `sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`.
pub fn parse_line(line: &str, family: Family, ticks_per_second: u32) -> Result<SockRecord, String> {
    let mut fields = line.split_ascii_whitespace();
    let mut next = |name: &str| {
        fields
            .next()
            .ok_or_else(|| format!("missing column {name}"))
    };
    next("sl")?;
    let local = endpoint(next("local_address")?, family)?;
    let remote = endpoint(next("rem_address")?, family)?;
    let state = hex(next("st")?, "st")?;
    let state = u8::try_from(state)
        .ok()
        .and_then(TcpState::from_kernel)
        .ok_or_else(|| format!("unknown state {state:#x}"))?;
    next("tx_queue:rx_queue")?;
    let (timer, when) = timer(next("tr:tm->when")?)?;
    let retrans = hex(next("retrnsmt")?, "retrnsmt")?;
    let uid = decimal(next("uid")?, "uid")?;
    next("timeout")?;
    let inode = decimal(next("inode")?, "inode")?;
    Ok(SockRecord {
        local,
        remote,
        state,
        timer: TimerKind::from_kernel(timer),
        retrans: u8::try_from(retrans).unwrap_or(u8::MAX),
        expires_ms: ticks_to_ms(when, ticks_per_second),
        uid,
        inode,
        cookie: 0,
        // /proc/net/tcp does not show the bound device.
        dev: BoundDev::NONE,
    })
}

/// `ADDR:PORT` in hex; the address is 1 (IPv4) or 4 (IPv6) 32-bit words printed in host order.
fn endpoint(text: &str, family: Family) -> Result<Endpoint, String> {
    let (addr, port) = text
        .split_once(':')
        .ok_or_else(|| format!("bad address {text}"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("bad port in {text}"))?;
    let ip = match (family, addr.len()) {
        (Family::Inet, 8) => IpAddr::V4(Ipv4Addr::from(word(addr, 0)?.to_ne_bytes())),
        (Family::Inet6, 32) => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr, i)?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err(format!("bad address {text}")),
    };
    Ok(Endpoint::new(ip, port))
}

/// The `i`-th 8-hex-digit word of an address column (the caller checked its length).
fn word(addr: &str, i: usize) -> Result<u32, String> {
    addr.get(i * 8..i * 8 + 8)
        .and_then(|w| u32::from_str_radix(w, 16).ok())
        .ok_or_else(|| format!("bad address {addr}"))
}

/// `tr:tm->when`: the timer kind and its remaining time in clock ticks.
fn timer(text: &str) -> Result<(u8, u64), String> {
    let (tr, when) = text
        .split_once(':')
        .ok_or_else(|| format!("bad timer {text}"))?;
    let tr = u8::from_str_radix(tr, 16).map_err(|_| format!("bad timer {text}"))?;
    let when = u64::from_str_radix(when, 16).map_err(|_| format!("bad timer {text}"))?;
    Ok((tr, when))
}

fn ticks_to_ms(ticks: u64, ticks_per_second: u32) -> u32 {
    let ms = ticks.saturating_mul(1000) / u64::from(ticks_per_second.max(1));
    u32::try_from(ms).unwrap_or(u32::MAX)
}

fn hex(text: &str, name: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 16).map_err(|_| format!("bad {name} {text}"))
}

fn decimal(text: &str, name: &str) -> Result<u32, String> {
    text.parse().map_err(|_| format!("bad {name} {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat_counts_tcp_in_use_and_time_wait() {
        let v4 = "sockets: used 8\nTCP: inuse 5 orphan 1 tw 7 alloc 9 mem 2\nUDP: inuse 3 mem 0\n";
        let v6 = "TCP6: inuse 2\nUDP6: inuse 4\n";
        assert_eq!(parse_sockstat(v4), 12);
        assert_eq!(parse_sockstat(v6), 2);
        assert_eq!(parse_sockstat("garbage"), 0);
    }

    fn ep(s: &str) -> Endpoint {
        let addr: std::net::SocketAddr = s.parse().unwrap();
        Endpoint::new(addr.ip(), addr.port())
    }

    #[test]
    fn v4_listener_line() {
        let line = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000028b98954 100 0 0 10 0\n";
        let r = parse_line(line, Family::Inet, 100).unwrap();
        assert_eq!((r.local, r.remote), (ep("127.0.0.1:8080"), ep("0.0.0.0:0")));
        assert_eq!(
            (r.state, r.timer, r.uid, r.inode, r.cookie),
            (TcpState::Listen, TimerKind::Off, 1000, 31337, 0)
        );
    }

    #[test]
    fn v4_time_wait_line_converts_ticks() {
        let line = "   3: 0300007F:A1B2 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000";
        let r = parse_line(line, Family::Inet, 100).unwrap();
        assert_eq!(
            (r.local, r.remote),
            (ep("127.0.0.3:41394"), ep("127.0.0.1:8080"))
        );
        assert_eq!(
            (r.state, r.timer, r.expires_ms, r.inode),
            (TcpState::TimeWait, TimerKind::Timewait, 60_000, 0)
        );
    }

    #[test]
    fn v6_lines_read_host_order_words() {
        let line = "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0";
        let r = parse_line(line, Family::Inet6, 100).unwrap();
        assert_eq!(
            (r.local, r.remote, r.state),
            (ep("[::1]:22"), ep("[::]:0"), TcpState::Listen)
        );
        let mapped = "   1: 0000000000000000FFFF00000100007F:C350 0000000000000000FFFF00000100007F:0050 01 00000000:00000000 01:00000014 00000002     0        0 77 1 0000000000000000 20 4 30 10 -1";
        let r = parse_line(mapped, Family::Inet6, 100).unwrap();
        assert_eq!(
            (r.local, r.remote),
            (ep("[::ffff:127.0.0.1]:50000"), ep("[::ffff:127.0.0.1]:80"))
        );
        assert_eq!(
            (r.state, r.timer, r.expires_ms, r.retrans),
            (TcpState::Established, TimerKind::On, 200, 2)
        );
    }

    #[test]
    fn bad_lines_name_what_is_wrong() {
        let cases = [
            ("", "missing column sl"),
            ("0: 0100007F:1F90", "missing column rem_address"),
            ("0: 0100007F 00000000:0000 0A", "bad address 0100007F"),
            (
                "0: 0100007F:1F90 00000000:0000 0E 0:0 00:0 0 0 0 1",
                "unknown state 0xe",
            ),
            (
                "0: 0100007F:1F90 00000000:0000 0A 0:0 00:0 0 x 0 1",
                "bad uid x",
            ),
            (
                "0: 00000000000000000000000001000000:0016 00000000:0000 0A",
                "bad address 00000000000000000000000001000000:0016",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_line(line, Family::Inet, 100).unwrap_err(),
                want,
                "{line}"
            );
        }
    }
}
