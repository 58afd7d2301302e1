//! The sock_diag netlink socket: sends one TCP dump request and receives the reply into a single
//! reusable 32 KiB buffer, handing each socket to a visitor as it is parsed.
//!
//! Per dump this allocates nothing: the request and receive buffers live as long as the [`Dumper`].
//! One family is asked for with SOCK_DIAG_BY_FAMILY (`nlmsghdr` + `inet_diag_req_v2`, 72 bytes,
//! serialized by netlink-packet-sock-diag). Both families are asked for with one TCPDIAG_GETSOCK
//! request (the older `inet_diag_req`, which the crate does not know): the kernel serves it as a single
//! AF_UNSPEC walk of the TCP hash tables, where two per-family dumps would walk them twice — at a
//! million sockets that saves about a tenth of a second per refresh. The INET_DIAG_REQ_BYTECODE
//! attribute, which the crate does not know either, is appended and `nlmsg_len` fixed up.

use super::raw::{self, Step, TCPDIAG_GETSOCK};
use super::{CollectError, Families};
use crate::socket::{Family, SockRecord};
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use std::io;

/// Receive buffer size. The kernel sizes dump datagrams after the reader's buffer, capped at 32 KiB, so
/// every datagram fits.
const RECV_BUF: usize = 32 * 1024;
/// `INET_DIAG_REQ_BYTECODE`, the request attribute that carries filter bytecode.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// Size of `struct rtattr` (u16 length, u16 type).
const RTA_HDR_LEN: usize = 4;
/// `nlmsghdr` (16 bytes) + `inet_diag_req` (60 bytes).
const COMPAT_REQUEST_LEN: usize = 16 + 60;
/// Offset of `idiag_states` in a compat request: header, four u8 fields, the 48-byte socket id.
const COMPAT_STATES_AT: usize = 16 + 4 + 48;

/// An open NETLINK_SOCK_DIAG socket with its request and receive buffers.
pub struct Dumper {
    socket: Socket,
    request: Vec<u8>,
    recv: Vec<u8>,
    seq: u32,
    /// A dump was abandoned half-read: its remaining datagrams still wait in the socket.
    interrupted: bool,
}

impl Dumper {
    /// Opens the socket. Fails when the kernel or a sandbox refuses NETLINK_SOCK_DIAG.
    pub fn open() -> Result<Dumper, CollectError> {
        Ok(Dumper {
            socket: open_socket().map_err(CollectError::Open)?,
            request: Vec::with_capacity(256),
            recv: Vec::with_capacity(RECV_BUF),
            seq: 0,
            interrupted: false,
        })
    }

    /// Dumps the TCP sockets of `family` in the `states` mask, filtered by `bytecode` when it is not
    /// empty, and hands each one to `visit` with its cgroup id (0 when the kernel sent none).
    pub fn dump(
        &mut self,
        family: Families,
        states: u32,
        bytecode: &[u8],
        visit: &mut impl FnMut(SockRecord, u64),
    ) -> Result<(), CollectError> {
        if self.interrupted {
            // Cheaper and surer than draining the old dump: the kernel would refuse a new one (EBUSY).
            self.socket = open_socket().map_err(CollectError::Open)?;
            self.interrupted = false;
        }
        self.seq = self.seq.wrapping_add(1);
        let encoded = match family.only() {
            Some(one) => encode_request(&mut self.request, one, states, bytecode, self.seq),
            None => encode_compat_request(&mut self.request, states, bytecode, self.seq),
        };
        encoded.ok_or(CollectError::BytecodeTooLong {
            len: bytecode.len(),
        })?;
        send(&self.socket, &self.request)
            .map_err(|source| CollectError::Send { family, source })?;
        self.interrupted = true;
        let end = loop {
            match self.receive_one(family, visit)? {
                Step::More => continue,
                end => break end,
            }
        };
        self.interrupted = false;
        match end {
            Step::KernelError(errno) => Err(CollectError::Kernel { family, errno }),
            _ => Ok(()),
        }
    }

    /// Receives one datagram into the reused buffer and walks its messages.
    fn receive_one(
        &mut self,
        family: Families,
        visit: &mut impl FnMut(SockRecord, u64),
    ) -> Result<Step, CollectError> {
        let len = loop {
            self.recv.clear();
            match self.socket.recv(&mut self.recv, libc::MSG_TRUNC) {
                Ok(len) => break len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(CollectError::Recv { family, source }),
            }
        };
        if len > self.recv.len() {
            return Err(CollectError::Truncated {
                family,
                len,
                capacity: self.recv.capacity(),
            });
        }
        raw::walk_datagram(&self.recv, self.seq, visit)
            .map_err(|source| CollectError::Malformed { family, source })
    }
}

/// Opens a NETLINK_SOCK_DIAG socket connected to the kernel.
fn open_socket() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}

/// Sends the whole request, retrying when a signal interrupts.
fn send(socket: &Socket, request: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(request, 0) {
            Ok(n) if n == request.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::other(format!(
                    "sent {n} of {} bytes",
                    request.len()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes into `out` a SOCK_DIAG_BY_FAMILY dump request for TCP sockets of `family` in `states`, with an
/// INET_DIAG_REQ_BYTECODE attribute when `bytecode` is not empty. `None` when the bytecode does not fit
/// in an attribute.
fn encode_request(
    out: &mut Vec<u8>,
    family: Family,
    states: u32,
    bytecode: &[u8],
    seq: u32,
) -> Option<()> {
    let (family, socket_id) = match family {
        Family::Inet => (AF_INET, SocketId::new_v4()),
        Family::Inet6 => (AF_INET6, SocketId::new_v6()),
    };
    let mut message = NetlinkMessage::from(SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        // The crate names states up to CLOSING only; keep NEW_SYN_RECV and BOUND_INACTIVE bits as given.
        states: StateFlags::from_bits_retain(states),
        socket_id,
    }));
    message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.header.sequence_number = seq;
    message.finalize();
    out.clear();
    out.resize(message.buffer_len(), 0);
    message.serialize(out);
    append_bytecode(out, bytecode)
}

/// Writes into `out` a TCPDIAG_GETSOCK dump request for the TCP sockets of both families in `states`
/// (the socket id stays zero: a dump with a destination port would skip the listeners).
fn encode_compat_request(out: &mut Vec<u8>, states: u32, bytecode: &[u8], seq: u32) -> Option<()> {
    out.clear();
    out.resize(COMPAT_REQUEST_LEN, 0);
    out[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    out[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    out[8..12].copy_from_slice(&seq.to_ne_bytes());
    out[COMPAT_STATES_AT..COMPAT_STATES_AT + 4].copy_from_slice(&states.to_ne_bytes());
    append_bytecode(out, bytecode)
}

/// Appends the INET_DIAG_REQ_BYTECODE attribute when there is bytecode, and sets `nlmsg_len`. `None`
/// when the bytecode does not fit in an attribute.
fn append_bytecode(out: &mut Vec<u8>, bytecode: &[u8]) -> Option<()> {
    let attr_len = u16::try_from(RTA_HDR_LEN + bytecode.len()).ok()?;
    if !bytecode.is_empty() {
        out.extend_from_slice(&attr_len.to_ne_bytes());
        out.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        out.extend_from_slice(bytecode);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let total = u32::try_from(out.len()).ok()?;
    out[..4].copy_from_slice(&total.to_ne_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_sock_diag::constants::SOCK_DIAG_BY_FAMILY;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn base_request_is_72_bytes_with_every_state_bit() {
        let mut out = Vec::new();
        encode_request(&mut out, Family::Inet6, 0x3ffe, &[], 9).unwrap();
        assert_eq!(out.len(), 72);
        assert_eq!(u32_at(&out, 0), 72);
        assert_eq!(u16::from_ne_bytes([out[4], out[5]]), SOCK_DIAG_BY_FAMILY);
        assert_eq!(
            u16::from_ne_bytes([out[6], out[7]]),
            NLM_F_REQUEST | NLM_F_DUMP
        );
        assert_eq!(u32_at(&out, 8), 9);
        assert_eq!((out[16], out[17], out[18]), (AF_INET6, IPPROTO_TCP, 0));
        assert_eq!(
            u32_at(&out, 20),
            0x3ffe,
            "NEW_SYN_RECV and BOUND_INACTIVE bits kept"
        );
        assert!(
            out[24..].iter().all(|b| *b == 0),
            "socket id left zero for a dump"
        );
    }

    #[test]
    fn bytecode_goes_in_a_padded_attribute_counted_in_nlmsg_len() {
        let mut out = Vec::new();
        let bytecode = [1, 2, 3, 4, 5, 6];
        encode_request(&mut out, Family::Inet, 1 << 6, &bytecode, 1).unwrap();
        assert_eq!(out.len(), 72 + 12);
        assert_eq!(u32_at(&out, 0), 84);
        assert_eq!(
            u16::from_ne_bytes([out[72], out[73]]),
            10,
            "rta_len excludes padding"
        );
        assert_eq!(
            u16::from_ne_bytes([out[74], out[75]]),
            INET_DIAG_REQ_BYTECODE
        );
        assert_eq!(&out[76..82], &bytecode);
        assert_eq!(&out[82..], &[0, 0]);
    }

    #[test]
    fn compat_request_carries_the_states_and_bytecode() {
        let mut out = Vec::new();
        encode_compat_request(&mut out, 0x1ffe, &[9, 9, 9, 9], 7).unwrap();
        assert_eq!(out.len(), COMPAT_REQUEST_LEN + 8);
        assert_eq!(u32_at(&out, 0) as usize, out.len());
        assert_eq!(u16::from_ne_bytes([out[4], out[5]]), TCPDIAG_GETSOCK);
        assert_eq!(u32_at(&out, 8), 7);
        assert_eq!(u32_at(&out, COMPAT_STATES_AT), 0x1ffe);
        assert!(
            out[16..COMPAT_STATES_AT].iter().all(|b| *b == 0),
            "AF_UNSPEC, zero socket id"
        );
        assert_eq!(&out[COMPAT_REQUEST_LEN + 4..], &[9, 9, 9, 9]);
    }

    #[test]
    fn oversized_bytecode_is_refused() {
        let mut out = Vec::new();
        assert!(encode_request(&mut out, Family::Inet, 2, &vec![0; 70_000], 1).is_none());
    }
}
