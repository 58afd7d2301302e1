//! The refresh engine: read the kernel's settings, dump the socket table and aggregate it into a
//! [`Snapshot`]. [`Refresher`] does one refresh at a time (a one-shot `portradar snapshot`, benches);
//! [`worker`] runs refreshes on a thread of their own every interval and reports each one, and every
//! live mode drives it: the dashboard and `snapshot --watch`.

mod warnings;
pub mod worker;

pub use warnings::with_causes;
pub use worker::{Command, Refresh, Report, Start, Worker, effective_interval};

use crate::collect::{CollectError, Collector, DumpFilter, Families, Query, Table, sysctl};
use crate::filter::Filter;
use crate::model::{self, History, Input, Meta, Snapshot};
use crate::settings::PortRange;
use crate::socket::SockRecord;
use std::time::SystemTime;
use warnings::{LastSettings, NetnsWatch};

/// Keeps the collector, its reusable table, the query (with its filter compiled) and the history
/// between refreshes.
pub struct Refresher {
    collector: Collector,
    table: Table,
    history: History,
    query: Query,
    netns: Option<String>,
    netns_watch: Option<NetnsWatch>,
    last_settings: LastSettings,
}

impl Refresher {
    /// Opens the collector in the current network namespace; `netns` labels the snapshots (the
    /// caller has already entered it) and names the namespace file watched for deletion.
    pub fn new(netns: Option<String>, families: Families, filter: Option<Filter>) -> Refresher {
        Refresher {
            collector: Collector::open(),
            table: Table::new(),
            history: History::default(),
            query: Query {
                families,
                filter: filter.map(DumpFilter::new),
                // Read again before every dump.
                port_range: PortRange { low: 0, high: 0 },
            },
            netns_watch: netns.as_deref().and_then(NetnsWatch::new),
            netns,
            last_settings: LastSettings::default(),
        }
    }

    /// Dumps with `filter` from now on: compiles it once, and starts a fresh history (rates and
    /// allocations under one filter say nothing about another). The netlink socket stays open.
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.query.filter = filter.map(DumpFilter::new);
        self.history = History::default();
    }

    /// The sockets of the last refresh.
    pub fn records(&self) -> &[SockRecord] {
        &self.table.records
    }

    /// Reads the settings, dumps the table and aggregates it. Settings that cannot be read after a
    /// first successful refresh are replaced by the last ones read, with a warning in the snapshot's
    /// meta, as is a watched namespace whose file is deleted.
    pub fn refresh(&mut self) -> Result<Snapshot, CollectError> {
        let taken_at = SystemTime::now();
        let mut warnings = Vec::new();
        let settings = self
            .last_settings
            .settle(sysctl::read_settings(), &mut warnings)?;
        warnings.extend(self.netns_watch.as_ref().and_then(NetnsWatch::check));
        self.query.port_range = settings.port_range;
        self.collector.collect(&self.query, &mut self.table)?;
        let input = Input {
            records: &self.table.records,
            listen_ports: &self.table.listen_ports,
            explicit_bind_ports: &self.table.explicit_bind_ports,
            settings: &settings,
        };
        let meta = Meta {
            taken_at,
            source: self.table.source,
            fallback: self.collector.fallback_reason().map(str::to_string),
            netns: self.netns.clone(),
            filter: self
                .query
                .filter
                .as_ref()
                .map(|f| f.filter().text().to_string()),
            bind_side_read_at: self.table.bind_side_read_at,
            warnings,
        };
        Ok(model::build(&input, meta, &mut self.history))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::TcpState;

    #[test]
    fn a_filter_change_starts_a_fresh_history_and_filters_the_next_dump() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = Refresher::new(None, Families::BOTH, None);
        assert_eq!(
            r.refresh().unwrap().elapsed_s,
            None,
            "nothing to compare with yet"
        );
        assert!(r.refresh().unwrap().elapsed_s.is_some());
        r.set_filter(Some(Filter::parse("state listen").unwrap()));
        let snap = r.refresh().unwrap();
        assert_eq!(snap.elapsed_s, None, "rates start over under a new filter");
        assert_eq!(snap.meta.filter.as_deref(), Some("state listen"));
        assert!(r.records().iter().all(|s| s.state == TcpState::Listen));
        assert!(r.records().iter().any(|s| s.local.port == port));
        assert!(r.refresh().unwrap().elapsed_s.is_some());
        r.set_filter(None);
        let snap = r.refresh().unwrap();
        assert_eq!((snap.elapsed_s, snap.meta.filter), (None, None));
    }
}
