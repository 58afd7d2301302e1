#!/usr/bin/env bash
# Soak: the dashboard (in tmux), `portradar export` and `portradar record` run side by side for a long
# time against a steady churn of loopback connections, and their RSS, CPU and open descriptors are
# sampled, to show that memory and descriptors stay flat after warm-up.
#
#   sudo bash bench/soak.sh [SECONDS]        default 1800 (30 minutes)
#
# Environment:
#   SOAK_RATE=1000            connections opened and closed per second (the churn)
#   SOAK_ESTABLISHED=5000     connections held for the whole run by the load generator (examples/loadgen)
#   SOAK_INTERVAL=10          seconds between samples
#   SOAK_EXPORT_ARGS=...      arguments after `portradar export -N NS` (default: none)
#   SOAK_RECORD_ARGS=...      arguments after `portradar record -N NS` (default: a file in the work dir)
#
# The table lives in a private network namespace: the load generator's connections, plus the churn
# (bench/churn.py: a Python client and server in the namespace, four destinations, each connection
# closed by the client, so about RATE x 60 TIME_WAIT sockets stand at any time). `export` and
# `record` are run only when this portradar has them (otherwise a note says they were skipped).
#
# Writes bench/soak-DATE.csv (time_s,process,rss_kib,cpu_percent,fds: one row per process per sample)
# and appends a summary to bench/RESULTS.md: for each process, RSS and descriptors at the end of
# warm-up (the first fifth of the run) and at the end, the highest RSS, and the mean CPU.
set -euo pipefail
trap 'echo "bench/soak.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."

seconds=${1:-1800}
rate=${SOAK_RATE:-1000}
established=${SOAK_ESTABLISHED:-5000}
interval=${SOAK_INTERVAL:-10}

if [ "$(id -u)" != 0 ]; then
    echo "bench/soak.sh: needs root (the load generator creates a network namespace)" >&2
    exit 1
fi
for tool in tmux python3 ip; do
    command -v "$tool" >/dev/null || {
        echo "bench/soak.sh: needs $tool" >&2
        exit 1
    }
done

cargo build --release --quiet --bin portradar --example loadgen
bin=${CARGO_TARGET_DIR:-target}/release
portradar=$(realpath "$bin/portradar")
work=$(mktemp -d)
ns=portradar-soak-$$
session=portradar-soak-$$
pids=()
names=()
loadgen=
churn=
cleanup() {
    if [ -n "$churn" ]; then
        kill -TERM "$churn" 2>/dev/null || true
        wait "$churn" 2>/dev/null || true
    fi
    tmux kill-session -t "$session" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    if [ -n "$loadgen" ]; then
        exec 3>&-
        wait "$loadgen" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The held table, in the namespace the load generator creates; it holds it until its stdin closes.
mkfifo "$work/loadgen.in"
"$bin/examples/loadgen" --netns "$ns" --established "$established" --destinations 2 \
    <"$work/loadgen.in" >"$work/loadgen.out" &
loadgen=$!
exec 3>"$work/loadgen.in"
until grep -q '^READY' "$work/loadgen.out" 2>/dev/null; do
    kill -0 "$loadgen" 2>/dev/null || {
        echo "bench/soak.sh: the load generator stopped" >&2
        exit 1
    }
    sleep 0.2
done
echo "soak: $(cat "$work/loadgen.out")" >&2

# The churn: RATE connections a second to a listener in the namespace, each closed by the client.
ip netns exec "$ns" python3 bench/churn.py "$rate" >"$work/churn.out" 2>"$work/churn.err" &
churn=$!

# The processes under watch.
tmux new-session -d -s "$session" -x 160 -y 48 "$portradar -N $ns"
pids+=("$(tmux list-panes -t "$session" -F '#{pane_pid}')")
names+=(dashboard)
notes=()
if "$portradar" help export >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # the arguments are words
    "$portradar" export -N "$ns" ${SOAK_EXPORT_ARGS:-} >"$work/export.out" 2>&1 &
    pids+=($!)
    names+=(export)
else
    notes+=("export: skipped, this portradar has no \`export\` command")
fi
if "$portradar" help record >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    "$portradar" record -N "$ns" ${SOAK_RECORD_ARGS:-$work/soak.rec} >"$work/record.out" 2>&1 &
    pids+=($!)
    names+=(record)
else
    notes+=("record: skipped, this portradar has no \`record\` command")
fi
for note in "${notes[@]}"; do echo "soak: $note" >&2; done

csv=bench/soak-$(date -u +%Y%m%dT%H%M%SZ).csv
echo "time_s,process,rss_kib,cpu_percent,fds" >"$csv"
hz=$(getconf CLK_TCK)
declare -A last_ticks
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for pid in "${pids[@]}"; do last_ticks[$pid]=$(ticks "$pid"); done
echo "soak: sampling ${names[*]} every $interval s for $seconds s into $csv" >&2
start=$(date +%s)
elapsed=0
while [ "$elapsed" -lt "$seconds" ]; do
    sleep "$interval"
    elapsed=$(($(date +%s) - start))
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        if [ ! -d "/proc/$pid" ]; then
            echo "bench/soak.sh: ${names[$i]} (pid $pid) exited after $elapsed s" >&2
            exit 1
        fi
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
        now=$(ticks "$pid")
        cpu=$(awk -v d="$((now - last_ticks[$pid]))" -v hz="$hz" -v s="$interval" \
            'BEGIN {printf "%.1f", 100 * d / hz / s}')
        last_ticks[$pid]=$now
        fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
        echo "$elapsed,${names[$i]},$rss,$cpu,$fds" >>"$csv"
    done
done

kill -TERM "$churn"
wait "$churn" || true
churn=
churned=$(cat "$work/churn.out")
tw=$(ip netns exec "$ns" ss -Htan state time-wait | wc -l)

warmup=$((seconds / 5))
summary=$(awk -F, -v warm="$warmup" '
    NR == 1 { next }
    {
        p = $2
        if (!(p in first_t) && $1 >= warm) { first_t[p] = $1; rss0[p] = $3; fd0[p] = $5 }
        rss1[p] = $3; fd1[p] = $5; t1[p] = $1
        if ($3 > max[p]) max[p] = $3
        cpu[p] += $4; n[p]++
        if (!(p in order)) { order[p] = ++k; name[k] = p }
    }
    END {
        for (i = 1; i <= k; i++) {
            p = name[i]
            printf "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %d | %d | %.1f%% |\n",
                p, rss0[p] / 1024, rss1[p] / 1024, max[p] / 1024, fd0[p], fd1[p], cpu[p] / n[p]
        }
    }' "$csv")

{
    echo
    echo "## Soak, $(date -u +%Y-%m-%d): $((seconds / 60)) min, $rate connections/s"
    echo
    echo "bench/soak.sh $seconds on $(nproc) cores ($(uname -r)); load: $established held connections"
    echo "(examples/loadgen), churn: $churned, $tw TIME_WAIT at the end; samples every $interval s in"
    echo "\`$csv\`. \"After warm-up\" is the first sample from $warmup s on."
    echo
    echo "| process | RSS after warm-up | RSS at the end | highest RSS | fds after warm-up | fds at the end | mean CPU |"
    echo "|---|---|---|---|---|---|---|"
    echo "$summary"
    [ ${#notes[@]} -eq 0 ] || echo
    for note in "${notes[@]}"; do echo "- $note"; done
} >>bench/RESULTS.md
echo "soak: done; summary appended to bench/RESULTS.md" >&2
echo "$summary"
