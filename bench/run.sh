#!/usr/bin/env bash
# Benchmark: portradar against `ss -tan` and a bare sock_diag dump (the floor), on socket tables of
# the given sizes that the load generator (examples/loadgen) builds in a private network namespace.
#
#   sudo bash bench/run.sh [SOCKETS...]        default 10000 100000; the README's run: 10000 100000 1000000
#
# A table of N sockets: 20% client TIME_WAIT, the rest ESTABLISHED (both ends of loopback
# connections), spread over 127.0.1.1:80, 127.0.1.2:80, ... (24000 client sockets each at most), four
# local ports shared by every destination, one listener per destination. Each size gets REPS rounds
# (default 5, or 3 from 500000 sockets up); every round builds a fresh table and times each
# contender once on it (bench/measure.rs), because TIME_WAIT sockets live only 60 s and a table
# must not drain while it is measured. Then one more fresh table per size for the live dashboard
# (`measure dashboard`: the real binary in a pseudo-terminal, `portradar -N NS`) while bench/churn.py
# opens and closes CHURN connections a second (default 1000) in the namespace: its CPU over a 30 s
# window, how often its view changed, and how fast keys change its screen. Prints a markdown table of
# medians, one column per size, and the machine it ran on.
set -euo pipefail
trap 'echo "bench/run.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh: needs root (the load generator creates a network namespace)" >&2
    exit 1
fi
if ! command -v ss >/dev/null || ! command -v ip >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi
command -v python3 >/dev/null || {
    echo "bench/run.sh: needs python3 (bench/churn.py)" >&2
    exit 1
}
churn_rate=${CHURN:-1000}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)

cargo build --release --quiet --bin portradar --example loadgen --example measure
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
loadgen=
churn=
stop_loadgen() {
    if [ -n "$loadgen" ]; then
        kill -TERM "$loadgen" 2>/dev/null || true
        wait "$loadgen" 2>/dev/null || true
        loadgen=
    fi
}
stop_churn() {
    if [ -n "$churn" ]; then
        kill -TERM "$churn" 2>/dev/null || true
        wait "$churn" 2>/dev/null || true
        churn=
    fi
}
trap 'stop_churn; stop_loadgen; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Builds the table of $n sockets in namespace $1 with the load generator (in the background, until
# stop_loadgen) and waits until it stands; sets $sockets to the count of its READY line.
hold_table() {
    local ready=$work/ready-$1 # a new file: an old one could satisfy the wait below
    "$bin/examples/loadgen" --netns "$1" --established "$conns" --destinations "$dests" \
        --time-wait "$tw" --shared-ports 4 --hold >"$ready" 2>"$work/loadgen.log" &
    loadgen=$!
    # A complete READY line: it ends with a newline.
    until grep -qs '^READY' "$ready" && [ -z "$(tail -c 1 "$ready")" ]; do
        if ! kill -0 "$loadgen" 2>/dev/null; then
            cat "$work/loadgen.log" >&2
            echo "bench: the load generator stopped before its table stood" >&2
            exit 1
        fi
        sleep 0.2
    done
    sockets=$(grep -o ' sockets=[0-9]*' "$ready" | cut -d= -f2)
}

for n in "${sizes[@]}"; do
    tw=$((n / 5))
    conns=$(((n - tw) / 2))
    dests=$(((conns + tw + 23999) / 24000))
    [ "$dests" -ge 2 ] || dests=2
    if [ "$n" -ge 500000 ]; then reps=${REPS:-3}; else reps=${REPS:-5}; fi
    echo "bench: $n sockets: $conns connections, $tw TIME_WAIT, $dests destinations, $reps rounds" >&2
    for round in $(seq "$reps"); do
        ns=portradar-bench-$$-$n-$round
        hold_table "$ns"
        "$bin/examples/measure" round --netns "$ns" --expect "$sockets" \
            --portradar "$bin/portradar" >>"$work/$n.samples"
        stop_loadgen
    done
    echo "bench: $n sockets: the dashboard, $churn_rate connections/s coming and going" >&2
    ns=portradar-bench-$$-$n-dashboard
    hold_table "$ns"
    ip netns exec "$ns" python3 bench/churn.py "$churn_rate" >"$work/churn.out" 2>"$work/churn.err" &
    churn=$!
    "$bin/examples/measure" dashboard --netns "$ns" --portradar "$bin/portradar" \
        >>"$work/$n.samples"
    stop_churn
    # "N connections in S s: R/s": the rate the churn kept.
    rate=$(sed -n 's|.*: \([0-9]*\)/s$|\1|p' "$work/churn.out")
    [ -n "$rate" ] || {
        cat "$work/churn.err" >&2
        echo "bench: the churn reported no rate" >&2
        exit 1
    }
    printf 'churn_per_s\t%s\n' "$rate" >>"$work/$n.samples"
    stop_loadgen
    "$bin/examples/measure" report "$work/$n.samples" >"$work/$n.tsv"
done

label() { # 10000 -> 10k, 1000000 -> 1M
    if [ $(($1 % 1000000)) -eq 0 ]; then echo "$(($1 / 1000000))M"
    elif [ $(($1 % 1000)) -eq 0 ]; then echo "$(($1 / 1000))k"
    else echo "$1"; fi
}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
echo "- Machine: $(nproc) CPUs (${cpu:-unknown}), $mem RAM, Linux $(uname -r)"
echo "- Command: \`bash bench/run.sh ${sizes[*]}\` (as root)"
echo
header="| metric | target |"
rule="|---|---|"
columns=("$work/base")
cut -f1,2 "$work/${sizes[0]}.tsv" >"$work/base"
for n in "${sizes[@]}"; do
    header+=" $(label "$n") |"
    rule+="---|"
    cut -f3 "$work/$n.tsv" >"$work/col-$n"
    columns+=("$work/col-$n")
done
echo "$header"
echo "$rule"
paste "${columns[@]}" | awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; print "" }'
