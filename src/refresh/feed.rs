//! The event thread of the live modes: attaches the allocator watcher once and records every event
//! of this network namespace into a shared [`Ledger`] as it comes, with every state change of the
//! namespace's sockets. The refresher takes from the ledger at each refresh
//! ([`super::Refresher::with_events`]): the events, and the changes that maintain its socket table
//! between dumps; the dashboard reads the latest picks from it between refreshes, so its needle
//! moves on every pick.

use crate::events::{Change, EventSource, EventsError, Ledger, boottime_ns};
use crate::pointer::DestinationKey;
use crate::portset::PortSet;
use crate::settings::KernelSettings;
use crate::socket::{SockRecord, TcpState};
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The running event thread. Dropping it stops the thread and detaches the program.
pub struct EventFeed {
    ledger: Arc<Mutex<Ledger>>,
    stop: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl EventFeed {
    /// Attaches the program on a thread of its own and starts recording the events of the network
    /// namespace the caller is in; fails with the reason events are unavailable.
    pub fn start() -> Result<EventFeed, EventsError> {
        let netns = std::fs::metadata("/proc/thread-self/ns/net")?.ino() as u32;
        let ledger = Arc::new(Mutex::new(Ledger::new(netns)));
        let (stop_rx, stop) = UnixStream::pair()?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let shared = Arc::clone(&ledger);
        let thread = thread::Builder::new()
            .name("events".into())
            .spawn(move || match EventSource::attach() {
                Ok(mut source) => {
                    let _ = ready_tx.send(Ok(()));
                    follow(&mut source, &shared, &stop_rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })?;
        let attached = ready_rx.recv().unwrap_or_else(|_| {
            Err(EventsError::Read(std::io::Error::other(
                "the event thread ended before attaching",
            )))
        });
        let feed = EventFeed {
            ledger,
            stop,
            thread: Some(thread),
        };
        attached.map(|()| feed)
    }

    /// The ledger the thread records into.
    pub fn ledger(&self) -> Arc<Mutex<Ledger>> {
        Arc::clone(&self.ledger)
    }
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        // Wakes the thread's wait; a thread already gone has closed its end.
        let _ = self.stop.write_all(&[1]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The ledger, even when a thread panicked while holding it (its counts are still counts).
pub fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// After a batch of records, how long the thread lets the next ones gather before it reads again:
/// one wake-up per connection would cost more than the records themselves, and the ring buffer
/// (about 40,000 records) holds far more than this many milliseconds of the busiest host's.
const GATHER: Duration = Duration::from_millis(10);

/// The longest the thread sleeps without reading: each read tells the ledger that every change
/// before it is queued ([`crate::events::Changes::caught_up`]), which a resync needs to know.
const CATCH_UP: Duration = Duration::from_millis(20);

/// Records events until `stop` is readable; a read failure is recorded as why events stopped.
fn follow(source: &mut EventSource, ledger: &Mutex<Ledger>, stop: &UnixStream) {
    loop {
        let wake = match source.wait(Some(stop.as_fd()), Some(CATCH_UP)) {
            Ok(wake) => wake,
            Err(e) => return lock(ledger).stop(format!("events stopped: {e}")),
        };
        // Every record written before this stamp is read below.
        let read_from = boottime_ns();
        let mut l = lock(ledger);
        let netns = l.netns();
        let records = source.read(|t, event| {
            if let Some(e) = event {
                l.record(&e);
            }
            if t.netns == netns
                && let Some(change) = Change::of(t)
            {
                l.changes().push(change);
            }
        });
        l.changes().set_caught_up(read_from);
        match source.lost() {
            Ok(lost) => l.set_lost(lost),
            Err(e) => return l.stop(format!("events stopped: {e}")),
        }
        drop(l);
        if wake.other {
            return;
        }
        if records > 0 {
            thread::sleep(GATHER);
        }
    }
}

/// What a dump says for the skips of the next picks: the ports in use toward each destination
/// (`(local ip, remote)`, local port, for ports of the range), and the ports blocked for every
/// destination (listening, bound, reserved).
pub(crate) fn occupancy<'a>(
    records: &'a [SockRecord],
    listen_ports: &[u16],
    explicit_bind_ports: &[u16],
    settings: &KernelSettings,
) -> (impl Iterator<Item = (DestinationKey, u16)> + 'a, PortSet) {
    let range = settings.port_range;
    let mut blocked = PortSet::new();
    for p in listen_ports.iter().chain(explicit_bind_ports) {
        blocked.insert(*p);
    }
    for [lo, hi] in &settings.reserved_ports {
        for p in *lo..=*hi {
            blocked.insert(p);
        }
    }
    for r in records
        .iter()
        .filter(|r| r.state == TcpState::BoundInactive)
    {
        blocked.insert(r.local.port);
    }
    let used = records
        .iter()
        .filter(move |r| r.remote.port != 0 && range.contains(r.local.port))
        .map(|r| {
            let key = DestinationKey {
                local_ip: r.local.ip,
                remote: SocketAddr::new(r.remote.ip, r.remote.port),
            };
            (key, r.local.port)
        });
    (used, blocked)
}
