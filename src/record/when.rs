//! Times a user gives for a point in a recording: RFC 3339 (`2026-12-02T07:30:00Z`, fractions and
//! offsets allowed) or `+SECONDS` from the recording's start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a time did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a time: give RFC 3339 (2026-12-02T07:30:00Z) or +SECONDS from the start")]
pub struct TimeError(String);

/// Parses `text` against a recording that starts at `start`.
pub fn parse(text: &str, start: SystemTime) -> Result<SystemTime, TimeError> {
    let fail = || TimeError(text.to_string());
    if let Some(secs) = text.strip_prefix('+') {
        let secs: f64 = secs.parse().map_err(|_| fail())?;
        let offset = Duration::try_from_secs_f64(secs).map_err(|_| fail())?;
        return start.checked_add(offset).ok_or_else(fail);
    }
    rfc3339(text).ok_or_else(fail)
}

fn rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<i64>().ok()? * 10i64.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = (num_of(&rest[1..3])?, num_of(&rest[4..6])?);
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos as u32))
}

fn num_of(s: &str) -> Option<i64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())?
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::rfc3339 as format;

    #[test]
    fn times_parse_as_written_and_round_trip_the_output_format() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            parse("+2.5", start),
            Ok(start + Duration::from_millis(2500))
        );
        let t = UNIX_EPOCH + Duration::from_millis(1_796_196_600_123);
        assert_eq!(parse(&format(t), start), Ok(t));
        assert_eq!(
            parse("2026-12-02T08:30:00+01:00", start),
            parse("2026-12-02T07:30:00Z", start)
        );
        for bad in [
            "",
            "+x",
            "+-1",
            "2026-12-02",
            "2026-13-02T07:30:00Z",
            "yesterday",
        ] {
            assert!(parse(bad, start).is_err(), "{bad}");
        }
    }
}
