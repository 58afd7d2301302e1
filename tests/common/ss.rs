//! `ss` (iproute2) as the tests' reference: runs it and parses its lines into portradar's own types,
//! so a test compares sockets field by field. The one parser of ss output in the tests.

use portradar::socket::{Endpoint, TcpState, TimerKind};
use std::process::Command;

/// One line of `ss -Htan[oe]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsSocket {
    pub state: TcpState,
    pub local: Endpoint,
    pub remote: Endpoint,
    /// `timer:(NAME,REMAINING,...)`, with `-o`.
    pub timer: Option<SsTimer>,
    /// `ino:`, with `-e`.
    pub inode: Option<u32>,
    /// `uid:`, with `-e`; ss leaves it out for uid 0, which this reads as `Some(0)` whenever `ino:` is
    /// there.
    pub uid: Option<u32>,
    /// `sk:` (the socket cookie, hexadecimal), with `-e`.
    pub cookie: Option<u64>,
}

/// An `ss -o` timer: its name (`timewait`, as [`TimerKind::name`]) and the milliseconds left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsTimer {
    pub name: &'static str,
    pub ms: u64,
}

/// Runs `ss -H -t -a -n` with extra flags (`"oe"`) and a filter expression, and parses every line.
/// Under a filter that names one state (`state time-wait`, and no `exclude`) ss leaves its State
/// column out; the sockets then get that state.
pub fn ss(flags: &str, filter: &[&str]) -> Vec<SsSocket> {
    let named: Vec<&str> = (filter.windows(2))
        .filter(|w| ["state", "exclude", "excl"].contains(&w[0]))
        .map(|w| w[1])
        .collect();
    let implied = match named.as_slice() {
        [one] if filter.contains(&"state") => TcpState::parse(one),
        _ => None,
    };
    run(flags, filter)
        .lines()
        .map(|l| parse_line(l, implied))
        .collect()
}

/// Like [`ss`], in the named network namespace (`ss -N NAME`).
pub fn ss_in(netns: &str, flags: &str, filter: &[&str]) -> Vec<SsSocket> {
    let mut args = vec!["-N", netns];
    args.extend_from_slice(filter);
    ss(flags, &args)
}

/// Whether this ss knows the state `ss_name` (older ones refuse `bound-inactive`).
pub fn ss_knows_state(ss_name: &str) -> bool {
    Command::new("ss")
        .args(["-Htan", "state", ss_name])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(flags: &str, filter: &[&str]) -> String {
    let out = Command::new("ss")
        .arg(format!("-Htan{flags}"))
        .args(filter)
        .output()
        .expect("run ss (iproute2)");
    assert!(
        out.status.success(),
        "ss {filter:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ss prints UTF-8")
}

/// `ESTAB 0 0 127.0.0.1:5000 127.0.0.1:41234 timer:(keepalive,59sec,0) uid:1000 ino:123 sk:1f ...`;
/// without the State column when `state` is given.
fn parse_line(line: &str, state: Option<TcpState>) -> SsSocket {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (state, at) = match state {
        Some(state) => (state, 0),
        None => (parse_state(words[0], line), 1),
    };
    assert!(words.len() >= at + 4, "short ss line {line:?}");
    let field = |key: &str| words.iter().find_map(|w| w.strip_prefix(key));
    let number = |key: &str| field(key).map(|v| v.parse().expect("ss number"));
    let inode: Option<u32> = number("ino:");
    SsSocket {
        state,
        local: parse_endpoint(words[at + 2]),
        remote: parse_endpoint(words[at + 3]),
        timer: field("timer:(").map(parse_timer),
        uid: number("uid:").or(inode.map(|_| 0)),
        inode,
        cookie: field("sk:").map(|v| u64::from_str_radix(v, 16).expect("ss cookie")),
    }
}

fn parse_state(name: &str, line: &str) -> TcpState {
    match name {
        // The kernel reports bound-inactive sockets in state CLOSE, which ss prints as UNCONN.
        "UNCONN" => TcpState::BoundInactive,
        name => TcpState::parse(name).unwrap_or_else(|| panic!("ss state {name} in {line:?}")),
    }
}

/// `127.0.0.1:80`, `[::1]:80`, `[fe80::1%lo]:80`, `0.0.0.0:*`, and `*:80`: the IPv6 wildcard of a
/// dual-stack socket.
fn parse_endpoint(text: &str) -> Endpoint {
    let (host, port) = text
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("ss endpoint {text}"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.split('%').next().unwrap_or(host);
    let ip = match host {
        "*" => "::".parse().unwrap(),
        host => host.parse().unwrap_or_else(|_| panic!("ss address {text}")),
    };
    let port = match port {
        "*" => 0,
        port => port.parse().unwrap_or_else(|_| panic!("ss port {text}")),
    };
    Endpoint::new(ip, port)
}

/// `timewait,59sec,0)` → `timewait`, 59000 ms.
fn parse_timer(text: &str) -> SsTimer {
    let mut parts = text.split(',');
    let name = parts.next().unwrap_or_default();
    let name = timer_name(name).unwrap_or_else(|| panic!("ss timer {text}"));
    let left = parts.next().unwrap_or_default();
    let ms = timer_ms(left).unwrap_or_else(|| panic!("ss time {left:?} in {text}"));
    SsTimer { name, ms }
}

/// The timer called `name` (as ss and portradar's JSON write it), as a `&'static str`.
pub fn timer_name(name: &str) -> Option<&'static str> {
    [
        TimerKind::Off,
        TimerKind::On,
        TimerKind::Keepalive,
        TimerKind::Timewait,
        TimerKind::Persist,
    ]
    .into_iter()
    .map(TimerKind::name)
    .find(|n| *n == name)
}

/// Milliseconds of a time as iproute2's `print_ms_timer` writes it: whole minutes (`1min`), then
/// seconds, then milliseconds, each left out when zero (0 ms is the empty string). Under 10 s the
/// milliseconds follow the seconds after a dot, the unit being `ms` in iproute2 up to 6.x and `sec`
/// since (`5.123ms` and `5.123sec` are both 5123 ms); from 10 s on the milliseconds are dropped
/// (`59sec`), from 10 min on the seconds too (`10min`); under a second: `076ms`.
pub fn timer_ms(text: &str) -> Option<u64> {
    let (minutes, rest) = match text.split_once("min") {
        Some((m, rest)) => (m.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let ms = if rest.is_empty() {
        0
    } else if let Some((secs, millis)) = rest.split_once('.') {
        let millis = millis
            .strip_suffix("ms")
            .or_else(|| millis.strip_suffix("sec"))?;
        if millis.len() != 3 {
            return None;
        }
        secs.parse::<u64>().ok()? * 1000 + millis.parse::<u64>().ok()?
    } else if let Some(secs) = rest.strip_suffix("sec") {
        secs.parse::<u64>().ok()? * 1000
    } else {
        rest.strip_suffix("ms")?.parse::<u64>().ok()?
    };
    Some(minutes * 60_000 + ms)
}
