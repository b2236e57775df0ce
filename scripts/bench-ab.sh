#!/usr/bin/env bash
# Throughput of two raftkv binaries in one run, alternating A, B, A, B, ...
#
# Each run starts a fresh 3-node `raftkv cluster` of one binary (new data
# dir, loopback, fsync on) and runs that binary's `raftkv bench` against it
# (puts at 1/16/64 connections, linearizable gets at 16), then stops it.
# Alternating spreads the host's drift over both sides; compare the medians.
#
#   scripts/bench-ab.sh OLD_RAFTKV NEW_RAFTKV   # REPS=3 DURATION=3 by default
#   CROSS=1 scripts/bench-ab.sh OLD NEW          # also OLD's bench against NEW's
#                                                # cluster (the server side alone)
#
# Prints each run's table on stderr, then per load: the median ops/s of each
# side and the ratio B/A.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 OLD_RAFTKV NEW_RAFTKV" >&2; exit 2; }
A="$(realpath "$1")"
B="$(realpath "$2")"
REPS="${REPS:-3}"
DURATION="${DURATION:-3}"
CROSS="${CROSS:-0}"
WORK="$(mktemp -d /tmp/bench-ab.XXXXXX)"
CLUSTER_PID=""
cleanup() {
    if [ -n "$CLUSTER_PID" ]; then kill "$CLUSTER_PID" 2>/dev/null || true; wait "$CLUSTER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

EPS="127.0.0.1:18101,127.0.0.1:18102,127.0.0.1:18103"
# run LABEL BENCH_BINARY CLUSTER_BINARY N
run() {
    local label="$1" bench="$2" server="$3" n="$4"
    "$server" cluster --data-dir "$WORK/$label-$n" --peer-port-base 17101 --client-port-base 18101 \
        >"$WORK/$label-$n.cluster.log" 2>&1 &
    CLUSTER_PID=$!
    "$bench" bench --endpoints "$EPS" --duration "$DURATION" --label "$label" 2>/dev/null |
        grep "^| $label " | tee -a "$WORK/results" >&2
    kill "$CLUSTER_PID"
    wait "$CLUSTER_PID" 2>/dev/null || true
    CLUSTER_PID=""
}

for n in $(seq 1 "$REPS"); do
    run A "$A" "$A" "$n"
    run B "$B" "$B" "$n"
    if [ "$CROSS" = 1 ]; then run A-bench-B-server "$A" "$B" "$n"; fi
done

# Median ops/s per (label, load), then B/A (and cross/A) per load.
awk -F'|' '
    { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/ /, "", $4)
      k = $2 SUBSEP $3; v[k, ++c[k]] = $4; loads[$3] = 1; labels[$2] = 1 }
    function median(k,   n, i, j, t, a) {
        n = c[k]; for (i = 1; i <= n; i++) a[i] = v[k, i] + 0
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        printf "| load | A ops/s (median) | B ops/s (median) | B/A |%s\n", ("A-bench-B-server" in labels) ? " A bench, B server | ratio |" : ""
        sort = "sort"
        for (l in loads) {
            a = median("A" SUBSEP l); b = median("B" SUBSEP l)
            row = sprintf("| %s | %d | %d | %.3f |", l, a, b, b / a)
            if ("A-bench-B-server" in labels) { x = median("A-bench-B-server" SUBSEP l); row = row sprintf(" %d | %.3f |", x, x / a) }
            print row | sort
        }
        close(sort)
    }' "$WORK/results"
