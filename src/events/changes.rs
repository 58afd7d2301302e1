//! The state changes of one namespace's sockets, queued for the table maintained between dumps
//! (`collect::maintained`): the event thread pushes every TCP transition of the namespace, the
//! refresher takes them at each refresh. Bounded: past [`MAX_QUEUED`] the queue stops growing and
//! says it overflowed, which calls for a full dump, as a lost record does.

use super::Transition;
use crate::model::ResyncFound;
use crate::socket::{Endpoint, TcpState};

/// Changes kept between two refreshes at most (72 bytes each: 18 MiB). A paused dashboard
/// overflows it after a while and resyncs when it resumes.
pub const MAX_QUEUED: usize = 1 << 18;

/// One socket's state change, as much of a [`Transition`] as the table needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// CLOCK_BOOTTIME in nanoseconds.
    pub time_ns: u64,
    /// The socket cookie (sock_diag's `idiag_cookie`).
    pub cookie: u64,
    /// cgroup v2 id of the task that made the change: the socket's own on CLOSE→SYN_SENT (connect()
    /// runs in its caller), anyone's out of SYN_SENT, 0 on the others.
    pub cgroup: u64,
    /// The ends as the socket had them at the change (port 0: not set yet).
    pub local: Endpoint,
    pub remote: Endpoint,
    pub old: TcpState,
    pub new: TcpState,
}

impl Change {
    /// The change a transition records; `None` for state numbers no TCP socket has.
    pub fn of(t: &Transition) -> Option<Change> {
        Some(Change {
            time_ns: t.time_ns,
            cookie: t.cookie,
            cgroup: t.cgroup,
            local: t.local,
            remote: t.remote,
            old: TcpState::from_kernel(t.old_state)?,
            new: TcpState::from_kernel(t.new_state)?,
        })
    }
}

/// The changes since the last take, how far the event thread has read, and what the last resync
/// found.
#[derive(Debug, Default)]
pub struct Changes {
    queued: Vec<Change>,
    overflowed: bool,
    caught_up_ns: u64,
    resync: Option<ResyncFound>,
}

impl Changes {
    /// Queues one change; past [`MAX_QUEUED`] it is dropped and the queue marked overflowed.
    pub fn push(&mut self, change: Change) {
        if self.queued.len() < MAX_QUEUED {
            self.queued.push(change);
        } else {
            self.overflowed = true;
        }
    }

    /// Moves the queued changes to the end of `into`, oldest first; returns whether some were
    /// dropped since the last take (then the maintained table is wrong until a full dump).
    pub fn take_into(&mut self, into: &mut Vec<Change>) -> bool {
        into.append(&mut self.queued);
        std::mem::take(&mut self.overflowed)
    }

    /// Every change stamped before `ns` (boot clock) has been read from the ring buffer.
    pub fn set_caught_up(&mut self, ns: u64) {
        self.caught_up_ns = self.caught_up_ns.max(ns);
    }

    /// The boot-clock time before which every change has been queued.
    pub fn caught_up(&self) -> u64 {
        self.caught_up_ns
    }

    /// Sets what the last resync found (maintained table against a fresh dump), or `None` when
    /// the table is no longer kept (a filtered table is dumped at every refresh).
    pub fn set_resync(&mut self, found: Option<ResyncFound>) {
        self.resync = found;
    }

    /// What the last resync found, while the table is kept and once one compared.
    pub fn resync(&self) -> Option<ResyncFound> {
        self.resync
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(time_ns: u64) -> Change {
        let end = Endpoint::new([127, 0, 0, 1].into(), 1);
        Change {
            time_ns,
            cookie: 1,
            cgroup: 0,
            local: end,
            remote: end,
            old: TcpState::Close,
            new: TcpState::SynSent,
        }
    }

    #[test]
    fn changes_come_out_in_order_and_an_overflow_is_told_once() {
        let mut c = Changes::default();
        for t in 0..MAX_QUEUED as u64 + 2 {
            c.push(change(t));
        }
        let mut out = vec![change(99)];
        assert!(c.take_into(&mut out), "two were dropped");
        assert_eq!(out.len(), MAX_QUEUED + 1);
        assert_eq!(
            (out[1].time_ns, out[MAX_QUEUED].time_ns),
            (0, MAX_QUEUED as u64 - 1)
        );
        assert!(!c.take_into(&mut out), "told once");
        assert_eq!(out.len(), MAX_QUEUED + 1);
    }

    #[test]
    fn the_caught_up_time_never_goes_back() {
        let mut c = Changes::default();
        c.set_caught_up(10);
        c.set_caught_up(5);
        assert_eq!(c.caught_up(), 10);
        assert_eq!(c.resync(), None);
        let found = ResyncFound {
            differences: 3,
            explainable: 5,
        };
        c.set_resync(Some(found));
        assert_eq!(c.resync(), Some(found));
        c.set_resync(None);
        assert_eq!(c.resync(), None);
    }

    #[test]
    fn transitions_with_unknown_states_make_no_change() {
        let t = Transition {
            time_ns: 1,
            cookie: 2,
            cgroup: 3,
            pid: 4,
            comm: String::new(),
            netns: 5,
            local: Endpoint::new([127, 0, 0, 1].into(), 40000),
            remote: Endpoint::new([127, 0, 0, 1].into(), 80),
            old_state: 2,
            new_state: 1,
            userlocks: 0,
        };
        let c = Change::of(&t).unwrap();
        assert_eq!(
            (c.old, c.new, c.cookie),
            (TcpState::SynSent, TcpState::Established, 2)
        );
        assert_eq!(Change::of(&Transition { new_state: 99, ..t }), None);
    }
}
