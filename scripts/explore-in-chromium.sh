#!/usr/bin/env bash
# Proves `raftcheck explore` in a real browser: opens every shipped trace's
# explorer page in headless Chromium and checks what a person sees there:
# the saved trace is the discovery, its last state is marked with the
# property it violates (or reaches), and no earlier state is.
#
# Usage: scripts/explore-in-chromium.sh [RAFTCHECK_BINARY]
# Installs Debian's chromium if /usr/bin/chromium is missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

RAFTCHECK=${1:-${CARGO_TARGET_DIR:-target}/release/raftcheck}

if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium (Debian package)..." >&2
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
[ -x "$RAFTCHECK" ] || { echo "no raftcheck at $RAFTCHECK: cargo build --release -p raftcheck" >&2; exit 2; }

log=$(mktemp)
profile=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$log" "$profile"
}
trap cleanup EXIT

# Strips tags from one element of the DOM: the text a person reads.
text_of() { # DOM START-PATTERN END-PATTERN
    printf '%s\n' "$1" | tr '\n' ' ' | grep -o "$2.*" | sed "s|$3.*||" |
        sed -e 's/<[^>]*>/ /g' -e 's/&quot;/"/g' -e 's/&gt;/>/g' -e 's/&lt;/</g' -e 's/&amp;/\&/g' | tr -s ' '
}

failed=0
for trace in counterexamples/*.json; do
    : >"$log"
    "$RAFTCHECK" explore "$trace" --addr 127.0.0.1:0 >"$log" 2>&1 &
    server=$!
    for _ in $(seq 100); do grep -q '^explorer: ' "$log" && break; sleep 0.1; done
    url=$(sed -n 's/^explorer: \([^ ]*\).*/\1/p' "$log")
    [ -n "$url" ] || { echo "FAILED $trace: raftcheck explore printed: $(cat "$log")" >&2; failed=1; continue; }
    dom=$(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --virtual-time-budget=5000 --dump-dom "$url" 2>/dev/null)
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=

    steps=$(grep -c '"action": {' "$trace" || true)
    property=$(sed -n 's/^  "property": "\(.*\)",$/\1/p' "$trace")
    discovery=$(text_of "$dom" '<section id="discovery"' '</section>')
    last=$(text_of "$dom" "<tr id=\"step-$steps\"" '</tr>')
    earlier=$(for k in $(seq 0 $((steps - 1))); do text_of "$dom" "<tr id=\"step-$k\"" '</tr>'; done)
    if grep -q '"outcome": "violates"' "$trace"; then
        want="Saved counterexample: always \"$property\" is VIOLATED at step $steps"
        ok=$(printf '%s' "$last" | grep -c "violates $property" || true)
        bad=$(printf '%s\n' "$earlier" | grep -c 'VIOLATED' || true)
    else
        want="Saved example: sometimes \"$property\" is first reached at step $steps"
        ok=$(printf '%s' "$last" | grep -cF "reaches $property" || true)
        bad=$(printf '%s\n' "$earlier" | grep -cF "reaches $property" || true)
    fi
    if printf '%s' "$discovery" | grep -qF "$want" && [ "$ok" -ge 1 ] && [ "$bad" -eq 0 ]; then
        echo "OK $trace: $want; state $steps:$(printf '%s' "$last" | cut -c1-100)"
    else
        echo "FAILED $trace: expected \"$want\" and state $steps marked" >&2
        echo "  discovery: $discovery" >&2
        echo "  state $steps: $last" >&2
        failed=1
    fi
done
[ "$failed" -eq 0 ] && echo "OK: every shipped trace's explorer page shows its discovery in Chromium"
exit "$failed"
