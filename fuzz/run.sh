#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz (libFuzzer; needs a nightly toolchain: `rustup toolchain
# install nightly` and `cargo install cargo-fuzz`).
#
#   bash fuzz/run.sh TARGET|all SECONDS [RUNS]
#
# Each target runs for SECONDS (or until RUNS executions, when given), at low priority, one after the
# other; its corpus grows in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET), its log goes to
# fuzz/logs/TARGET.log, and a crash leaves its input in fuzz/artifacts/TARGET/ (reproduce it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`, then make it a regression test in
# the main crate's tests). Prints one line per target: executions, time, and whether it crashed.
set -euo pipefail
cd "$(dirname "$0")"

targets=(netlink filter bytecode procfs record record_body)
if [ $# -lt 2 ]; then
    echo "usage: bash fuzz/run.sh TARGET|all SECONDS [RUNS]   (targets: ${targets[*]})" >&2
    exit 2
fi
[ "$1" = all ] || targets=("$1")
seconds=$2
runs=${3:--1}

# How each target is built, and where its binary goes. `record` reads safe Rust and zstd's C, which
# AddressSanitizer does not instrument, and its inputs get their structure from its seeds and its
# sealing mode rather than from compared constants: built without the sanitizer and without compare
# tracing it runs four times faster here (11,000 inputs/s instead of 2,700), so that ten million
# fit in a quarter of an hour.
build_flags() {
    case $1 in
    record) echo "-s none --no-trace-compares --target-dir target/plain" ;;
    *) echo "" ;;
    esac
}
host=$(rustc -vV | sed -n 's/^host: //p')
binary() {
    case $1 in
    record) echo "target/plain/$host/release/$1" ;;
    *) echo "target/$host/release/$1" ;;
    esac
}

# shellcheck disable=SC2046 # the flags are words
for t in "${targets[@]}"; do nice -n 19 cargo +nightly fuzz build -O $(build_flags "$t") "$t"; done
mkdir -p logs
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    log=logs/$target.log
    # The binary itself rather than `cargo fuzz run`, which holds cargo's build lock while it runs.
    if nice -n 19 "$(binary "$target")" "corpus/$target" "${seeds[@]}" \
        -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
        result=ok
    else
        result="CRASHED (see fuzz/$log and fuzz/artifacts/$target/)"
        status=1
    fi
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    elapsed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    echo "$target: ${executions:-?} executions in ${elapsed:-?} s: $result"
done
exit $status
