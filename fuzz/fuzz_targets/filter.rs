//! The filter parser and compiler on arbitrary text, against a socket built from the input's first
//! bytes. Parsing never panics; a parsed filter prints back to text that parses to the same filter;
//! its bytecode passes the kernel's audit; the kernel's verdict (state mask, then the bytecode in
//! the transcribed interpreter) is the user-space verdict when the split is exact, and never drops a
//! socket the filter matches when it is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portradar::filter::Filter;
use portradar::filter::interp::{Entry, Program};
use portradar_fuzz::{SOCKET_BYTES, socket};

fuzz_target!(|data: &[u8]| {
    let Some((record, ifindex)) = socket(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&data[SOCKET_BYTES..]) else {
        return;
    };
    let Ok(filter) = Filter::parse_offline(text) else {
        return;
    };
    let printed = filter.expr().to_string();
    match Filter::parse_offline(&printed) {
        Ok(again) => assert_eq!(
            again.expr(),
            filter.expr(),
            "{text:?} printed as {printed:?}"
        ),
        // Printing parenthesises every list, so a filter nested close to the limit may print deeper.
        Err(e) => assert!(
            e.message.contains("deep"),
            "{text:?} printed as {printed:?}: {e}"
        ),
    }
    let kernel = filter.kernel();
    let in_mask = kernel.states & record.state.mask_bit() != 0;
    let accepted = in_mask
        && (kernel.bytecode.is_empty() || {
            let program = Program::audit(&kernel.bytecode)
                .unwrap_or_else(|e| panic!("{text:?}: audit refuses {:?}: {e}", kernel.bytecode));
            program.accepts(&Entry::new(&record, ifindex))
        });
    let matched = filter.matches(&record);
    if kernel.exact {
        assert_eq!(accepted, matched, "{text:?} (exact) on {record:?}");
    } else {
        assert!(
            accepted || !matched,
            "{text:?}: the kernel drops {record:?}"
        );
    }
});
