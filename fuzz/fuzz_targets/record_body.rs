//! The decoders of a recording's frame bodies, straight on the fuzzer's bytes: the `record` target
//! reaches them only through a file, frames, checksums and zstd, at a few hundred runs a second;
//! here they run without that wrapping. A decoded table must re-encode to itself.
//!
//! The input is a sequence of bodies, each a u16 length (little-endian) and that many bytes: the
//! first is a host body, the next a keyframe's table, the rest deltas applied to it in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portradar::record::fuzzing::decode_bodies;

fuzz_target!(|data: &[u8]| {
    let mut bodies = Vec::new();
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (body, tail) = tail.split_at(len);
        bodies.push(body);
        rest = tail;
    }
    let Some((host, tables)) = bodies.split_first() else {
        return;
    };
    assert!(decode_bodies(host, tables) <= tables.len());
});
