//! Render tests of the dashboard with ratatui's `TestBackend`, from deterministic snapshots built
//! through `model::build` out of a simulated host: a small model of the kernel's port allocator (as
//! since Linux 5.18) serving a few workloads second by second, so that rates, pointer estimates and
//! forecasts exist as they would live. Screens: the whole dashboard at 80x24 and 160x48 with
//! several needles, the dial alone, a focused destination with its window and forecast, a
//! destination past half of a small range (focused and not), the help, the filter prompt with an
//! error, NO_COLOR, a failed refresh and a terminal too small. The screens are kept as insta
//! snapshot files under `tests/snapshots/`.

mod common;

use common::allocator::{Allocator, Era};
use crossterm::event::{KeyCode, KeyEvent};
use portradar::collect::Source;
use portradar::filter::Filter;
use portradar::model::{History, Input, Meta, PortUse, Snapshot, build};
use portradar::refresh::{Command, Report};
use portradar::settings::KernelSettings;
use portradar::socket::{BoundDev, Endpoint, SockRecord, TcpState, TimerKind};
use portradar::ui::{App, Config, Dial, Needle, Reaction, Theme, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn ep(s: &str) -> Endpoint {
    let a: std::net::SocketAddr = s.parse().expect("test endpoint");
    Endpoint::new(a.ip(), a.port())
}

fn sock(
    local: Endpoint,
    remote: Endpoint,
    state: TcpState,
    expires_ms: u32,
    inode: u32,
) -> SockRecord {
    let time_wait = state == TcpState::TimeWait;
    SockRecord {
        local,
        remote,
        state,
        timer: if time_wait {
            TimerKind::Timewait
        } else {
            TimerKind::Off
        },
        retrans: 0,
        expires_ms,
        uid: 1000,
        // TIME_WAIT sockets have no inode.
        inode: if time_wait { 0 } else { inode },
        cookie: u64::from(inode),
        dev: BoundDev::NONE,
    }
}

/// How long TIME_WAIT lasts.
const TIME_WAIT_MS: i64 = 60_000;

/// A socket of the simulated host.
struct Conn {
    local: Endpoint,
    remote: Endpoint,
    state: TcpState,
    inode: u32,
    /// When this side closes it (and it turns TIME_WAIT for a minute), in ms of simulated time.
    close_ms: Option<i64>,
}

/// `per_s` new connections a second from `local_ip` to `remote`, each closed by this side after
/// `lasts_s` seconds, or kept open.
struct Workload {
    local_ip: IpAddr,
    remote: Endpoint,
    per_s: u32,
    lasts_s: Option<u32>,
}

/// A host whose connect()s pick ports as Linux does since 5.18 (the tests' allocator simulator,
/// [`Era::Perturbed`], one destination being a (local ip, remote) pair), a new epoch every 10
/// seconds.
struct Host {
    settings: KernelSettings,
    listen: Vec<u16>,
    now_s: u32,
    conns: Vec<Conn>,
    workloads: Vec<Workload>,
    allocator: Allocator<(IpAddr, Endpoint)>,
    next_inode: u32,
}

impl Host {
    fn new(settings: KernelSettings, listen: &[u16]) -> Host {
        let range = settings.port_range;
        Host {
            allocator: Allocator::new(Era::Perturbed, range.low, range.high, 0x9E37_79B9_7F4A_7C15),
            settings,
            listen: listen.to_vec(),
            now_s: 0,
            conns: Vec::new(),
            workloads: Vec::new(),
            next_inode: 1_000_000,
        }
    }

    fn now_ms(&self) -> i64 {
        i64::from(self.now_s) * 1000
    }

    /// A socket that stays as it is (or turns TIME_WAIT at `close_ms`).
    fn add(
        &mut self,
        local: &str,
        remote: &str,
        state: TcpState,
        inode: u32,
        close_ms: Option<i64>,
    ) {
        self.conns.push(Conn {
            local: ep(local),
            remote: ep(remote),
            state,
            inode,
            close_ms,
        });
    }

    fn workload(&mut self, local_ip: &str, remote: &str, per_s: u32, lasts_s: Option<u32>) {
        self.workloads.push(Workload {
            local_ip: local_ip.parse().unwrap(),
            remote: ep(remote),
            per_s,
            lasts_s,
        });
    }

    fn alive(&self, c: &Conn) -> bool {
        c.close_ms
            .is_none_or(|close| self.now_ms() - close < TIME_WAIT_MS)
    }

    /// The port a connect() from `local_ip` to `remote` gets now, given the ports `taken` toward
    /// it, which the new one joins.
    fn connect(&mut self, local_ip: IpAddr, remote: Endpoint, taken: &mut HashSet<u16>) -> u16 {
        let (settings, listen) = (&self.settings, &self.listen);
        let free = |port| !blocked(settings, listen, port) && !taken.contains(&port);
        let port = (self.allocator.connect(&(local_ip, remote), free))
            .unwrap_or_else(|| panic!("no port left toward {remote}"));
        taken.insert(port);
        port
    }

    /// One second of the workloads.
    fn tick(&mut self) {
        self.now_s += 1;
        if self.now_s.is_multiple_of(10) {
            self.allocator.new_epoch();
        }
        for w in 0..self.workloads.len() {
            let Workload {
                local_ip,
                remote,
                per_s,
                lasts_s,
            } = self.workloads[w];
            let mut taken: HashSet<u16> = (self.conns.iter())
                .filter(|c| c.remote == remote && c.local.ip == local_ip && self.alive(c))
                .map(|c| c.local.port)
                .collect();
            for _ in 0..per_s {
                let port = self.connect(local_ip, remote, &mut taken);
                let close_ms = lasts_s.map(|s| self.now_ms() + i64::from(s) * 1000 + 250);
                let inode = self.next_inode;
                self.next_inode += 1;
                self.conns.push(Conn {
                    local: Endpoint::new(local_ip, port),
                    remote,
                    state: TcpState::Established,
                    inode,
                    close_ms,
                });
            }
        }
        let now = self.now_ms();
        self.conns
            .retain(|c| c.close_ms.is_none_or(|close| now - close < TIME_WAIT_MS));
    }

    fn table(&self) -> Vec<SockRecord> {
        let now = self.now_ms();
        (self.conns.iter())
            .map(|c| match c.close_ms.filter(|close| *close <= now) {
                Some(close) => {
                    let expires = (close + TIME_WAIT_MS - now) as u32;
                    sock(c.local, c.remote, TcpState::TimeWait, expires, c.inode)
                }
                None => sock(c.local, c.remote, c.state, 0, c.inode),
            })
            .collect()
    }

    /// The table as a dump filtered on `dst` would give it.
    fn table_to(&self, dst: &str) -> Vec<SockRecord> {
        let mut records = self.table();
        records.retain(|r| r.remote == ep(dst));
        records
    }

    fn snapshot(
        &self,
        records: &[SockRecord],
        history: &mut History,
        filter: Option<&str>,
    ) -> Snapshot {
        let input = Input {
            records,
            listen_ports: &self.listen,
            explicit_bind_ports: &[],
            settings: &self.settings,
        };
        let taken_at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(self.now_s));
        let meta = Meta {
            filter: filter.map(String::from),
            ..Meta::new(taken_at, Source::Netlink)
        };
        build(&input, meta, history)
    }
}

/// Ports connect() skips for every destination: reserved, or a listener's.
fn blocked(settings: &KernelSettings, listen: &[u16], port: u16) -> bool {
    settings.is_reserved(port) || listen.contains(&port)
}

const LISTEN_PORTS: [u16; 3] = [22, 8080, 45000];
const WEB: &str = "10.0.0.5:443";
const REDIS: &str = "10.0.0.8:6379";
const DB: &str = "10.0.0.6:5432";
const V6: &str = "[2001:db8::1]:443";

/// A busy host: a pool of 6,000 connections to a web upstream plus 13 short ones a second, a cache
/// taking 6 a second, an IPv6 upstream 2 a second (kept), a database whose TIME_WAIT drains, a port
/// reused toward a second destination, listeners (one inside the range) and inbound peers.
fn busy_host() -> Host {
    let mut settings = KernelSettings::with_range(32768, 60999);
    settings.reserved_ports = vec![[40000, 40000]];
    settings.kernel_release = "6.18.0-test".into();
    let mut host = Host::new(settings, &LISTEN_PORTS);
    for (i, port) in LISTEN_PORTS.iter().enumerate() {
        host.add(
            &format!("0.0.0.0:{port}"),
            "0.0.0.0:0",
            TcpState::Listen,
            10 + i as u32,
            None,
        );
    }
    for i in 0..20 {
        let peer = format!("127.0.0.9:{}", 20000 + i);
        host.add("127.0.0.1:8080", &peer, TcpState::Established, 50 + i, None);
    }
    let pool = (0..)
        .map(|i| 34000 + 2 * i)
        .filter(|p| !blocked(&host.settings, &host.listen, *p));
    let pool: Vec<u16> = pool.take(6000).collect();
    for (i, port) in pool.into_iter().enumerate() {
        let local = format!("10.0.0.1:{port}");
        host.add(&local, WEB, TcpState::Established, 100_000 + i as u32, None);
    }
    for i in 0..1500 {
        // Closed over the last minute: timers end all through the next one.
        let close = i64::from(i * 7919 % 60_000) - TIME_WAIT_MS;
        let local = format!("10.0.0.1:{}", 50001 + 2 * i);
        host.add(&local, DB, TcpState::TimeWait, 0, Some(close));
    }
    for i in 0..40 {
        let local = format!("[2001:db8::100]:{}", 55001 + 2 * i);
        host.add(&local, V6, TcpState::Established, 200_000 + i, None);
    }
    for i in 0..5 {
        let local = format!("[2001:db8::100]:{}", 55101 + 2 * i);
        host.add(&local, V6, TcpState::SynSent, 200_100 + i, None);
    }
    for i in 0..5 {
        let local = format!("10.0.0.1:{}", 34000 + 2 * i);
        host.add(
            &local,
            "10.0.0.7:80",
            TcpState::Established,
            300_000 + i,
            None,
        );
    }
    host.workload("10.0.0.1", WEB, 13, Some(1));
    host.workload("10.0.0.1", REDIS, 6, Some(3));
    host.workload("2001:db8::100", V6, 2, None);
    host
}

fn report(snapshot: Snapshot, generation: u64, epoch: u64) -> Report {
    Report {
        generation,
        epoch,
        took: Duration::from_millis(12),
        outcome: Ok(Arc::new(snapshot)),
        sockets: None,
    }
}

fn config(no_color: bool, filter: Option<&str>) -> Config {
    Config {
        host: "testhost".into(),
        interval: Duration::from_secs(1),
        no_color,
        ascii: false,
        filter: filter.map(|f| Filter::parse(f).expect("test filter")),
    }
}

fn new_app(no_color: bool, filter: Option<&str>) -> App {
    App::new(config(no_color, filter))
}

/// Feeds `app` `steps` refreshes of `host`, a second apart, through `history`: the whole table, or
/// what a dump filtered on `dst` returns, as filter epoch `epoch`.
fn run(
    app: &mut App,
    host: &mut Host,
    history: &mut History,
    steps: u32,
    dst: Option<&str>,
    epoch: u64,
) {
    for _ in 0..steps {
        let (records, filter) = match dst {
            Some(dst) => (host.table_to(dst), Some(format!("dst {dst}"))),
            None => (host.table(), None),
        };
        let s = host.snapshot(&records, history, filter.as_deref());
        let generation = u64::from(host.now_s) + 1;
        assert!(app.on_report(report(s, generation, epoch)));
        host.tick();
    }
}

/// An app that has seen twenty refreshes of [`busy_host`], and the host, a second later.
fn app(no_color: bool) -> (App, Host) {
    let mut app = new_app(no_color, None);
    let mut host = busy_host();
    run(&mut app, &mut host, &mut History::default(), 20, None, 0);
    (app, host)
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

/// The label of the needle the legend names `dst`, as `━N dst`.
fn needle_label(screen: &str, dst: &str) -> Option<char> {
    screen
        .match_indices(&format!(" {dst}"))
        .find_map(|(at, _)| {
            let mut before = screen[..at].chars().rev();
            let label = before.next()?;
            (before.next() == Some('━')).then_some(label)
        })
}

#[test]
fn dashboard_80x24() {
    let t = render(&app(false).0, 80, 24);
    insta::assert_snapshot!(t.backend());
    let screen = text(&t);
    assert!(screen.contains(WEB), "the busiest destination is listed");
    assert!(screen.contains("full in"), "forecasts stay at 80 columns");
    assert!(screen.contains("ports free in 10 s"));
    assert!(screen.contains("needles inferred ·"), "the running score");
    for dst in [WEB, REDIS] {
        assert!(needle_label(&screen, dst).is_some(), "no needle for {dst}");
    }
}

#[test]
fn dashboard_160x48() {
    let t = render(&app(false).0, 160, 48);
    insta::assert_snapshot!(t.backend());
    let screen = text(&t);
    for expected in [
        WEB,
        REDIS,
        DB,
        V6,
        "10.0.0.7:80",
        "sust/s",
        "holds",
        "reserved 1",
    ] {
        assert!(screen.contains(expected), "{expected} missing");
    }
    // The most active destinations have a needle each: by rate, then ports used.
    let labels: Vec<char> = [WEB, REDIS, V6, DB]
        .iter()
        .map(|dst| needle_label(&screen, dst).unwrap_or_else(|| panic!("no needle for {dst}")))
        .collect();
    assert_eq!(labels, ['1', '2', '3', '4']);
    assert_eq!(
        needle_label(&screen, "10.0.0.7:80"),
        None,
        "four needles at most"
    );
    let score = screen
        .split("needles inferred · ")
        .nth(1)
        .expect("the running score");
    // The simulated kernel moves by a random 2..16 and reshuffles every 10 s: the window catches
    // nearly every allocation, the reshuffles excepted.
    let percent: u32 = score
        .split('%')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a percentage: {score}"));
    assert!((90..=100).contains(&percent), "{score}");
}

#[test]
fn needles_keep_their_colours() {
    let (mut app, mut host, mut history) = (new_app(false, None), busy_host(), History::default());
    run(&mut app, &mut host, &mut history, 20, None, 0);
    let before = text(&render(&app, 160, 48));
    // The cache gets busier than the web upstream: the ranking changes, the colours stay.
    host.workloads[1].per_s = 30;
    run(&mut app, &mut host, &mut history, 5, None, 0);
    let after = text(&render(&app, 160, 48));
    for dst in [WEB, REDIS, V6] {
        assert_eq!(
            needle_label(&before, dst),
            needle_label(&after, dst),
            "{dst}"
        );
    }
}

/// The dial alone over a range of 1,000 ports (the first quarter established, a slice in TIME_WAIT,
/// one reserved), with two needles and a trail, drawn in `theme` at 60x30.
fn dial_with_a_known_occupancy_in(theme: Theme) -> Terminal<TestBackend> {
    // A range of 1,000 ports: the first quarter established, a slice in TIME_WAIT, one reserved.
    let mut settings = KernelSettings::with_range(1000, 1999);
    settings.reserved_ports = vec![[1800, 1800]];
    let local = |p: u16| ep(&format!("127.0.0.1:{p}"));
    let remote = ep("127.0.0.2:80");
    let mut records: Vec<SockRecord> = (1000u16..1250)
        .map(|p| sock(local(p), remote, TcpState::Established, 0, u32::from(p)))
        .collect();
    records.extend((1500u16..1600).map(|p| sock(local(p), remote, TcpState::TimeWait, 30_000, 0)));
    let input = Input {
        records: &records,
        listen_ports: &[],
        explicit_bind_ports: &[],
        settings: &settings,
    };
    let meta = Meta::new(SystemTime::UNIX_EPOCH, Source::Netlink);
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
    let trail = [1242, 1244, 1246, 1249];
    // Two needles, one at 3 o'clock with a window of a twentieth of the range, one at 9 o'clock.
    let needles = vec![
        Needle {
            port: 1251,
            window_end: Some(1300),
            color: theme.needle(1),
            legend: Some(('2', "127.0.0.2:80".into())),
        },
        Needle {
            port: 1750,
            window_end: Some(1751),
            color: theme.needle(2),
            legend: Some(('3', "127.0.0.3:80".into())),
        },
    ];
    let dial = Dial::new(&s.ports, settings.port_range, theme)
        .title(" Port range ")
        .caption(" needles inferred ")
        .centre(vec![("650 free of 1,000".into(), theme.bold())])
        .needles(needles)
        .trail(&trail);
    let mut terminal = Terminal::new(TestBackend::new(60, 30)).unwrap();
    terminal.draw(|f| f.render_widget(dial, f.area())).unwrap();
    terminal
}

#[test]
fn dial_with_a_known_occupancy() {
    let theme = Theme::new(true);
    let terminal = dial_with_a_known_occupancy_in(theme);
    insta::assert_snapshot!(terminal.backend());
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
    let screen = terminal.backend().to_string();
    assert!(screen.contains("━2 127.0.0.2:80") && screen.contains("━3 127.0.0.3:80"));
    assert!(screen.contains("needles inferred"), "the caption");
    // Each needle runs from the centre to its window, in its colour, and is labelled on the dial.
    let (first, second) = (
        cells_in(buffer, theme.needle(1)),
        cells_in(buffer, theme.needle(2)),
    );
    assert!(first > second && second >= 8, "{first} {second}");
    // Rows 26 to 28 hold the legends.
    let on_dial = |color: Color| {
        let cells = buffer.content().iter().enumerate();
        cells.filter(move |(i, c)| c.fg == color && i / 60 < 26)
    };
    // From the centre's column on.
    let right_half = on_dial(theme.needle(1))
        .filter(|(i, _)| (i % 60) as u16 >= cx - 1)
        .count();
    assert_eq!(
        right_half,
        on_dial(theme.needle(1)).count(),
        "the 3 o'clock needle and its window lie right of the centre"
    );
    let labels = buffer
        .content()
        .iter()
        .filter(|c| c.symbol() == "2" && c.fg == theme.needle(1));
    assert_eq!(labels.count(), 2, "on the needle and in the legend");
}

/// Whether every cell of `buffer` holds a plain ASCII character.
fn all_ascii(buffer: &Buffer) -> bool {
    buffer.content().iter().all(|c| c.symbol().is_ascii())
}

/// Cells holding `symbol`.
fn cells_with(buffer: &Buffer, symbol: &str) -> usize {
    buffer
        .content()
        .iter()
        .filter(|c| c.symbol() == symbol)
        .count()
}

#[test]
fn ascii_dial_with_a_known_occupancy() {
    let theme = Theme::new(true).with_ascii(true);
    let terminal = dial_with_a_known_occupancy_in(theme);
    insta::assert_snapshot!(terminal.backend());
    let buffer = terminal.backend().buffer();
    assert!(all_ascii(buffer), "plain characters only");
    // A character per use, in its colour too: established `#`, TIME_WAIT `+`, reserved `x`, the
    // free ring `.`.
    let established = cells_in(buffer, theme.port_use(PortUse::Established));
    assert!(established > 100 && established == cells_with(buffer, "#"));
    let time_wait = cells_in(buffer, theme.port_use(PortUse::TimeWait));
    assert!(established > 2 * time_wait && time_wait > 0);
    assert!(
        cells_with(buffer, "x") >= 3,
        "reserved on the ring and in the legend"
    );
    assert!(cells_with(buffer, ".") > 20, "the free ring");
    let screen = terminal.backend().to_string();
    for expected in [
        "## established 250",
        "++ TIME_WAIT 100",
        "-2 127.0.0.2:80",
        "-3 127.0.0.3:80",
        "650 free of 1,000",
        "1000>",
        "1999",
        "+ Port range -",
    ] {
        assert!(screen.contains(expected), "{expected} missing:\n{screen}");
    }
    // The needles, their windows and labels on the dial.
    assert!(cells_with(buffer, "*") >= 8 && cells_with(buffer, "=") >= 2);
    let labels = buffer
        .content()
        .iter()
        .filter(|c| c.symbol() == "2" && c.fg == theme.needle(1));
    assert_eq!(labels.count(), 2, "on the needle and in the legend");
}

#[test]
fn ascii_dashboard_80x24() {
    let mut app = App::new(Config {
        ascii: true,
        ..config(false, None)
    });
    run(
        &mut app,
        &mut busy_host(),
        &mut History::default(),
        20,
        None,
        0,
    );
    let t = render(&app, 80, 24);
    insta::assert_snapshot!(t.backend());
    assert!(all_ascii(t.backend().buffer()), "plain characters only");
    let screen = text(&t);
    for expected in [WEB, "full in", "ports free in 10 s", "needles inferred - "] {
        assert!(screen.contains(expected), "{expected} missing:\n{screen}");
    }
    assert!(
        cells_with(t.backend().buffer(), "#") > 10,
        "established ports on the dial"
    );
}

#[test]
fn focused_destination() {
    let (mut app, mut host) = app(false);
    let Reaction::Send(Command::SetFilter {
        filter: Some(filter),
        epoch,
    }) = key(&mut app, KeyCode::Enter)
    else {
        panic!("Enter on a destination sets a filter");
    };
    assert_eq!(filter.text(), format!("dst {WEB}"));
    // The collector dumps with the filter and a fresh history: rates and forecasts from the second
    // refresh on.
    run(
        &mut app,
        &mut host,
        &mut History::default(),
        3,
        Some(WEB),
        epoch,
    );
    let t = render(&app, 100, 30);
    let screen = text(&t);
    for expected in [
        "free of 28,232",
        &format!("filter dst {WEB}"),
        "next →",
        "(inferred)",
        "holds at 1",
        "sustainable",
        "TIME_WAIT frees",
        " in 30 s",
        "pointer inferred ·",
        " of ",
    ] {
        assert!(screen.contains(expected), "{expected} missing:\n{screen}");
    }
    insta::assert_snapshot!(t.backend());
    // Esc clears the filter and the focus.
    assert!(matches!(
        key(&mut app, KeyCode::Esc),
        Reaction::Send(Command::SetFilter { filter: None, .. })
    ));
}

const LOAD: &str = "127.0.1.1:8080";

/// A host with a range of 512 ports, tcp_tw_reuse off, a load generator opening 24 short
/// connections a second to one listener (8.5 a second is sustainable) and one a second to another.
fn small_host() -> Host {
    let mut settings = KernelSettings::with_range(20000, 20511);
    settings.tcp_tw_reuse = 0;
    settings.kernel_release = "6.18.0-test".into();
    let mut host = Host::new(settings, &[8080, 5432]);
    host.workload("127.0.0.1", LOAD, 24, Some(1));
    host.workload("127.0.0.1", "127.0.1.2:5432", 1, Some(30));
    host
}

#[test]
fn half_the_range_used() {
    // Twelve seconds in: 288 ports of 512 toward the load's destination.
    let mut app = new_app(false, None);
    run(
        &mut app,
        &mut small_host(),
        &mut History::default(),
        13,
        None,
        0,
    );
    let t = render(&app, 80, 24);
    let screen = text(&t);
    assert!(screen.contains("⚠ over half the range used"), "{screen}");
    assert!(
        screen.contains("9s ⚠"),
        "full in 9 s, and marked:\n{screen}"
    );
    insta::assert_snapshot!("half_the_range_used_overview", t.backend());

    let filter = format!("dst {LOAD}");
    let mut app = new_app(false, Some(&filter));
    run(
        &mut app,
        &mut small_host(),
        &mut History::default(),
        13,
        Some(LOAD),
        0,
    );
    let t = render(&app, 80, 24);
    let screen = text(&t);
    for expected in [
        "full in 9s",
        "⚠ over half",
        "scans the other parity",
        "TIME_WAIT frees",
    ] {
        assert!(screen.contains(expected), "{expected} missing:\n{screen}");
    }
    let buffer = t.backend().buffer();
    assert!(
        cells_in(buffer, Theme::new(true).warning().fg.unwrap()) > 0,
        "the warning colour"
    );
    insta::assert_snapshot!("half_the_range_used_focused", t.backend());
}

#[test]
fn ipv6_destinations_focus_with_brackets() {
    let (mut app, _) = app(false);
    for _ in 0..6 {
        key(&mut app, KeyCode::Char('s'));
    }
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
    let (mut app, _) = app(false);
    key(&mut app, KeyCode::Char('?'));
    let t = render(&app, 80, 24);
    assert!(text(&t).contains("Reading the dial"));
    insta::assert_snapshot!(t.backend());
    assert!(text(&t).contains("q quits · any other key closes"));
    key(&mut app, KeyCode::Char('x'));
    assert!(
        !text(&render(&app, 80, 24)).contains("Reading the dial"),
        "any other key closes the help"
    );
    key(&mut app, KeyCode::Char('?'));
    assert!(matches!(key(&mut app, KeyCode::Char('q')), Reaction::Quit));
}

#[test]
fn filter_prompt_with_an_error() {
    let (mut app, _) = app(false);
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
    let t = render(&app(true).0, 80, 24);
    let buffer = t.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "no colour at all"
    );
    // The needles are told apart by their labels, on the dial and in the legend.
    let screen = text(&t);
    for (label, dst) in [('1', WEB), ('2', REDIS)] {
        assert_eq!(needle_label(&screen, dst), Some(label), "{dst}");
        let on_screen = buffer
            .content()
            .iter()
            .filter(|c| c.symbol() == label.to_string());
        assert!(
            on_screen.count() >= 2,
            "label {label} on the dial and in the legend"
        );
    }
    insta::assert_snapshot!(t.backend());
}

#[test]
fn failed_refresh_keeps_the_last_snapshot() {
    let (mut app, _) = app(false);
    let failure = Report {
        generation: 21,
        epoch: 0,
        took: Duration::from_millis(1500),
        outcome: Err("netlink: Operation not permitted (os error 1)".into()),
        sockets: None,
    };
    assert!(app.on_report(failure));
    let screen = text(&render(&app, 160, 48));
    assert!(screen.contains("⚠ refresh failed: netlink: Operation not permitted"));
    assert!(screen.contains("refresh took 1,500 ms"));
    assert!(screen.contains(WEB), "the last good snapshot stays");
}

#[test]
fn frozen_and_stale_reports_do_not_change_the_screen() {
    let (mut app, mut host) = app(false);
    assert!(matches!(
        key(&mut app, KeyCode::Char(' ')),
        Reaction::Send(Command::Pause(true))
    ));
    host.tick();
    let later = host.snapshot(&host.table(), &mut History::default(), None);
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
fn too_small_a_terminal_asks_to_be_enlarged_in_words_that_fit() {
    let (app, _) = app(false);
    for (w, h) in [
        (1, 1),
        (5, 1),
        (10, 3),
        (30, 2),
        (40, 10),
        (59, 30),
        (100, 15),
    ] {
        let t = render(&app, w, h);
        insta::assert_snapshot!(format!("too_small_{w}x{h}"), t.backend());
        let screen = text(&t);
        // Every word of every wording.
        let vocabulary =
            format!("enlarge the terminal to portradar needs 60x16 this one is {w}x{h}");
        let words: Vec<&str> = screen
            .split(|c: char| c.is_whitespace() || c == '"')
            .map(|w| w.trim_end_matches([',', ':']))
            .filter(|w| !w.is_empty())
            .collect();
        for word in &words {
            assert!(
                vocabulary.split(' ').any(|v| v == *word),
                "{word:?} is cut at {w}x{h}:\n{screen}"
            );
        }
        assert_eq!(
            words.contains(&"60x16"),
            w >= 5,
            "the size needed shows when it fits, at {w}x{h}:\n{screen}"
        );
    }
}

#[test]
fn every_size_from_the_minimum_up_renders() {
    let (app, _) = app(false);
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
