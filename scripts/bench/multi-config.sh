#!/usr/bin/env bash
# Memory of authgate in multi-config mode (issue 14): 100 configs loaded from a directory, each with its own issuer
# and its own RSA key set on a loopback JWKS server, then 100,000 distinct valid tokens spread over the configs
# (token i to config i % 100), each sent exactly once by a small bounded client (scripts/bench/send_tokens.py), then
# all of them once more. The metrics must show 100,000 cache misses on the first pass (every token verified and
# cached) and the hits of the second pass say how many of them the decision cache still held. VmRSS and VmHWM are
# read from /proc after loading, after each pass; the target is VmHWM under 96 MiB.
#
#   scripts/bench/multi-config.sh                 # about 1 minute (most of it minting keys and tokens); target/bench-multi/
#   CONFIGS=100 TOKENS=100000 CACHE_SIZE=100000   # the defaults
#
# authgate runs as scripts/bench.sh's memory run does (release build, --workers 1, the gRPC listener on), with the
# default decision cache size and a one-hour cache TTL, so that no entry of the first pass expires before the second.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CONFIGS="${CONFIGS:-100}"
TOKENS="${TOKENS:-100000}"
CACHE_SIZE="${CACHE_SIZE:-100000}"
CONNS="${CONNS:-16}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
LIMIT_MIB=96
WORK="${BENCH_DIR:-$ROOT/target/bench-multi}"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v taskset >/dev/null || { log "installing util-linux (apt)"; apt-get update -qq && apt-get install -y -qq util-linux >/dev/null; }
python3 -c 'import cryptography' 2>/dev/null || { log "installing cryptography (pip)"; python3 -m pip install -q cryptography; }
log "building authgate (release)"
cargo build --release --quiet
AUTHGATE="$ROOT/target/release/authgate"

rm -rf "$WORK"
mkdir -p "$WORK/logs"
source scripts/bench/lib.sh
ports=($(free_ports 4))
P_JWKS=${ports[0]} P_AG=${ports[1]} P_AG_ADMIN=${ports[2]} P_AG_GRPC=${ports[3]}

log "minting $CONFIGS key pairs, configs and $TOKENS tokens"
python3 scripts/bench/mint_multi.py "$WORK" "$P_JWKS" "$CONFIGS" "$TOKENS"

python3 -m http.server "$P_JWKS" --bind 127.0.0.1 --directory "$WORK/jwks" >"$WORK/logs/jwks.log" 2>&1 &
pids+=($!)

taskset -c "$SERVER_CPU" "$AUTHGATE" serve --config "$WORK/configs" \
    --listen "127.0.0.1:$P_AG" --admin-listen "127.0.0.1:$P_AG_ADMIN" --grpc-listen "127.0.0.1:$P_AG_GRPC" \
    --workers 1 --decision-cache-size "$CACHE_SIZE" --decision-cache-ttl 3600 \
    --shutdown-delay-secs 0 --log-format json 2>"$WORK/logs/authgate.log" &
AG_PID=$!
pids+=("$AG_PID")

# Ready means one config usable; wait until every config is (each has fetched its key set).
usable() {
    curl -sS "http://127.0.0.1:$P_AG_ADMIN/readyz" 2>/dev/null | python3 -c '
import json, sys
try:
    body = json.load(sys.stdin)
except ValueError:
    print(0)
else:
    print(sum(1 for c in body.get("configs", []) if c.get("usable")))' || echo 0
}
for _ in $(seq 1 300); do
    [ "$(usable)" = "$CONFIGS" ] && break
    sleep 0.2
done
[ "$(usable)" = "$CONFIGS" ] || { log "only $(usable) of $CONFIGS configs became usable"; exit 1; }

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# The sum of a counter over every config's series.
counter() {
    curl -fsS "http://127.0.0.1:$P_AG_ADMIN/metrics" \
        | awk -v m="$1" 'index($0, m "{") == 1 || index($0, m " ") == 1 { n += $NF } END { printf "%d", n }'
}
RESULTS="$WORK/memory.tsv"
printf 'stage\tvm_rss_mib\tvm_hwm_mib\trss_anon_mib\trss_file_mib\tcache_misses\tcache_hits\n' >"$RESULTS"
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(mib "$(status_kib "$AG_PID" VmRSS)")" \
        "$(mib "$(status_kib "$AG_PID" VmHWM)")" "$(mib "$(status_kib "$AG_PID" RssAnon)")" \
        "$(mib "$(status_kib "$AG_PID" RssFile)")" "$(counter authgate_decision_cache_misses_total)" \
        "$(counter authgate_decision_cache_hits_total)" >>"$RESULTS"
    log "$(tail -1 "$RESULTS" | tr '\t' ' ')"
}
record loaded

log "pass 1: $TOKENS distinct tokens over $CONFIGS configs, each once"
taskset -c "$LOAD_CPU" python3 scripts/bench/send_tokens.py "$P_AG" "$WORK/tokens.txt" "$CONNS" 600 \
    | tee "$WORK/logs/pass1.json" >&2
record pass1
log "pass 2: the same tokens again"
taskset -c "$LOAD_CPU" python3 scripts/bench/send_tokens.py "$P_AG" "$WORK/tokens.txt" "$CONNS" 600 \
    | tee "$WORK/logs/pass2.json" >&2
record pass2
cp "/proc/$AG_PID/smaps_rollup" "$WORK/smaps_rollup.txt" 2>/dev/null || true
echo "threads $(status_kib "$AG_PID" Threads)" >>"$WORK/smaps_rollup.txt"

python3 - "$RESULTS" "$TOKENS" "$LIMIT_MIB" <<'PY'
import csv, sys
rows = {r["stage"]: r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")}
tokens, limit = int(sys.argv[2]), float(sys.argv[3])
l, p1, p2 = rows["loaded"], rows["pass1"], rows["pass2"]
miss1 = int(p1["cache_misses"]) - int(l["cache_misses"])
hits2 = int(p2["cache_hits"]) - int(p1["cache_hits"])
miss2 = int(p2["cache_misses"]) - int(p1["cache_misses"])
hwm = float(p2["vm_hwm_mib"])
print(f"loaded: RSS {l['vm_rss_mib']} MiB")
verdict = "every token verified and cached" if miss1 == tokens else f"MISSED: expected {tokens}"
print(f"pass 1: {miss1} misses ({verdict}); RSS {p1['vm_rss_mib']} MiB")
print(f"pass 2: {hits2} hits, {miss2} misses (cached decisions held: at least {hits2}); RSS {p2['vm_rss_mib']} MiB")
print(f"peak (VmHWM) {hwm} MiB; limit {limit:.0f} MiB: {'holds' if hwm < limit else 'MISSED'}")
ok = miss1 == tokens and hwm < limit
sys.exit(0 if ok else 1)
PY
