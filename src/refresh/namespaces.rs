//! Refreshing several network namespaces (`--all-netns`). A [`NsRefresher`] is a [`Refresher`]
//! opened inside one namespace: its netlink socket stays bound to the namespace it was created in,
//! so it is opened once; the kernel settings (port range, reserved ports, tw_reuse) are read from
//! `/proc/sys/net`, which answers for the reading thread's namespace, so every refresh enters the
//! namespace first. Only the calling thread moves: callers run these on a thread of their own
//! ([`read_all`] does).

use super::Refresher;
use crate::attribution::ProcessLookup;
use crate::collect::Families;
use crate::collect::namespaces::{EnterError, Namespace};
use crate::filter::Filter;
use crate::model::Snapshot;
use std::fs::File;
use std::time::{Duration, Instant};

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
