#!/usr/bin/env bash
# Benchmark raftkv against etcd on the same machine, in one run.
#
# Starts 3 etcd members and 3 raftkv nodes on 127.0.0.1 (fsync on both,
# default etcd timings), runs the same closed-loop load against each
# (puts with 16-byte keys and 100-byte values at 1/16/64 connections,
# linearizable gets at 16, sent to the leader), then leader failover
# (SIGKILL under a writer putting every 10 ms) for both (raftkv twice: at
# etcd's default timings, 1000/100 ms, and at its own, 300/50 ms), and
# prints a table.
#
#   scripts/bench-vs-etcd.sh            # DURATION=10 FAILOVER_ROUNDS=3 by default
#   DURATION=5 scripts/bench-vs-etcd.sh
#
# Installs Debian's etcd-server if etcd is missing (needs root and network).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-10}"
FAILOVER_ROUNDS="${FAILOVER_ROUNDS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-kv}"
WORK="$(mktemp -d /tmp/bench-vs-etcd.XXXXXX)"
PIDS=()

# Kill the processes `raftkv bench --failover` restarted (it prints their pids).
stop_restarted() {
    cat "$WORK"/*-failover.txt 2>/dev/null | grep -o 'restarted as pid [0-9]*' | awk '{print $4}' |
        while read -r pid; do kill "$pid" 2>/dev/null || true; done
}

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    # Nodes restarted by the failover bench are not our children.
    stop_restarted
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! command -v etcd >/dev/null; then
    echo "installing etcd-server..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
fi
# Debian's package starts a default member on 2379/2380; stop it.
if command -v systemctl >/dev/null; then systemctl stop etcd 2>/dev/null || true; fi

cargo build -q --release -p raftkv --bin raftkv
RAFTKV="$CARGO_TARGET_DIR/release/raftkv"

echo "== etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members on 127.0.0.1" >&2
CLUSTER="m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"
for i in 1 2 3; do
    etcd --name "m$i" --data-dir "$WORK/etcd-$i" \
        --listen-client-urls "http://127.0.0.1:${i}2379" --advertise-client-urls "http://127.0.0.1:${i}2379" \
        --listen-peer-urls "http://127.0.0.1:${i}2380" --initial-advertise-peer-urls "http://127.0.0.1:${i}2380" \
        --initial-cluster "$CLUSTER" --initial-cluster-state new \
        >"$WORK/etcd-$i.log" 2>&1 &
    PIDS+=($!)
    disown $!
done
ETCD_EPS="127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379"
"$RAFTKV" bench --target etcd --endpoints "$ETCD_EPS" --duration "$DURATION" --label etcd >"$WORK/etcd.md"
if [ "$FAILOVER_ROUNDS" -gt 0 ]; then
    "$RAFTKV" bench --target etcd --endpoints "$ETCD_EPS" --failover "$FAILOVER_ROUNDS" \
        --pids "$(IFS=,; echo "${PIDS[*]}")" >"$WORK/etcd-failover.txt" 2>&1 || true
fi
stop_restarted
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
sleep 1  # let the members exit before the next system starts
PIDS=()

# The raftkv nodes' shared peer secret (a file, so a node the failover
# bench restarts from its command line finds it too).
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/cluster-secret")

# Start 3 raftkv nodes (extra serve flags in "$@") with data under $WORK/$1.
start_raftkv() {
    local name="$1"
    shift
    PIDS=()
    for i in 1 2 3; do
        "$RAFTKV" serve --id "$i" --peers "$PEERS" --data-dir "$WORK/$name-$i" \
            --cluster-secret-file "$WORK/cluster-secret" \
            --client-addr "127.0.0.1:1800$i" "$@" >"$WORK/$name-$i.log" 2>&1 &
        PIDS+=($!)
        disown $!
    done
}
stop_raftkv() {
    stop_restarted
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    PIDS=()
}

echo "== raftkv, 3 nodes on 127.0.0.1 (its defaults: election timeout 300 ms, heartbeat 50 ms)" >&2
RKV_EPS="127.0.0.1:18001,127.0.0.1:18002,127.0.0.1:18003"
PEERS="1=127.0.0.1:17001,2=127.0.0.1:17002,3=127.0.0.1:17003"
start_raftkv raftkv
"$RAFTKV" bench --target raftkv --endpoints "$RKV_EPS" --duration "$DURATION" --label raftkv >"$WORK/raftkv.md"
if [ "$FAILOVER_ROUNDS" -gt 0 ]; then
    "$RAFTKV" bench --target raftkv --endpoints "$RKV_EPS" --failover "$FAILOVER_ROUNDS" \
        --label "raftkv (defaults: 300/50 ms)" >"$WORK/raftkv-failover.txt" 2>&1 || true
    stop_raftkv
    # etcd's defaults: election timeout 1000 ms, heartbeat 100 ms.
    echo "== raftkv at etcd's timings (election timeout 1000 ms, heartbeat 100 ms)" >&2
    start_raftkv raftkv-etcd-timings --election-timeout-ms 1000 --heartbeat-ms 100
    "$RAFTKV" bench --target raftkv --endpoints "$RKV_EPS" --failover "$FAILOVER_ROUNDS" \
        --label "raftkv (etcd's timings: 1000/100 ms)" >"$WORK/raftkv-etcd-timings-failover.txt" 2>&1 || true
fi

echo
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${DURATION} s per run"
echo
cat "$WORK/etcd.md"
tail -n +3 "$WORK/raftkv.md"
echo
echo "leader failover (SIGKILL under a writer every 10 ms; kill -> first acknowledged write sent after it):"
tail -n 1 "$WORK/etcd-failover.txt" 2>/dev/null || true
tail -n 1 "$WORK/raftkv-etcd-timings-failover.txt" 2>/dev/null || true
tail -n 1 "$WORK/raftkv-failover.txt" 2>/dev/null || true
