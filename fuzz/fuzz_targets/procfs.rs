//! The `/proc/net/tcp{,6}` line parser and the sockstat reader on arbitrary text: they must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portradar::collect::fuzzing::{parse_line, parse_sockstat};
use portradar::socket::Family;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let family = if selector & 1 == 0 {
        Family::Inet
    } else {
        Family::Inet6
    };
    let ticks = u32::from(selector >> 1);
    if let Ok(record) = parse_line(text, family, ticks) {
        assert_eq!(record.local.ip.is_ipv4(), family == Family::Inet);
        assert_eq!(record.remote.ip.is_ipv4(), family == Family::Inet);
    }
    let _ = parse_sockstat(text);
});
