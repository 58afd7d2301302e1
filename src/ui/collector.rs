//! The collector thread: dumps and aggregates the socket table every interval and hands each
//! snapshot to the UI thread as an `Arc`, numbered. The UI never waits for it: it sends commands
//! (filter, interval, pause) and picks reports up between key polls. A filter change starts a new
//! epoch with a fresh history (rates and allocations of one filter say nothing about another) and
//! refreshes at once; reports carry their epoch so the UI can drop stale ones.

use crate::collect::Families;
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::refresh::Refresher;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// A refresh may use at most this share of the time between refreshes: a slower one stretches the
/// interval, so portradar never eats more than about a quarter of a core.
const MAX_BUSY_SHARE: u32 = 4;

/// The time from one refresh's start to the next, for the chosen `interval` and a refresh that took
/// `took`: the interval, stretched to four times the refresh when that is longer.
pub fn effective_interval(interval: Duration, took: Duration) -> Duration {
    interval.max(took * MAX_BUSY_SHARE)
}

/// Something that produces snapshots: [`Refresher`], or a stand-in in tests. A failure is only
/// ever shown, so it comes as its message.
pub trait Refresh {
    fn refresh(&mut self, families: Families, filter: Option<&Filter>) -> Result<Snapshot, String>;
}

impl Refresh for Refresher {
    fn refresh(&mut self, families: Families, filter: Option<&Filter>) -> Result<Snapshot, String> {
        Refresher::refresh(self, families, filter).map_err(|e| e.to_string())
    }
}

/// What the UI asks of the collector.
#[derive(Clone, Debug)]
pub enum Command {
    /// Dump with this filter from now on (the kernel filters), as epoch `epoch`.
    SetFilter {
        filter: Option<Filter>,
        epoch: u64,
    },
    SetInterval(Duration),
    /// Stop (true) or resume (false) refreshing.
    Pause(bool),
}

/// One refresh's outcome.
#[derive(Clone, Debug)]
pub struct Report {
    /// Counts refreshes since the start.
    pub generation: u64,
    /// The filter epoch the refresh ran under.
    pub epoch: u64,
    /// How long the dump and aggregation took.
    pub took: Duration,
    /// The snapshot, or why there is none.
    pub outcome: Result<Arc<Snapshot>, String>,
}

/// How the collector starts.
#[derive(Clone, Debug)]
pub struct Start {
    pub families: Families,
    pub interval: Duration,
    pub filter: Option<Filter>,
}

/// The UI's end of the collector thread. Dropping it stops the thread after its current dump.
pub struct Collector {
    commands: Sender<Command>,
    reports: Receiver<Report>,
}

impl Collector {
    /// Starts the thread; `make` builds a fresh refresher at the start and on every filter change.
    pub fn spawn<R, F>(mut make: F, start: Start) -> std::io::Result<Collector>
    where
        R: Refresh,
        F: FnMut() -> R + Send + 'static,
    {
        let (commands, command_rx) = mpsc::channel();
        let (report_tx, reports) = mpsc::channel();
        thread::Builder::new()
            .name("collector".into())
            .spawn(move || {
                let refresher = make();
                Loop {
                    make,
                    refresher,
                    start,
                    epoch: 0,
                    generation: 0,
                    paused: false,
                    commands: command_rx,
                    reports: report_tx,
                }
                .run()
            })?;
        Ok(Collector { commands, reports })
    }

    /// Sends a command; false when the thread is gone.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// The next report, if one is waiting.
    pub fn try_recv(&self) -> Result<Report, TryRecvError> {
        self.reports.try_recv()
    }
}

/// The thread's state.
struct Loop<R, F> {
    make: F,
    refresher: R,
    start: Start,
    epoch: u64,
    generation: u64,
    paused: bool,
    commands: Receiver<Command>,
    reports: Sender<Report>,
}

impl<R: Refresh, F: FnMut() -> R> Loop<R, F> {
    fn run(mut self) {
        let mut due = Some(Instant::now());
        let mut last_start = Instant::now();
        loop {
            let command = match due {
                Some(at) => self
                    .commands
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
                None => self
                    .commands
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            match command {
                Ok(Command::SetFilter { filter, epoch }) => {
                    self.start.filter = filter;
                    self.epoch = epoch;
                    self.refresher = (self.make)();
                    // A new filter shows at once, even when paused: the UI shows one snapshot of it.
                    due = Some(Instant::now());
                    continue;
                }
                Ok(Command::SetInterval(interval)) => {
                    self.start.interval = interval;
                    if !self.paused {
                        due = Some(last_start + interval);
                    }
                    continue;
                }
                Ok(Command::Pause(paused)) => {
                    self.paused = paused;
                    due = (!paused).then(Instant::now);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            last_start = Instant::now();
            let outcome = self
                .refresher
                .refresh(self.start.families, self.start.filter.as_ref())
                .map(Arc::new);
            self.generation += 1;
            let report = Report {
                generation: self.generation,
                epoch: self.epoch,
                took: last_start.elapsed(),
                outcome,
            };
            if self.reports.send(report).is_err() {
                return;
            }
            let next = effective_interval(self.start.interval, last_start.elapsed());
            due = (!self.paused).then_some(last_start + next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_refresh_stretches_the_interval_to_four_times_itself() {
        let second = Duration::from_secs(1);
        assert_eq!(
            effective_interval(second, Duration::from_millis(100)),
            second
        );
        assert_eq!(
            effective_interval(second, Duration::from_millis(250)),
            second
        );
        assert_eq!(
            effective_interval(second, Duration::from_millis(400)),
            Duration::from_millis(1600)
        );
    }
    use crate::collect::Source;
    use crate::model::{History, Input, Meta, build};
    use crate::settings::KernelSettings;
    use std::sync::Mutex;
    use std::time::SystemTime;

    /// Snapshots of an empty table, logging the filter each refresh ran with.
    struct Fake {
        log: Arc<Mutex<Vec<Option<String>>>>,
    }

    impl Refresh for Fake {
        fn refresh(&mut self, _: Families, filter: Option<&Filter>) -> Result<Snapshot, String> {
            self.log
                .lock()
                .unwrap()
                .push(filter.map(|f| f.text().to_string()));
            let settings = KernelSettings::with_range(1000, 1009);
            let input = Input {
                records: &[],
                listen_ports: &[],
                explicit_bind_ports: &[],
                settings: &settings,
            };
            let meta = Meta::new(SystemTime::now(), Source::Netlink);
            Ok(build(&input, meta, &mut History::default()))
        }
    }

    fn next(c: &Collector) -> Report {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match c.try_recv() {
                Ok(r) => return r,
                Err(TryRecvError::Empty) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("no report: {e:?}"),
            }
        }
    }

    /// A collector over [`Fake`] refreshers, and the log of the filters they ran with.
    fn spawn_fake(interval: Duration) -> (Collector, Arc<Mutex<Vec<Option<String>>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        let start = Start {
            families: Families::BOTH,
            interval,
            filter: None,
        };
        let c = Collector::spawn(
            move || Fake {
                log: shared.clone(),
            },
            start,
        )
        .unwrap();
        (c, log)
    }

    #[test]
    fn refreshes_at_once_then_every_interval_and_pauses() {
        let (c, log) = spawn_fake(Duration::from_millis(20));
        let first = next(&c);
        assert_eq!((first.generation, first.epoch), (1, 0));
        assert!(first.outcome.is_ok());
        assert_eq!(next(&c).generation, 2);
        assert!(c.send(Command::Pause(true)));
        // At most one refresh was already under way.
        thread::sleep(Duration::from_millis(100));
        let before = log.lock().unwrap().len();
        thread::sleep(Duration::from_millis(100));
        assert_eq!(log.lock().unwrap().len(), before, "paused: no refresh");
        assert!(c.send(Command::SetInterval(Duration::from_secs(3600))));
        while c.try_recv().is_ok() {}
        assert!(c.send(Command::Pause(false)));
        let resumed = next(&c);
        assert_eq!(resumed.epoch, 0);
        thread::sleep(Duration::from_millis(100));
        assert!(
            c.try_recv().is_err(),
            "the long interval holds the next refresh back"
        );
    }

    #[test]
    fn a_filter_change_refreshes_at_once_under_its_epoch() {
        let (c, log) = spawn_fake(Duration::from_secs(3600));
        assert_eq!(next(&c).epoch, 0);
        assert!(c.send(Command::Pause(true)));
        assert!(c.send(Command::SetFilter {
            filter: None,
            epoch: 7
        }));
        let r = next(&c);
        assert_eq!((r.generation, r.epoch), (2, 7));
        assert_eq!(log.lock().unwrap().len(), 2);
    }
}
