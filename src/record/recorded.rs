//! [`Recorded`]: a live refresher that also appends every table it reads to a recording, so the
//! dashboard records while it runs (`--record`) and `portradar record` is a loop over it.

use super::{Host, Moment, Opened, RecordError, Writer};
use crate::collect::{Families, sysctl};
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::refresh::{Refresh, Refresher};
use crate::socket::SockRecord;
use std::path::Path;

/// A refresher and the recording it appends to.
pub struct Recorded {
    refresher: Refresher,
    /// `None` once a write failed: the refresher goes on without it.
    writer: Option<Writer>,
}

/// What a recording is of: which namespace (its label), which families, how often.
#[derive(Clone, Debug)]
pub struct Scope {
    pub netns: Option<String>,
    pub families: Families,
    pub interval_ms: u64,
    pub filter: Option<Filter>,
}

impl Recorded {
    /// A refresher of `scope` (in the namespace already entered) recording to `path`.
    pub fn open(path: &Path, scope: Scope) -> Result<(Recorded, Opened), RecordError> {
        let refresher = Refresher::new(scope.netns.clone(), scope.families, scope.filter.clone());
        Recorded::wrap(path, scope, refresher)
    }

    /// `refresher` (made for `scope`, perhaps fed by allocator events) recording to `path`.
    pub fn wrap(
        path: &Path,
        scope: Scope,
        refresher: Refresher,
    ) -> Result<(Recorded, Opened), RecordError> {
        let host = Host {
            hostname: sysctl::hostname(),
            netns: scope.netns.clone(),
            families: scope.families,
            interval_ms: scope.interval_ms,
            portradar: env!("CARGO_PKG_VERSION").to_string(),
            settings: sysctl::read_settings()?,
        };
        let (writer, opened) = Writer::open(path, &host)?;
        let recorded = Recorded {
            refresher,
            writer: Some(writer),
        };
        Ok((recorded, opened))
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
