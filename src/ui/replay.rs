//! `portradar replay`: the dashboard over a recording. [`Transport`] is its feed: a [`Player`]
//! and a clock that runs in recorded time at a chosen speed; the keys pause it (space), step one
//! table, jump a minute and change the speed. Each time the clock reaches another table, the
//! player builds its snapshot and the dashboard gets it as a report, as from the live worker.

use super::panels::timeline::Timeline;
use super::{App, Config, Feed, ReplayAction, UiError, event_loop, signals, terminal};
use crate::filter::Filter;
use crate::record::{Player, Recording};
use crate::refresh::{Command, Refresh, Report};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The speeds `<` and `>` step through, in recorded seconds per second.
const SPEEDS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];
/// 1×.
const NORMAL: usize = 2;
/// How far `[` and `]` jump.
const JUMP: Duration = Duration::from_secs(60);

/// How a replay was asked to run.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub no_color: bool,
    pub ascii: bool,
    pub filter: Option<Filter>,
    /// What the reader had to say about the file (a torn tail), shown in the header.
    pub note: Option<String>,
}

/// Runs the dashboard over `recording` until the user quits.
pub fn replay(recording: Recording, options: ReplayOptions) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        return Err(UiError::NotATerminal.into());
    }
    let stop = signals::Stop::register().map_err(UiError::from)?;
    let interval = Duration::from_millis(recording.host.interval_ms);
    let mut app = App::new(Config {
        host: recording.host.hostname.clone(),
        interval,
        no_color: options.no_color,
        ascii: options.ascii,
        filter: options.filter.clone(),
    });
    let mut transport = Transport::new(Player::new(recording), options.filter, options.note);
    let mut session = terminal::Session::enter().map_err(UiError::from)?;
    event_loop(&mut session, &mut app, &mut transport, None, &stop)?;
    Ok(())
}

/// A player and its clock.
pub struct Transport {
    player: Player,
    playing: bool,
    speed: usize,
    /// A moment of the wall clock and where the replay stood in recorded time then.
    anchor: (Instant, SystemTime),
    /// The table on screen.
    shown: Option<usize>,
    /// A new filter waits to be shown.
    stale: bool,
    epoch: u64,
    generation: u64,
    note: Option<String>,
}

impl Transport {
    /// A transport playing from the start at 1×.
    pub fn new(mut player: Player, filter: Option<Filter>, note: Option<String>) -> Transport {
        player.set_filter(filter);
        let start = player.recording().start();
        Transport {
            player,
            playing: true,
            speed: NORMAL,
            anchor: (Instant::now(), start),
            shown: None,
            stale: true,
            epoch: 0,
            generation: 0,
            note,
        }
    }

    /// Where the clock stands in recorded time.
    fn now(&self) -> SystemTime {
        let (wall, at) = self.anchor;
        if self.playing {
            at + wall.elapsed().mul_f64(SPEEDS[self.speed])
        } else {
            at
        }
    }

    fn shown_time(&self) -> SystemTime {
        self.player.recording().time(self.shown.unwrap_or(0))
    }

    /// Moves the clock to table `i`.
    fn go_to(&mut self, i: usize) {
        let i = i.min(self.player.recording().len() - 1);
        self.anchor = (Instant::now(), self.player.recording().time(i));
    }
}

impl Feed for Transport {
    fn send(&mut self, command: Command) {
        match command {
            Command::SetFilter { filter, epoch } => {
                self.player.set_filter(filter);
                self.epoch = epoch;
                self.stale = true;
            }
            Command::Pause(paused) => {
                let recording = self.player.recording();
                let at = if paused {
                    self.shown_time()
                } else if self.shown_time() >= recording.end() {
                    // Play at the end plays again from the start.
                    recording.start()
                } else {
                    self.now()
                };
                self.anchor = (Instant::now(), at);
                self.playing = !paused;
            }
            // The recording's pace is its own: `<` and `>` change the speed.
            Command::SetInterval(_) => {}
        }
    }

    fn poll(&mut self) -> Result<Option<Report>, UiError> {
        let recording = self.player.recording();
        let now = self.now();
        if self.playing && now >= recording.end() {
            self.playing = false;
            self.anchor = (Instant::now(), recording.end());
        }
        let target = recording.index_at(now);
        if self.shown == Some(target) && !self.stale {
            return Ok(None);
        }
        let started = Instant::now();
        self.player.seek(target);
        let outcome = self.player.refresh().map(Arc::new);
        self.shown = Some(target);
        self.stale = false;
        self.generation += 1;
        Ok(Some(Report {
            generation: self.generation,
            epoch: self.epoch,
            took: started.elapsed(),
            outcome,
            sockets: None,
        }))
    }

    fn replay(&mut self, action: ReplayAction) {
        let shown = self.shown.unwrap_or(0);
        let recording = self.player.recording();
        match action {
            ReplayAction::StepBack => self.go_to(shown.saturating_sub(1)),
            ReplayAction::StepForward => self.go_to(shown + 1),
            ReplayAction::JumpBack => {
                let t = self.shown_time().checked_sub(JUMP);
                let i = t.map_or(0, |t| recording.index_at(t));
                self.go_to(i);
            }
            ReplayAction::JumpForward => {
                let i = recording.index_at(self.shown_time() + JUMP);
                self.go_to(i);
            }
            ReplayAction::Slower | ReplayAction::Faster => {
                self.anchor = (Instant::now(), self.now());
                self.speed = match action {
                    ReplayAction::Slower => self.speed.saturating_sub(1),
                    _ => (self.speed + 1).min(SPEEDS.len() - 1),
                };
            }
        }
    }

    fn timeline(&self) -> Option<Timeline> {
        let recording = self.player.recording();
        Some(Timeline {
            start: recording.start(),
            end: recording.end(),
            at: self.shown_time(),
            table: (self.shown.unwrap_or(0) + 1, recording.len()),
            playing: self.playing,
            speed: SPEEDS[self.speed],
            note: self.note.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{Families, Table};
    use crate::model::Meta;
    use crate::record::{Host, Moment, Writer};
    use crate::settings::KernelSettings;
    use crate::socket::{SockRecord, TcpState};
    use crate::ui::Reaction;
    use crossterm::event::{KeyCode, KeyEvent};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use std::time::UNIX_EPOCH;

    /// A recording of three tables a second apart, of 1, 2 and 3 connections.
    fn recording(path: &std::path::Path) -> Recording {
        let settings = KernelSettings::with_range(1000, 1009);
        let host = Host {
            hostname: "recorded-host".into(),
            netns: None,
            families: Families::BOTH,
            interval_ms: 1000,
            portradar: "test".into(),
            settings: settings.clone(),
        };
        let _ = std::fs::remove_file(path);
        let (mut writer, _) = Writer::open(path, &host).unwrap();
        let mut table = Table::new();
        for n in 1..=3u16 {
            let mut r = SockRecord::new(
                format!("10.0.0.1:{}", 1000 + n).parse().unwrap(),
                "10.0.0.2:443".parse().unwrap(),
                TcpState::Established,
            );
            r.cookie = u64::from(n);
            table.records.push(r);
            let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000 + u64::from(n));
            let meta = Meta::new(at, crate::collect::Source::Netlink);
            writer.write(Moment::new(&table, &meta, &settings)).unwrap();
        }
        Recording::open(path).unwrap()
    }

    fn screen(app: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(140, 40)).unwrap();
        terminal.draw(|f| super::super::draw(f, app)).unwrap();
        let buffer = terminal.backend().buffer();
        buffer
            .content()
            .chunks(140)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect()
    }

    /// Hands the transport's news to the app, as the UI loop does.
    fn pump(transport: &mut Transport, app: &mut App) {
        while let Some(report) = transport.poll().unwrap() {
            app.on_report(report);
        }
        app.set_timeline(transport.timeline().unwrap());
    }

    fn press(app: &mut App, transport: &mut Transport, code: KeyCode) {
        match app.on_key(KeyEvent::from(code)) {
            Reaction::Send(c) => transport.send(c),
            Reaction::Replay(a) => transport.replay(a),
            _ => {}
        }
        pump(transport, app);
    }

    #[test]
    fn the_header_shows_the_time_line_and_keys_step_and_pause() {
        let path = std::env::temp_dir().join(format!("portradar-ui-{}.rec", std::process::id()));
        let mut transport = Transport::new(Player::new(recording(&path)), None, None);
        let mut app = App::new(Config {
            host: "recorded-host".into(),
            interval: Duration::from_secs(1),
            no_color: true,
            ascii: false,
            filter: None,
        });
        // Paused before the first table, so that the clock stands still.
        press(&mut app, &mut transport, KeyCode::Char(' '));
        let text = screen(&app);
        assert!(text.contains("replay ❚❚ 1×"), "{text}");
        assert!(text.contains("2027-01-15 08:00:01"), "{text}");
        assert!(text.contains("08:00:03"), "the end: {text}");
        assert!(text.contains("table 1/3"), "{text}");
        assert!(text.contains("1 socket"), "{text}");
        assert!(
            text.contains(" ←→  step ")
                && text.contains(" space  pause ")
                && !text.contains(" interval ")
                && !text.contains("freeze"),
            "the footer has the replay's keys: {text}"
        );
        press(&mut app, &mut transport, KeyCode::Right);
        let text = screen(&app);
        assert!(
            text.contains("at 08:00:02 (+1s of 2s, table 2/3)"),
            "{text}"
        );
        assert!(text.contains("2 sockets"), "{text}");
        press(&mut app, &mut transport, KeyCode::Char(']'));
        assert!(screen(&app).contains("table 3/3"));
        press(&mut app, &mut transport, KeyCode::Char('['));
        assert!(screen(&app).contains("table 1/3"));
        press(&mut app, &mut transport, KeyCode::Char('>'));
        assert!(screen(&app).contains("replay ❚❚ 2×"));
        // The filter applies to the recorded table.
        press(&mut app, &mut transport, KeyCode::Right);
        press(&mut app, &mut transport, KeyCode::Right);
        press(&mut app, &mut transport, KeyCode::Char('/'));
        for c in "sport = 1001".chars() {
            app.on_key(KeyEvent::from(KeyCode::Char(c)));
        }
        press(&mut app, &mut transport, KeyCode::Enter);
        let text = screen(&app);
        assert!(
            text.contains("table 3/3") && text.contains("1 socket"),
            "{text}"
        );
        let _ = std::fs::remove_file(&path);
    }
}
