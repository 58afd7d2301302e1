//! What can go wrong in `portradar probe`: mistakes in the command line (exit status 2) and failures
//! of the experiment itself (exit status 1). Causes are kept as `source`s, not repeated in the message.

use crate::collect::netns::NetnsError;
use crate::settings::PortRange;
use std::io;
use std::net::SocketAddr;

/// A probe failure.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{option} '{text}': expected {expected}")]
    Syntax {
        option: &'static str,
        text: String,
        expected: &'static str,
    },
    #[error("{option}: port {port} is out of range 1-65535")]
    PortOutOfRange { option: &'static str, port: u64 },
    #[error("{option} {low}-{high}: LOW is greater than HIGH")]
    ReversedRange {
        option: &'static str,
        low: u16,
        high: u16,
    },
    #[error("{option} must be at least 1")]
    Zero { option: &'static str },
    #[error("one connect() shows no movement: --count N times --repeat K must be at least 2")]
    TooFew,
    #[error("--sleep pauses between batches: give --repeat K with it")]
    SleepWithoutRepeat,
    #[error(
        "--range and --socket-range exclude each other (the first sets a namespace's range, the second \
         one socket's)"
    )]
    BothRanges,
    #[error("-4 and -6 exclude each other")]
    BothFamilies,
    #[error("{flag} does not match --dst {dst}")]
    FamilyMismatch { flag: &'static str, dst: SocketAddr },
    #[error(
        "--range makes a private network namespace of its own: it cannot be combined with --netns \
         (use --socket-range there)"
    )]
    NetnsWithRange,
    #[error(
        "--range {low}-{high} is one port, and the probe's own listener takes it (bind() picks its \
         port from the same range), leaving none for connect(): give at least 2 ports, or --dst \
         ADDR:PORT"
    )]
    RangeTooSmall { low: u16, high: u16 },
    #[error(transparent)]
    Netns(#[from] NetnsError),

    #[error("--range needs root or CAP_SYS_ADMIN to create its private network namespace")]
    NeedsPrivilege(#[source] io::Error),
    #[error("private network namespace: cannot {step}")]
    Namespace {
        step: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the port range from {path}")]
    ReadRange {
        path: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {what}")]
    ParseRange { path: &'static str, what: String },
    #[error("IP_LOCAL_PORT_RANGE is not supported by this kernel (it needs Linux 6.3 or later)")]
    SocketRangeUnsupported(#[source] io::Error),
    #[error("{call} failed")]
    Socket {
        call: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("connect() to {dst} allocated no local port")]
    NoPort {
        dst: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("fewer than two ports fell inside the range searched, {}-{}: nothing to judge", .0.low, .0.high)]
    NothingToJudge(PortRange),
    #[error("cannot write the report")]
    Output(#[source] io::Error),
}

impl ProbeError {
    /// True for mistakes in the command line, which the binary reports with exit status 2.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ProbeError::Syntax { .. }
                | ProbeError::PortOutOfRange { .. }
                | ProbeError::ReversedRange { .. }
                | ProbeError::Zero { .. }
                | ProbeError::TooFew
                | ProbeError::SleepWithoutRepeat
                | ProbeError::BothRanges
                | ProbeError::BothFamilies
                | ProbeError::FamilyMismatch { .. }
                | ProbeError::NetnsWithRange
                | ProbeError::RangeTooSmall { .. }
        ) || matches!(self, ProbeError::Netns(e) if e.is_usage())
    }

    /// A failed system call on a socket.
    pub(super) fn socket(call: &'static str) -> impl FnOnce(io::Error) -> ProbeError {
        move |source| ProbeError::Socket { call, source }
    }
}
