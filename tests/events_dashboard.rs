//! The dashboard with allocator events, drawn with ratatui's `TestBackend` from a small fixture: the
//! header says events are live, or why not; a destination shows its failed connect()s (last minute
//! and in all) and the process that made them; a pick between two refreshes moves the needle and
//! says how many busy ports it skipped.

use portradar::collect::Source;
use portradar::events::LivePick;
use portradar::model::{
    DestinationEvents, EventInput, EventsSummary, Failer, History, Input, Meta, Snapshot,
    build_with_events,
};
use portradar::pointer::{DestinationKey, PointerTracker};
use portradar::refresh::Report;
use portradar::settings::{KernelSettings, PortRange};
use portradar::socket::{Endpoint, SockRecord, TcpState};
use portradar::ui::{App, Config, EventsStatus, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const REMOTE: &str = "127.0.0.1:50001";

fn ep(s: &str) -> Endpoint {
    let a: std::net::SocketAddr = s.parse().expect("test endpoint");
    Endpoint::new(a.ip(), a.port())
}

fn range() -> PortRange {
    PortRange {
        low: 40000,
        high: 40009,
    }
}

/// Ten ports toward one destination, eight in use, with `events` counted (none: events off).
fn snapshot(events: Option<&EventInput>) -> Snapshot {
    let mut settings = KernelSettings::with_range(40000, 40009);
    settings.kernel_release = "6.18.0-test".into();
    let records: Vec<SockRecord> = (0..8u16)
        .map(|i| {
            let mut r = SockRecord::new(
                ep(&format!("127.0.0.1:{}", 40000 + i)),
                ep(REMOTE),
                TcpState::Established,
            );
            r.inode = 100 + u32::from(i);
            r
        })
        .collect();
    let input = Input {
        records: &records,
        listen_ports: &[],
        explicit_bind_ports: &[],
        settings: &settings,
    };
    let mut history = History::default();
    let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    build_with_events(
        &input,
        Meta::new(at(1), Source::Netlink),
        &mut history,
        events,
    );
    build_with_events(
        &input,
        Meta::new(at(2), Source::Netlink),
        &mut history,
        events,
    )
}

fn failing_events() -> EventInput {
    let mut events = EventInput {
        summary: Some(EventsSummary {
            source: "bpf".into(),
            picks: 8,
            failures: 12,
            lost: 0,
            resync: None,
        }),
        ..EventInput::default()
    };
    events.destinations.insert(
        ep(REMOTE),
        DestinationEvents {
            picks: 8,
            failures: 12,
            failures_last_minute: 3,
            failing: vec![Failer {
                pid: 4242,
                comm: "myclient".into(),
                count: 12,
            }],
        },
    );
    events
}

fn app(snapshot: Snapshot, events: Option<EventsStatus>) -> App {
    let mut app = App::new(Config {
        host: "testhost".into(),
        interval: Duration::from_secs(1),
        no_color: true,
        ascii: false,
        filter: None,
    });
    if let Some(status) = events {
        app.set_events(status);
    }
    app.on_report(Report {
        generation: 1,
        epoch: 0,
        took: Duration::ZERO,
        outcome: Ok(Arc::new(snapshot)),
        sockets: None,
    });
    app
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| draw(f, app)).expect("draw");
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let row: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
            row.trim_end().to_string() + "\n"
        })
        .collect()
}

#[test]
fn the_header_says_events_are_live_and_destinations_show_their_failures() {
    let events = failing_events();
    let app = app(snapshot(Some(&events)), Some(EventsStatus::Live));
    let text = screen(&app, 160, 40);
    assert!(text.contains("events live"), "{text}");
    assert!(!text.contains("events off"), "{text}");
    assert!(text.contains("fail 1m/all"), "{text}");
    assert!(text.contains("3/12"), "{text}");
    assert!(text.contains("myclient/4242"), "{text}");
}

#[test]
fn the_header_says_why_events_are_off_and_the_failure_columns_go() {
    let reason = "events unavailable: not permitted to load BPF programs \
                  (run as root, or with CAP_BPF and CAP_PERFMON)";
    let app = app(snapshot(None), Some(EventsStatus::Off(reason.into())));
    let text = screen(&app, 160, 40);
    assert!(text.contains("events off"), "{text}");
    assert!(text.contains(reason), "{text}");
    assert!(!text.contains("events live"), "{text}");
    assert!(!text.contains("fail 1m/all"), "{text}");
    let app = self::app(
        snapshot(None),
        Some(EventsStatus::Off("events off: --no-events".into())),
    );
    assert!(screen(&app, 160, 40).contains("--no-events"));
}

#[test]
fn a_pick_between_refreshes_moves_the_needle_and_tells_its_skip() {
    let events = failing_events();
    let mut app = app(snapshot(Some(&events)), Some(EventsStatus::Live));
    // Focused through a filter that leaves one destination, so the dial is about it.
    let filtered = Report {
        generation: 2,
        epoch: 1,
        took: Duration::ZERO,
        outcome: Ok(Arc::new(snapshot(Some(&events)))),
        sockets: None,
    };
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Enter,
    ));
    app.on_report(filtered);
    let before = screen(&app, 160, 40);
    assert!(!before.contains("next → 40009"), "{before}");
    // The model after picks 40000..=40006 (step one) and then 40008, which skipped four busy ports.
    let key = DestinationKey {
        local_ip: [127, 0, 0, 1].into(),
        remote: REMOTE.parse().unwrap(),
    };
    let mut tracker = PointerTracker::new(range());
    for port in 40000..=40007 {
        tracker.observe_pick(key, port, 0);
    }
    tracker.observe_pick(key, 40008, 4);
    let estimate = tracker.estimate(&key).cloned();
    let pick = LivePick {
        seq: 9,
        local: ep("127.0.0.1:40008"),
        remote: ep(REMOTE),
        skipped: 4,
    };
    assert!(app.on_picks(vec![(pick, estimate)]), "a pick redraws");
    assert_eq!(app.last_pick(), 9);
    let after = screen(&app, 160, 40);
    assert!(after.contains("next → 40009"), "{after}");
    assert!(after.contains("last pick skipped 4 busy ports"), "{after}");
}
