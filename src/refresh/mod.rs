//! The refresh engine: read the kernel's settings, dump the socket table and aggregate it into a
//! [`Snapshot`]. [`Refresher`] does one refresh at a time (a one-shot `portradar snapshot`, benches);
//! [`worker`] runs refreshes on a thread of their own every interval and reports each one, and every
//! live mode drives it: the dashboard and `snapshot --watch`. With allocator events, [`feed`] runs
//! the event thread whose ledger the refresher reads at each refresh, and [`maintain`] keeps the
//! socket table from the state changes it carries, with a full dump only now and then.

pub mod feed;
pub mod maintain;
pub mod namespaces;
mod warnings;
pub mod worker;

pub use feed::EventFeed;
pub use warnings::with_causes;
pub use worker::{Command, Refresh, Report, Sockets, Start, Worker, effective_interval};

use crate::attribution::{Attribution, ProcessLookup};
use crate::collect::maintained::Resync;
use crate::collect::{
    Cgroups, CollectError, Collector, DumpFilter, Families, Query, Table, sysctl,
};
use crate::events::{Ledger, boottime_ns};
use crate::filter::Filter;
use crate::model::{self, History, Input, Meta, Snapshot};
use crate::settings::PortRange;
use crate::socket::{SockRecord, TcpState};
use maintain::Maintenance;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use warnings::{LastSettings, NetnsWatch};

/// Keeps the collector, its reusable table, the query (with its filter compiled) and the history
/// between refreshes.
pub struct Refresher {
    collector: Collector,
    table: Table,
    history: History,
    query: Query,
    netns: Option<String>,
    /// The allocator events' ledger, when events are live.
    events: Option<Arc<Mutex<Ledger>>>,
    /// The table kept from the events' state changes, when events are live.
    maintenance: Option<Maintenance>,
    /// Who holds the sockets: cgroups always, processes when asked for.
    attribution: Attribution,
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
            events: None,
            maintenance: None,
            attribution: Attribution::new(None),
            last_settings: LastSettings::default(),
        }
    }

    /// Looks up the processes holding the sockets from now on (`None`: cgroups only).
    pub fn set_process_lookup(&mut self, lookup: Option<ProcessLookup>) {
        self.attribution = Attribution::new(lookup);
    }

    /// Who holds the sockets, as of the last refresh.
    pub fn attribution(&self) -> &Attribution {
        &self.attribution
    }

    /// The cgroup id of each socket of the last refresh, index for index with [`Refresher::records`].
    pub fn cgroups(&self) -> &Cgroups {
        &self.table.cgroups
    }

    /// Adds what allocator events recorded in `ledger` to every refresh from now on (see
    /// [`model::build_with_events`]), tells the ledger each dump's port occupancy, and keeps the
    /// unfiltered table from the state changes between dumps ([`maintain`]).
    pub fn with_events(mut self, ledger: Arc<Mutex<Ledger>>) -> Refresher {
        self.maintenance = Some(Maintenance::new(Arc::clone(&ledger)));
        self.events = Some(ledger);
        self
    }

    /// With events, resyncs a table that is expensive to dump every `period`, whatever a dump
    /// costs (default: every [`maintain::RESYNC_PERIOD`], or 25 dumps' time when that is longer).
    pub fn set_resync_period(&mut self, period: Duration) {
        if let Some(m) = &mut self.maintenance {
            m.set_period(period);
        }
    }

    /// With events: resyncs so far, and what the last one that compared found.
    pub fn resyncs(&self) -> Option<(u64, Option<Resync>)> {
        self.maintenance.as_ref().map(Maintenance::resyncs)
    }

    /// Whether the last refresh's duration should stretch the interval: not when it was the
    /// periodic full dump of an event-maintained table, whose cost the resync period spreads.
    pub fn stretches(&self) -> bool {
        !self
            .maintenance
            .as_ref()
            .is_some_and(Maintenance::amortized)
    }

    /// Dumps with `filter` from now on: compiles it once, and starts a fresh history (rates and
    /// allocations under one filter say nothing about another). The netlink socket stays open.
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.query.filter = filter.map(DumpFilter::new);
        self.history = History::default();
        if let Some(m) = &mut self.maintenance {
            m.invalidate();
        }
    }

    /// The sockets of the last refresh.
    pub fn records(&self) -> &[SockRecord] {
        &self.table.records
    }

    /// The table of the last refresh (what a recording keeps).
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Reads the settings, dumps the table (or, with events, brings the maintained one up to date)
    /// and aggregates it. Settings that cannot be read after a
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
        match &mut self.maintenance {
            Some(m) => m.update(&mut self.collector, &self.query, &mut self.table)?,
            None => self.collector.collect(&self.query, &mut self.table)?,
        }
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
        let events = self.events.as_ref().map(|ledger| {
            let filter = self.query.filter.as_ref().map(DumpFilter::filter);
            let keep = |p: &model::PickSeen| {
                let r = SockRecord::new(p.local, p.remote, TcpState::Established);
                filter.is_none_or(|f| f.matches(&r))
            };
            feed::lock(ledger).take(settings.port_range, boottime_ns(), keep)
        });
        let mut snapshot =
            model::build_with_events(&input, meta, &mut self.history, events.as_ref());
        if let Some(ledger) = self
            .events
            .as_ref()
            .filter(|_| self.attribution.has_processes())
        {
            let outbound = (self.table.records.iter())
                .filter(|r| r.state != TcpState::Listen)
                .map(|r| (r.local, r.remote));
            let connectors = feed::lock(ledger).connectors().subset(outbound);
            self.attribution.set_connectors(connectors);
        }
        snapshot.processes = self.attribution.attribute(
            &mut snapshot.destinations,
            &self.table.records,
            &self.table.cgroups,
        );
        if let Some(ledger) = &self.events {
            let (used, blocked) = feed::occupancy(
                input.records,
                input.listen_ports,
                input.explicit_bind_ports,
                &settings,
            );
            feed::lock(ledger).set_occupancy(used, blocked, boottime_ns());
        }
        Ok(snapshot)
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
