//! The watcher and the classifier together: what a consumer (the `events` command, a dashboard
//! thread) reads, with one loss count and a wait that can also watch a stop descriptor.

use super::{Classifier, Event, EventsError, Transition, Watcher};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// connect()s remembered between their start and their port, at most.
const WAITING_CAPACITY: usize = 1 << 16;

/// Allocator events from the attached program.
pub struct EventSource {
    watcher: Watcher,
    classifier: Classifier,
}

/// What ended a [`EventSource::wait`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    /// Records are waiting.
    pub records: bool,
    /// The other descriptor is readable (or closed).
    pub other: bool,
}

impl EventSource {
    /// Loads and attaches the program ([`Watcher::attach`]).
    pub fn attach() -> Result<EventSource, EventsError> {
        Ok(EventSource {
            watcher: Watcher::attach()?,
            classifier: Classifier::new(WAITING_CAPACITY),
        })
    }

    /// Reads every waiting record: `f` sees each state change and the event it completes, if any
    /// (full-socket closes, for instance, complete none). Returns how many records there were.
    pub fn read(&mut self, mut f: impl FnMut(&Transition, Option<Event>)) -> usize {
        let classifier = &mut self.classifier;
        self.watcher.drain(|t| {
            let event = classifier.push(&t);
            f(&t, event)
        })
    }

    /// Records lost so far (ring buffer full, unparsable) plus connect()s dropped while waiting for
    /// their port: each hides at most one event.
    pub fn lost(&self) -> Result<u64, EventsError> {
        Ok(self.watcher.lost()? + self.classifier.dropped())
    }

    /// Blocks until records wait, `other` becomes readable, or `timeout` passes (none: no limit).
    pub fn wait(
        &self,
        other: Option<BorrowedFd<'_>>,
        timeout: Option<Duration>,
    ) -> io::Result<Wake> {
        let pollfd = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // A negative descriptor is ignored by poll.
        let mut fds = [
            pollfd(self.watcher.as_fd().as_raw_fd()),
            pollfd(other.map_or(-1, |fd| fd.as_raw_fd())),
        ];
        let timeout_ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        loop {
            // SAFETY: fds is a valid array of two pollfd for the duration of the call.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if rc >= 0 {
                return Ok(Wake {
                    records: fds[0].revents != 0,
                    other: fds[1].revents != 0,
                });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}
