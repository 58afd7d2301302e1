//! `portradar export --all-netns`: every network namespace's metrics in one exposition, each sample
//! labelled `netns` with the namespace's label. The namespaces are read by a [`Sweeper`] (one every
//! interval / K, not all at once); after each reading, the latest good snapshot of every namespace is
//! rendered and merged ([`metrics::merge_namespaces`]). A namespace whose reading fails keeps its
//! last good snapshot and counts the failure; one never read yet is absent.

use super::{ExportError, Latest, Options, POLL, publish, serve_once};
use crate::collect::Families;
use crate::collect::namespaces::Namespace;
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::output::metrics::{self, RefreshStatus};
use crate::refresh::namespaces::Sweeper;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;

/// A namespace's latest good snapshot, and how its readings went.
struct Reading {
    snapshot: Option<Arc<Snapshot>>,
    status: RefreshStatus,
}

/// Exports the metrics of `namespaces` until `stop` is set.
pub fn run_all_netns(
    namespaces: Vec<Namespace>,
    families: Families,
    filter: Option<Filter>,
    options: Options,
    stop: &AtomicBool,
) -> Result<(), ExportError> {
    let Options {
        mut listener,
        textfile,
        top,
        interval,
    } = options;
    let sweeper = Sweeper::spawn(namespaces, families, filter, interval).map_err(|source| {
        ExportError::Thread {
            what: "namespace sweep",
            source,
        }
    })?;
    // By label, then inode: the exposition lists the namespaces in a stable order.
    let mut readings: BTreeMap<(String, u64), Reading> = BTreeMap::new();
    let mut latest: Option<Latest> = None;
    while !stop.load(Ordering::Relaxed) {
        let summary = match sweeper.recv_timeout(POLL) {
            Ok(summary) => summary,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Err(ExportError::WorkerGone),
        };
        let key = (summary.namespace.label.clone(), summary.namespace.inode);
        let reading = readings.entry(key).or_insert(Reading {
            snapshot: None,
            status: RefreshStatus::default(),
        });
        match summary.snapshot {
            Ok(snap) => {
                reading.snapshot = Some(snap);
                reading.status.took = summary.took;
            }
            Err(_) => reading.status.failures += 1,
        }
        let rendered: Vec<(&str, String)> = readings
            .iter()
            .filter_map(|((label, _), r)| {
                let snap = r.snapshot.as_ref()?;
                Some((label.as_str(), metrics::render(snap, &r.status, top)))
            })
            .collect();
        if rendered.is_empty() {
            continue;
        }
        let text = metrics::merge_namespaces(rendered.iter().map(|(l, t)| (*l, t.as_str())));
        publish(textfile.as_ref(), &mut latest, text)?;
        serve_once(&mut listener, latest.as_ref())?;
    }
    Ok(())
}
