#!/usr/bin/env bash
# Proves `raftcheck explore` in a real browser: opens the double-vote
# counterexample's explorer link in headless Chromium and checks the rendered
# page shows the violating state (two leaders in term 1).
#
# Usage: scripts/explore-in-chromium.sh [RAFTCHECK_BINARY]
# Installs Debian's chromium if missing (needs root and network).
set -euo pipefail
cd "$(dirname "$0")/.."

RAFTCHECK=${1:-${CARGO_TARGET_DIR:-target}/release/raftcheck}
TRACE=counterexamples/double-vote.json
PORT=${PORT:-3917}

if ! command -v chromium >/dev/null; then
    echo "installing chromium (Debian package)..." >&2
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
[ -x "$RAFTCHECK" ] || { echo "no raftcheck at $RAFTCHECK: cargo build --release -p raftcheck" >&2; exit 2; }

log=$(mktemp)
"$RAFTCHECK" explore "$TRACE" --addr "127.0.0.1:$PORT" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$log" "${profile:-}"' EXIT
for _ in $(seq 50); do
    grep -q '^explorer: ' "$log" && curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break
    sleep 0.2
done
url=$(sed -n 's/^explorer: \([^ ]*\).*/\1/p' "$log")
echo "raftcheck printed: $url"

profile=$(mktemp -d)
dom=$(chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --virtual-time-budget=5000 --dump-dom "$url" 2>/dev/null)

# The explorer renders each step's outcome (every server's state); the last
# step is the second leader of term 1.
leaders=$(printf '%s\n' "$dom" | grep -c 'leader *term=1' || true)
last_action=$(printf '%s\n' "$dom" | grep -o 's1 → s2 RequestVoteResponse(t1, granted)' | head -1 || true)
echo "rendered page: $(printf '%s' "$dom" | wc -c) bytes, $leaders lines 'leader term=1', last step: ${last_action:-missing}"
if printf '%s\n' "$dom" | grep -q 's0: leader *term=1' && printf '%s\n' "$dom" | grep -q 's2: leader *term=1' && [ -n "$last_action" ]; then
    echo "OK: the explorer shows two leaders in term 1 at the trace's last step"
else
    echo "FAILED: the explorer page does not show the violating state" >&2
    printf '%s\n' "$dom" | head -c 3000 >&2
    exit 1
fi
