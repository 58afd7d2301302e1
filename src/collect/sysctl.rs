//! Kernel settings that bound port allocation, read from `/proc/sys` (per network namespace for the
//! `net.*` keys, as seen by the calling thread), plus the process's RLIMIT_NOFILE.
//!
//! The parsing is pure functions over file contents; [`read_settings`] only reads files and names the
//! file in every error.

use super::CollectError;
use crate::settings::{KernelSettings, PortRange};
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
const RESERVED_PORTS: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";
const TW_REUSE: &str = "/proc/sys/net/ipv4/tcp_tw_reuse";
const TW_REUSE_DELAY: &str = "/proc/sys/net/ipv4/tcp_tw_reuse_delay";
/// What kernels without `tcp_tw_reuse_delay` (before 6.13) wait: one second.
const DEFAULT_TW_REUSE_DELAY_MS: u32 = 1000;
const FIN_TIMEOUT: &str = "/proc/sys/net/ipv4/tcp_fin_timeout";
const MAX_TW_BUCKETS: &str = "/proc/sys/net/ipv4/tcp_max_tw_buckets";
const FILE_NR: &str = "/proc/sys/fs/file-nr";
const FILE_MAX: &str = "/proc/sys/fs/file-max";
const NR_OPEN: &str = "/proc/sys/fs/nr_open";
const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

/// Reads every setting portradar uses.
pub fn read_settings() -> Result<KernelSettings, CollectError> {
    Ok(KernelSettings {
        port_range: read(PORT_RANGE, parse_port_range)?,
        reserved_ports: read(RESERVED_PORTS, parse_reserved_ports)?,
        tcp_tw_reuse: read(TW_REUSE, parse_number)?,
        tcp_tw_reuse_delay_ms: read_optional(TW_REUSE_DELAY, parse_number)?
            .unwrap_or(DEFAULT_TW_REUSE_DELAY_MS),
        tcp_fin_timeout: read(FIN_TIMEOUT, parse_number)?,
        tcp_max_tw_buckets: read(MAX_TW_BUCKETS, parse_number)?,
        file_nr: read(FILE_NR, parse_file_nr)?,
        file_max: read(FILE_MAX, parse_number)?,
        nr_open: read(NR_OPEN, parse_number)?,
        rlimit_nofile: rlimit_nofile()?,
        kernel_release: read(OSRELEASE, parse_release)?,
    })
}

/// Like [`read`], but a file the kernel does not have reads as `None`.
fn read_optional<T>(
    path: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, CollectError> {
    if std::path::Path::new(path).exists() {
        read(path, parse).map(Some)
    } else {
        Ok(None)
    }
}

/// Reads `path` and parses it, naming the file in any error.
fn read<T>(path: &str, parse: fn(&str) -> Result<T, String>) -> Result<T, CollectError> {
    let text = std::fs::read_to_string(path).map_err(|source| CollectError::Read {
        path: PathBuf::from(path),
        source,
    })?;
    parse(&text).map_err(|what| CollectError::Parse {
        path: PathBuf::from(path),
        line: 1,
        what,
    })
}

/// `ip_local_port_range`: two numbers, low and high.
/// This host's name (`kernel.hostname`), or `?` when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

pub fn parse_port_range(text: &str) -> Result<PortRange, String> {
    let [low, high] = numbers::<u16, 2>(text)?;
    if low > high {
        return Err(format!("range {low}-{high} is reversed"));
    }
    Ok(PortRange { low, high })
}

/// `ip_local_reserved_ports`: a comma list of ports and `LOW-HIGH` ranges (empty when none), as
/// sorted, merged inclusive spans.
pub fn parse_reserved_ports(text: &str) -> Result<Vec<[u16; 2]>, String> {
    let mut spans = Vec::new();
    for item in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let span = match item.split_once('-') {
            Some((lo, hi)) => [port(lo)?, port(hi)?],
            None => [port(item)?; 2],
        };
        if span[0] > span[1] {
            return Err(format!("reserved range {item} is reversed"));
        }
        spans.push(span);
    }
    spans.sort_unstable();
    Ok(merge_spans(spans))
}

/// Merges overlapping or touching spans of a sorted list.
fn merge_spans(sorted: Vec<[u16; 2]>) -> Vec<[u16; 2]> {
    let mut merged: Vec<[u16; 2]> = Vec::with_capacity(sorted.len());
    for [lo, hi] in sorted {
        match merged.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last[1]) + 1 => last[1] = last[1].max(hi),
            _ => merged.push([lo, hi]),
        }
    }
    merged
}

fn port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("bad port {text:?}"))
}

/// A file holding one number.
pub fn parse_number<T: FromStr>(text: &str) -> Result<T, String> {
    let [n] = numbers::<T, 1>(text)?;
    Ok(n)
}

/// `fs.file-nr`: allocated, unused, maximum.
pub fn parse_file_nr(text: &str) -> Result<[u64; 3], String> {
    numbers(text)
}

/// `kernel.osrelease`: one word.
pub fn parse_release(text: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err("empty".to_string()),
        release => Ok(release.to_string()),
    }
}

/// Exactly `N` whitespace-separated numbers.
fn numbers<T: FromStr, const N: usize>(text: &str) -> Result<[T; N], String> {
    let values = text
        .split_ascii_whitespace()
        .map(|w| w.parse::<T>().map_err(|_| format!("bad number {w:?}")))
        .collect::<Result<Vec<T>, String>>()?;
    let count = values.len();
    values
        .try_into()
        .map_err(|_| format!("expected {N} number(s), found {count}"))
}

/// The soft and hard RLIMIT_NOFILE of this process (`u64::MAX` for unlimited).
fn rlimit_nofile() -> Result<[u64; 2], CollectError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(CollectError::Rlimit(io::Error::last_os_error()));
    }
    Ok([limit.rlim_cur, limit.rlim_max])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_reads_two_numbers() {
        assert_eq!(
            parse_port_range("32768\t60999\n"),
            Ok(PortRange {
                low: 32768,
                high: 60999
            })
        );
        assert_eq!(
            parse_port_range("1025 1025"),
            Ok(PortRange {
                low: 1025,
                high: 1025
            })
        );
        assert!(
            parse_port_range("32768")
                .unwrap_err()
                .contains("expected 2")
        );
        assert!(
            parse_port_range("60999 32768")
                .unwrap_err()
                .contains("reversed")
        );
        assert!(
            parse_port_range("1 70000")
                .unwrap_err()
                .contains("bad number")
        );
    }

    #[test]
    fn reserved_ports_become_sorted_merged_spans() {
        assert_eq!(parse_reserved_ports("\n"), Ok(vec![]));
        assert_eq!(parse_reserved_ports("8080\n"), Ok(vec![[8080, 8080]]));
        assert_eq!(
            parse_reserved_ports("50000-50010,8080,40000-40001,40002,50005-50020\n"),
            Ok(vec![[8080, 8080], [40000, 40002], [50000, 50020]])
        );
        assert!(
            parse_reserved_ports("9000-8000")
                .unwrap_err()
                .contains("reversed")
        );
        assert!(
            parse_reserved_ports("80,x")
                .unwrap_err()
                .contains("bad port")
        );
        assert!(parse_reserved_ports("65536").is_err());
    }

    #[test]
    fn single_numbers_and_file_nr() {
        assert_eq!(parse_number::<u8>("2\n"), Ok(2));
        assert_eq!(
            parse_number::<u64>("9223372036854775807\n"),
            Ok(i64::MAX as u64)
        );
        assert!(parse_number::<u32>("").is_err());
        assert!(parse_number::<u32>("1 2").is_err());
        assert_eq!(
            parse_file_nr("2272\t0\t9223372036854775807\n"),
            Ok([2272, 0, i64::MAX as u64])
        );
        assert!(parse_file_nr("1 2").is_err());
    }

    #[test]
    fn release_is_trimmed() {
        assert_eq!(
            parse_release("6.18.0-1-amd64\n"),
            Ok("6.18.0-1-amd64".to_string())
        );
        assert!(parse_release("\n").is_err());
    }
}
