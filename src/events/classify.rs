//! From state changes to allocator events.
//!
//! connect() moves a socket CLOSE→SYN_SENT before it searches for a port, in the caller's context:
//! - a port already set there means bind() chose it: `bound`, reported at once;
//! - port 0 with a bound address (SOCK_BINDADDR_LOCK) is IP_BIND_ADDRESS_NO_PORT, port 0 without is a
//!   plain connect(); both wait, keyed by socket cookie, for the next change out of SYN_SENT.
//!
//! The first change out of SYN_SENT shows the chosen port (`pick` or `no_port`, credited to the
//! process that called connect(): the change itself may run in softirq context), or, when it is
//! SYN_SENT→CLOSE with port 0, a failed search (`fail`, still in the caller's context). Connections
//! waiting are bounded: past the capacity the oldest is dropped and counted in
//! [`Classifier::dropped`].

use super::record::{SOCK_BINDADDR_LOCK, Transition};
use super::{Event, EventKind};
use crate::socket::TcpState;
use std::collections::{BTreeMap, HashMap};

/// What is remembered of a connect() between CLOSE→SYN_SENT and the next change.
#[derive(Debug)]
struct Pending {
    kind: EventKind,
    age: u64,
    pid: u32,
    comm: String,
    cgroup: u64,
}

/// Turns [`Transition`]s into [`Event`]s.
#[derive(Debug)]
pub struct Classifier {
    pending: HashMap<u64, Pending>,
    /// Cookie of each waiting connect() by age, oldest first.
    by_age: BTreeMap<u64, u64>,
    next_age: u64,
    capacity: usize,
    dropped: u64,
}

impl Classifier {
    /// A classifier that keeps at most `capacity` connect()s waiting for their port (at least one).
    pub fn new(capacity: usize) -> Classifier {
        Classifier {
            pending: HashMap::new(),
            by_age: BTreeMap::new(),
            next_age: 0,
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Waiting connect()s dropped because too many were waiting: their events are lost.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// connect()s waiting for their port.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Takes one state change; returns the event it completes, if any.
    pub fn push(&mut self, t: &Transition) -> Option<Event> {
        let old = TcpState::from_kernel(t.old_state)?;
        let new = TcpState::from_kernel(t.new_state)?;
        match (old, new) {
            (TcpState::Close, TcpState::SynSent) if t.local.port != 0 => {
                Some(event(t, EventKind::Bound, new))
            }
            (TcpState::Close, TcpState::SynSent) => {
                let kind = if t.userlocks & SOCK_BINDADDR_LOCK != 0 {
                    EventKind::NoPort
                } else {
                    EventKind::Pick
                };
                self.wait(t, kind);
                None
            }
            (TcpState::SynSent, _) => {
                let pending = self.take(t.cookie);
                if t.local.port == 0 && new == TcpState::Close {
                    return Some(event(t, EventKind::Fail, new));
                }
                let p = pending?;
                let mut e = event(t, p.kind, new);
                e.pid = p.pid;
                e.comm = p.comm;
                e.cgroup = p.cgroup;
                Some(e)
            }
            _ => None,
        }
    }

    fn wait(&mut self, t: &Transition, kind: EventKind) {
        if self.take(t.cookie).is_some() {
            // A socket cannot be in CLOSE→SYN_SENT twice without leaving SYN_SENT: a lost record.
            self.dropped += 1;
        }
        if self.pending.len() >= self.capacity
            && let Some((_, cookie)) = self.by_age.pop_first()
        {
            self.pending.remove(&cookie);
            self.dropped += 1;
        }
        let age = self.next_age;
        self.next_age += 1;
        self.by_age.insert(age, t.cookie);
        self.pending.insert(
            t.cookie,
            Pending {
                kind,
                age,
                pid: t.pid,
                comm: t.comm.clone(),
                cgroup: t.cgroup,
            },
        );
    }

    fn take(&mut self, cookie: u64) -> Option<Pending> {
        let p = self.pending.remove(&cookie)?;
        self.by_age.remove(&p.age);
        Some(p)
    }
}

/// An event of `kind` at transition `at`, attributed to the task running then.
fn event(at: &Transition, kind: EventKind, state: TcpState) -> Event {
    Event {
        kind,
        time_ns: at.time_ns,
        local: at.local,
        remote: at.remote,
        state,
        pid: at.pid,
        comm: at.comm.clone(),
        cgroup: at.cgroup,
        netns: at.netns,
        cookie: at.cookie,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::record::SOCK_BINDPORT_LOCK;
    use crate::socket::Endpoint;

    const CLOSE: u8 = 7;
    const SYN_SENT: u8 = 2;
    const ESTABLISHED: u8 = 1;

    fn tr(cookie: u64, sport: u16, old: u8, new: u8, pid: u32, userlocks: u8) -> Transition {
        Transition {
            time_ns: 1000 + cookie,
            cookie,
            cgroup: u64::from(pid) + 1,
            pid,
            comm: format!("task{pid}"),
            netns: 4_026_531_840,
            local: Endpoint::new([127, 0, 0, 1].into(), sport),
            remote: Endpoint::new([127, 0, 0, 1].into(), 50001),
            old_state: old,
            new_state: new,
            userlocks,
        }
    }

    #[test]
    fn a_pick_is_credited_to_the_caller_with_the_port_seen_after_syn_sent() {
        let mut c = Classifier::new(16);
        assert_eq!(c.push(&tr(1, 0, CLOSE, SYN_SENT, 10, 0)), None);
        assert_eq!(c.waiting(), 1);
        // The SYN-ACK arrives in softirq context, in some other task.
        let e = c.push(&tr(1, 40000, SYN_SENT, ESTABLISHED, 99, 0)).unwrap();
        assert_eq!(e.kind, EventKind::Pick);
        assert_eq!(e.local.port, 40000);
        assert_eq!((e.pid, e.comm.as_str(), e.cgroup), (10, "task10", 11));
        assert_eq!(e.state, TcpState::Established);
        assert_eq!(c.waiting(), 0);
    }

    #[test]
    fn a_refused_connection_still_picked_its_port() {
        let mut c = Classifier::new(16);
        c.push(&tr(1, 0, CLOSE, SYN_SENT, 10, 0));
        let e = c.push(&tr(1, 40001, SYN_SENT, CLOSE, 0, 0)).unwrap();
        assert_eq!((e.kind, e.local.port, e.pid), (EventKind::Pick, 40001, 10));
    }

    #[test]
    fn a_failed_search_is_syn_sent_to_close_with_port_zero() {
        let mut c = Classifier::new(16);
        c.push(&tr(3, 0, CLOSE, SYN_SENT, 10, 0));
        let e = c.push(&tr(3, 0, SYN_SENT, CLOSE, 10, 0)).unwrap();
        assert_eq!((e.kind, e.local.port, e.pid), (EventKind::Fail, 0, 10));
        assert_eq!(e.remote.port, 50001);
        assert_eq!(c.waiting(), 0);
        // Seen even when the start was missed: the failure runs in the caller's context.
        let e = c.push(&tr(4, 0, SYN_SENT, CLOSE, 12, 0)).unwrap();
        assert_eq!((e.kind, e.pid), (EventKind::Fail, 12));
    }

    #[test]
    fn bind_before_connect_is_bound_at_once() {
        let mut c = Classifier::new(16);
        let locks = SOCK_BINDADDR_LOCK | SOCK_BINDPORT_LOCK;
        let e = c.push(&tr(5, 41000, CLOSE, SYN_SENT, 10, locks)).unwrap();
        assert_eq!(
            (e.kind, e.local.port, e.state),
            (EventKind::Bound, 41000, TcpState::SynSent)
        );
        assert_eq!(c.waiting(), 0);
        assert_eq!(
            c.push(&tr(5, 41000, SYN_SENT, ESTABLISHED, 10, locks)),
            None
        );
    }

    #[test]
    fn an_address_bound_without_port_is_no_port_with_the_chosen_port() {
        let mut c = Classifier::new(16);
        assert_eq!(
            c.push(&tr(6, 0, CLOSE, SYN_SENT, 10, SOCK_BINDADDR_LOCK)),
            None
        );
        let e = c
            .push(&tr(6, 40002, SYN_SENT, ESTABLISHED, 0, SOCK_BINDADDR_LOCK))
            .unwrap();
        assert_eq!(
            (e.kind, e.local.port, e.pid),
            (EventKind::NoPort, 40002, 10)
        );
    }

    #[test]
    fn changes_after_the_first_and_unknown_sockets_make_no_event() {
        let mut c = Classifier::new(16);
        assert_eq!(c.push(&tr(7, 40000, SYN_SENT, ESTABLISHED, 0, 0)), None);
        assert_eq!(c.push(&tr(7, 40000, 5, CLOSE, 0, 0)), None);
        assert_eq!(c.push(&tr(7, 40000, 99, CLOSE, 0, 0)), None);
    }

    #[test]
    fn past_capacity_the_oldest_waiting_connect_is_dropped_and_counted() {
        let mut c = Classifier::new(2);
        for cookie in 1..=3 {
            c.push(&tr(cookie, 0, CLOSE, SYN_SENT, 10, 0));
        }
        assert_eq!((c.waiting(), c.dropped()), (2, 1));
        assert_eq!(c.push(&tr(1, 40000, SYN_SENT, ESTABLISHED, 0, 0)), None);
        let e = c.push(&tr(3, 40001, SYN_SENT, ESTABLISHED, 0, 0)).unwrap();
        assert_eq!(e.local.port, 40001);
    }
}
