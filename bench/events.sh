#!/usr/bin/env bash
# Benchmark of allocator events: what watching the kernel's port allocator costs.
#
#   sudo bash bench/events.sh            REPS (default 3) rounds of SECONDS (default 5) each
#
# In a private network namespace, `measure connects` (bench/connects.rs) connects to a listener on
# loopback in a tight loop, each connection closed with a reset, first without portradar, then with
# `portradar snapshot --watch 1000` running in the namespace (its BPF program attached, its event
# thread reading every record), in alternating order, REPS times: connect() throughput with and without the
# program (target: at most 5% slower). Then, with portradar running, `measure connects --rate 20000`
# for CPU_SECONDS (default 10): portradar's own CPU time (utime + stime from /proc/PID/stat) over
# that time, as a share of one core (target: under 10%). Also checks that portradar counted the
# picks (the last snapshot's `events`). Prints a markdown table and the machine it ran on.
set -euo pipefail
trap 'echo "bench/events.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench/events.sh: needs root (a network namespace and a BPF program)" >&2
    exit 1
fi
reps=${REPS:-3}
secs=${SECONDS_PER:-5}
cpu_secs=${CPU_SECONDS:-10}
rate=20000

cargo build --release --quiet --bin portradar --example measure
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
ns=portradar-evbench-$$
portradar=
stop_portradar() {
    if [ -n "$portradar" ]; then
        kill -TERM "$portradar" 2>/dev/null || true
        wait "$portradar" 2>/dev/null || true
        portradar=
    fi
}
trap 'stop_portradar; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up

# Starts portradar in the namespace and waits for its first snapshot, which comes once events are
# attached.
start_portradar() {
    # Gone first: until the new process opens it, the old file could satisfy the wait below.
    rm -f "$work/watch.json"
    "$bin/portradar" snapshot --netns "$ns" --watch 1000 --format json >"$work/watch.json" \
        2>"$work/watch.err" &
    portradar=$!
    # A complete first line: it ends with a newline.
    until [ -s "$work/watch.json" ] && [ -z "$(tail -c 1 "$work/watch.json")" ]; do
        if ! kill -0 "$portradar" 2>/dev/null; then
            cat "$work/watch.err" >&2
            echo "bench/events.sh: portradar stopped" >&2
            exit 1
        fi
        sleep 0.05
    done
    if ! head -n 1 "$work/watch.json" | grep -c '"events":{"source":"bpf"' >/dev/null; then
        cat "$work/watch.err" >&2
        echo "bench/events.sh: portradar's events are not live" >&2
        exit 1
    fi
}

# Connections per second of one `measure connects` run with the given extra arguments; the run's
# raw samples are kept in $work/connects.
connects_per_s() {
    "$bin/examples/measure" connects --netns "$ns" "$@" >"$work/connects"
    awk -F'\t' '$1 == "connects_per_s" { print $2 }' "$work/connects"
}

# CPU ticks (utime + stime) of a process so far.
ticks() {
    # The command name is in parentheses and may hold spaces: count fields after the last ')'.
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

base=()
with=()
# Odd rounds measure without portradar first, even rounds with it first, so neither gains from
# going first.
for round in $(seq "$reps"); do
    echo "bench: round $round of $reps: a tight connect() loop for ${secs}s, without and with portradar" >&2
    if [ $((round % 2)) = 1 ]; then
        base+=("$(connects_per_s --seconds "$secs")")
    fi
    start_portradar
    with+=("$(connects_per_s --seconds "$secs")")
    stop_portradar
    if [ $((round % 2)) = 0 ]; then
        base+=("$(connects_per_s --seconds "$secs")")
    fi
done

echo "bench: portradar's CPU while $rate connections a second are made for ${cpu_secs}s" >&2
start_portradar
hz=$(getconf CLK_TCK)
t0=$(ticks "$portradar")
s0=$(date +%s.%N)
achieved=$(connects_per_s --seconds "$cpu_secs" --rate "$rate")
made=$(awk -F'\t' '$1 == "connects" { print $2 }' "$work/connects")
t1=$(ticks "$portradar")
s1=$(date +%s.%N)
# One more snapshot after the load, so the counts include all of it.
lines=$(wc -l <"$work/watch.json")
until [ "$(wc -l <"$work/watch.json")" -gt "$lines" ]; do sleep 0.1; done
stop_portradar
counted=$(tail -n 1 "$work/watch.json" | grep -o '"events":{[^}]*}')

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
b=$(median "${base[@]}")
w=$(median "${with[@]}")
echo
echo "| metric | target | value |"
echo "|---|---|---|"
awk -v b="$b" -v w="$w" 'BEGIN { printf "| connect() tight loop, no program | | %.0f/s |\n", b
    printf "| connect() tight loop, portradar attached | | %.0f/s |\n", w
    printf "| slowdown with the program attached | at most 5%% | %.1f%% |\n", (b - w) / b * 100 }'
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v r="$achieved" \
    'BEGIN { printf "| portradar CPU at %.0f connections/s | under 10%% of a core | %.1f%% |\n", r, (t1 - t0) / hz / (s1 - s0) * 100 }'
echo
echo "rounds (connects/s): without ${base[*]}; with ${with[*]}"
echo "portradar counted during the CPU run: $counted (connections made: $made)"
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
