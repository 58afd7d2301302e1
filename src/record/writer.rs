//! Appending to a recording: [`Writer::open`] creates the file (header and host frame) or
//! continues one recorded from the same host, namespace and families (cutting off a torn last
//! frame first); [`Writer::write`] appends one table, as a keyframe at the start and at least every
//! [`KEYFRAME_EVERY`](super::KEYFRAME_EVERY), as a delta from the previous table otherwise. Each
//! frame goes out in one `write`, so a crash or a full disk can only tear the last one.

use super::format::{self, Host, Kind};
use super::moment::Moment;
use super::reader::Recording;
use super::{KEYFRAME_EVERY, RecordError};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How the file was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    Created,
    /// An existing recording continues; `cut` bytes of a torn last frame were dropped.
    Continued {
        tables: usize,
        cut: u64,
    },
}

/// Appends tables to one recording.
pub struct Writer {
    path: PathBuf,
    file: File,
    /// The last table written, which the next delta is taken from.
    prev: Option<Moment>,
    last_key: Option<SystemTime>,
    /// The file's length after the last whole frame.
    len: u64,
    bytes: u64,
    frames: u64,
}

impl Writer {
    /// Creates `path`, or continues the recording there.
    pub fn open(path: &Path, host: &Host) -> Result<(Writer, Opened), RecordError> {
        let io = |source| RecordError::Io {
            path: path.into(),
            source,
        };
        let (file, opened) = match OpenOptions::new().append(true).create_new(true).open(path) {
            Ok(mut file) => {
                file.write_all(&format::header()).map_err(io)?;
                let frame = format::frame(Kind::Host, SystemTime::now(), &host.encode());
                file.write_all(&frame.map_err(io)?).map_err(io)?;
                (file, Opened::Created)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let scanned = Recording::scan(path)?;
                let theirs = &scanned.host;
                if !theirs.same_source(host) {
                    return Err(RecordError::OtherSource {
                        path: path.into(),
                        theirs: describe(theirs),
                        ours: describe(host),
                    });
                }
                let file = OpenOptions::new().append(true).open(path).map_err(io)?;
                let cut = match scanned.truncation {
                    Some(t) => {
                        file.set_len(t.valid_len).map_err(io)?;
                        t.ignored
                    }
                    None => 0,
                };
                let tables = scanned.tables.len();
                (file, Opened::Continued { tables, cut })
            }
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(io)?.len();
        let writer = Writer {
            path: path.into(),
            file,
            len,
            prev: None,
            last_key: None,
            bytes: 0,
            frames: 0,
        };
        Ok((writer, opened))
    }

    /// Appends one table.
    pub fn write(&mut self, moment: Moment) -> Result<(), RecordError> {
        let at = moment.taken_at;
        let key_due = self.last_key.is_none_or(|k| {
            at.duration_since(k)
                .map_or(true, |since| since >= KEYFRAME_EVERY)
        });
        let mut body = super::codec::Enc::default();
        let kind = match &self.prev {
            Some(prev) if !key_due && moment.encode_delta(prev, &mut body).is_some() => Kind::Delta,
            _ => {
                body.0.clear();
                moment.encode_key(&mut body);
                Kind::Key
            }
        };
        let io = |source| RecordError::Io {
            path: self.path.clone(),
            source,
        };
        let frame = format::frame(kind, at, &body.0).map_err(io)?;
        if let Err(e) = self.file.write_all(&frame) {
            // Drop what part of the frame went out, so that the next one follows a whole frame,
            // and make that one a keyframe.
            let _ = self.file.set_len(self.len);
            self.prev = None;
            return Err(io(e));
        }
        self.len += frame.len() as u64;
        if kind == Kind::Key {
            self.last_key = Some(at);
        }
        self.prev = Some(moment);
        self.bytes += frame.len() as u64;
        self.frames += 1;
        Ok(())
    }

    /// Frames and bytes this writer appended.
    pub fn written(&self) -> (u64, u64) {
        (self.frames, self.bytes)
    }
}

/// Host, namespace and families, for the message that refuses to mix recordings.
fn describe(host: &Host) -> String {
    let families = match (host.families.v4, host.families.v6) {
        (true, false) => "IPv4",
        (false, true) => "IPv6",
        _ => "IPv4 and IPv6",
    };
    let netns = host.netns.as_deref().unwrap_or("its own namespace");
    format!("{families} sockets of {} in {netns}", host.hostname)
}
