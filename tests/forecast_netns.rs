//! Forecast truth: in a private network namespace with a small port range, a workload that opens
//! short-lived connections to one destination at a fixed rate runs out of ports (EADDRNOTAVAIL) within
//! 20% of the time portradar forecast; a rate below the sustainable one is forecast to hold, and does.

mod common;

use common::netns::Netns;
use portradar::collect::Families;
use portradar::model::{Forecast, Snapshot};
use portradar::refresh::Refresher;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DST: &str = "127.0.0.2:5000";

/// Opens and closes (client first) one connection every `1 / rate` seconds until `stop`, or until
/// connect() fails with EADDRNOTAVAIL; returns when that happened.
fn workload(rate: f64, stop: &AtomicBool) -> Option<Instant> {
    let dst: SocketAddr = DST.parse().unwrap();
    let start = Instant::now();
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let due = start + Duration::from_secs_f64(f64::from(n) / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match TcpStream::connect(dst) {
            Ok(c) => drop(c),
            Err(e) if e.kind() == ErrorKind::AddrNotAvailable => return Some(Instant::now()),
            // The listener goes away once the test stops: that is the end, not a failure.
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(e) => panic!("connect #{n}: {e}"),
        }
        n += 1;
    }
    None
}

/// The forecast toward DST once the rate has been measured over a few refreshes.
fn forecast_after(refresher: &mut Refresher, warmup: Duration) -> (Forecast, Instant) {
    let until = Instant::now() + warmup;
    let mut last: Option<(Forecast, Instant)> = None;
    while Instant::now() < until || last.is_none() {
        std::thread::sleep(Duration::from_millis(500));
        let snap: Snapshot = refresher.refresh().expect("refresh");
        let at = Instant::now();
        last = snap
            .destinations
            .iter()
            .find(|d| d.remote.to_string() == DST)
            .and_then(|d| d.forecast.clone())
            .map(|f| (f, at));
    }
    last.unwrap()
}

/// Runs `rate` connections per second for at most `run`, forecasting after `warmup`; returns the
/// forecast, when it was made, and when connect() failed (if it did).
fn scenario(
    ns: &Netns,
    rate: f64,
    warmup: Duration,
    run: Duration,
) -> (Forecast, Instant, Option<Instant>) {
    ns.run(|| {
        let listener = TcpListener::bind(DST).unwrap();
        let stop = AtomicBool::new(false);
        let result = Mutex::new(None);
        std::thread::scope(|s| {
            s.spawn(|| common::serve_until_eof(&listener, &stop));
            let failed = s.spawn(|| workload(rate, &stop));
            let mut refresher = Refresher::new(Some(ns.name.clone()), Families::BOTH, None);
            let (forecast, at) = forecast_after(&mut refresher, warmup);
            let deadline = Instant::now() + run;
            while !failed.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop.store(true, Ordering::Relaxed);
            *result.lock().unwrap() = Some((forecast, at, failed.join().unwrap()));
        });
        result.into_inner().unwrap().unwrap()
    })
}

#[test]
fn exhaustion_comes_when_forecast() {
    let Some(ns) = Netns::for_test("exhaustion_comes_when_forecast") else {
        return;
    };
    ns.ports(40000, 40199, 0);
    // 200 ports held 60 s each sustain 3.3 connections per second; 20 per second run out in ~10 s.
    let (forecast, at, failed) =
        scenario(&ns, 20.0, Duration::from_secs(2), Duration::from_secs(30));
    let expected = forecast
        .exhausted_in_s
        .expect("20/s over 200 ports is forecast to run out");
    let failed = failed.expect("connect() ran out of ports");
    let actual = failed.duration_since(at).as_secs_f64();
    assert!(
        (actual - expected).abs() <= 0.2 * expected,
        "forecast {expected:.1} s, connect() failed after {actual:.1} s ({forecast:?})"
    );
    assert!(
        (forecast.sustainable_per_s - 200.0 / 60.0).abs() < 0.5,
        "{forecast:?}"
    );
}

#[test]
fn a_sustainable_rate_holds() {
    let Some(ns) = Netns::for_test("a_sustainable_rate_holds") else {
        return;
    };
    // 20 ports; TIME_WAIT reusable after 1 s sustains 20 per second. 10 per second for 8 s makes 80
    // connections: without reuse they would run out after 2 s.
    ns.ports(40000, 40019, 1);
    let (forecast, _, failed) = scenario(&ns, 10.0, Duration::from_secs(2), Duration::from_secs(6));
    assert!(
        forecast.holds(),
        "10/s over 20 reusable ports holds: {forecast:?}"
    );
    assert!(
        forecast.rate_per_s > 5.0,
        "the rate was measured: {forecast:?}"
    );
    assert_eq!(failed, None, "connect() never failed");
}
