//! Reading a recording: [`Recording::open`] checks the header, walks the frames up to the last
//! whole one (a torn or damaged tail is reported as a [`Truncation`], never an error) and keeps an
//! index of them; the tables are decoded when asked for, from the keyframe before.

use super::RecordError;
use super::codec::Dec;
use super::format::{self, FIXED_LEN, HEADER_LEN, Host, Kind, MAX_FRAME, PREFIX_LEN};
use super::moment::{Moment, from_nanos};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where a frame's compressed body lies, and what it holds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    offset: u64,
    len: usize,
    kind: Kind,
    at: SystemTime,
}

/// The bytes after the last whole frame: a recording cut off mid-write, or damaged there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Where the last whole frame ends.
    pub valid_len: u64,
    /// The bytes after it, ignored.
    pub ignored: u64,
}

/// What a walk through the frames found.
pub(super) struct Scanned {
    file: File,
    pub host: Host,
    pub tables: Vec<Entry>,
    pub truncation: Option<Truncation>,
}

/// An open recording: its host frame and an index of its tables.
pub struct Recording {
    path: PathBuf,
    file: File,
    pub host: Host,
    /// Keyframes and deltas, in file order.
    tables: Vec<Entry>,
    /// The tail that was not read, if any.
    pub truncation: Option<Truncation>,
}

impl Recording {
    /// Opens and indexes a recording. A file that does not start with the header is not one; a
    /// recording without its host frame or without a table is an error too.
    pub fn open(path: &Path) -> Result<Recording, RecordError> {
        let Scanned {
            file,
            host,
            tables,
            truncation,
        } = Self::scan(path)?;
        if tables.is_empty() {
            return Err(RecordError::Empty { path: path.into() });
        }
        Ok(Recording {
            path: path.into(),
            file,
            host,
            tables,
            truncation,
        })
    }

    /// Reads the header and walks the frames: the host, the index of tables, and the torn tail.
    pub(super) fn scan(path: &Path) -> Result<Scanned, RecordError> {
        let io = |source| RecordError::Io {
            path: path.into(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let buffer = usize::try_from(size).map_or(1 << 20, |size| size.min(1 << 20));
        let mut reader = BufReader::with_capacity(buffer, &file);
        let mut header = [0u8; HEADER_LEN];
        if reader.read_exact(&mut header).is_err() || &header[..8] != format::MAGIC {
            return Err(RecordError::NotARecording { path: path.into() });
        }
        let found = u16::from_le_bytes([header[8], header[9]]);
        if found != format::VERSION {
            return Err(RecordError::Version {
                path: path.into(),
                found,
            });
        }
        let mut offset = HEADER_LEN as u64;
        let mut host = None;
        let mut tables = Vec::new();
        let mut checked = Vec::new();
        while let Some(entry) = next_frame(&mut reader, offset, size, &mut checked) {
            if entry.kind == Kind::Host {
                if host.is_some() {
                    break;
                }
                let body = format::body(&checked[FIXED_LEN..]);
                match body.as_deref().map(Host::decode) {
                    Some(Ok(h)) => host = Some(h),
                    _ => break,
                }
            } else if host.is_some() && (entry.kind == Kind::Key || !tables.is_empty()) {
                tables.push(entry);
            } else {
                break;
            }
            offset = entry.offset + entry.len as u64;
        }
        let Some(host) = host else {
            return Err(RecordError::NoHost { path: path.into() });
        };
        let truncation = (offset < size).then_some(Truncation {
            valid_len: offset,
            ignored: size - offset,
        });
        Ok(Scanned {
            file,
            host,
            tables,
            truncation,
        })
    }

    /// How many tables the recording holds (at least one).
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Never true: a recording opens with at least one table.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// When table `i` was taken.
    pub fn time(&self, i: usize) -> SystemTime {
        self.tables[i.min(self.tables.len() - 1)].at
    }

    pub fn start(&self) -> SystemTime {
        self.time(0)
    }

    pub fn end(&self) -> SystemTime {
        self.time(self.tables.len() - 1)
    }

    /// The last table taken at or before `at`; the first when `at` is earlier.
    pub fn index_at(&self, at: SystemTime) -> usize {
        self.tables
            .partition_point(|e| e.at <= at)
            .saturating_sub(1)
    }

    /// The keyframe at or before table `i`.
    pub fn keyframe_before(&self, i: usize) -> usize {
        let i = i.min(self.tables.len() - 1);
        self.tables[..=i]
            .iter()
            .rposition(|e| e.kind == Kind::Key)
            .unwrap_or(0)
    }

    /// The table of frame `i`, decoded from the keyframe before it.
    pub fn moment(&self, i: usize) -> Result<Moment, RecordError> {
        let i = i.min(self.tables.len() - 1);
        let key = self.keyframe_before(i);
        let mut moment = self.keyframe(key)?;
        for j in key + 1..=i {
            self.advance(&mut moment, j)?;
        }
        Ok(moment)
    }

    /// Turns `moment`, the table of frame `i - 1`, into that of frame `i`.
    pub fn advance(&self, moment: &mut Moment, i: usize) -> Result<(), RecordError> {
        let entry = self.tables[i.min(self.tables.len() - 1)];
        if entry.kind == Kind::Key {
            *moment = self.keyframe(i)?;
            return Ok(());
        }
        let body = self.body(i)?;
        moment
            .apply_delta(&mut Dec::new(&body), entry.at)
            .map_err(|e| self.damaged(i, e.to_string()))
    }

    fn keyframe(&self, i: usize) -> Result<Moment, RecordError> {
        let body = self.body(i)?;
        Moment::decode_key(&mut Dec::new(&body), self.tables[i].at)
            .map_err(|e| self.damaged(i, e.to_string()))
    }

    fn body(&self, i: usize) -> Result<Vec<u8>, RecordError> {
        let e = self.tables[i];
        let mut compressed = vec![0u8; e.len - PREFIX_LEN - FIXED_LEN];
        self.file
            .read_exact_at(&mut compressed, e.offset + (PREFIX_LEN + FIXED_LEN) as u64)
            .map_err(|source| RecordError::Io {
                path: self.path.clone(),
                source,
            })?;
        format::body(&compressed).ok_or_else(|| self.damaged(i, "zstd cannot decompress it".into()))
    }

    fn damaged(&self, index: usize, what: String) -> RecordError {
        RecordError::Damaged {
            path: self.path.clone(),
            index,
            what,
        }
    }
}

/// Reads the frame at `offset` of a file of `size` bytes into `checked` (its checked bytes);
/// `None` at the end of the file or at a torn or damaged frame. The entry's `len` counts the
/// prefix too. A length beyond the end of the file is a torn frame, found before its bytes are
/// allocated.
fn next_frame(
    reader: &mut impl Read,
    offset: u64,
    size: u64,
    checked: &mut Vec<u8>,
) -> Option<Entry> {
    let mut prefix = [0u8; PREFIX_LEN];
    reader.read_exact(&mut prefix).ok()?;
    let len = u32::from_le_bytes(prefix[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(prefix[4..].try_into().ok()?);
    let left = size.saturating_sub(offset + PREFIX_LEN as u64);
    if !(FIXED_LEN..=MAX_FRAME).contains(&len) || len as u64 > left {
        return None;
    }
    checked.resize(len, 0);
    reader.read_exact(checked).ok()?;
    if crc32fast::hash(checked) != crc {
        return None;
    }
    let kind = Kind::from_code(checked[0])?;
    let at = from_nanos(u64::from_le_bytes(checked[1..FIXED_LEN].try_into().ok()?));
    Some(Entry {
        offset,
        len: PREFIX_LEN + len,
        kind,
        at,
    })
}
