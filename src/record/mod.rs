//! Recordings: the socket table of every refresh appended to a file, to replay an incident
//! afterwards. [`Writer`] appends ([`Recorded`] records what a refresher reads), [`Recording`]
//! reads a file back (up to its last whole frame), [`Player`] turns it into snapshots again, as
//! the live refresher does: the dashboard, `snapshot --from` and its `--watch` run over it.
//! [`format`] describes the file.

mod codec;
pub mod format;
mod moment;
mod player;
mod reader;
mod recorded;
pub mod when;
mod writer;

pub use codec::DecodeError;
pub use format::Host;
pub use moment::Moment;
pub use player::Player;
pub use reader::{Recording, Truncation};
pub use recorded::{Recorded, Scope};
pub use writer::{Opened, Writer};

use std::path::PathBuf;

/// What the fuzz targets (`fuzz/`) need beyond the reader's own interface: built only under
/// `cfg(fuzzing)`, which cargo-fuzz sets.
#[cfg(fuzzing)]
pub mod fuzzing {
    use super::codec::{Dec, Enc};
    use super::format::{self, Kind};
    use super::moment::Moment;
    use std::time::SystemTime;

    /// One frame around a body the caller compressed ([`format::frame`] makes a new zstd context
    /// for each, too slow for a fuzzer's every run).
    pub fn seal(kind: Kind, at: SystemTime, compressed: &[u8]) -> Vec<u8> {
        format::seal(kind, at, compressed)
    }

    /// The decoders of the frames' bodies, without the file, the frames and zstd around them: a
    /// host body, then a keyframe's table and the deltas after it, decoded as the reader does (up
    /// to the first that does not decode). Every table decoded must encode as a keyframe that
    /// decodes to it again. Returns how many tables decoded.
    pub fn decode_bodies(host: &[u8], tables: &[&[u8]]) -> usize {
        let _ = format::Host::decode(host);
        let at = SystemTime::UNIX_EPOCH;
        let Some((key, deltas)) = tables.split_first() else {
            return 0;
        };
        let Ok(mut moment) = Moment::decode_key(&mut Dec::new(key), at) else {
            return 0;
        };
        let mut decoded = 1;
        loop {
            let mut again = Enc::default();
            moment.encode_key(&mut again);
            let back = Moment::decode_key(&mut Dec::new(&again.0), at);
            assert_eq!(back.as_ref(), Ok(&moment), "a decoded table re-encodes");
            let Some(delta) = deltas.get(decoded - 1) else {
                return decoded;
            };
            if moment.apply_delta(&mut Dec::new(delta), at).is_err() {
                return decoded;
            }
            decoded += 1;
        }
    }
}

/// A keyframe at least this often, so that a seek decodes at most a minute of deltas.
pub const KEYFRAME_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// What goes wrong with a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a portradar recording", path.display())]
    NotARecording { path: PathBuf },
    #[error("{} is a recording of format version {found}; this portradar reads version {}", path.display(), format::VERSION)]
    Version { path: PathBuf, found: u16 },
    #[error("{} holds no frame of the host's settings", path.display())]
    NoHost { path: PathBuf },
    #[error("{}: frame {index} is damaged: {what}", path.display())]
    Damaged {
        path: PathBuf,
        index: usize,
        what: String,
    },
    #[error("{} records {theirs}; this recorder reads {ours}: record into another file", path.display())]
    OtherSource {
        path: PathBuf,
        theirs: String,
        ours: String,
    },
    #[error("reading the kernel's settings: {0}")]
    Settings(#[from] crate::collect::CollectError),
    #[error("{} holds no table yet", path.display())]
    Empty { path: PathBuf },
}
