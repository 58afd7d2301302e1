//! Hostile recordings: the lengths a file claims are not taken on trust. A frame whose length runs
//! past the end of the file is a torn tail, found before that length is allocated; a zstd body whose
//! header claims far more than it holds is a damaged frame, decoded without allocating what it
//! claims. A counting allocator measures the largest allocation of the reading thread.

use portradar::collect::{Families, Source};
use portradar::record::format::{self, FIXED_LEN, Host, Kind, PREFIX_LEN};
use portradar::record::{Moment, RecordError, Recording, Writer};
use portradar::settings::KernelSettings;
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

struct PeakAlloc;

thread_local! {
    /// The largest allocation this thread made since the last [`peak_of`] started.
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl std::alloc::GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        note(layout.size());
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        note(layout.size());
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        note(size);
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

/// What `f` returns and the largest allocation it made.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    PEAK.with(|p| p.set(0));
    let out = f();
    (out, PEAK.with(Cell::get))
}

/// Far below what the hostile frames claim (200 MB), above what reading these small files takes.
const SMALL: usize = 4 << 20;

/// A claim of 200 MB.
const CLAIM: u32 = 200_000_000;

/// A recording of one empty table, written by the writer, in the temporary directory.
fn recording(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("portradar-{name}-{}.rec", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let settings = KernelSettings::with_range(32768, 60999);
    let host = Host {
        hostname: "test".into(),
        netns: None,
        families: Families::BOTH,
        interval_ms: 1000,
        portradar: "test".into(),
        settings: settings.clone(),
    };
    let (mut writer, _) = Writer::open(&path, &host).expect("create the recording");
    let moment = Moment {
        taken_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        source: Source::Netlink,
        fallback: None,
        filter: None,
        bind_side_read_at: None,
        settings,
        records: Vec::new(),
        listen_ports: Vec::new(),
        explicit_bind_ports: Vec::new(),
    };
    writer.write(moment).expect("write a table");
    path
}

fn append(path: &PathBuf, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn a_frame_claiming_more_than_the_file_holds_is_a_torn_tail_not_an_allocation() {
    let path = recording("hostile-len");
    // A frame prefix claiming 200 MB (under the 256 MB limit of a frame), then 100 bytes.
    let mut tail = CLAIM.to_le_bytes().to_vec();
    tail.extend_from_slice(&[0; 4]);
    tail.extend_from_slice(&[7; 100]);
    append(&path, &tail);
    let (opened, peak) = peak_of(|| Recording::open(&path));
    let recording = opened.expect("the recording opens");
    assert_eq!(recording.len(), 1);
    assert_eq!(recording.truncation.map(|t| t.ignored), Some(108));
    assert!(peak < SMALL, "largest allocation {peak} bytes");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_body_whose_zstd_header_claims_200_mb_is_damaged_and_not_allocated() {
    let path = recording("hostile-zstd");
    // One zstd frame: magic, a descriptor for a single segment with a 4-byte content size, that
    // size (200 MB), then one last raw block of 5 bytes.
    let mut zstd = vec![0x28, 0xb5, 0x2f, 0xfd, 0xa0];
    zstd.extend_from_slice(&CLAIM.to_le_bytes());
    zstd.extend_from_slice(&[(5 << 3) | 1, 0, 0]);
    zstd.extend_from_slice(b"hello");
    // As a keyframe, checksummed as the format says.
    let mut checked = vec![2u8];
    checked.extend_from_slice(&1_700_000_001_000_000_000u64.to_le_bytes());
    checked.extend_from_slice(&zstd);
    assert_eq!(checked.len(), FIXED_LEN + zstd.len());
    let mut frame = (checked.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&crc32fast::hash(&checked).to_le_bytes());
    frame.extend_from_slice(&checked);
    assert_eq!(frame.len(), PREFIX_LEN + checked.len());
    append(&path, &frame);
    let recording = Recording::open(&path).expect("the recording opens");
    assert_eq!(
        recording.len(),
        2,
        "the frame is whole: its body is read when asked for"
    );
    assert!(recording.truncation.is_none());
    let (decoded, peak) = peak_of(|| recording.moment(1));
    assert!(
        matches!(decoded, Err(RecordError::Damaged { index: 1, .. })),
        "{decoded:?}"
    );
    assert!(peak < SMALL, "largest allocation {peak} bytes");
    // The table before it is whole.
    assert!(recording.moment(0).is_ok());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_writer_frames_what_the_reader_reads() {
    // The kind codes and layout the hostile frames above rely on.
    let frame = format::frame(Kind::Key, UNIX_EPOCH, b"body").unwrap();
    let len = u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(frame.len(), PREFIX_LEN + len);
    assert_eq!(frame[PREFIX_LEN], 2);
    assert_eq!(
        format::body(&frame[PREFIX_LEN + FIXED_LEN..]).unwrap(),
        b"body"
    );
}
