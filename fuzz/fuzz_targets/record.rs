//! The recording reader on arbitrary files: it must never panic, allocate beyond what the file
//! holds or loop for ever. A file is read as `replay` and `snapshot --from` read it: opened, every
//! table decoded in order, and the last one made a snapshot through the model. A recording whose
//! last table decodes continues as `portradar record` continues it (cutting a torn tail), taking
//! that table once more, which reads back as written.
//!
//! The first byte chooses how the rest makes the file: as it is (header, frames, CRCs and zstd all
//! the fuzzer's), or as frames to seal after the header (each a kind byte, a time in milliseconds
//! after the start as u16, a u16 length and that many bytes of body, compressed and checksummed
//! here so that the fuzzer reaches the decoders of the bodies; what does not make a whole frame
//! follows them raw, a torn tail).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portradar::record::format::{self, Kind};
use portradar::record::fuzzing::seal;
use portradar::record::{Opened, Player, Recording, Writer};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

thread_local! {
    /// One compressor for every run: making a zstd context costs more than a small body does.
    static COMPRESSOR: RefCell<zstd::bulk::Compressor<'static>> =
        RefCell::new(zstd::bulk::Compressor::new(1).expect("a zstd context"));
}

/// The file of this process's runs: in memory when `/dev/shm` is there.
fn scratch() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("portradar-fuzz-record-{}", std::process::id()))
}

/// The header and frames sealed from `data`, then what is left of it.
fn sealed(mut data: &[u8]) -> Vec<u8> {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut file = format::header().to_vec();
    while let Some((head, rest)) = data.split_first_chunk::<5>() {
        let kind = [Kind::Host, Kind::Key, Kind::Delta][usize::from(head[0] % 3)];
        let at = start + Duration::from_millis(u64::from(u16::from_le_bytes([head[1], head[2]])));
        let len = usize::from(u16::from_le_bytes([head[3], head[4]]));
        let Some((body, rest)) = rest.split_at_checked(len) else {
            break;
        };
        let compressed = COMPRESSOR.with_borrow_mut(|c| c.compress(body).expect("compress"));
        file.extend_from_slice(&seal(kind, at, &compressed));
        data = rest;
    }
    file.extend_from_slice(data);
    file
}

/// Reads the recording at `path` through, and continues it.
fn read(path: &Path) {
    let Ok(recording) = Recording::open(path) else {
        return;
    };
    let n = recording.len();
    assert!(n >= 1);
    // Every table in order, as `snapshot --from --watch` plays them: a table that does not decode
    // ends the walk until the next keyframe, where a seek starts again.
    let mut walked = recording.moment(0).ok();
    for i in 1..n {
        walked = match walked.take() {
            Some(mut m) => recording.advance(&mut m, i).ok().map(|()| m),
            None if recording.keyframe_before(i) == i => recording.moment(i).ok(),
            None => None,
        };
    }
    let (host, truncation) = (recording.host.clone(), recording.truncation);
    // The snapshot of the last table, as `snapshot --from` shows by default.
    let _ = Player::new(recording).snapshot_at(n - 1);
    let Some(last) = walked else {
        return;
    };
    let (mut writer, opened) = Writer::open(path, &host).expect("continue the recording");
    let cut = truncation.map_or(0, |t| t.ignored);
    assert_eq!(opened, Opened::Continued { tables: n, cut });
    writer.write(last.clone()).expect("append a table");
    drop(writer);
    let again = Recording::open(path).expect("the continued recording opens");
    assert_eq!(again.len(), n + 1);
    assert_eq!(again.truncation, None);
    assert_eq!(again.moment(n).expect("the appended table"), last);
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let file = if how & 1 == 0 {
        rest.to_vec()
    } else {
        sealed(rest)
    };
    let path = scratch();
    std::fs::write(&path, &file).expect("write the file");
    read(&path);
    std::fs::remove_file(&path).expect("remove the file");
});
