//! The ss-style filter language, parsed once and used two ways.
//!
//! ```text
//! dst 10.0.0.0/8:443 and not (dport = 80 or state time-wait)
//! ```
//!
//! - [`Filter::parse`] (`parse.rs`, tokenizer and recursive-descent parser; the grammar is there) turns
//!   one string (the trailing command-line words joined by spaces, or what the user typed at the `/`
//!   prompt) into an [`Expr`], or a one-line [`FilterError`] naming the word at fault. Service, host
//!   and interface names are looked up then, once (`names.rs`). Code that builds a filter itself uses
//!   the constructors ([`Filter::dst`], [`Filter::and`], `!` for `not`, ...), which keep a text that
//!   parses back to the same filter.
//! - [`Filter::matches`] (`eval.rs`) evaluates it in user space on a [`SockRecord`]: the procfs fallback,
//!   recordings, and refining a kernel dump the kernel could not filter exactly.
//! - [`Filter::kernel`] (`eval.rs` for the state mask, `bytecode.rs` for the rest) gives what the kernel
//!   runs on a sock_diag dump: a state mask and INET_DIAG_REQ_BYTECODE for the address, port, `dev`
//!   and `autobound` conditions, plus whether the two together are the whole filter.
//!
//! Semantics follow what `ss` and the kernel do (net/ipv4/inet_diag.c): an IPv4 prefix also matches
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`), an IPv6 prefix never matches an IPv4 socket, and a
//! listener's remote end is the unspecified address with port 0, so `dst 10.1.2.3` never matches a
//! listener while `dst 0.0.0.0` matches IPv4 ones. Deliberate differences from ss: `not` binds tighter
//! than `and`, which binds tighter than `or` (ss has no precedence and reads left to right); `state` and
//! `exclude` may appear anywhere in the expression (`exclude X` is `not state X`); `dev` is compiled to
//! bytecode (ss checks it in user space); see [`Cond::Autobound`] for `autobound` and `parse_state` in
//! `parse.rs` for the state groups.

mod bytecode;
mod eval;
pub mod interp;
mod names;
mod parse;

use crate::socket::{Endpoint, SockRecord, TcpState};
use std::fmt;
use std::net::IpAddr;

/// A parsed filter expression and the text it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    text: String,
    expr: Expr,
}

/// A bad filter: the word at fault and what is wrong with it. Displays as one line:
/// `bad filter at 'tim-wait': unknown state (try ...)`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad filter at '{word}': {message}")]
pub struct FilterError {
    /// The offending word as the user wrote it (empty for an empty filter).
    pub word: String,
    /// What is wrong, in a few words.
    pub message: String,
    /// Byte offset of `word` in the filter text (its length when the text ends too early).
    pub offset: usize,
}

/// What the kernel is asked to filter on a sock_diag dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFilter {
    /// `idiag_states`: bit `1 << state` for every state in which the filter can be true. Zero when no
    /// socket can match.
    pub states: u32,
    /// INET_DIAG_REQ_BYTECODE for the address, port, `dev` and `autobound` conditions; empty means send no
    /// bytecode attribute. It accepts every socket in `states` that the filter accepts (conditions on
    /// states it cannot express are relaxed away); for `autobound` the kernel's bind lock is the
    /// reference, see [`Cond::Autobound`].
    pub bytecode: Vec<u8>,
    /// True when `states` and `bytecode` together are the whole filter, so the kernel's answer needs no
    /// user-space pass; false when the dump must be refined with [`Filter::matches`].
    pub exact: bool,
}

/// A filter expression. `And` and `Or` hold two or more operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `state NAME`: the socket is in one of these states.
    State(StateSet),
    /// An address, port or binding condition.
    Cond(Cond),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A condition on a socket's addresses, ports or binding: what the kernel's bytecode can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `dst PREFIX[:PORT]` / `src PREFIX[:PORT]`; `None` parts match anything (`dst *`, `dst :443`).
    Host {
        side: Side,
        prefix: Option<Prefix>,
        port: Option<u16>,
    },
    /// `dport OP PORT` / `sport OP PORT`.
    Port { side: Side, op: PortOp, port: u16 },
    /// `dev IFACE`: the socket is bound to this interface (0: to none). See [`BoundDev`] for what a
    /// record keeps of it; `/proc/net/tcp` does not show it, so under the procfs fallback no socket
    /// is bound to a device.
    ///
    /// [`BoundDev`]: crate::socket::BoundDev
    Dev { ifindex: u32 },
    /// `autobound`: the kernel chose the socket's local port (connect() without bind(), bind() to port
    /// 0), i.e. the socket has no SOCK_BINDPORT_LOCK. The kernel's bytecode tests the lock itself, so
    /// [`KernelFilter`] counts it as exact; a record does not carry the lock, so [`Filter::matches`]
    /// infers it from the state (everything but LISTEN, CLOSE and BOUND_INACTIVE), which is wrong only
    /// for explicitly bound client sockets and for listeners or idle bound sockets on a kernel-chosen
    /// port. ss also checks in user space that the port lies in `ip_local_port_range`, which hides
    /// explicitly bound ports inside the range from `not autobound`: the very ports the collector
    /// asks the kernel for.
    Autobound,
}

/// Which end of the connection a condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `src` / `sport`: the local end.
    Local,
    /// `dst` / `dport`: the remote end.
    Remote,
}

/// A port comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An address prefix: `addr/len`, `len` at most 32 for IPv4 and 128 for IPv6. Host bits are kept as
/// written and ignored when matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

/// A set of TCP states named by one word: a state (`time-wait`) or an ss group (`connected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSet {
    bits: u32,
    name: &'static str,
}

impl Filter {
    /// Parses a filter expression. An empty or blank string is an error: callers treat "no filter"
    /// themselves.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Ok(Filter {
            text: text.to_string(),
            expr: parse::parse(text)?,
        })
    }

    /// [`Filter::parse`] with a fixed set of names instead of the host's (no resolver, no
    /// `/etc/services`): what the fuzz targets (`fuzz/`) parse with. Built only under `cfg(fuzzing)`.
    #[cfg(fuzzing)]
    pub fn parse_offline(text: &str) -> Result<Filter, FilterError> {
        Ok(Filter {
            text: text.to_string(),
            expr: parse::parse_offline(text)?,
        })
    }

    /// The text the filter was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// `dst IP:PORT`: sockets whose remote end is exactly `remote`.
    pub fn dst(remote: Endpoint) -> Filter {
        let prefix = Prefix {
            addr: remote.ip,
            len: if remote.ip.is_ipv4() { 32 } else { 128 },
        };
        Filter {
            text: format!("dst {remote}"),
            expr: Expr::Cond(Cond::Host {
                side: Side::Remote,
                prefix: Some(prefix),
                port: Some(remote.port),
            }),
        }
    }

    /// `sport OP PORT`: a comparison of the local port.
    pub fn sport(op: PortOp, port: u16) -> Filter {
        let cond = Cond::Port {
            side: Side::Local,
            op,
            port,
        };
        Filter {
            text: cond.to_string(),
            expr: Expr::Cond(cond),
        }
    }

    /// `autobound`: sockets whose local port the kernel chose.
    pub fn autobound() -> Filter {
        Filter {
            text: "autobound".into(),
            expr: Expr::Cond(Cond::Autobound),
        }
    }

    /// `A and B`.
    pub fn and(a: Filter, b: Filter) -> Filter {
        let text = format!("{} and {}", a.operand_text(false), b.operand_text(false));
        let mut items = Vec::new();
        for expr in [a.expr, b.expr] {
            match expr {
                Expr::And(inner) => items.extend(inner),
                other => items.push(other),
            }
        }
        Filter {
            text,
            expr: Expr::And(items),
        }
    }

    /// The text as an operand of `not` (`unary`) or of `and`: in parentheses unless it binds at least
    /// as tightly.
    fn operand_text(&self, unary: bool) -> String {
        let tight = match self.expr {
            Expr::Or(_) => false,
            Expr::And(_) => !unary,
            Expr::State(_) | Expr::Cond(_) | Expr::Not(_) => true,
        };
        if tight {
            self.text.trim().to_string()
        } else {
            format!("({})", self.text.trim())
        }
    }

    /// User-space evaluation on one record (see [`Cond::Autobound`] for the one condition a record
    /// cannot decide exactly).
    pub fn matches(&self, record: &SockRecord) -> bool {
        eval::matches(&self.expr, record)
    }

    /// The state mask and bytecode for a kernel dump. Bytecode longer than the kernel can audit cheaply
    /// is dropped, and the result then is not `exact`.
    pub fn kernel(&self) -> KernelFilter {
        let (states, test, exact) = eval::kernel_split(&self.expr);
        match bytecode::compile(&test) {
            Ok(bytecode) => KernelFilter {
                states,
                bytecode,
                exact,
            },
            Err(bytecode::TooLong) => KernelFilter {
                states,
                bytecode: Vec::new(),
                exact: false,
            },
        }
    }
}

/// `!filter`: `not FILTER`.
impl std::ops::Not for Filter {
    type Output = Filter;

    fn not(self) -> Filter {
        Filter {
            text: format!("not {}", self.operand_text(true)),
            expr: Expr::Not(Box::new(self.expr)),
        }
    }
}

impl StateSet {
    /// The set's bits in kernel state-mask form (`1 << state`).
    pub fn bits(self) -> u32 {
        self.bits
    }

    /// The canonical word for the set (`time-wait`, `connected`).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// True when `state` is in the set.
    pub fn contains(self, state: TcpState) -> bool {
        self.bits & state.mask_bit() != 0
    }
}

impl Side {
    fn host_word(self) -> &'static str {
        match self {
            Side::Local => "src",
            Side::Remote => "dst",
        }
    }

    fn port_word(self) -> &'static str {
        match self {
            Side::Local => "sport",
            Side::Remote => "dport",
        }
    }
}

impl PortOp {
    /// The operator's symbol: `=`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            PortOp::Eq => "=",
            PortOp::Ne => "!=",
            PortOp::Lt => "<",
            PortOp::Le => "<=",
            PortOp::Gt => ">",
            PortOp::Ge => ">=",
        }
    }
}

/// Prints the expression back in filter syntax, fully parenthesised: `(dst 10.0.0.0/8 or not dport = 80)`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, items: &[Expr], op: &str| {
            f.write_str("(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(")")
        };
        match self {
            Expr::State(set) => write!(f, "state {}", set.name()),
            Expr::Cond(cond) => write!(f, "{cond}"),
            Expr::Not(inner) => write!(f, "not {inner}"),
            Expr::And(items) => list(f, items, "and"),
            Expr::Or(items) => list(f, items, "or"),
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cond::Host { side, prefix, port } => {
                write!(f, "{} ", side.host_word())?;
                match (prefix, port) {
                    (None, None) => f.write_str("*"),
                    (None, Some(port)) => write!(f, ":{port}"),
                    (Some(prefix), None) => write!(f, "{prefix}"),
                    (Some(p), Some(port)) if p.addr.is_ipv6() => {
                        write!(f, "[{}]/{}:{port}", p.addr, p.len)
                    }
                    (Some(prefix), Some(port)) => write!(f, "{prefix}:{port}"),
                }
            }
            Cond::Port { side, op, port } => {
                write!(f, "{} {} {port}", side.port_word(), op.symbol())
            }
            Cond::Dev { ifindex } => write!(f, "dev {ifindex}"),
            Cond::Autobound => f.write_str("autobound"),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: TcpState, local: &str, remote: &str) -> SockRecord {
        SockRecord::new(local.parse().unwrap(), remote.parse().unwrap(), state)
    }

    #[test]
    fn display_round_trips_through_parse() {
        for text in [
            "dst 10.0.0.0/8:443 and not (dport = 80 or state time-wait)",
            "src [::1]:22 or sport >= 1024 autobound",
            "dst * and src :80 and dst [2001:db8::]/32:443",
            "state connected or state syn-recv",
        ] {
            let first = Filter::parse(text).unwrap();
            let printed = first.expr().to_string();
            let again = Filter::parse(&printed).unwrap();
            assert_eq!(first.expr(), again.expr(), "{text} printed as {printed}");
        }
    }

    #[test]
    fn filter_keeps_its_text() {
        let f = Filter::parse("  dst 127.0.0.1 ").unwrap();
        assert_eq!(f.text(), "  dst 127.0.0.1 ");
    }

    #[test]
    fn kernel_and_matches_agree_on_a_mixed_filter() {
        let f = Filter::parse("state established and dst 127.0.2.0/24").unwrap();
        let k = f.kernel();
        assert_eq!(k.states, TcpState::Established.mask_bit());
        assert!(k.exact);
        assert!(!k.bytecode.is_empty());
        assert!(f.matches(&record(
            TcpState::Established,
            "127.0.0.1:40000",
            "127.0.2.9:80"
        )));
        assert!(!f.matches(&record(
            TcpState::TimeWait,
            "127.0.0.1:40000",
            "127.0.2.9:80"
        )));
        assert!(!f.matches(&record(
            TcpState::Established,
            "127.0.0.1:40000",
            "127.0.3.9:80"
        )));
    }

    #[test]
    fn constructed_filters_keep_a_text_that_parses_back() {
        let remote: Endpoint = "[2001:db8::7]:443".parse().unwrap();
        let dst = Filter::dst(remote);
        assert_eq!(dst.text(), "dst [2001:db8::7]:443");
        let explicit = Filter::and(
            !Filter::autobound(),
            Filter::and(
                Filter::sport(PortOp::Ge, 32768),
                Filter::sport(PortOp::Le, 60999),
            ),
        );
        assert_eq!(
            explicit.text(),
            "not autobound and sport >= 32768 and sport <= 60999"
        );
        assert!(matches!(explicit.expr(), Expr::And(items) if items.len() == 3));
        let mixed = !Filter::and(
            Filter::parse("dport = 1 or dport = 2").unwrap(),
            Filter::dst("10.0.0.1:80".parse().unwrap()),
        );
        assert_eq!(
            mixed.text(),
            "not ((dport = 1 or dport = 2) and dst 10.0.0.1:80)"
        );
        for f in [dst, explicit, mixed] {
            assert_eq!(
                Filter::parse(f.text()).unwrap().expr(),
                f.expr(),
                "{}",
                f.text()
            );
        }
        let r = record(TcpState::Established, "[::1]:40000", "[2001:db8::7]:443");
        assert!(Filter::dst(remote).matches(&r));
        assert!(!Filter::dst("[2001:db8::7]:80".parse().unwrap()).matches(&r));
    }

    #[test]
    fn names_that_do_not_resolve_are_one_line_errors_naming_the_word() {
        for (text, word, says) in [
            (
                "dport = :nosuchservice",
                ":nosuchservice",
                "unknown service 'nosuchservice'",
            ),
            (
                "dst no-such-host.invalid",
                "no-such-host.invalid",
                "cannot resolve host name 'no-such-host.invalid'",
            ),
            (
                "dev nosuchif0",
                "nosuchif0",
                "no such network interface 'nosuchif0'",
            ),
        ] {
            let err = Filter::parse(text).unwrap_err();
            assert_eq!(err.word, word, "{text}");
            let line = err.to_string();
            assert!(
                line.starts_with(&format!("bad filter at '{word}': {says}")),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn error_names_the_word_and_reads_as_one_line() {
        let err = Filter::parse("state tim-wait").unwrap_err();
        assert_eq!(err.word, "tim-wait");
        assert_eq!(err.offset, 6);
        let line = err.to_string();
        assert!(
            line.starts_with("bad filter at 'tim-wait': unknown state (try "),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
