//! The file format. A recording starts with a 16-byte header: the magic `PORTRADR`, the format
//! version (u16, little-endian) and six zero bytes. Frames follow, each self-delimiting and
//! checksummed: its length (u32, the bytes after the first eight), a CRC-32 of those bytes, then
//! its kind (u8), the time of its table (u64 nanoseconds since the epoch; the recording's start for
//! the host frame) and one zstd frame holding its body. The first frame is the host's
//! ([`Host`]); keyframes and deltas ([`super::Moment`]) follow. A version byte of the header
//! covers every frame's body: a later layout (a new field in a socket) takes a new version.

use super::codec::{Dec, DecodeError, Enc};
use super::moment::{decode_settings, nanos, settings};
use crate::collect::Families;
use crate::settings::KernelSettings;
use std::cell::RefCell;
use std::io::Read;
use std::time::SystemTime;
use zstd::zstd_safe::{DCtx, DParameter};

pub const MAGIC: &[u8; 8] = b"PORTRADR";
pub const VERSION: u16 = 1;
pub const HEADER_LEN: usize = 16;
/// Length and CRC before each frame's checked bytes.
pub const PREFIX_LEN: usize = 8;
/// Kind and time at the start of each frame's checked bytes.
pub const FIXED_LEN: usize = 9;
/// No frame is longer, compressed or not: a larger length is damage, not a frame.
pub const MAX_FRAME: usize = 256 << 20;
/// zstd level: fast, and small enough (see the README's size figure).
const LEVEL: i32 = 3;
/// The largest zstd window a body may ask its reader for, as a power of two: level 3 compresses
/// with at most 2^21 bytes; a hostile frame asking more (up to 2^31) is refused before its window
/// is allocated.
const WINDOW_LOG_MAX: u32 = 23;

/// The 16-byte header.
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// What kind of frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Host,
    Key,
    Delta,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Host => 1,
            Kind::Key => 2,
            Kind::Delta => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Host),
            2 => Some(Kind::Key),
            3 => Some(Kind::Delta),
            _ => None,
        }
    }
}

/// One frame as written: prefix, kind, time, compressed body.
pub fn frame(kind: Kind, at: SystemTime, body: &[u8]) -> std::io::Result<Vec<u8>> {
    Ok(seal(kind, at, &zstd::bulk::compress(body, LEVEL)?))
}

/// One frame around a body already compressed: prefix, kind, time, `compressed`.
pub(super) fn seal(kind: Kind, at: SystemTime, compressed: &[u8]) -> Vec<u8> {
    let mut checked = Vec::with_capacity(FIXED_LEN + compressed.len());
    checked.push(kind.code());
    checked.extend_from_slice(&nanos(at).to_le_bytes());
    checked.extend_from_slice(compressed);
    let mut out = Vec::with_capacity(PREFIX_LEN + checked.len());
    out.extend_from_slice(&(checked.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&checked).to_le_bytes());
    out.extend_from_slice(&checked);
    out
}

/// A frame's body, decompressed; `None` when it does not decompress within [`MAX_FRAME`]. It is
/// read as a stream, so that what it takes grows with what comes out: the size a frame's header
/// claims is not taken on trust (a few bytes may claim [`MAX_FRAME`]).
pub fn body(compressed: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        /// One decompression context per thread, kept between bodies: making one costs more than
        /// decompressing a small body does.
        static CONTEXT: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
    }
    CONTEXT.with_borrow_mut(|slot| {
        let context = match slot {
            Some(context) => context,
            None => slot.insert(decompression_context()?),
        };
        // The context's session starts over here, whatever the last body left in it.
        let decoder = zstd::stream::read::Decoder::with_context(compressed, context);
        let mut out = Vec::new();
        decoder
            .take(MAX_FRAME as u64 + 1)
            .read_to_end(&mut out)
            .ok()?;
        (out.len() <= MAX_FRAME).then_some(out)
    })
}

/// A decompression context that refuses windows over `2^WINDOW_LOG_MAX`.
fn decompression_context() -> Option<DCtx<'static>> {
    let mut context = DCtx::try_create()?;
    (context.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))).ok()?;
    Some(context)
}

/// The host frame: who recorded, where, how, and the settings at the start.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub hostname: String,
    /// The network namespace recorded (`-N`), if not the recorder's own.
    pub netns: Option<String>,
    pub families: Families,
    pub interval_ms: u64,
    /// The portradar version that started the recording.
    pub portradar: String,
    pub settings: KernelSettings,
}

impl Host {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.str(&self.hostname);
        e.opt_str(self.netns.as_deref());
        e.u8(u8::from(self.families.v4) | u8::from(self.families.v6) << 1);
        e.var(self.interval_ms);
        e.str(&self.portradar);
        settings(&mut e, &self.settings);
        e.0
    }

    pub fn decode(body: &[u8]) -> Result<Host, DecodeError> {
        let mut d = Dec::new(body);
        Ok(Host {
            hostname: d.str()?,
            netns: d.opt_str()?,
            families: {
                let f = d.u8()?;
                Families {
                    v4: f & 1 != 0,
                    v6: f & 2 != 0,
                }
            },
            interval_ms: d.var()?,
            portradar: d.str()?,
            settings: decode_settings(&mut d)?,
        })
    }

    /// Whether frames recorded as `other` may continue a recording made as `self`: the same host,
    /// namespace and families.
    pub fn same_source(&self, other: &Host) -> bool {
        self.hostname == other.hostname
            && self.netns == other.netns
            && self.families == other.families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_body_reads_back_within_the_window_limit() {
        // 8 MB that compress poorly, so that the writer uses its largest window.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let table: Vec<u8> = (0..8 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 64) as u8
            })
            .collect();
        let frame = frame(Kind::Key, SystemTime::now(), &table).unwrap();
        assert_eq!(body(&frame[PREFIX_LEN + FIXED_LEN..]), Some(table));
    }

    #[test]
    fn a_body_cut_short_or_too_wide_fails_and_the_next_one_still_reads() {
        let table: Vec<u8> = (0..100_000u32).flat_map(u32::to_le_bytes).collect();
        let compressed = zstd::bulk::compress(&table, 3).unwrap();
        // Cut mid-frame: the shared context is left in the middle of a frame.
        assert_eq!(body(&compressed[..compressed.len() / 2]), None);
        assert_eq!(body(&compressed).as_deref(), Some(&table[..]));
        // A frame that asks for a window over the limit.
        let mut wide = zstd::bulk::Compressor::new(1).unwrap();
        let log = WINDOW_LOG_MAX + 2;
        wide.set_parameter(zstd::zstd_safe::CParameter::WindowLog(log))
            .unwrap();
        wide.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false))
            .unwrap();
        let big: Vec<u8> = (0..(1u32 << log) / 4).flat_map(u32::to_le_bytes).collect();
        assert_eq!(body(&wide.compress(&big).unwrap()), None);
        assert_eq!(body(&compressed).as_deref(), Some(&table[..]));
    }
}
