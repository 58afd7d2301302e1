//! The transcribed kernel audit and interpreter on arbitrary programs: neither panics, and a program
//! the audit passes runs to a verdict on any socket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portradar::filter::interp::{Entry, Program};
use portradar_fuzz::{SOCKET_BYTES, socket};

fuzz_target!(|data: &[u8]| {
    let Some((record, ifindex)) = socket(data) else {
        return;
    };
    if let Ok(program) = Program::audit(&data[SOCKET_BYTES..]) {
        let _ = program.accepts(&Entry::new(&record, ifindex));
    }
});
