//! Exact at scale: with about 100,000 sockets in a load generator's namespace, portradar's totals by
//! state equal `ss -tan`'s counts, and its socket count for each destination equals
//! `ss -tan dst ADDR | wc -l`.
//!
//! The table is static while both read it: the established connections and listeners stay until
//! the load generator stops, and every TIME_WAIT socket was made after the test started, lives
//! 60 s (TCP_TIMEWAIT_LEN; the kernel's timers fire late, never early) and cannot be recycled by
//! connect() (the load generator sets `tcp_tw_reuse` to 0). So the counts are compared exactly,
//! TIME_WAIT included, provided every read ends within 55 s of the start, which the test checks.

mod common;

use common::loadgen::{LoadGen, Stop, TABLE_100K};
use common::portradar_json;
use common::ss::ss_in;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every read must end before the oldest TIME_WAIT socket can expire (60 s), with a margin.
const STATIC_FOR: Duration = Duration::from_secs(55);

#[test]
fn totals_and_destinations_equal_ss_at_100k_sockets() {
    let start = Instant::now();
    let test = "totals_and_destinations_equal_ss_at_100k_sockets";
    let Some(mut load) = LoadGen::for_test(test, &TABLE_100K) else {
        return;
    };
    let ready = load.ready.clone();
    assert!(ready.sockets >= 100_000, "{ready:?}");
    let ns = ready.netns.as_str();

    let doc = portradar_json(&["snapshot", "--netns", ns, "--format", "json"]);
    let table = ss_in(ns, "", &[]);
    let per_destination: Vec<(String, usize)> = ready
        .destinations
        .iter()
        .map(|(dest, _)| {
            let ip = dest.rsplit_once(':').unwrap().0;
            (dest.clone(), ss_in(ns, "", &["dst", ip]).len())
        })
        .collect();
    assert!(
        start.elapsed() < STATIC_FOR,
        "the reads took {:?}: TIME_WAIT sockets may have expired in between, counts are not comparable",
        start.elapsed()
    );

    let mut ss_by_state = BTreeMap::new();
    for s in &table {
        *ss_by_state.entry(s.state.to_string()).or_insert(0u64) += 1;
    }
    let ours: BTreeMap<String, u64> = doc["totals"]["by_state"]
        .as_object()
        .expect("totals.by_state")
        .iter()
        .map(|(state, n)| (state.clone(), n.as_u64().unwrap()))
        .collect();
    assert_eq!(ours, ss_by_state, "totals by state: portradar vs ss");
    assert_eq!(doc["totals"]["sockets"].as_u64(), Some(table.len() as u64));
    assert_eq!(
        table.len() as u64,
        ready.sockets,
        "ss vs what the load generator built"
    );

    let destinations = doc["destinations"].as_array().expect("destinations");
    for (dest, ss_count) in &per_destination {
        let ours = destinations
            .iter()
            .find(|d| d["remote"] == dest.as_str())
            .unwrap_or_else(|| panic!("portradar has no destination {dest}"));
        assert_eq!(
            ours["sockets"].as_u64(),
            Some(*ss_count as u64),
            "sockets toward {dest}"
        );
    }

    assert!(load.stop(Stop::CloseStdin).success());
}
