//! Evaluation: user-space matching of records, and the split of an expression into what the kernel
//! can run (a state mask, and a [`Residual`] test for the bytecode).
//!
//! The split uses three-valued logic. For each TCP state the expression is evaluated with its `state`
//! conditions decided and every other condition unknown; constants fold away (`true and x` is `x`),
//! so the result is either known ([`Residual::Const`]) or the condition left to test. A state is in the
//! mask unless the result is known false. When every state in the mask leaves the same residual, mask
//! and residual together are exactly the filter. Otherwise the bytecode gets a relaxation that accepts
//! a superset: each `state` condition is replaced by whatever makes its branch pass (true under an even
//! number of `not`, false under an odd one), which is the same as pushing `not` down to the leaves and
//! replacing the state leaves by true.

use super::{Cond, Expr, PortOp, Prefix, Side};
use crate::socket::{Endpoint, SockRecord, TcpState};
use std::net::IpAddr;

/// Evaluates `expr` on one record.
pub(super) fn matches(expr: &Expr, record: &SockRecord) -> bool {
    match expr {
        Expr::State(set) => set.contains(record.state),
        Expr::Cond(cond) => cond_matches(cond, record),
        Expr::Not(inner) => !matches(inner, record),
        Expr::And(items) => items.iter().all(|e| matches(e, record)),
        Expr::Or(items) => items.iter().any(|e| matches(e, record)),
    }
}

fn endpoint(record: &SockRecord, side: Side) -> &Endpoint {
    match side {
        Side::Local => &record.local,
        Side::Remote => &record.remote,
    }
}

fn cond_matches(cond: &Cond, record: &SockRecord) -> bool {
    match *cond {
        Cond::Host { side, prefix, port } => {
            let end = endpoint(record, side);
            port.is_none_or(|p| p == end.port) && prefix.is_none_or(|p| prefix_matches(&p, end.ip))
        }
        Cond::Port { side, op, port } => {
            let have = endpoint(record, side).port;
            match op {
                PortOp::Eq => have == port,
                PortOp::Ne => have != port,
                PortOp::Lt => have < port,
                PortOp::Le => have <= port,
                PortOp::Gt => have > port,
                PortOp::Ge => have >= port,
            }
        }
        Cond::Dev { ifindex } => record.dev.is(ifindex),
        // The kernel's lock flags are not in the record: LISTEN, CLOSE and BOUND_INACTIVE sockets got
        // their port from bind(); connections (and their TIME_WAIT and request minisockets, which the
        // kernel always reports as autobound) got it from the kernel.
        Cond::Autobound => record.state.is_connection(),
    }
}

/// The kernel's hostcond address test: same family and the first `len` bits equal; an IPv4 prefix
/// also matches an IPv4-mapped IPv6 address by its IPv4 part; an IPv6 prefix never matches IPv4.
fn prefix_matches(prefix: &Prefix, ip: IpAddr) -> bool {
    match (prefix.addr, ip) {
        (IpAddr::V4(want), IpAddr::V4(have)) => {
            bits_equal(&want.octets(), &have.octets(), prefix.len)
        }
        (IpAddr::V4(want), IpAddr::V6(have)) => have
            .to_ipv4_mapped()
            .is_some_and(|have| bits_equal(&want.octets(), &have.octets(), prefix.len)),
        (IpAddr::V6(want), IpAddr::V6(have)) => {
            bits_equal(&want.octets(), &have.octets(), prefix.len)
        }
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

/// True when the first `bits` bits of `a` and `b` are equal.
fn bits_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    match (rest, a.get(whole), b.get(whole)) {
        (0, _, _) => true,
        (_, Some(x), Some(y)) => (x ^ y) & (0xffu8 << (8 - rest)) == 0,
        _ => false,
    }
}

/// What remains of an expression once its states are decided: conditions the bytecode can test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Residual {
    Const(bool),
    Cond(Cond),
    Not(Box<Residual>),
    And(Vec<Residual>),
    Or(Vec<Residual>),
}

impl Residual {
    fn cond(cond: &Cond) -> Residual {
        constant(cond).map_or(Residual::Cond(*cond), Residual::Const)
    }

    fn not(inner: Residual) -> Residual {
        match inner {
            Residual::Const(b) => Residual::Const(!b),
            Residual::Not(inner) => *inner,
            other => Residual::Not(Box::new(other)),
        }
    }

    /// `And` when `conjunction`, else `Or`, with constants folded and nested lists of the same kind
    /// flattened.
    fn list(conjunction: bool, items: impl Iterator<Item = Residual>) -> Residual {
        let mut out = Vec::new();
        for item in items {
            match item {
                // The neutral element drops out; the absorbing one decides.
                Residual::Const(b) if b == conjunction => {}
                Residual::Const(b) => return Residual::Const(b),
                Residual::And(inner) if conjunction => out.extend(inner),
                Residual::Or(inner) if !conjunction => out.extend(inner),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => Residual::Const(conjunction),
            1 => out.remove(0),
            _ if conjunction => Residual::And(out),
            _ => Residual::Or(out),
        }
    }
}

/// The value of a condition that does not depend on the socket (`dst *`, `dport >= 0`), if any.
fn constant(cond: &Cond) -> Option<bool> {
    match *cond {
        Cond::Host {
            prefix: None,
            port: None,
            ..
        } => Some(true),
        Cond::Port {
            op: PortOp::Ge,
            port: 0,
            ..
        }
        | Cond::Port {
            op: PortOp::Le,
            port: u16::MAX,
            ..
        } => Some(true),
        Cond::Port {
            op: PortOp::Lt,
            port: 0,
            ..
        }
        | Cond::Port {
            op: PortOp::Gt,
            port: u16::MAX,
            ..
        } => Some(false),
        _ => None,
    }
}

/// How `state` conditions are replaced while folding.
#[derive(Clone, Copy)]
enum StateRule {
    /// Decided for sockets in this state.
    Known(TcpState),
    /// Replaced by the value that lets its branch pass: `true` when not negated.
    Relax { positive: bool },
}

fn fold(expr: &Expr, rule: StateRule) -> Residual {
    match expr {
        Expr::State(set) => Residual::Const(match rule {
            StateRule::Known(state) => set.contains(state),
            StateRule::Relax { positive } => positive,
        }),
        Expr::Cond(cond) => Residual::cond(cond),
        Expr::Not(inner) => {
            let flipped = match rule {
                StateRule::Relax { positive } => StateRule::Relax {
                    positive: !positive,
                },
                known => known,
            };
            Residual::not(fold(inner, flipped))
        }
        Expr::And(items) => Residual::list(true, items.iter().map(|e| fold(e, rule))),
        Expr::Or(items) => Residual::list(false, items.iter().map(|e| fold(e, rule))),
    }
}

/// What the expression leaves to test on sockets in `state` (three-valued: `Const` when known).
pub(super) fn residual(expr: &Expr, state: TcpState) -> Residual {
    fold(expr, StateRule::Known(state))
}

/// A state-free test that accepts every socket the expression accepts.
pub(super) fn relaxed(expr: &Expr) -> Residual {
    fold(expr, StateRule::Relax { positive: true })
}

/// Splits `expr` for the kernel: the state mask, the test for the bytecode, and whether the two are
/// exactly the expression. A zero mask comes with `Const(true)`: nothing to send.
pub(super) fn kernel_split(expr: &Expr) -> (u32, Residual, bool) {
    let mut states = 0;
    let mut tests: Vec<Residual> = Vec::new();
    for state in TcpState::ALL {
        let test = residual(expr, state);
        if test != Residual::Const(false) {
            states |= state.mask_bit();
            if !tests.contains(&test) {
                tests.push(test);
            }
        }
    }
    match tests.len() {
        0 => (0, Residual::Const(true), true),
        1 => (states, tests.remove(0), true),
        _ => (states, relaxed(expr), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;

    fn record(state: TcpState, local: &str, remote: &str) -> SockRecord {
        SockRecord::new(local.parse().unwrap(), remote.parse().unwrap(), state)
    }

    fn est(local: &str, remote: &str) -> SockRecord {
        record(TcpState::Established, local, remote)
    }

    fn yes(filter: &str, r: &SockRecord) -> bool {
        Filter::parse(filter).unwrap().matches(r)
    }

    fn mask(states: &[TcpState]) -> u32 {
        states.iter().fold(0, |m, s| m | s.mask_bit())
    }

    const ALL: u32 = 0x3ffe;

    #[test]
    fn addresses_ports_and_prefixes() {
        let r = est("10.1.2.3:40000", "192.168.7.9:443");
        assert!(yes("dst 192.168.7.9", &r));
        assert!(yes("dst 192.168.0.0/16", &r));
        assert!(yes("dst 192.168.6.0/23", &r));
        assert!(!yes("dst 192.168.6.0/24", &r));
        assert!(yes("dst 192.168.7.9:443", &r));
        assert!(!yes("dst 192.168.7.9:80", &r));
        assert!(yes("dst :443", &r) && yes("dst *", &r) && yes("dst *:443", &r));
        assert!(yes("src 10.0.0.0/8:40000", &r));
        assert!(yes("dst 0.0.0.0/0", &r));
        assert!(
            !yes("dst ::/0", &r),
            "an IPv6 prefix never matches an IPv4 socket"
        );
        assert!(!yes("src 192.168.7.9", &r));
        assert!(yes("dst 192.168.7.8/31", &r) && !yes("dst 192.168.7.10/31", &r));
        assert!(yes("dst 192.168.7.255/24", &r), "host bits are ignored");
    }

    #[test]
    fn ipv4_prefixes_match_ipv4_mapped_ipv6() {
        let mapped = est("[::ffff:127.0.2.3]:21004", "[::ffff:127.0.0.1]:46578");
        assert!(yes("src 127.0.2.3", &mapped));
        assert!(yes("dst 127.0.0.0/8", &mapped));
        assert!(yes("dst 0.0.0.0/0", &mapped));
        assert!(
            yes("dst ::ffff:127.0.0.1", &mapped),
            "the IPv6 spelling selects mapped sockets"
        );
        assert!(yes("dst ::/0", &mapped));
        let v6 = est("[::1]:21003", "[::1]:43468");
        assert!(!yes("dst 0.0.0.0/0", &v6));
        assert!(
            !yes("dst 0.0.0.0/8", &v6),
            "no raw-bit comparison across families"
        );
        assert!(yes("not dst 0.0.0.0/8", &v6));
        assert!(yes("dst ::1 and src [::1]:21003", &v6));
        let v4 = est("127.0.0.1:46578", "127.0.2.3:21004");
        assert!(
            !yes("dst ::ffff:127.0.2.3", &v4),
            "the IPv6 spelling never matches IPv4 sockets"
        );
    }

    #[test]
    fn listeners_have_an_unspecified_remote() {
        let v4 = record(TcpState::Listen, "127.0.2.1:21001", "0.0.0.0:0");
        let v6 = record(TcpState::Listen, "[::]:21004", "[::]:0");
        assert!(!yes("dst 127.0.2.1", &v4));
        assert!(yes("dst 0.0.0.0", &v4) && !yes("dst 0.0.0.0", &v6));
        assert!(yes("dst [::]", &v6) && !yes("dst [::]", &v4));
        assert!(yes("dport = 0", &v4) && yes("dst :0", &v6));
        assert!(yes("not dst 127.0.2.1", &v4));
    }

    #[test]
    fn port_operators() {
        let r = est("127.0.0.1:1000", "127.0.0.1:2000");
        for (f, want) in [
            ("dport = 2000", true),
            ("dport != 2000", false),
            ("dport < 2000", false),
            ("dport <= 2000", true),
            ("dport > 1999", true),
            ("dport >= 2001", false),
            ("sport < 1001", true),
            ("sport > 1000", false),
            ("sport ge 1000", true),
            ("sport le 999", false),
        ] {
            assert_eq!(yes(f, &r), want, "{f}");
        }
    }

    #[test]
    fn states_and_boolean_operators() {
        let tw = record(TcpState::TimeWait, "127.0.0.1:40000", "127.0.2.1:80");
        assert!(yes("state time-wait", &tw));
        assert!(yes("state bucket and dport = 80", &tw));
        assert!(!yes("state established or dport = 81", &tw));
        assert!(yes("not (state established or dport = 81)", &tw));
        assert!(yes("state listen or dport = 81 or dst 127.0.2.1", &tw));
        let req = record(TcpState::SynRecv, "127.0.0.1:80", "127.0.0.1:40000");
        assert!(yes("state syn-recv", &req) && yes("state new-syn-recv", &req));
    }

    #[test]
    fn autobound_is_inferred_from_the_state() {
        let client = est("127.0.0.1:40000", "127.0.2.1:80");
        let listener = record(TcpState::Listen, "127.0.2.1:80", "0.0.0.0:0");
        let tw = record(TcpState::TimeWait, "127.0.2.1:80", "127.0.0.1:40000");
        assert!(yes("autobound", &client) && yes("autobound", &tw));
        assert!(!yes("autobound", &listener) && yes("not autobound", &listener));
        let bound = record(TcpState::BoundInactive, "0.0.0.0:5000", "0.0.0.0:0");
        assert!(yes("not autobound", &bound));
    }

    #[test]
    fn bit_comparison_edges() {
        assert!(bits_equal(&[0xff, 0x80], &[0xff, 0xbf], 10));
        assert!(!bits_equal(&[0xff, 0x80], &[0xff, 0xc0], 10));
        assert!(bits_equal(&[1, 2, 3, 4], &[9, 9, 9, 9], 0));
        assert!(bits_equal(&[1, 2, 3, 4], &[1, 2, 3, 4], 32));
        assert!(!bits_equal(&[1, 2, 3, 4], &[1, 2, 3, 5], 32));
    }

    fn split(text: &str) -> (u32, Residual, bool) {
        kernel_split(Filter::parse(text).unwrap().expr())
    }

    #[test]
    fn mask_without_states_is_every_state() {
        let (states, test, exact) = split("dst 10.0.0.1 or sport = 22");
        assert_eq!(states, ALL);
        assert!(matches!(test, Residual::Or(ref items) if items.len() == 2));
        assert!(exact);
    }

    #[test]
    fn mask_of_state_only_filters_is_exact_and_leaves_no_test() {
        use TcpState::*;
        for (f, want) in [
            ("state time-wait", mask(&[TimeWait])),
            (
                "state established or state listen",
                mask(&[Established, Listen]),
            ),
            ("not state listen", ALL & !mask(&[Listen])),
            (
                "state connected and not state time-wait",
                mask(&[
                    Established,
                    SynSent,
                    SynRecv,
                    FinWait1,
                    FinWait2,
                    CloseWait,
                    LastAck,
                    Closing,
                    NewSynRecv,
                ]),
            ),
            ("state syn-recv", mask(&[SynRecv, NewSynRecv])),
            ("state listen and state time-wait", 0),
        ] {
            let (states, test, exact) = split(f);
            assert_eq!(states, want, "{f}");
            assert_eq!(test, Residual::Const(true), "{f}");
            assert!(exact, "{f}");
        }
    }

    #[test]
    fn mask_uses_three_valued_logic() {
        use TcpState::*;
        // Unknown conditions keep a state in the mask; known-false ones drop it.
        let (states, test, exact) = split("state established and dst 10.0.0.1");
        assert_eq!(states, mask(&[Established]));
        assert!(matches!(test, Residual::Cond(Cond::Host { .. })));
        assert!(exact);
        let (states, _, exact) = split("(state time-wait or state fin-wait-2) and dport = 80");
        assert_eq!(states, mask(&[TimeWait, FinWait2]));
        assert!(exact, "both states leave the same test");
        let (states, test, exact) = split("state listen or dport = 80");
        assert_eq!(states, ALL, "dport = 80 may hold in any state");
        assert_eq!(
            test,
            Residual::Const(true),
            "the relaxation of 'state listen' is true"
        );
        assert!(!exact);
        let (states, test, exact) = split("not (state established and dport = 80)");
        assert_eq!(states, ALL);
        assert_eq!(test, Residual::Const(true));
        assert!(!exact);
        let (states, test, exact) =
            split("(state established and dport = 80) or (state listen and sport = 22)");
        assert_eq!(states, mask(&[Established, Listen]));
        assert!(matches!(test, Residual::Or(ref items) if items.len() == 2));
        assert!(!exact);
        // Constant conditions fold: nothing can match.
        assert_eq!(split("dport < 0").0, 0);
        assert_eq!(split("not dst *").0, 0);
        assert_eq!(
            split("dport >= 0 and state listen"),
            (mask(&[Listen]), Residual::Const(true), true)
        );
    }

    #[test]
    fn relaxation_flips_under_not() {
        let expr = Filter::parse("not (state listen or dport = 80)").unwrap();
        // not (false or d80) = not d80: a superset of the real filter.
        assert_eq!(
            relaxed(expr.expr()),
            Residual::Not(Box::new(Residual::Cond(Cond::Port {
                side: Side::Remote,
                op: PortOp::Eq,
                port: 80
            })))
        );
    }
}
