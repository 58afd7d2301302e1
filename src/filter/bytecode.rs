//! Compiler from a state-free test ([`Residual`]) to inet_diag bytecode (INET_DIAG_REQ_BYTECODE).
//!
//! The kernel (net/ipv4/inet_diag.c, `inet_diag_bc_run`) runs a list of operations, each starting with
//! `struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }`: when the operation's test holds it moves
//! `yes` bytes on, otherwise `no` bytes on (`JMP` always takes `no`). A socket is accepted when the
//! program ends exactly at its last byte, rejected when it jumps 4 bytes past it. Operations used here:
//!
//! | op | code | size | test |
//! |----|------|------|------|
//! | `JMP` | 1 | 4 | none: always jumps `no` |
//! | `S_GE` `S_LE` `D_GE` `D_LE` `S_EQ` `D_EQ` | 2 3 4 5 11 12 | 8 | local/remote port against the `no` field of a second op |
//! | `AUTO` | 6 | 4 | no SOCK_BINDPORT_LOCK: the kernel chose the port |
//! | `DEV_COND` | 9 | 8 | the socket's bound interface (`sk_bound_dev_if`) equals the u32 that follows |
//! | `S_COND` `D_COND` | 7 8 | 12 + 0/4/16 | `inet_diag_hostcond { u8 family; u8 prefix_len; int port; be32 addr[] }`: port (-1 any), then family and prefix; an AF_INET prefix also matches v4-mapped AF_INET6 sockets, AF_UNSPEC any address |
//!
//! The kernel audits the program before a dump (`inet_diag_bc_audit`) and answers EINVAL unless every
//! operation is reached by walking `yes` from the start (so `yes` is always the operation's size and
//! only `no` jumps), every `no` is a multiple of 4, at least the operation's size, lands on an
//! operation, on the end or 4 bytes past it, and the walk ends exactly at the end.
//!
//! Code generation is the classic "jumping code" for boolean expressions: each node is generated with a
//! destination for true and one for false, either "fall through to what follows" or a jump to a label.
//! `not` swaps the destinations and costs nothing; a condition whose true branch must jump is followed
//! by a `JMP`. All jumps go forward. Programs are capped at [`MAX_LEN`] bytes: the audit's cost grows
//! with the square of the length, and longer filters are evaluated in user space instead.

use super::eval::Residual;
use super::interp::{
    AF_INET, AF_INET6, AF_UNSPEC, OP_AUTO, OP_D_COND, OP_D_EQ, OP_D_GE, OP_D_LE, OP_DEV_COND,
    OP_JMP, OP_S_COND, OP_S_EQ, OP_S_GE, OP_S_LE,
};
use super::{Cond, PortOp, Side};
use std::net::IpAddr;

/// Longest program emitted, in bytes.
const MAX_LEN: usize = 8192;

/// The test does not fit in [`MAX_LEN`] bytes of bytecode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("filter bytecode would exceed {MAX_LEN} bytes")]
pub(super) struct TooLong;

/// Compiles `test` to bytecode; empty when it is always true (no attribute needed).
pub(super) fn compile(test: &Residual) -> Result<Vec<u8>, TooLong> {
    if *test == Residual::Const(true) {
        return Ok(Vec::new());
    }
    let mut compiler = Compiler::default();
    compiler.node(test, Dest::Next, Dest::Jump(Target::Reject))?;
    compiler.assemble()
}

/// Where control goes: on to the next operation, or a jump.
#[derive(Clone, Copy, Debug)]
enum Dest {
    Next,
    Jump(Target),
}

#[derive(Clone, Copy, Debug)]
enum Target {
    /// A label, placed before an operation or at the end (accept).
    Label(usize),
    /// Four bytes past the end.
    Reject,
}

/// One operation: header code, the bytes that follow the header, and where `no` jumps.
#[derive(Debug)]
struct Op {
    code: u8,
    arg: Vec<u8>,
    no: Target,
}

impl Op {
    fn size(&self) -> usize {
        4 + self.arg.len()
    }
}

#[derive(Default)]
struct Compiler {
    ops: Vec<Op>,
    /// For each label, the index of the operation it stands before (`ops.len()` for the end).
    labels: Vec<Option<usize>>,
    len: usize,
}

impl Compiler {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn place(&mut self, label: usize) {
        self.labels[label] = Some(self.ops.len());
    }

    fn emit(&mut self, code: u8, arg: Vec<u8>, no: Target) -> Result<(), TooLong> {
        let op = Op { code, arg, no };
        self.len += op.size();
        if self.len > MAX_LEN {
            return Err(TooLong);
        }
        self.ops.push(op);
        Ok(())
    }

    fn goto(&mut self, dest: Dest) -> Result<(), TooLong> {
        match dest {
            Dest::Next => Ok(()),
            Dest::Jump(target) => self.emit(OP_JMP, Vec::new(), target),
        }
    }

    /// Generates `node` so that control reaches `yes` when it holds and `no` otherwise.
    fn node(&mut self, node: &Residual, yes: Dest, no: Dest) -> Result<(), TooLong> {
        match node {
            Residual::Const(true) => self.goto(yes),
            Residual::Const(false) => self.goto(no),
            Residual::Cond(cond) => self.cond(cond, yes, no),
            Residual::Not(inner) => self.node(inner, no, yes),
            Residual::And(items) => self.list(items, true, yes, no),
            Residual::Or(items) => self.list(items, false, yes, no),
        }
    }

    /// `and` (`conjunction`) or `or`: every item but the last short-circuits to the deciding
    /// destination (false for `and`, true for `or`), the last one takes both destinations.
    fn list(
        &mut self,
        items: &[Residual],
        conjunction: bool,
        yes: Dest,
        no: Dest,
    ) -> Result<(), TooLong> {
        let Some((last, first)) = items.split_last() else {
            return self.goto(if conjunction { yes } else { no });
        };
        let decides = if conjunction { no } else { yes };
        let (end, exit) = match decides {
            Dest::Jump(target) => (None, target),
            Dest::Next => {
                let end = self.label();
                (Some(end), Target::Label(end))
            }
        };
        for item in first {
            if conjunction {
                self.node(item, Dest::Next, Dest::Jump(exit))?;
            } else {
                self.node(item, Dest::Jump(exit), Dest::Next)?;
            }
        }
        self.node(last, yes, no)?;
        if let Some(end) = end {
            self.place(end);
        }
        Ok(())
    }

    fn cond(&mut self, cond: &Cond, yes: Dest, no: Dest) -> Result<(), TooLong> {
        let (code, arg, negated) = encode(cond);
        let (yes, no) = if negated { (no, yes) } else { (yes, no) };
        match (yes, no) {
            (Dest::Next, Dest::Next) => Ok(()),
            (Dest::Next, Dest::Jump(no)) => self.emit(code, arg, no),
            (Dest::Jump(yes), Dest::Next) => {
                let skip = self.label();
                self.emit(code, arg, Target::Label(skip))?;
                self.emit(OP_JMP, Vec::new(), yes)?;
                self.place(skip);
                Ok(())
            }
            (Dest::Jump(yes), Dest::Jump(no)) => {
                self.emit(code, arg, no)?;
                self.emit(OP_JMP, Vec::new(), yes)
            }
        }
    }

    fn assemble(self) -> Result<Vec<u8>, TooLong> {
        let mut offsets = Vec::with_capacity(self.ops.len() + 1);
        let mut at = 0;
        for op in &self.ops {
            offsets.push(at);
            at += op.size();
        }
        offsets.push(at);
        let end = at;
        let mut out = Vec::with_capacity(end);
        for (op, &from) in self.ops.iter().zip(&offsets) {
            let to = match op.no {
                // Every label is placed before assembly; an unplaced one would mean the end.
                Target::Label(label) => self.labels[label].map_or(end, |index| offsets[index]),
                Target::Reject => end + 4,
            };
            let yes = u8::try_from(op.size()).map_err(|_| TooLong)?;
            // Jumps only go forward; a backward one cannot be encoded (`no` is unsigned).
            let no = to
                .checked_sub(from)
                .and_then(|step| u16::try_from(step).ok())
                .ok_or(TooLong)?;
            out.push(op.code);
            out.push(yes);
            out.extend_from_slice(&no.to_ne_bytes());
            out.extend_from_slice(&op.arg);
        }
        Ok(out)
    }
}

/// The operation for a condition: code, argument bytes, and whether its test is the negation of the
/// condition.
fn encode(cond: &Cond) -> (u8, Vec<u8>, bool) {
    let port_op = |side: Side, local: u8, remote: u8| match side {
        Side::Local => local,
        Side::Remote => remote,
    };
    match *cond {
        Cond::Host {
            side,
            prefix: None,
            port: Some(port),
        } => (port_op(side, OP_S_EQ, OP_D_EQ), port_arg(port), false),
        Cond::Host { side, prefix, port } => {
            let code = port_op(side, OP_S_COND, OP_D_COND);
            let (family, len, addr) = match prefix.map(|p| (p.addr, p.len)) {
                None => (AF_UNSPEC, 0, Vec::new()),
                Some((IpAddr::V4(a), len)) => (AF_INET, len, a.octets().to_vec()),
                Some((IpAddr::V6(a), len)) => (AF_INET6, len, a.octets().to_vec()),
            };
            let port = port.map_or(-1, i32::from);
            let mut arg = vec![family, len, 0, 0];
            arg.extend_from_slice(&port.to_ne_bytes());
            arg.extend_from_slice(&addr);
            (code, arg, false)
        }
        Cond::Port { side, op, port } => {
            let eq = port_op(side, OP_S_EQ, OP_D_EQ);
            let ge = port_op(side, OP_S_GE, OP_D_GE);
            let le = port_op(side, OP_S_LE, OP_D_LE);
            match op {
                PortOp::Eq => (eq, port_arg(port), false),
                PortOp::Ne => (eq, port_arg(port), true),
                PortOp::Le => (le, port_arg(port), false),
                PortOp::Ge => (ge, port_arg(port), false),
                PortOp::Lt => match port.checked_sub(1) {
                    Some(below) => (le, port_arg(below), false),
                    None => (ge, port_arg(0), true),
                },
                PortOp::Gt => match port.checked_add(1) {
                    Some(above) => (ge, port_arg(above), false),
                    None => (le, port_arg(u16::MAX), true),
                },
            }
        }
        Cond::Dev { ifindex } => (OP_DEV_COND, ifindex.to_ne_bytes().to_vec(), false),
        Cond::Autobound => (OP_AUTO, Vec::new(), false),
    }
}

/// A port comparison's argument: a second `inet_diag_bc_op` whose `no` field holds the port.
fn port_arg(port: u16) -> Vec<u8> {
    let mut arg = vec![0, 0];
    arg.extend_from_slice(&port.to_ne_bytes());
    arg
}

#[cfg(test)]
mod tests {
    //! Every program compiled here is checked with the kernel's audit and interpreter (`interp.rs`).

    use super::*;
    use crate::filter::Filter;
    use crate::filter::StateSet;
    use crate::filter::interp::Program;
    use crate::socket::TcpState;

    fn audit(bc: &[u8]) -> Result<Program<'_>, crate::filter::interp::AuditError> {
        Program::audit(bc)
    }

    fn bc(text: &str) -> Vec<u8> {
        let k = Filter::parse(text).unwrap().kernel();
        audit(&k.bytecode).unwrap_or_else(|e| panic!("{text}: {e}: {:?}", k.bytecode));
        k.bytecode
    }

    /// Splits a program into `(code, yes, no, arg)` per op.
    fn ops(bc: &[u8]) -> Vec<(u8, u8, u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bc.len() {
            let size = usize::from(bc[at + 1]);
            out.push((
                bc[at],
                bc[at + 1],
                u16::from_ne_bytes([bc[at + 2], bc[at + 3]]),
                bc[at + 4..at + size].to_vec(),
            ));
            at += size;
        }
        out
    }

    fn port(p: u16) -> Vec<u8> {
        port_arg(p)
    }

    fn hostcond(family: u8, len: u8, port: i32, addr: &[u8]) -> Vec<u8> {
        let mut v = vec![family, len, 0, 0];
        v.extend_from_slice(&port.to_ne_bytes());
        v.extend_from_slice(addr);
        v
    }

    #[test]
    fn layout_of_each_condition() {
        assert_eq!(
            ops(&bc("dst 127.0.2.1")),
            [(
                OP_D_COND,
                16,
                20,
                hostcond(AF_INET, 32, -1, &[127, 0, 2, 1])
            )]
        );
        assert_eq!(
            ops(&bc("src 10.0.0.0/8:443")),
            [(OP_S_COND, 16, 20, hostcond(AF_INET, 8, 443, &[10, 0, 0, 0]))]
        );
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(
            ops(&bc("dst [::1]:22")),
            [(OP_D_COND, 28, 32, hostcond(AF_INET6, 128, 22, &v6))]
        );
        assert_eq!(ops(&bc("dst :443")), [(OP_D_EQ, 8, 12, port(443))]);
        assert_eq!(ops(&bc("src *:22")), [(OP_S_EQ, 8, 12, port(22))]);
        assert_eq!(ops(&bc("dport = 80")), [(OP_D_EQ, 8, 12, port(80))]);
        assert_eq!(ops(&bc("sport = 80")), [(OP_S_EQ, 8, 12, port(80))]);
        assert_eq!(ops(&bc("dport >= 80")), [(OP_D_GE, 8, 12, port(80))]);
        assert_eq!(ops(&bc("dport <= 80")), [(OP_D_LE, 8, 12, port(80))]);
        assert_eq!(ops(&bc("sport < 80")), [(OP_S_LE, 8, 12, port(79))]);
        assert_eq!(ops(&bc("sport > 80")), [(OP_S_GE, 8, 12, port(81))]);
        assert_eq!(ops(&bc("autobound")), [(OP_AUTO, 4, 8, vec![])]);
        assert_eq!(
            ops(&bc("dev 7")),
            [(OP_DEV_COND, 8, 12, 7u32.to_ne_bytes().to_vec())]
        );
        assert_eq!(
            ops(&bc("dev != 7")),
            [
                (OP_DEV_COND, 8, 12, 7u32.to_ne_bytes().to_vec()),
                (OP_JMP, 4, 8, vec![])
            ]
        );
    }

    #[test]
    fn layout_of_negations() {
        // Test, then a JMP to reject that the test skips when false.
        assert_eq!(
            ops(&bc("dport != 80")),
            [(OP_D_EQ, 8, 12, port(80)), (OP_JMP, 4, 8, vec![])]
        );
        assert_eq!(
            ops(&bc("not autobound")),
            [(OP_AUTO, 4, 8, vec![]), (OP_JMP, 4, 8, vec![])]
        );
        assert_eq!(ops(&bc("not not dport = 1")), [(OP_D_EQ, 8, 12, port(1))]);
        assert_eq!(
            ops(&bc("sport < 0 or sport = 9")),
            [(OP_S_EQ, 8, 12, port(9))],
            "constant folded"
        );
        assert_eq!(
            ops(&bc("dport > 65535 or dport = 9")),
            [(OP_D_EQ, 8, 12, port(9))]
        );
    }

    #[test]
    fn layout_of_and_or() {
        // and: each test rejects on failure.
        assert_eq!(
            ops(&bc("dport = 1 and sport = 2 and autobound")),
            [
                (OP_D_EQ, 8, 24, port(1)),
                (OP_S_EQ, 8, 16, port(2)),
                (OP_AUTO, 4, 8, vec![])
            ]
        );
        // or: a passing test jumps to the end (accept), a failing one falls to the next.
        assert_eq!(
            ops(&bc("dport = 1 or sport = 2")),
            [
                (OP_D_EQ, 8, 12, port(1)),
                (OP_JMP, 4, 12, vec![]),
                (OP_S_EQ, 8, 12, port(2))
            ]
        );
        // (a or b) and c: a true skips b to c.
        assert_eq!(
            ops(&bc("(dport = 1 or dport = 2) and sport = 3")),
            [
                (OP_D_EQ, 8, 12, port(1)),
                (OP_JMP, 4, 12, vec![]),
                (OP_D_EQ, 8, 20, port(2)),
                (OP_S_EQ, 8, 12, port(3)),
            ]
        );
        // not (a and b): a false accepts, b true rejects.
        assert_eq!(
            ops(&bc("not (dport = 1 and sport = 2)")),
            [
                (OP_D_EQ, 8, 20, port(1)),
                (OP_S_EQ, 8, 12, port(2)),
                (OP_JMP, 4, 8, vec![])
            ]
        );
    }

    #[test]
    fn filters_without_address_or_port_conditions_send_no_bytecode() {
        for text in [
            "state time-wait",
            "state listen or state established",
            "dst *",
            "dport >= 0",
            "state listen or dport = 80",
        ] {
            assert!(
                Filter::parse(text).unwrap().kernel().bytecode.is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn long_programs_are_refused_and_left_to_user_space() {
        let small = vec!["dport = 1"; 100].join(" or ");
        let k = Filter::parse(&small).unwrap().kernel();
        assert!(k.exact && !k.bytecode.is_empty());
        audit(&k.bytecode).unwrap();
        let huge = vec!["dst ::1"; 400].join(" or ");
        let k = Filter::parse(&huge).unwrap().kernel();
        assert!(!k.exact && k.bytecode.is_empty());
    }

    #[test]
    fn state_sets_are_complete_for_syn_recv() {
        let set: StateSet = crate::filter::parse::parse_state("syn-recv").unwrap();
        let k = Filter::parse("state syn-recv").unwrap().kernel();
        assert_eq!(k.states, set.bits());
        assert_eq!(
            k.states,
            TcpState::SynRecv.mask_bit() | TcpState::NewSynRecv.mask_bit()
        );
    }
}
