#!/usr/bin/env bash
# Instructions per decision (issue 18), deterministic where requests/s are not: the `decision` bench binary runs each
# case N and 2N times under `valgrind --tool=callgrind`; (Ir(2N) - Ir(N)) / N is the cost of one iteration, setup
# cancelled. Cases: see benches/decision/ipd.rs.
#
#   scripts/bench/ipd.sh                 # all cases; N=1000 for the signature cases, 100 x N for the cached ones
#   N=500 scripts/bench/ipd.sh uncached  # one case
#   IPD_BIN=/tmp/decision-old scripts/bench/ipd.sh   # a bench binary built earlier (before/after comparisons)
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-1000}"
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(bare uncached cached cached_render)
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
BIN="${IPD_BIN:-}"
[ -n "$BIN" ] || BIN=$(cargo bench --bench decision --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "decision" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
[ -x "$BIN" ] || { echo "no bench binary" >&2; exit 1; }
OUT="${IPD_DIR:-target/ipd}"
mkdir -p "$OUT"
ir() { # case n -> total instructions
    AUTHGATE_IPD="$1:$2" timeout 600 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$1.$2.%p" "$BIN" \
        2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | sort -n | tail -n 1
}
for c in "${CASES[@]}"; do
    # A cached decision costs a few thousand instructions; run enough of them that the run-to-run wobble of the
    # setup (hash seeds, thread start-up) is a rounding error.
    n=$N
    case $c in cached*) n=$((100 * N)) ;; esac
    a=$(ir "$c" "$n"); b=$(ir "$c" $((2 * n)))
    printf '%-14s %8d instructions per iteration\n' "$c" $(((b - a) / n))
done
