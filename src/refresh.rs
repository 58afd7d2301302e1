//! One refresh, end to end: read the kernel's settings, dump the socket table and aggregate it into
//! a [`Snapshot`]. The dashboard's collector thread and `portradar snapshot` both go through here.

use crate::collect::{CollectError, Collector, Families, Query, Source, Table, sysctl};
use crate::filter::Filter;
use crate::model::{self, History, Input, Meta, Snapshot};
use crate::socket::SockRecord;
use std::time::SystemTime;

/// Keeps the collector, its reusable table and the history between refreshes.
pub struct Refresher {
    collector: Collector,
    table: Table,
    history: History,
    netns: Option<String>,
}

impl Refresher {
    /// Opens the collector in the current network namespace; `netns` only labels the snapshots
    /// (the caller has already entered it).
    pub fn new(netns: Option<String>) -> Refresher {
        Refresher {
            collector: Collector::open(),
            table: Table::new(),
            history: History::default(),
            netns,
        }
    }

    /// Where the tables come from now.
    pub fn source(&self) -> Source {
        self.collector.source()
    }

    /// Why netlink was given up for procfs, when it was.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.collector.fallback_reason()
    }

    /// The sockets of the last refresh.
    pub fn records(&self) -> &[SockRecord] {
        &self.table.records
    }

    /// Reads the settings, dumps the table and aggregates it.
    pub fn refresh(
        &mut self,
        families: Families,
        filter: Option<&Filter>,
    ) -> Result<Snapshot, CollectError> {
        let taken_at = SystemTime::now();
        let settings = sysctl::read_settings()?;
        let query = Query {
            families,
            filter: filter.cloned(),
            port_range: settings.port_range,
        };
        self.collector.collect(&query, &mut self.table)?;
        let input = Input {
            records: &self.table.records,
            listen_ports: &self.table.listen_ports,
            explicit_bind_ports: &self.table.explicit_bind_ports,
            settings: &settings,
        };
        let meta = Meta {
            taken_at,
            source: self.table.source,
            netns: self.netns.clone(),
            filter: filter.map(|f| f.text().to_string()),
            bind_side_read_at: self.table.bind_side_read_at,
        };
        Ok(model::build(&input, meta, &mut self.history))
    }
}
