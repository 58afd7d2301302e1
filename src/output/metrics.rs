//! The Prometheus exposition of a snapshot (`portradar export`): a registry of the `portradar_*`
//! metrics built from one [`Snapshot`] and how its refresh went, and that registry as the Prometheus
//! text format (0.0.4). Pure: no I/O, a new registry per snapshot, so a destination that left the
//! top K leaves the exposition with it. Families come out in a fixed order and so do their series
//! (destinations most ports used first, states in kernel order), so one exposition compares with
//! the next line by line.
//!
//! Per destination (the top K by ports used) the labels are `src`, `dst` and `dport`. Headroom is
//! per local address, so `portradar_destination_headroom_ports` has one series per address; the
//! other per-destination metrics carry the address with the least headroom (the one the forecast is
//! computed for).

use crate::model::{Destination, Snapshot};
use crate::socket::TcpState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, prometheus_text,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::fmt::Debug;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The last line of every exposition: a reader that sees it has the whole text. Prometheus and
/// node_exporter's textfile collector read it as a comment.
pub const END: &str = "# EOF\n";

/// How many destinations are exported when `--top` is not given.
pub const DEFAULT_TOP: u16 = 20;

/// Every metric's name prefix.
const PREFIX: &str = "portradar";

/// How the refreshes behind the exposition are going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshStatus {
    /// How long the refresh that produced the snapshot took.
    pub took: Duration,
    /// Refreshes that failed since the exporter started.
    pub failures: u64,
}

/// The labels of a per-destination series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabels {
    src: String,
    dst: String,
    dport: u16,
}

impl DestinationLabels {
    fn new(src: IpAddr, d: &Destination) -> DestinationLabels {
        DestinationLabels {
            src: src.to_string(),
            dst: d.remote.ip.to_string(),
            dport: d.remote.port,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WithinLabel {
    within: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// The label set of a series without labels.
type NoLabels = [(&'static str, &'static str); 0];

type Int = ConstGauge<i64>;
type Float = ConstGauge<f64>;
type Count = ConstCounter<u64>;

/// One metric family whose series encode in the order they were added (prometheus-client's own
/// `Family` keeps them in a hash map). A family without series is left out.
#[derive(Debug)]
struct Series<L, M> {
    name: &'static str,
    help: &'static str,
    series: Vec<(L, M)>,
}

impl<L, M> Series<L, M>
where
    L: EncodeLabelSet + Debug + Send + Sync + 'static,
    M: EncodeMetric + Debug + Send + Sync + 'static,
{
    fn new(name: &'static str, help: &'static str) -> Self {
        Series {
            name,
            help,
            series: Vec::new(),
        }
    }

    fn add(&mut self, labels: L, metric: M) {
        self.series.push((labels, metric));
    }

    fn register(self, r: &mut Registry) {
        r.register_collector(Box::new(self));
    }
}

impl<L, M> Collector for Series<L, M>
where
    L: EncodeLabelSet + Debug + Send + Sync + 'static,
    M: EncodeMetric + Debug + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((_, first)) = self.series.first() else {
            return Ok(());
        };
        let help = format!("{}.", self.help);
        let mut family = encoder.encode_descriptor(self.name, &help, None, first.metric_type())?;
        for (labels, metric) in &self.series {
            metric.encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}

/// Registers a family of one series without labels.
fn single<M>(r: &mut Registry, name: &'static str, help: &'static str, metric: M)
where
    M: EncodeMetric + Debug + Send + Sync + 'static,
{
    let mut series = Series::new(name, help);
    series.add(NoLabels::default(), metric);
    series.register(r);
}

/// The exposition of `snap` as Prometheus text, ending with [`END`].
pub fn render(snap: &Snapshot, status: &RefreshStatus, top: usize) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail, and every value encodes.
    if prometheus_text::encode(&mut text, &registry(snap, status, top)).is_err() {
        text.clear();
    }
    text.push_str(END);
    text
}

/// The registry of every `portradar_*` metric of `snap`, with the `top` destinations that use the
/// most ports.
pub fn registry(snap: &Snapshot, status: &RefreshStatus, top: usize) -> Registry {
    let mut r = Registry::with_prefix(PREFIX);
    destinations(&mut r, snap, top);
    host(&mut r, snap, status);
    events(&mut r, snap, top);
    r
}

fn destinations(r: &mut Registry, snap: &Snapshot, top: usize) {
    let mut headroom = Series::new(
        "destination_headroom_ports",
        "Further connect() calls from src to dst:dport that can succeed now: free ports of the \
         ephemeral range for this local address and destination",
    );
    let mut used = Series::new(
        "destination_ports_used",
        "Distinct local ports of the ephemeral range used toward dst:dport",
    );
    let mut time_wait = Series::new(
        "destination_time_wait_sockets",
        "Outbound sockets in TIME_WAIT toward dst:dport",
    );
    let mut rate = Series::new(
        "destination_new_connections_per_second",
        "New connections per second toward dst:dport, smoothed over the last refreshes",
    );
    let mut sustainable = Series::new(
        "destination_sustainable_per_second",
        "Highest rate of short-lived connections toward dst:dport that its ports can keep up \
         forever (usable ports over the TIME_WAIT hold)",
    );
    let mut exhaustion = Series::new(
        "destination_exhaustion_seconds",
        "Seconds until connect() toward dst:dport runs out of ports at the current rate; absent \
         while the rate is sustainable",
    );
    for d in snap.destinations.iter().take(top) {
        for h in &d.headroom {
            let labels = DestinationLabels::new(h.local_ip, d);
            headroom.add(labels, Int::new(i64::from(h.free)));
        }
        let Some(tightest) = d.tightest() else {
            continue;
        };
        let labels = || DestinationLabels::new(tightest.local_ip, d);
        used.add(labels(), Int::new(i64::from(d.ports_in_range)));
        time_wait.add(labels(), Int::new(i64::from(d.time_wait())));
        if let Some(per_s) = d.new_per_s {
            rate.add(labels(), Float::new(per_s));
        }
        if let Some(f) = &d.forecast {
            sustainable.add(labels(), Float::new(f.sustainable_per_s));
            if let Some(s) = f.exhausted_in_s {
                exhaustion.add(labels(), Float::new(s));
            }
        }
    }
    headroom.register(r);
    used.register(r);
    time_wait.register(r);
    rate.register(r);
    sustainable.register(r);
    exhaustion.register(r);
    single(
        r,
        "destinations",
        "Destinations with outbound connections, all of them (the per-destination metrics cover \
         the top K by ports used)",
        Int::new(snap.destinations.len() as i64),
    );
}

fn host(r: &mut Registry, snap: &Snapshot, status: &RefreshStatus) {
    let mut sockets = Series::new("sockets", "TCP sockets by state");
    for state in TcpState::ALL {
        let n = i64::from(snap.totals.get(state));
        sockets.add(
            StateLabel {
                state: state.name(),
            },
            Int::new(n),
        );
    }
    sockets.register(r);
    let range = snap.settings.port_range;
    single(
        r,
        "local_port_range_ports",
        "Ports of the ephemeral range (net.ipv4.ip_local_port_range)",
        Int::new(i64::from(range.size())),
    );
    let reserved = (range.low..=range.high)
        .filter(|p| snap.settings.is_reserved(*p))
        .count();
    single(
        r,
        "reserved_ports",
        "Ports of the ephemeral range that connect() skips as reserved \
         (net.ipv4.ip_local_reserved_ports)",
        Int::new(reserved as i64),
    );
    let mut freeing = Series::new(
        "time_wait_freeing_ports",
        "TIME_WAIT sockets whose timer ends within 10, 30 or 60 seconds",
    );
    let tw = &snap.time_wait;
    for (within, n) in [
        ("10s", tw.freeing_10s),
        ("30s", tw.freeing_30s),
        ("60s", tw.freeing_60s),
    ] {
        freeing.add(WithinLabel { within }, Int::new(i64::from(n)));
    }
    freeing.register(r);
    single(
        r,
        "refresh_duration_seconds",
        "How long the latest refresh (settings, socket dump, aggregation) took",
        Float::new(status.took.as_secs_f64()),
    );
    single(
        r,
        "refresh_failures",
        "Refreshes that failed since the exporter started (the exposition keeps the last good one)",
        Count::new(status.failures),
    );
    single(
        r,
        "snapshot_timestamp_seconds",
        "Unix time of the snapshot the exposition shows",
        Float::new(unix_seconds(snap.meta.taken_at)),
    );
    if let Some(read_at) = snap.meta.bind_side_read_at {
        let age = snap.meta.taken_at.duration_since(read_at);
        single(
            r,
            "bind_side_age_seconds",
            "Age of the bind side (bound-only sockets, explicit binds) when the snapshot was \
             taken: read every refresh while cheap, every 10 s on large hosts",
            Float::new(age.unwrap_or_default().as_secs_f64()),
        );
    }
    let mut build = Series::new("build_info", "The portradar version serving these metrics");
    let version = env!("CARGO_PKG_VERSION");
    build.add(VersionLabel { version }, Int::new(1));
    build.register(r);
}

/// The connect() failures the allocator events saw, when they are watched.
fn events(r: &mut Registry, snap: &Snapshot, top: usize) {
    let Some(events) = &snap.events else {
        return;
    };
    single(
        r,
        "connect_failures",
        "connect() calls that found no free local port, seen by the allocator events",
        Count::new(events.failures),
    );
    single(
        r,
        "events_lost",
        "Allocator events the kernel dropped before portradar read them (failure counts are at \
         least what they show)",
        Count::new(events.lost),
    );
    if let Some(found) = events.resync {
        let int = |n: u64| Int::new(i64::try_from(n).unwrap_or(i64::MAX));
        single(
            r,
            "resync_differences",
            "Sockets the last resync of the table kept from allocator events found on one side only \
             or in another state, against a full dump",
            int(found.differences),
        );
        single(
            r,
            "resync_explainable",
            "How many of those differences the churn during the dump and the sockets no event shows \
             can explain: more differences than this means the kept table drifted",
            int(found.explainable),
        );
    }
    let mut per_destination = Series::new(
        "destination_connect_failures",
        "connect() calls toward dst:dport that found no free local port, seen by the allocator \
         events",
    );
    for d in snap.destinations.iter().take(top) {
        if let (Some(n), Some(h)) = (d.connect_failures, d.tightest()) {
            per_destination.add(DestinationLabels::new(h.local_ip, d), Count::new(n));
        }
    }
    per_destination.register(r);
}

/// The expositions of several network namespaces (`export --all-netns`) as one, each sample with a
/// `netns` label first (the namespace's label): every family once, with its help and type, then its
/// samples namespace by namespace. `expositions` are [`render`]'s, in the order to list them.
pub fn merge_namespaces<'a>(expositions: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    // Families in order of first appearance: their descriptor lines, then their samples.
    let mut families: Vec<(String, Vec<String>)> = Vec::new();
    for (netns, text) in expositions {
        let label = format!("netns=\"{}\"", escape_label(netns));
        // The family the lines belong to, and whether this exposition brought it first.
        let mut current: Option<(usize, bool)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                current = Some(match families.iter().position(|(n, _)| n == name) {
                    Some(i) => (i, false),
                    None => {
                        families.push((name.to_string(), vec![line.to_string()]));
                        (families.len() - 1, true)
                    }
                });
            } else if line.starts_with('#') || line.is_empty() {
                if let Some((i, true)) = current
                    && (line.starts_with("# TYPE ") || line.starts_with("# UNIT "))
                {
                    families[i].1.push(line.to_string());
                }
            } else if let Some((i, _)) = current {
                families[i].1.push(labelled(line, &label));
            }
        }
    }
    let mut out = String::new();
    for (_, lines) in &families {
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(END);
    out
}

/// A sample line with `label` (`name="value"`) added first.
fn labelled(sample: &str, label: &str) -> String {
    match sample.find(['{', ' ']) {
        Some(i) if sample[i..].starts_with("{}") => {
            format!("{}{{{label}}}{}", &sample[..i], &sample[i + 2..])
        }
        Some(i) if sample[i..].starts_with('{') => {
            format!("{}{{{label},{}", &sample[..i], &sample[i + 1..])
        }
        Some(i) => format!("{}{{{label}}}{}", &sample[..i], &sample[i..]),
        None => sample.to_string(),
    }
}

/// A label value as the text format writes it: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::{rec, snapshot, tw};
    use crate::model::{EventsSummary, Forecast, ResyncFound};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::Established;

    #[test]
    fn namespaces_merge_into_one_family_each_with_a_netns_label() {
        let snap = two_destinations();
        let a = render(&snap, &RefreshStatus::default(), 20);
        let b = render(&snap, &RefreshStatus::default(), 20);
        let text = merge_namespaces([("host", a.as_str()), ("pid 7 (\"x\")", b.as_str())]);
        assert!(text.ends_with(END));
        let helps = text
            .matches("# HELP portradar_local_port_range_ports ")
            .count();
        assert_eq!(helps, 1, "{text}");
        assert_eq!(
            lines(&text, "portradar_local_port_range_ports"),
            [
                r#"portradar_local_port_range_ports{netns="host"} 10"#,
                r#"portradar_local_port_range_ports{netns="pid 7 (\"x\")"} 10"#,
            ]
        );
        let host = r#"portradar_destination_ports_used{netns="host",src="127.0.0.1",dst="127.0.0.2",dport="80"} 3"#;
        assert!(text.lines().any(|l| l == host), "{text}");
        // Every sample line of a namespace's exposition is there once per namespace.
        let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples(&text), 2 * samples(&a));
        assert_eq!(
            text.matches("# TYPE ").count(),
            a.matches("# TYPE ").count()
        );
    }

    /// Two destinations: 127.0.0.2:80 with three ports (one in TIME_WAIT), 127.0.0.3:443 with one.
    fn two_destinations() -> Snapshot {
        let mut settings = KernelSettings::with_range(1000, 1009);
        settings.reserved_ports = vec![[1009, 1009], [2000, 2005]];
        let records = [
            rec("127.0.0.1:1000", "127.0.0.2:80", Established),
            rec("127.0.0.1:1001", "127.0.0.2:80", Established),
            tw("127.0.0.1:1002", "127.0.0.2:80", 5_000),
            rec("127.0.0.1:1003", "127.0.0.3:443", Established),
        ];
        snapshot(&records, &settings, &[])
    }

    fn lines(text: &str, name: &str) -> Vec<String> {
        let prefix = format!("{name}{{");
        let mut found: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(&prefix) || l.split(' ').next() == Some(name))
            .map(str::to_string)
            .collect();
        found.sort();
        found
    }

    #[test]
    fn destinations_carry_their_headroom_and_counts() {
        let text = render(&two_destinations(), &RefreshStatus::default(), 20);
        // 10 ports − reserved 1009 = 9 usable; 3 taken toward :80, 1 toward :443.
        assert_eq!(
            lines(&text, "portradar_destination_headroom_ports"),
            [
                r#"portradar_destination_headroom_ports{src="127.0.0.1",dst="127.0.0.2",dport="80"} 6"#,
                r#"portradar_destination_headroom_ports{src="127.0.0.1",dst="127.0.0.3",dport="443"} 8"#,
            ]
        );
        assert!(text.contains(
            r#"portradar_destination_time_wait_sockets{src="127.0.0.1",dst="127.0.0.2",dport="80"} 1"#
        ));
        assert!(text.contains(
            r#"portradar_destination_ports_used{src="127.0.0.1",dst="127.0.0.2",dport="80"} 3"#
        ));
        assert!(
            text.contains("portradar_reserved_ports 1\n"),
            "only in-range ones"
        );
        assert!(text.contains("portradar_local_port_range_ports 10\n"));
        assert!(text.contains(r#"portradar_sockets{state="TIME_WAIT"} 1"#));
        assert!(text.contains(r#"portradar_sockets{state="LISTEN"} 0"#));
        assert!(text.contains(r#"portradar_time_wait_freeing_ports{within="10s"} 1"#));
        assert!(text.contains("# TYPE portradar_refresh_failures_total counter\n"));
        let version = env!("CARGO_PKG_VERSION");
        assert!(text.ends_with(&format!(
            "portradar_build_info{{version=\"{version}\"}} 1\n# EOF\n"
        )));
        // Rates and forecasts need a second refresh: no series yet, and no bind side from a test.
        assert!(lines(&text, "portradar_destination_new_connections_per_second").is_empty());
        assert!(!text.contains("portradar_bind_side_age_seconds"));
    }

    #[test]
    fn series_come_in_a_fixed_order() {
        let snap = two_destinations();
        let text = render(&snap, &RefreshStatus::default(), 20);
        assert_eq!(text, render(&snap, &RefreshStatus::default(), 20));
        let position = |needle: &str| text.find(needle).expect(needle);
        assert!(position(r#"dport="80"} 6"#) < position(r#"dport="443"} 8"#));
        let states: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("portradar_sockets{state=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        let kernel_order: Vec<&str> = TcpState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(states, kernel_order);
    }

    #[test]
    fn only_the_top_k_destinations_are_exported() {
        let text = render(&two_destinations(), &RefreshStatus::default(), 1);
        let headroom = lines(&text, "portradar_destination_headroom_ports");
        assert_eq!(headroom.len(), 1);
        assert!(
            headroom[0].contains(r#"dport="80""#),
            "the one using most ports"
        );
        assert!(text.contains("portradar_destinations 2\n"));
    }

    #[test]
    fn exhaustion_is_absent_while_the_rate_holds() {
        let mut snap = two_destinations();
        let forecast = |exhausted_in_s| Forecast {
            rate_per_s: 3.0,
            sustainable_per_s: 0.15,
            exhausted_in_s,
            half_range_used: false,
        };
        snap.destinations[0].new_per_s = Some(3.0);
        snap.destinations[0].forecast = Some(forecast(Some(2.5)));
        snap.destinations[1].forecast = Some(forecast(None));
        let text = render(&snap, &RefreshStatus::default(), 20);
        assert_eq!(
            lines(&text, "portradar_destination_exhaustion_seconds"),
            [
                r#"portradar_destination_exhaustion_seconds{src="127.0.0.1",dst="127.0.0.2",dport="80"} 2.5"#
            ]
        );
        assert_eq!(
            lines(&text, "portradar_destination_sustainable_per_second").len(),
            2
        );
    }

    #[test]
    fn failure_counters_come_with_the_events_only() {
        let mut snap = two_destinations();
        let text = render(&snap, &RefreshStatus::default(), 20);
        assert!(!text.contains("connect_failures"));
        snap.events = Some(EventsSummary {
            source: "bpf".into(),
            picks: 10,
            failures: 7,
            lost: 0,
            resync: None,
        });
        snap.destinations[0].connect_failures = Some(7);
        let status = RefreshStatus {
            took: Duration::from_millis(250),
            failures: 2,
        };
        let text = render(&snap, &status, 20);
        assert!(text.contains("portradar_connect_failures_total 7\n"));
        assert_eq!(
            lines(&text, "portradar_destination_connect_failures_total"),
            [
                r#"portradar_destination_connect_failures_total{src="127.0.0.1",dst="127.0.0.2",dport="80"} 7"#
            ]
        );
        assert!(text.contains("portradar_refresh_failures_total 2\n"));
        assert!(text.contains("portradar_refresh_duration_seconds 0.25\n"));
        assert!(
            !text.contains("resync_differences"),
            "no resync compared yet"
        );
        snap.events.as_mut().unwrap().resync = Some(ResyncFound {
            differences: 3,
            explainable: 8,
        });
        let text = render(&snap, &status, 20);
        assert!(text.contains("portradar_resync_differences 3\n"));
        assert!(text.contains("portradar_resync_explainable 8\n"));
    }
}
