//! The refresh worker: a thread that refreshes every interval and hands each snapshot over as an
//! `Arc`, numbered. Every live mode drives it the same way (the dashboard, `snapshot --watch`): it
//! never waits for them, they send commands (filter, interval, pause) and take reports when they
//! are ready. A filter change starts a new epoch with a fresh history (rates and allocations of one
//! filter say nothing about another) on the same refresher, and refreshes at once; reports carry
//! their epoch so the reader can drop stale ones.

use super::Refresher;
use crate::attribution::Resolved;
use crate::collect::Cgroups;
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::socket::SockRecord;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// A refresh may use at most this share of the time between refreshes: a slower one stretches the
/// interval, so portradar never eats more than about a quarter of a core. The periodic full dump of
/// a table kept from events does not stretch it ([`Refresh::stretches`]): its own period bounds
/// its cost.
const MAX_BUSY_SHARE: u32 = 4;

/// The time from one refresh's start to the next, for the chosen `interval` and a refresh that took
/// `took`: the interval, stretched to four times the refresh when that is longer.
pub fn effective_interval(interval: Duration, took: Duration) -> Duration {
    interval.max(took * MAX_BUSY_SHARE)
}

/// Something that produces snapshots: [`Refresher`], or a stand-in in tests.
pub trait Refresh {
    /// One refresh. A failure is only ever shown, so it comes as its message.
    fn refresh(&mut self) -> Result<Snapshot, String>;
    /// Filters from now on, with a fresh history.
    fn set_filter(&mut self, filter: Option<Filter>);
    /// The sockets of the last refresh.
    fn records(&self) -> &[SockRecord];
    /// Whether the last refresh's duration stretches the interval ([`effective_interval`]): by
    /// default it does.
    fn stretches(&self) -> bool {
        true
    }
    /// The sockets of the last refresh copied for another thread, with their cgroups and holders
    /// when the refresher knows them (by default, the records alone).
    fn sockets(&self) -> Sockets {
        Sockets {
            records: self.records().to_vec(),
            ..Sockets::default()
        }
    }
}

/// A refresh's sockets, copied for another thread: the records, their cgroup ids (index for index)
/// and who holds them.
#[derive(Clone, Debug, Default)]
pub struct Sockets {
    pub records: Vec<SockRecord>,
    pub cgroups: Cgroups,
    pub who: Resolved,
}

impl Refresh for Refresher {
    fn refresh(&mut self) -> Result<Snapshot, String> {
        Refresher::refresh(self).map_err(|e| super::with_causes(&e))
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        Refresher::set_filter(self, filter);
    }

    fn records(&self) -> &[SockRecord] {
        Refresher::records(self)
    }

    fn stretches(&self) -> bool {
        Refresher::stretches(self)
    }

    fn sockets(&self) -> Sockets {
        let records = Refresher::records(self);
        let cgroups = Refresher::cgroups(self);
        Sockets {
            records: records.to_vec(),
            cgroups: cgroups.clone(),
            who: Resolved::of(Refresher::attribution(self), records, cgroups),
        }
    }
}

/// What a mode asks of the worker.
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
    /// The sockets of a successful refresh, when [`Start::sockets`] asked for them.
    pub sockets: Option<Sockets>,
}

/// How the worker starts.
#[derive(Clone, Debug)]
pub struct Start {
    pub interval: Duration,
    /// Hand each refresh's sockets over as well (a copy of the table).
    pub sockets: bool,
}

/// A mode's end of the worker thread. Dropping it stops the thread after its current refresh.
pub struct Worker {
    commands: Sender<Command>,
    reports: Receiver<Report>,
}

impl Worker {
    /// Starts the thread, which refreshes at once and then every interval.
    pub fn spawn<R>(refresher: R, start: Start) -> std::io::Result<Worker>
    where
        R: Refresh + Send + 'static,
    {
        let (commands, command_rx) = mpsc::channel();
        let (report_tx, reports) = mpsc::channel();
        thread::Builder::new()
            .name("refresh".into())
            .spawn(move || {
                Loop {
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
        Ok(Worker { commands, reports })
    }

    /// Sends a command; false when the thread is gone.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// The next report, if one is waiting.
    pub fn try_recv(&self) -> Result<Report, TryRecvError> {
        self.reports.try_recv()
    }

    /// The next report, waiting at most `timeout` for it.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Report, RecvTimeoutError> {
        self.reports.recv_timeout(timeout)
    }
}

/// The thread's state.
struct Loop<R> {
    refresher: R,
    start: Start,
    epoch: u64,
    generation: u64,
    paused: bool,
    commands: Receiver<Command>,
    reports: Sender<Report>,
}

impl<R: Refresh> Loop<R> {
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
                    self.refresher.set_filter(filter);
                    self.epoch = epoch;
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
            let outcome = self.refresher.refresh().map(Arc::new);
            let took = last_start.elapsed();
            let sockets = (self.start.sockets && outcome.is_ok()).then(|| self.refresher.sockets());
            self.generation += 1;
            let report = Report {
                generation: self.generation,
                epoch: self.epoch,
                took,
                outcome,
                sockets,
            };
            if self.reports.send(report).is_err() {
                return;
            }
            let next = if self.refresher.stretches() {
                effective_interval(self.start.interval, last_start.elapsed())
            } else {
                self.start.interval
            };
            due = (!self.paused).then_some(last_start + next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Source;
    use crate::model::{History, Input, Meta, build};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState;
    use std::sync::Mutex;
    use std::time::SystemTime;

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

    /// What a [`Fake`] was asked to do, in order.
    #[derive(Clone, Debug, PartialEq)]
    enum Call {
        Refresh(Option<String>),
        SetFilter(Option<String>),
    }

    type Log = Arc<Mutex<Vec<Call>>>;

    /// Snapshots of a one-socket table, logging every call with the filter it ran under.
    struct Fake {
        log: Log,
        filter: Option<Filter>,
        records: Vec<SockRecord>,
    }

    impl Refresh for Fake {
        fn refresh(&mut self) -> Result<Snapshot, String> {
            let text = self.filter.as_ref().map(|f| f.text().to_string());
            self.log.lock().unwrap().push(Call::Refresh(text));
            let settings = KernelSettings::with_range(1000, 1009);
            let input = Input {
                records: &self.records,
                listen_ports: &[],
                explicit_bind_ports: &[],
                settings: &settings,
            };
            let meta = Meta::new(SystemTime::now(), Source::Netlink);
            Ok(build(&input, meta, &mut History::default()))
        }

        fn set_filter(&mut self, filter: Option<Filter>) {
            let text = filter.as_ref().map(|f| f.text().to_string());
            self.log.lock().unwrap().push(Call::SetFilter(text));
            self.filter = filter;
        }

        fn records(&self) -> &[SockRecord] {
            &self.records
        }
    }

    fn next(w: &Worker) -> Report {
        w.recv_timeout(Duration::from_secs(5)).expect("a report")
    }

    fn refreshes(log: &Log) -> usize {
        let log = log.lock().unwrap();
        log.iter().filter(|c| matches!(c, Call::Refresh(_))).count()
    }

    /// A worker over one [`Fake`], and the log of its calls.
    fn spawn_fake(interval: Duration, sockets: bool) -> (Worker, Log) {
        let log = Log::default();
        let fake = Fake {
            log: log.clone(),
            filter: None,
            records: vec![SockRecord::new(
                "10.0.0.1:1001".parse().unwrap(),
                "10.0.0.2:443".parse().unwrap(),
                TcpState::Established,
            )],
        };
        let worker = Worker::spawn(fake, Start { interval, sockets }).unwrap();
        (worker, log)
    }

    #[test]
    fn refreshes_at_once_then_every_interval_and_pauses() {
        let (w, log) = spawn_fake(Duration::from_millis(20), false);
        let first = next(&w);
        assert_eq!((first.generation, first.epoch), (1, 0));
        assert!(first.outcome.is_ok());
        assert!(first.sockets.is_none(), "sockets only when asked for");
        assert_eq!(next(&w).generation, 2);
        assert!(w.send(Command::Pause(true)));
        // Commands are handled in order: the filter change after the pause refreshes once, and
        // from its report on the worker is paused.
        assert!(w.send(Command::SetFilter {
            filter: None,
            epoch: 1
        }));
        while next(&w).epoch != 1 {}
        let paused_at = refreshes(&log);
        assert!(
            w.recv_timeout(Duration::from_millis(200)).is_err(),
            "paused: no refresh in ten intervals"
        );
        assert_eq!(refreshes(&log), paused_at);
        assert!(w.send(Command::SetInterval(Duration::from_secs(3600))));
        assert!(w.send(Command::Pause(false)));
        let resumed = next(&w);
        assert_eq!(resumed.epoch, 1);
        assert!(
            w.recv_timeout(Duration::from_millis(200)).is_err(),
            "the long interval holds the next refresh back"
        );
    }

    #[test]
    fn a_filter_change_goes_to_the_same_refresher_and_refreshes_at_once_under_its_epoch() {
        let (w, log) = spawn_fake(Duration::from_secs(3600), false);
        assert_eq!(next(&w).epoch, 0);
        assert!(w.send(Command::Pause(true)));
        let filter = Filter::parse("dst 10.0.0.2").unwrap();
        assert!(w.send(Command::SetFilter {
            filter: Some(filter),
            epoch: 7
        }));
        let r = next(&w);
        assert_eq!((r.generation, r.epoch), (2, 7));
        let dst = Some("dst 10.0.0.2".to_string());
        assert_eq!(
            *log.lock().unwrap(),
            [
                Call::Refresh(None),
                Call::SetFilter(dst.clone()),
                Call::Refresh(dst)
            ]
        );
    }

    #[test]
    fn reports_carry_the_sockets_when_asked() {
        let (w, _log) = spawn_fake(Duration::from_secs(3600), true);
        let r = next(&w);
        let sockets = r.sockets.expect("sockets asked for");
        assert_eq!(sockets.records.len(), 1);
        assert_eq!(sockets.records[0].remote.port, 443);
    }
}
