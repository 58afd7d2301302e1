//! Refreshing several network namespaces (`--all-netns`). A [`NsRefresher`] is a [`Refresher`]
//! opened inside one namespace: its netlink socket stays bound to the namespace it was created in,
//! so it is opened once; the kernel settings (port range, reserved ports, tw_reuse) are read from
//! `/proc/sys/net`, which answers for the reading thread's namespace, so every refresh enters the
//! namespace first. Only the calling thread moves: callers run these on a thread of their own
//! ([`read_all`] once, [`Sweeper`] over and over, [`LazyNs`] in the refresh worker).
//!
//! `portradar export --all-netns` takes the same path (`crate::export::run_all_netns`): [`Sweeper`]
//! with the discovered namespaces (`collect::namespaces::discover`), one [`NsSummary`] per namespace
//! and interval slot.

use super::{Refresh, Refresher};
use crate::attribution::ProcessLookup;
use crate::collect::Families;
use crate::collect::namespaces::{EnterError, Namespace};
use crate::filter::Filter;
use crate::model::{Destination, Snapshot};
use crate::socket::SockRecord;
use std::fs::File;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

/// A refresher that reads one namespace.
pub struct NsRefresher {
    pub namespace: Namespace,
    file: File,
    pub refresher: Refresher,
}

/// One namespace's reading.
pub struct NsReading {
    pub snapshot: Result<Snapshot, String>,
    /// How long it took (entering, settings, dump, model, attribution).
    pub took: Duration,
}

impl NsRefresher {
    /// Enters `namespace` on the calling thread and opens a refresher there, labelled with the
    /// namespace's name.
    pub fn open(
        namespace: Namespace,
        families: Families,
        filter: Option<Filter>,
        lookup: Option<ProcessLookup>,
    ) -> Result<NsRefresher, EnterError> {
        let file = namespace.open()?;
        namespace.enter(&file)?;
        let mut refresher = Refresher::new(Some(namespace.label.clone()), families, filter);
        refresher.set_process_lookup(lookup);
        Ok(NsRefresher {
            namespace,
            file,
            refresher,
        })
    }

    /// Enters the namespace on the calling thread and refreshes.
    pub fn refresh(&mut self) -> NsReading {
        let start = Instant::now();
        let snapshot = self
            .namespace
            .enter(&self.file)
            .map_err(|e| e.to_string())
            .and_then(|()| self.refresher.refresh().map_err(|e| e.to_string()));
        NsReading {
            snapshot,
            took: start.elapsed(),
        }
    }
}

/// Opens and reads every namespace of `namespaces` once, back to back, on a thread of its own (the
/// caller stays where it is). A namespace that cannot be entered (its last process exited since
/// it was found) is left out.
pub fn read_all(
    namespaces: Vec<Namespace>,
    families: Families,
    filter: Option<Filter>,
    lookup: Option<ProcessLookup>,
) -> Vec<(NsRefresher, NsReading)> {
    std::thread::scope(|s| {
        s.spawn(move || {
            namespaces
                .into_iter()
                .filter_map(|ns| NsRefresher::open(ns, families, filter.clone(), lookup).ok())
                .map(|mut r| {
                    let reading = r.refresh();
                    (r, reading)
                })
                .collect()
        })
        .join()
        .unwrap_or_default()
    })
}

/// One namespace's line in the namespaces view: its tightest destination and outlook.
#[derive(Clone, Debug)]
pub struct NsSummary {
    pub namespace: Namespace,
    /// When it was read, and how long that took.
    pub read_at: SystemTime,
    pub took: Duration,
    /// The snapshot, or why there is none.
    pub snapshot: Result<Arc<Snapshot>, String>,
}

impl NsSummary {
    /// The destination with the fewest free ports, and how many.
    pub fn tightest(&self) -> Option<(&Destination, u32)> {
        let snap = self.snapshot.as_ref().ok()?;
        snap.destinations
            .iter()
            .filter_map(|d| d.min_free().map(|free| (d, free)))
            .min_by_key(|(_, free)| *free)
    }

    /// Free ports toward the tightest destination, the whole range when there is none: the
    /// namespaces view's sort key (tightest first; failed readings last).
    pub fn headroom(&self) -> u32 {
        match (&self.snapshot, self.tightest()) {
            (Err(_), _) => u32::MAX,
            (Ok(_), Some((_, free))) => free,
            (Ok(snap), None) => snap.settings.port_range.size(),
        }
    }
}

/// Reads every namespace of a list over and over from a thread of its own, one at a time, spread
/// evenly over the interval (K namespaces: one every interval / K) rather than all at once, and
/// sends a [`NsSummary`] after each. Dropping it stops the thread after its current reading.
pub struct Sweeper {
    summaries: Receiver<NsSummary>,
    _stop: Sender<()>,
}

impl Sweeper {
    /// Starts the thread. Each namespace's refresher is opened in it on its first reading.
    pub fn spawn(
        namespaces: Vec<Namespace>,
        families: Families,
        filter: Option<Filter>,
        interval: Duration,
    ) -> std::io::Result<Sweeper> {
        let (tx, summaries) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("netns-sweep".into())
            .spawn(move || {
                let slot = interval / u32::try_from(namespaces.len().max(1)).unwrap_or(u32::MAX);
                let mut open: Vec<Option<NsRefresher>> = namespaces.iter().map(|_| None).collect();
                loop {
                    for (i, ns) in namespaces.iter().enumerate() {
                        let start = Instant::now();
                        let reading = match &mut open[i] {
                            Some(r) => r.refresh(),
                            slot @ None => {
                                match NsRefresher::open(ns.clone(), families, filter.clone(), None)
                                {
                                    Ok(r) => slot.insert(r).refresh(),
                                    Err(e) => NsReading {
                                        snapshot: Err(e.to_string()),
                                        took: start.elapsed(),
                                    },
                                }
                            }
                        };
                        let summary = NsSummary {
                            namespace: ns.clone(),
                            read_at: SystemTime::now(),
                            took: reading.took,
                            snapshot: reading.snapshot.map(Arc::new),
                        };
                        if tx.send(summary).is_err() {
                            return;
                        }
                        let wait = slot.saturating_sub(start.elapsed());
                        match stopped.recv_timeout(wait) {
                            Err(RecvTimeoutError::Timeout) => {}
                            _ => return,
                        }
                    }
                }
            })?;
        Ok(Sweeper {
            summaries,
            _stop: stop,
        })
    }

    /// The next reading, if one is waiting.
    pub fn try_recv(&self) -> Result<NsSummary, TryRecvError> {
        self.summaries.try_recv()
    }

    /// The next reading, waiting at most `timeout` for it.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<NsSummary, RecvTimeoutError> {
        self.summaries.recv_timeout(timeout)
    }
}

/// A namespace's refresher for the refresh worker (`Enter` on the namespaces view): opened inside
/// the namespace by the worker's own thread on its first refresh.
pub struct LazyNs {
    namespace: Namespace,
    families: Families,
    filter: Option<Filter>,
    lookup: Option<ProcessLookup>,
    open: Option<NsRefresher>,
}

impl LazyNs {
    pub fn new(
        namespace: Namespace,
        families: Families,
        filter: Option<Filter>,
        lookup: Option<ProcessLookup>,
    ) -> LazyNs {
        LazyNs {
            namespace,
            families,
            filter,
            lookup,
            open: None,
        }
    }
}

impl Refresh for LazyNs {
    fn refresh(&mut self) -> Result<Snapshot, String> {
        if self.open.is_none() {
            let opened = NsRefresher::open(
                self.namespace.clone(),
                self.families,
                self.filter.clone(),
                self.lookup,
            );
            self.open = Some(opened.map_err(|e| e.to_string())?);
        }
        let open = self.open.as_mut().ok_or("not open")?;
        open.refresh().snapshot
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        if let Some(open) = &mut self.open {
            open.refresher.set_filter(filter.clone());
        }
        self.filter = filter;
    }

    fn records(&self) -> &[SockRecord] {
        self.open.as_ref().map_or(&[], |o| o.refresher.records())
    }
}
