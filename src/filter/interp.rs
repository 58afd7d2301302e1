//! The kernel's side of INET_DIAG_REQ_BYTECODE, transcribed from net/ipv4/inet_diag.c (Linux 6.18):
//! the audit a program must pass before a dump (`inet_diag_bc_audit`) and the interpreter that runs
//! it on each socket (`inet_diag_bc_run`). The compiler (`bytecode.rs`) is checked against it: the unit
//! tests, the property test (`tests/filter_property.rs`) and the filter fuzz target compare what a
//! compiled program accepts here with [`Filter::matches`](super::Filter::matches).
//!
//! Like the kernel, [`Program::audit`] refuses every program the interpreter could not walk safely;
//! [`Program::accepts`] then reads only inside it. Only the operations portradar emits are
//! transcribed (and `NOP`): the kernel's mark and cgroup conditions are refused as unknown here.

use crate::socket::SockRecord;
use std::net::IpAddr;

/// Operation codes (`INET_DIAG_BC_*`).
pub(super) const OP_NOP: u8 = 0;
pub(super) const OP_JMP: u8 = 1;
pub(super) const OP_S_GE: u8 = 2;
pub(super) const OP_S_LE: u8 = 3;
pub(super) const OP_D_GE: u8 = 4;
pub(super) const OP_D_LE: u8 = 5;
pub(super) const OP_AUTO: u8 = 6;
pub(super) const OP_S_COND: u8 = 7;
pub(super) const OP_D_COND: u8 = 8;
pub(super) const OP_DEV_COND: u8 = 9;
pub(super) const OP_S_EQ: u8 = 11;
pub(super) const OP_D_EQ: u8 = 12;

pub(super) const AF_UNSPEC: u8 = libc::AF_UNSPEC as u8;
pub(super) const AF_INET: u8 = libc::AF_INET as u8;
pub(super) const AF_INET6: u8 = libc::AF_INET6 as u8;

/// `SOCK_BINDPORT_LOCK` in `sk_userlocks`: the local port was chosen by bind().
pub const SOCK_BINDPORT_LOCK: u16 = 8;

/// Why the kernel's audit refuses a program (the dump then fails with EINVAL).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("program of {0} bytes is shorter than one operation")]
    TooShort(usize),
    #[error("operation at {at} is cut short")]
    CutShort { at: usize },
    #[error("host condition at {at} has family {family}")]
    Family { at: usize, family: u8 },
    #[error("host condition at {at} has prefix length {len} for a {bits}-bit address")]
    PrefixLength { at: usize, len: u8, bits: usize },
    #[error("unknown operation code {code} at {at}")]
    UnknownCode { at: usize, code: u8 },
    #[error(
        "operation at {at} jumps {no} bytes on failure, off the program or inside an operation"
    )]
    BadNo { at: usize, no: usize },
    #[error("operation at {at} steps {yes} bytes on success, not its size")]
    BadYes { at: usize, yes: usize },
}

/// A program that passed the kernel's audit.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    bc: &'a [u8],
}

/// What the kernel's interpreter knows of a socket (`struct inet_diag_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub family: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    /// `sk_userlocks`; [`SOCK_BINDPORT_LOCK`] is the bit the `autobound` operation tests.
    pub userlocks: u16,
    /// `sk_bound_dev_if`.
    pub ifindex: u32,
}

impl Entry {
    /// The entry of a dumped socket bound to interface `ifindex` (the record keeps only a
    /// [`BoundDev`](crate::socket::BoundDev)), its bind lock inferred from its state as
    /// [`Filter::matches`](super::Filter::matches) infers `autobound`.
    pub fn new(record: &SockRecord, ifindex: u32) -> Entry {
        Entry {
            family: if record.local.ip.is_ipv4() {
                AF_INET
            } else {
                AF_INET6
            },
            saddr: addr_bytes(record.local.ip),
            daddr: addr_bytes(record.remote.ip),
            sport: record.local.port,
            dport: record.remote.port,
            userlocks: if record.state.is_connection() {
                0
            } else {
                SOCK_BINDPORT_LOCK
            },
            ifindex,
        }
    }
}

/// The kernel's 16-byte address field: an IPv4 address in the first 4 bytes.
fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    let mut out = [0; 16];
    match ip {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

/// `(code, yes, no)` of the operation header at `at`, if four bytes remain there.
fn op_at(bc: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let h = bc.get(at..at.checked_add(4)?)?;
    Some((
        h[0],
        usize::from(h[1]),
        usize::from(u16::from_ne_bytes([h[2], h[3]])),
    ))
}

/// `valid_cc`: walking `yes` steps from the start reaches the point `cc` bytes before the end.
fn valid_cc(bc: &[u8], cc: usize) -> bool {
    let (mut len, mut at) = (bc.len(), 0);
    loop {
        if cc > len {
            return false;
        }
        if cc == len {
            return true;
        }
        match op_at(bc, at) {
            Some((_, yes, _)) if yes >= 4 && yes % 4 == 0 && yes <= len => {
                len -= yes;
                at += yes;
            }
            _ => return false,
        }
    }
}

impl<'a> Program<'a> {
    /// `inet_diag_bc_audit`: every operation is known and complete, `yes` steps from one operation to
    /// the next, and every `no` is a multiple of 4 that lands on an operation, on the end (accept) or
    /// 4 bytes past it (reject).
    pub fn audit(bc: &'a [u8]) -> Result<Program<'a>, AuditError> {
        if bc.len() < 4 {
            return Err(AuditError::TooShort(bc.len()));
        }
        let (mut len, mut at) = (bc.len(), 0);
        while len > 0 {
            let (code, yes, no) = op_at(bc, at).ok_or(AuditError::CutShort { at })?;
            let min_len = 4 + operand_len(bc, at, code, len)?;
            if code != OP_NOP {
                if no < min_len || no > len + 4 || no % 4 != 0 {
                    return Err(AuditError::BadNo { at, no });
                }
                if no < len && !valid_cc(bc, len - no) {
                    return Err(AuditError::BadNo { at, no });
                }
            }
            if yes < min_len || yes > len + 4 || yes % 4 != 0 {
                return Err(AuditError::BadYes { at, yes });
            }
            // The kernel's len is signed: a `yes` of up to 4 bytes past the end ends the walk below 0.
            if yes > len {
                return Err(AuditError::BadYes { at, yes });
            }
            at += yes;
            len -= yes;
        }
        Ok(Program { bc })
    }

    /// `inet_diag_bc_run`: true when the program accepts the socket.
    pub fn accepts(&self, e: &Entry) -> bool {
        let bc = self.bc;
        let (mut len, mut at) = (bc.len(), 0);
        while len > 0 {
            // The audit guarantees a whole operation at every reachable offset.
            let Some((code, yes_step, no_step)) = op_at(bc, at) else {
                return false;
            };
            let Some(yes) = test(bc, at, code, e) else {
                return false;
            };
            let step = if yes { yes_step } else { no_step };
            if step > len {
                return false;
            }
            len -= step;
            at += step;
        }
        true
    }
}

/// The operand bytes after the header of the operation at `at` (`len` bytes left from it), checked
/// as the audit does.
fn operand_len(bc: &[u8], at: usize, code: u8, len: usize) -> Result<usize, AuditError> {
    let need = |n: usize| {
        if len < 4 + n {
            Err(AuditError::CutShort { at })
        } else {
            Ok(n)
        }
    };
    match code {
        OP_S_COND | OP_D_COND => {
            need(8)?;
            let (family, prefix) = (bc[at + 4], bc[at + 5]);
            let addr_len = match family {
                AF_UNSPEC => 0,
                AF_INET => 4,
                AF_INET6 => 16,
                family => return Err(AuditError::Family { at, family }),
            };
            need(8 + addr_len)?;
            if usize::from(prefix) > 8 * addr_len {
                return Err(AuditError::PrefixLength {
                    at,
                    len: prefix,
                    bits: 8 * addr_len,
                });
            }
            Ok(8 + addr_len)
        }
        OP_S_EQ | OP_S_GE | OP_S_LE | OP_D_EQ | OP_D_GE | OP_D_LE | OP_DEV_COND => need(4),
        OP_AUTO | OP_JMP | OP_NOP => Ok(0),
        code => Err(AuditError::UnknownCode { at, code }),
    }
}

/// The test of the operation at `at`; `None` when its operand is not there (never after the audit).
fn test(bc: &[u8], at: usize, code: u8, e: &Entry) -> Option<bool> {
    let u16_at = |i: usize| bc.get(i..i + 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let u32_at = |i: usize| {
        bc.get(i..i + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    // A port operation's argument is the `no` field of a second operation header.
    let port = || u16_at(at + 6);
    Some(match code {
        OP_NOP => true,
        OP_JMP => false,
        OP_S_EQ => e.sport == port()?,
        OP_S_GE => e.sport >= port()?,
        OP_S_LE => e.sport <= port()?,
        OP_D_EQ => e.dport == port()?,
        OP_D_GE => e.dport >= port()?,
        OP_D_LE => e.dport <= port()?,
        OP_AUTO => e.userlocks & SOCK_BINDPORT_LOCK == 0,
        OP_DEV_COND => e.ifindex == u32_at(at + 4)?,
        OP_S_COND | OP_D_COND => {
            let (family, prefix_len) = (*bc.get(at + 4)?, usize::from(*bc.get(at + 5)?));
            let port = u32_at(at + 8)? as i32;
            let cond_addr = bc.get(at + 12..)?;
            let (entry_port, addr) = if code == OP_S_COND {
                (e.sport, &e.saddr)
            } else {
                (e.dport, &e.daddr)
            };
            if port != -1 && port != i32::from(entry_port) {
                false
            } else if family != AF_UNSPEC && family != e.family {
                e.family == AF_INET6
                    && family == AF_INET
                    && addr[..10] == [0; 10]
                    && addr[10..12] == [0xff, 0xff]
                    && bitstring_match(&addr[12..], cond_addr, prefix_len)?
            } else {
                prefix_len == 0 || bitstring_match(addr, cond_addr, prefix_len)?
            }
        }
        _ => return None,
    })
}

/// `bitstring_match`: the first `bits` bits of `a` and `b` are equal; `None` when either is shorter.
fn bitstring_match(a: &[u8], b: &[u8], bits: usize) -> Option<bool> {
    let (whole, rest) = (bits / 8, bits % 8);
    if a.get(..whole)? != b.get(..whole)? {
        return Some(false);
    }
    if rest == 0 {
        return Some(true);
    }
    Some((a.get(whole)? ^ b.get(whole)?) & (0xff << (8 - rest)) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Endpoint, TcpState};

    fn entry(local: &str, remote: &str, state: TcpState) -> Entry {
        let (l, r): (Endpoint, Endpoint) = (local.parse().unwrap(), remote.parse().unwrap());
        Entry::new(&SockRecord::new(l, r, state), 0)
    }

    #[test]
    fn the_audit_refuses_malformed_programs() {
        for (bc, want) in [
            (vec![], AuditError::TooShort(0)),
            (vec![OP_JMP, 4, 6, 0], AuditError::BadNo { at: 0, no: 6 }),
            (vec![OP_AUTO, 4, 12, 0], AuditError::BadNo { at: 0, no: 12 }),
            (vec![OP_AUTO, 8, 8, 0], AuditError::BadYes { at: 0, yes: 8 }),
            (
                vec![99, 4, 8, 0],
                AuditError::UnknownCode { at: 0, code: 99 },
            ),
            (vec![OP_S_EQ, 8, 12, 0], AuditError::CutShort { at: 0 }),
            (
                vec![
                    OP_D_COND, 12, 16, 0, AF_UNSPEC, 1, 0, 0, 0xff, 0xff, 0xff, 0xff,
                ],
                AuditError::PrefixLength {
                    at: 0,
                    len: 1,
                    bits: 0,
                },
            ),
            (
                vec![OP_D_COND, 12, 16, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
                AuditError::Family { at: 0, family: 3 },
            ),
            // A jump into the middle of the second operation.
            (
                vec![OP_AUTO, 4, 8, 0, OP_S_EQ, 8, 12, 0, 0, 0, 80, 0],
                AuditError::BadNo { at: 0, no: 8 },
            ),
        ] {
            assert_eq!(Program::audit(&bc).unwrap_err(), want, "{bc:?}");
        }
    }

    #[test]
    fn accept_is_the_end_reject_four_bytes_past_it() {
        let client = entry("127.0.0.1:40000", "127.0.0.1:80", TcpState::Established);
        let listener = entry("127.0.0.1:80", "0.0.0.0:0", TcpState::Listen);
        // AUTO, failing to reject.
        let auto = [OP_AUTO, 4, 8, 0];
        let program = Program::audit(&auto).unwrap();
        assert!(program.accepts(&client) && !program.accepts(&listener));
        // D_EQ 80: the port is the `no` field of a second header.
        let mut dport = vec![OP_D_EQ, 8, 12, 0, 0, 0];
        dport.extend_from_slice(&80u16.to_ne_bytes());
        let program = Program::audit(&dport).unwrap();
        assert!(program.accepts(&client) && !program.accepts(&listener));
    }
}
