//! [`Recorded`]: a live refresher that also appends every table it reads to a recording, so the
//! dashboard records while it runs (`--record`) and `portradar record` is a loop over it.

use super::{Moment, RecordError, Writer};
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::refresh::{Refresh, Refresher};
use crate::socket::SockRecord;

/// A refresher and the recording it appends to.
pub struct Recorded {
    refresher: Refresher,
    /// `None` once a write failed: the refresher goes on without it.
    writer: Option<Writer>,
}

impl Recorded {
    pub fn new(refresher: Refresher, writer: Writer) -> Recorded {
        Recorded {
            refresher,
            writer: Some(writer),
        }
    }

    /// One refresh, recorded. A failure to write is returned with the snapshot, and stops the
    /// recording.
    pub fn refresh_recorded(
        &mut self,
    ) -> Result<(Snapshot, Option<RecordError>), crate::collect::CollectError> {
        let snapshot = self.refresher.refresh()?;
        let Some(writer) = &mut self.writer else {
            return Ok((snapshot, None));
        };
        let moment = Moment::new(self.refresher.table(), &snapshot.meta, &snapshot.settings);
        match writer.write(moment) {
            Ok(()) => Ok((snapshot, None)),
            Err(e) => {
                self.writer = None;
                Ok((snapshot, Some(e)))
            }
        }
    }

    /// Frames and bytes appended, while the recording goes on.
    pub fn written(&self) -> Option<(u64, u64)> {
        self.writer.as_ref().map(Writer::written)
    }
}

impl Refresh for Recorded {
    /// A write failure shows as a failed refresh, once; refreshes go on unrecorded after it.
    fn refresh(&mut self) -> Result<Snapshot, String> {
        match self.refresh_recorded() {
            Ok((snapshot, None)) => Ok(snapshot),
            Ok((_, Some(e))) => Err(format!("recording stopped: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.refresher.set_filter(filter);
    }

    fn records(&self) -> &[SockRecord] {
        self.refresher.records()
    }
}
