//! One line per event, as `portradar events` prints it: text or JSON.
//!
//! ```text
//! 2026-12-02T07:00:00.123456Z pick    127.0.0.1:40000 -> 127.0.0.1:50001 pid 123 curl cgroup 1 netns 4026532660
//! {"time":"2026-12-02T07:00:00.123456Z","kind":"pick","local":"127.0.0.1:40000","remote":"127.0.0.1:50001","pid":123,"comm":"curl","cgroup":1,"netns":4026532660,"cookie":77}
//! ```
//! Lost records print as `... lost 3` / `{"time":…,"kind":"lost","count":3}`.

use super::{BootClock, Event};
use crate::output::rfc3339;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Serialize)]
struct JsonEvent<'a> {
    time: String,
    kind: &'static str,
    local: String,
    remote: String,
    pid: u32,
    comm: &'a str,
    cgroup: u64,
    netns: u32,
    cookie: u64,
}

#[derive(Serialize)]
struct JsonLost {
    time: String,
    kind: &'static str,
    count: u64,
}

/// The event as one JSON object (no newline).
pub fn json_line(event: &Event, clock: &BootClock) -> String {
    let json = JsonEvent {
        time: micros(clock.wall(event.time_ns)),
        kind: event.kind.name(),
        local: event.local.to_string(),
        remote: event.remote.to_string(),
        pid: event.pid,
        comm: &event.comm,
        cgroup: event.cgroup,
        netns: event.netns,
        cookie: event.cookie,
    };
    // Serializing strings and integers cannot fail.
    serde_json::to_string(&json).unwrap_or_default()
}

/// The event as one line of text (no newline).
pub fn text_line(event: &Event, clock: &BootClock) -> String {
    format!(
        "{} {:<7} {} -> {} pid {} {} cgroup {} netns {}",
        micros(clock.wall(event.time_ns)),
        event.kind.name(),
        event.local,
        event.remote,
        event.pid,
        event.comm,
        event.cgroup,
        event.netns
    )
}

/// `count` lost records, noticed at `time`, as JSON.
pub fn json_lost_line(count: u64, time: SystemTime) -> String {
    let json = JsonLost {
        time: micros(time),
        kind: "lost",
        count,
    };
    serde_json::to_string(&json).unwrap_or_default()
}

/// `count` lost records, noticed at `time`, as text.
pub fn text_lost_line(count: u64, time: SystemTime) -> String {
    format!(
        "{} lost    {count} records (ring buffer full or too many connects waiting)",
        micros(time)
    )
}

/// RFC 3339 with microseconds: the millisecond form plus three digits.
fn micros(t: SystemTime) -> String {
    let millis = rfc3339(t);
    let sub = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_micros()
        % 1000;
    format!("{}{sub:03}Z", millis.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use crate::socket::{Endpoint, TcpState};
    use std::time::Duration;

    fn pick() -> Event {
        Event {
            kind: EventKind::Pick,
            time_ns: 123_456_000,
            local: Endpoint::new([127, 0, 0, 1].into(), 40000),
            remote: Endpoint::new([127, 0, 0, 1].into(), 50001),
            state: TcpState::Established,
            pid: 123,
            comm: "curl".into(),
            cgroup: 1,
            netns: 4_026_532_660,
            cookie: 77,
        }
    }

    fn clock() -> BootClock {
        BootClock::booted_at(UNIX_EPOCH + Duration::from_secs(1_795_071_600))
    }

    #[test]
    fn json_has_the_documented_fields() {
        assert_eq!(
            json_line(&pick(), &clock()),
            r#"{"time":"2026-11-19T07:00:00.123456Z","kind":"pick","local":"127.0.0.1:40000","remote":"127.0.0.1:50001","pid":123,"comm":"curl","cgroup":1,"netns":4026532660,"cookie":77}"#
        );
    }

    #[test]
    fn text_is_one_line_with_kind_ends_and_process() {
        assert_eq!(
            text_line(&pick(), &clock()),
            "2026-11-19T07:00:00.123456Z pick    127.0.0.1:40000 -> 127.0.0.1:50001 pid 123 curl cgroup 1 netns 4026532660"
        );
    }

    #[test]
    fn losses_print_their_count() {
        let t = UNIX_EPOCH + Duration::from_micros(1_000_001);
        assert_eq!(
            json_lost_line(3, t),
            r#"{"time":"1970-01-01T00:00:01.000001Z","kind":"lost","count":3}"#
        );
        assert!(text_lost_line(3, t).contains(" lost    3 records"));
    }
}
