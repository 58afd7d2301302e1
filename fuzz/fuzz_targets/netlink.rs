//! The sock_diag reply parser on arbitrary datagrams: it must never panic, every socket it hands out
//! comes from a whole `inet_diag_msg`, and a datagram it calls finished carries no socket after that.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portradar::collect::fuzzing::{Step, walk_datagram};

fuzz_target!(|data: &[u8]| {
    // The first 4 bytes pick the dump's sequence number, so that "another dump's message" is reached.
    let Some((seq, datagram)) = data.split_first_chunk::<4>() else {
        return;
    };
    let seq = u32::from_ne_bytes(*seq);
    let mut sockets = 0usize;
    let step = walk_datagram(datagram, seq, &mut |_record| sockets += 1);
    // Each socket takes at least a header and an inet_diag_msg.
    assert!(sockets * (16 + 72) <= datagram.len());
    if let Ok(Step::KernelError(errno)) = step {
        assert!(errno >= 0, "errno {errno}");
    }
});
