//! Render tests of the dashboard with ratatui's `TestBackend`, from deterministic snapshots built
//! here out of synthetic sockets: the whole screen at 80x24 and 160x48, the dial alone, a focused
//! destination, the help, the filter prompt with an error, NO_COLOR, a failed refresh and a
//! terminal too small. The screens are kept as insta snapshot files under `tests/snapshots/`.

use crossterm::event::{KeyCode, KeyEvent};
use portradar::collect::Source;
use portradar::model::{History, Input, Meta, PortUse, Snapshot, build};
use portradar::settings::KernelSettings;
use portradar::socket::{Endpoint, SockRecord, TcpState, TimerKind};
use portradar::ui::{App, Command, Config, Dial, Reaction, Report, Theme, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn ep(s: &str) -> Endpoint {
    let a: std::net::SocketAddr = s.parse().expect("test endpoint");
    Endpoint::new(a.ip(), a.port())
}

fn sock(local: &str, remote: &str, state: TcpState, expires_ms: u32, inode: u32) -> SockRecord {
    SockRecord {
        local: ep(local),
        remote: ep(remote),
        state,
        timer: if state == TcpState::TimeWait {
            TimerKind::Timewait
        } else {
            TimerKind::Off
        },
        retrans: 0,
        expires_ms,
        uid: 1000,
        inode,
        cookie: u64::from(inode),
    }
}

const LISTEN_PORTS: [u16; 3] = [22, 8080, 45000];
const WEB: &str = "10.0.0.5:443";

fn settings() -> KernelSettings {
    let mut s = KernelSettings::with_range(32768, 60999);
    s.reserved_ports = vec![[40000, 40000]];
    s.kernel_release = "6.18.0-test".into();
    s
}

/// Free for connect(): not reserved, not a listener's.
fn usable(port: u16) -> bool {
    port != 40000 && !LISTEN_PORTS.contains(&port)
}

/// A host at second `step` of a run: a busy upstream (13 new connections a second), a database
/// whose TIME_WAIT drains, an IPv6 upstream, a port reused toward a second destination, listeners
/// (one inside the range) and inbound peers.
fn table(step: u32) -> Vec<SockRecord> {
    let mut r = Vec::new();
    for (i, port) in LISTEN_PORTS.iter().enumerate() {
        r.push(sock(
            &format!("0.0.0.0:{port}"),
            "0.0.0.0:0",
            TcpState::Listen,
            0,
            10 + i as u32,
        ));
    }
    for i in 0..20 {
        r.push(sock(
            "127.0.0.1:8080",
            &format!("127.0.0.9:{}", 20000 + i),
            TcpState::Established,
            0,
            50 + i,
        ));
    }
    let web = 6000 + 13 * step;
    let ports = (0..).map(|i| 34000 + 2 * i).filter(|p| usable(*p));
    for (i, port) in ports.take(web as usize).enumerate() {
        r.push(sock(
            &format!("10.0.0.1:{port}"),
            WEB,
            TcpState::Established,
            0,
            100_000 + i as u32,
        ));
    }
    for i in 0..(1500 - 40 * step) {
        let expires = (i * 7919 + step * 1000) % 60_000;
        r.push(sock(
            &format!("10.0.0.1:{}", 50001 + 2 * i),
            "10.0.0.6:5432",
            TcpState::TimeWait,
            expires,
            0,
        ));
    }
    for i in 0..40 {
        let local = format!("[2001:db8::100]:{}", 55001 + 2 * i);
        r.push(sock(
            &local,
            "[2001:db8::1]:443",
            TcpState::Established,
            0,
            200_000 + i,
        ));
    }
    for i in 0..5 {
        let local = format!("[2001:db8::100]:{}", 55101 + 2 * i);
        r.push(sock(
            &local,
            "[2001:db8::1]:443",
            TcpState::SynSent,
            1000,
            200_100 + i,
        ));
    }
    for i in 0..5 {
        r.push(sock(
            &format!("10.0.0.1:{}", 34000 + 2 * i),
            "10.0.0.7:80",
            TcpState::Established,
            0,
            300_000 + i,
        ));
    }
    r
}

fn snapshot(
    records: &[SockRecord],
    at: u32,
    history: &mut History,
    filter: Option<&str>,
) -> Snapshot {
    let settings = settings();
    let input = Input {
        records,
        listen_ports: &LISTEN_PORTS,
        explicit_bind_ports: &[],
        settings: &settings,
    };
    let meta = Meta {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(at)),
        source: Source::Netlink,
        netns: None,
        filter: filter.map(String::from),
    };
    build(&input, meta, history)
}

fn report(snapshot: Snapshot, generation: u64, epoch: u64) -> Report {
    Report {
        generation,
        epoch,
        took: Duration::from_millis(12),
        outcome: Ok(Arc::new(snapshot)),
    }
}

/// An app that has seen twenty refreshes of [`table`].
fn app(no_color: bool) -> App {
    let mut app = App::new(Config {
        host: "testhost".into(),
        interval: Duration::from_secs(1),
        no_color,
        filter: None,
    });
    let mut history = History::default();
    for step in 0..20 {
        let s = snapshot(&table(step), step, &mut history, None);
        assert!(app.on_report(report(s, u64::from(step) + 1, 0)));
    }
    app
}

fn key(app: &mut App, code: KeyCode) -> Reaction {
    app.on_key(KeyEvent::from(code))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    terminal
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

/// Cells whose foreground is `color`.
fn cells_in(buffer: &Buffer, color: Color) -> usize {
    buffer.content().iter().filter(|c| c.fg == color).count()
}

#[test]
fn dashboard_80x24() {
    let t = render(&app(false), 80, 24);
    let screen = text(&t);
    assert!(screen.contains(WEB), "the busiest destination is listed");
    assert!(screen.contains("ports free in 10 s"));
    insta::assert_snapshot!(t.backend());
}

#[test]
fn dashboard_160x48() {
    let t = render(&app(false), 160, 48);
    let screen = text(&t);
    for expected in [
        WEB,
        "10.0.0.6:5432",
        "[2001:db8::1]:443",
        "10.0.0.7:80",
        "next →",
        "(inferred)",
        "reserved 1",
    ] {
        assert!(screen.contains(expected), "{expected} missing");
    }
    insta::assert_snapshot!(t.backend());
}

#[test]
fn dial_with_a_known_occupancy() {
    // A range of 1,000 ports: the first quarter established, a slice in TIME_WAIT, one reserved.
    let mut settings = KernelSettings::with_range(1000, 1999);
    settings.reserved_ports = vec![[1800, 1800]];
    let mut records: Vec<SockRecord> = (1000u16..1250)
        .map(|p| {
            sock(
                &format!("127.0.0.1:{p}"),
                "127.0.0.2:80",
                TcpState::Established,
                0,
                u32::from(p),
            )
        })
        .collect();
    records.extend((1500u16..1600).map(|p| {
        sock(
            &format!("127.0.0.1:{p}"),
            "127.0.0.2:80",
            TcpState::TimeWait,
            30_000,
            0,
        )
    }));
    let input = Input {
        records: &records,
        listen_ports: &[],
        explicit_bind_ports: &[],
        settings: &settings,
    };
    let meta = Meta {
        taken_at: SystemTime::UNIX_EPOCH,
        source: Source::Netlink,
        netns: None,
        filter: None,
    };
    let s = build(&input, meta, &mut History::default());
    let counts = s.ports.counts(0, s.ports.len());
    assert_eq!(
        [
            counts[PortUse::Established as usize],
            counts[PortUse::TimeWait as usize],
            counts[PortUse::Reserved as usize]
        ],
        [250, 100, 1]
    );
    let theme = Theme::new(true);
    let trail = [1242, 1244, 1246, 1249];
    let dial = Dial::new(&s.ports, settings.port_range, theme)
        .title(" Port range ")
        .centre(vec![
            ("650 free of 1,000".into(), theme.bold()),
            ("next → 1249".into(), theme.bold()),
        ])
        .needle(Some(1249))
        .trail(&trail);
    let mut terminal = Terminal::new(TestBackend::new(60, 30)).unwrap();
    terminal.draw(|f| f.render_widget(dial, f.area())).unwrap();
    let buffer = terminal.backend().buffer();
    let established = cells_in(buffer, theme.port_use(PortUse::Established));
    let time_wait = cells_in(buffer, theme.port_use(PortUse::TimeWait));
    let reserved = cells_in(buffer, theme.port_use(PortUse::Reserved));
    assert!(
        established > 2 * time_wait && time_wait > 0 && reserved > 0,
        "{established} {time_wait} {reserved}"
    );
    // The first quarter of the ring is the top right: established cells sit right of the centre
    // and above it.
    let (cx, cy) = (30, 14);
    let quarter = buffer
        .content()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.fg == theme.port_use(PortUse::Established) && c.symbol() != "█")
        .filter(|(i, _)| (i % 60) as u16 >= cx && ((i / 60) as u16) <= cy)
        .count();
    assert!(
        quarter * 10 >= established * 9,
        "established ports drawn outside the first quarter"
    );
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn focused_destination() {
    let mut app = app(false);
    let Reaction::Send(Command::SetFilter {
        filter: Some(filter),
        epoch,
    }) = key(&mut app, KeyCode::Enter)
    else {
        panic!("Enter on a destination sets a filter");
    };
    assert_eq!(filter.text(), format!("dst {WEB}"));
    // The collector dumps with the filter: only that destination's sockets come back.
    let mut history = History::default();
    let records: Vec<SockRecord> = table(20)
        .into_iter()
        .filter(|r| r.remote == ep(WEB))
        .collect();
    assert!(app.on_report(report(
        snapshot(&records, 20, &mut history, Some(filter.text())),
        21,
        epoch
    )));
    let t = render(&app, 100, 30);
    let screen = text(&t);
    assert!(
        screen.contains("free of 28,232"),
        "headroom in the middle of the dial"
    );
    assert!(screen.contains(&format!("filter dst {WEB}")));
    insta::assert_snapshot!(t.backend());
    // Esc clears the filter and the focus.
    assert!(matches!(
        key(&mut app, KeyCode::Esc),
        Reaction::Send(Command::SetFilter { filter: None, .. })
    ));
}

#[test]
fn ipv6_destinations_focus_with_brackets() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    // Sorted by address: IPv4 first, then the IPv6 upstream last.
    key(&mut app, KeyCode::End);
    let Reaction::Send(Command::SetFilter {
        filter: Some(filter),
        ..
    }) = key(&mut app, KeyCode::Enter)
    else {
        panic!("Enter on a destination sets a filter");
    };
    assert_eq!(filter.text(), "dst [2001:db8::1]:443");
}

#[test]
fn help_overlay() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('?'));
    let t = render(&app, 80, 24);
    assert!(text(&t).contains("Reading the dial"));
    insta::assert_snapshot!(t.backend());
    key(&mut app, KeyCode::Char('x'));
    assert!(
        !text(&render(&app, 80, 24)).contains("Reading the dial"),
        "any key closes the help"
    );
}

#[test]
fn filter_prompt_with_an_error() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "dst 10.0.0.5:443 and sport > banana");
    assert!(
        matches!(key(&mut app, KeyCode::Enter), Reaction::Redraw),
        "a bad filter is not sent"
    );
    let t = render(&app, 80, 24);
    let screen = text(&t);
    assert!(
        screen.contains("✗ bad filter at 'banana'"),
        "the error shows in the prompt"
    );
    insta::assert_snapshot!(t.backend());
    // Esc leaves the prompt; the previous (no) filter still holds.
    key(&mut app, KeyCode::Esc);
    assert!(!text(&render(&app, 80, 24)).contains("filter dst"));
}

#[test]
fn no_color() {
    let t = render(&app(true), 80, 24);
    let buffer = t.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "no colour at all"
    );
    insta::assert_snapshot!(t.backend());
}

#[test]
fn failed_refresh_keeps_the_last_snapshot() {
    let mut app = app(false);
    let failure = Report {
        generation: 21,
        epoch: 0,
        took: Duration::from_millis(1500),
        outcome: Err("netlink: Operation not permitted (os error 1)".into()),
    };
    assert!(app.on_report(failure));
    let screen = text(&render(&app, 160, 48));
    assert!(screen.contains("⚠ refresh failed: netlink: Operation not permitted"));
    assert!(screen.contains("refresh took 1,500 ms"));
    assert!(screen.contains(WEB), "the last good snapshot stays");
}

#[test]
fn frozen_and_stale_reports_do_not_change_the_screen() {
    let mut app = app(false);
    assert!(matches!(
        key(&mut app, KeyCode::Char(' ')),
        Reaction::Send(Command::Pause(true))
    ));
    let mut history = History::default();
    let later = snapshot(&table(25), 25, &mut history, None);
    assert!(!app.on_report(report(later.clone(), 30, 0)), "frozen");
    assert!(text(&render(&app, 80, 24)).contains("FROZEN"));
    assert!(matches!(
        key(&mut app, KeyCode::Char(' ')),
        Reaction::Send(Command::Pause(false))
    ));
    assert!(
        !app.on_report(report(later.clone(), 31, 5)),
        "another epoch's report is stale"
    );
    assert!(app.on_report(report(later, 32, 0)));
}

#[test]
fn too_small_a_terminal_asks_to_be_enlarged() {
    let screen = text(&render(&app(false), 50, 10));
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .contains("enlarge the terminal")
    );
    let rest: String = screen.lines().skip(1).collect();
    assert!(rest.chars().all(|c| c == ' ' || c == '"'), "one line only");
}

#[test]
fn every_size_from_the_minimum_up_renders() {
    let app = app(false);
    for (w, h) in [
        (60, 16),
        (76, 20),
        (80, 24),
        (100, 30),
        (120, 40),
        (200, 60),
        (61, 50),
    ] {
        let screen = text(&render(&app, w, h));
        assert!(!screen.contains("enlarge"), "{w}x{h}");
        assert!(screen.contains("Port range"), "the dial stays at {w}x{h}");
    }
    let area = Rect::new(0, 0, 60, 16);
    assert!(area.width >= portradar::ui::MIN_WIDTH && area.height >= portradar::ui::MIN_HEIGHT);
}
