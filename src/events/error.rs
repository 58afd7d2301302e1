//! Why allocator events are unavailable, in one line each.

/// A reason `portradar events` (and the dashboard's events) cannot run.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(
        "events unavailable: not permitted to load BPF programs (run as root, or with CAP_BPF and CAP_PERFMON)"
    )]
    NotPermitted,
    #[error(
        "events unavailable: the kernel has no BTF ({path} is missing; needs CONFIG_DEBUG_INFO_BTF)"
    )]
    NoBtf { path: &'static str },
    #[error("events unavailable: kernel {release} is too old (needs Linux {needed} or later)")]
    KernelTooOld {
        release: String,
        needed: &'static str,
    },
    #[error("events unavailable: the kernel refused the BPF program ({step}: {reason})")]
    LoadRefused {
        step: &'static str,
        reason: String,
        /// The errno behind the refusal, when there was one.
        errno: Option<i32>,
    },
    #[error("reading allocator events: {0}")]
    Read(#[from] std::io::Error),
}
