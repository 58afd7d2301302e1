//! `portradar export`: the refresh worker's snapshots as Prometheus metrics, served on `/metrics`
//! ([`http`]), written to node_exporter's textfile collector ([`textfile`]), or both.
//!
//! The worker refreshes every interval; each report is rendered once
//! ([`crate::output::metrics::render`]) and swapped in whole ([`Latest`]), so a scrape only copies
//! a pointer and never waits for a dump. A failed refresh keeps the last good snapshot and counts
//! the failure; the first refresh must succeed. With `--all-netns`, [`run_all_netns`] exports every
//! network namespace at once.

pub mod http;
mod namespaces;
pub mod textfile;

pub use namespaces::run_all_netns;

use crate::model::Snapshot;
use crate::output::metrics::{self, RefreshStatus};
use crate::refresh::{Refresh, Report, Start, Worker};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use thiserror::Error;

/// Where `export` listens unless told otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9870";

/// How often the exporter looks at its stop flag while it waits for a refresh.
const POLL: Duration = Duration::from_millis(50);

/// What to export, where and how often.
#[derive(Debug)]
pub struct Options {
    /// Serve `/metrics` on this listener (see [`listen`]).
    pub listener: Option<TcpListener>,
    /// Rewrite this textfile-collector file after every refresh.
    pub textfile: Option<PathBuf>,
    /// Destinations exported, most ports used first.
    pub top: usize,
    pub interval: Duration,
}

/// Why the exporter stopped.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error("listening on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("writing {}", path.display())]
    Textfile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting the {what} thread")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("reading the socket table: {0}")]
    FirstRefresh(String),
    #[error("the refresh thread stopped")]
    WorkerGone,
}

/// The latest exposition, shared with the scrapes: replaced whole, read by cloning a pointer.
#[derive(Clone, Debug)]
pub struct Latest(Arc<RwLock<Arc<str>>>);

impl Latest {
    pub fn new(text: String) -> Latest {
        Latest(Arc::new(RwLock::new(Arc::from(text))))
    }

    /// The exposition as it is now.
    pub fn get(&self) -> Arc<str> {
        // A writer cannot panic while holding the lock (it only assigns): poison carries no harm.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, text: String) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::from(text);
    }
}

/// The listener for `/metrics` on `addr`, bound before anything else so that a taken port fails at
/// once (port 0 picks a free one: the listener's `local_addr` tells which).
pub fn listen(addr: SocketAddr) -> Result<TcpListener, ExportError> {
    TcpListener::bind(addr).map_err(|source| ExportError::Listen { addr, source })
}

/// Exports until `stop` is set: waits for the first snapshot, then serves and rewrites the textfile
/// after every refresh.
pub fn run<R>(refresher: R, options: Options, stop: &AtomicBool) -> Result<(), ExportError>
where
    R: Refresh + Send + 'static,
{
    let Options {
        mut listener,
        textfile,
        top,
        interval,
    } = options;
    let start = Start {
        interval,
        sockets: false,
    };
    let worker = Worker::spawn(refresher, start).map_err(|source| ExportError::Thread {
        what: "refresh",
        source,
    })?;
    let mut exposer = Exposer {
        textfile,
        top,
        last: None,
        failures: 0,
        latest: None,
    };
    while !stop.load(Ordering::Relaxed) {
        let report = match worker.recv_timeout(POLL) {
            Ok(report) => report,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Err(ExportError::WorkerGone),
        };
        exposer.take(report)?;
        serve_once(&mut listener, exposer.latest.as_ref())?;
    }
    Ok(())
}

/// Starts the server on `listener` with the first exposition (once there is one).
fn serve_once(
    listener: &mut Option<TcpListener>,
    latest: Option<&Latest>,
) -> Result<(), ExportError> {
    if let Some(latest) = latest
        && let Some(listener) = listener.take()
    {
        http::spawn(listener, latest.clone()).map_err(|source| ExportError::Thread {
            what: "http",
            source,
        })?;
    }
    Ok(())
}

/// Writes `text` to the textfile, when there is one, and hands it to the scrapes.
fn publish(
    textfile: Option<&PathBuf>,
    latest: &mut Option<Latest>,
    text: String,
) -> Result<(), ExportError> {
    if let Some(path) = textfile {
        textfile::write_atomically(path, &text).map_err(|source| ExportError::Textfile {
            path: path.clone(),
            source,
        })?;
    }
    match latest {
        Some(latest) => latest.set(text),
        None => *latest = Some(Latest::new(text)),
    }
    Ok(())
}

/// The exporter's state between reports.
struct Exposer {
    textfile: Option<PathBuf>,
    top: usize,
    /// The last good snapshot and how long its refresh took.
    last: Option<(Arc<Snapshot>, Duration)>,
    failures: u64,
    latest: Option<Latest>,
}

impl Exposer {
    /// Renders a report (or, when it failed, the last good snapshot with one more failure) and
    /// publishes it.
    fn take(&mut self, report: Report) -> Result<(), ExportError> {
        match report.outcome {
            Ok(snap) => self.last = Some((snap, report.took)),
            Err(e) if self.last.is_none() => return Err(ExportError::FirstRefresh(e)),
            Err(_) => self.failures += 1,
        }
        let Some((snap, took)) = &self.last else {
            return Ok(());
        };
        let status = RefreshStatus {
            took: *took,
            failures: self.failures,
        };
        let text = metrics::render(snap, &status, self.top);
        publish(self.textfile.as_ref(), &mut self.latest, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::{rec, snapshot};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::Established;

    fn report(outcome: Result<Snapshot, String>, took_ms: u64) -> Report {
        Report {
            generation: 1,
            epoch: 0,
            took: Duration::from_millis(took_ms),
            outcome: outcome.map(Arc::new),
            sockets: None,
        }
    }

    fn good() -> Snapshot {
        let records = [rec("127.0.0.1:1000", "127.0.0.2:80", Established)];
        snapshot(&records, &KernelSettings::with_range(1000, 1009), &[])
    }

    fn exposer() -> Exposer {
        Exposer {
            textfile: None,
            top: 20,
            last: None,
            failures: 0,
            latest: None,
        }
    }

    #[test]
    fn the_first_refresh_must_succeed() {
        let mut e = exposer();
        let err = e.take(report(Err("refused".into()), 1)).unwrap_err();
        assert_eq!(err.to_string(), "reading the socket table: refused");
        assert!(e.latest.is_none());
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_snapshot_and_counts() {
        let mut e = exposer();
        e.take(report(Ok(good()), 250)).unwrap();
        let first = e.latest.clone().expect("published").get();
        assert!(first.contains("portradar_refresh_failures_total 0\n"));
        e.take(report(Err("refused".into()), 1)).unwrap();
        e.take(report(Err("refused".into()), 1)).unwrap();
        let text = e.latest.as_ref().unwrap().get();
        assert!(text.contains("portradar_refresh_failures_total 2\n"));
        assert!(text.contains("portradar_refresh_duration_seconds 0.25\n"));
        assert!(text.contains(r#"dst="127.0.0.2",dport="80"} 9"#), "{text}");
    }

    #[test]
    fn a_textfile_that_cannot_be_written_stops_the_exporter() {
        let mut e = Exposer {
            textfile: Some(PathBuf::from("/nonexistent-portradar-dir/portradar.prom")),
            ..exposer()
        };
        let err = e.take(report(Ok(good()), 1)).unwrap_err();
        assert!(matches!(err, ExportError::Textfile { .. }), "{err}");
    }
}
