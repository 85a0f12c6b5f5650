#!/usr/bin/env bash
# What tracing costs under load (issue 16): authgate with tracing off, on with 1 % of decisions sampled, and on with
# every decision sampled, exporting OTLP/HTTP to a sink on loopback that accepts and counts every batch. Two
# scenarios: (a) one token reused (a decision-cache hit: the cheapest decision, where a span's cost shows most) and
# (b1k) 1,000 distinct tokens with the decision cache off (a signature check per request). The three settings run in
# ROUNDS interleaved rounds (default 2) so a slow patch of the shared VM hits all of them alike; the report gives
# each round's requests/s and the ratio to tracing off in the same round. authgate and the sink are pinned as in
# scripts/bench.sh: authgate on SERVER_CPU with one worker, wrk and the sink on LOAD_CPU.
#
#   scripts/bench/tracing.sh            # about 3 minutes; results in target/bench-tracing/
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-2}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
WORK="${BENCH_DIR:-$PWD/target/bench-tracing}"
ISSUER="https://bench.clerk.accounts.dev"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
log "building authgate (release)"
cargo build --release --quiet
AUTHGATE="$PWD/target/release/authgate"
rm -rf "$WORK"
mkdir -p "$WORK/keys" "$WORK/logs"
python3 scripts/bench/mint.py "$WORK/keys" 1000 >/dev/null
source scripts/bench/lib.sh
ports=($(free_ports 4))
P_JWKS=${ports[0]} P_AG=${ports[1]} P_ADMIN=${ports[2]} P_SINK=${ports[3]}
start_jwks "$P_JWKS"

# The OTLP/HTTP sink: 200 to every POST, a count of batches and bytes on GET /count.
taskset -c "$LOAD_CPU" python3 - "$P_SINK" >"$WORK/logs/sink.log" 2>&1 <<'PY' &
import http.server, sys, threading
count = {"batches": 0, "bytes": 0}
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        self.rfile.read(n)
        with lock:
            count["batches"] += 1
            count["bytes"] += n
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def do_GET(self):
        body = f'{count["batches"]} {count["bytes"]}'.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)

run() { # name setting cache-flags... -> prints requests/s
    local name=$1 setting=$2 tokens=$3
    shift 3
    local env=(OTEL_SERVICE_NAME=authgate-bench)
    case $setting in
    off) ;;
    all) env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$P_SINK" OTEL_TRACES_SAMPLER=always_on) ;;
    one) env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$P_SINK" OTEL_TRACES_SAMPLER=traceidratio
        OTEL_TRACES_SAMPLER_ARG=0.01) ;;
    esac
    env "${env[@]}" taskset -c "$SERVER_CPU" "$AUTHGATE" serve --config "$WORK/authconfig.yaml" \
        --listen "127.0.0.1:$P_AG" --admin-listen "127.0.0.1:$P_ADMIN" --workers 1 --shutdown-delay-secs 0 \
        --log-format json "$@" 2>>"$WORK/logs/authgate.log" &
    local pid=$!
    for _ in $(seq 1 200); do curl -fsS -o /dev/null "http://127.0.0.1:$P_ADMIN/readyz" 2>/dev/null && break; sleep 0.05; done
    TOKENS="$tokens" taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${WARMUP}s" -s scripts/bench/tokens.lua \
        "http://127.0.0.1:$P_AG/graphql" >/dev/null
    TOKENS="$tokens" taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" --latency -s scripts/bench/tokens.lua \
        "http://127.0.0.1:$P_AG/graphql" >"$WORK/logs/$name.wrk"
    local dropped
    dropped=$(curl -fsS "http://127.0.0.1:$P_ADMIN/metrics" | awk '/^authgate_trace_spans_dropped_total/ {print $2}')
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local rps non2xx
    rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$WORK/logs/$name.wrk")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/logs/$name.wrk")
    [ -z "$non2xx" ] || { log "$name: $non2xx answers were not 200"; exit 1; }
    printf '%s\t%s\t%s\t%s\n' "$name" "$setting" "$rps" "${dropped:-0}" >>"$WORK/results.tsv"
    log "$name $setting $rps requests/s, spans dropped ${dropped:-0}"
}

printf 'run\tsetting\trps\tspans_dropped\n' >"$WORK/results.tsv"
head -n 1 "$WORK/keys/b.txt" >"$WORK/keys/one.txt"
head -n 1000 "$WORK/keys/b.txt" >"$WORK/keys/b1k.txt"
for r in $(seq 1 "$ROUNDS"); do
    for s in off one all; do run "a.r$r" "$s" "$WORK/keys/one.txt"; done
    for s in off one all; do run "b1k.r$r" "$s" "$WORK/keys/b1k.txt" --decision-cache-size 0; done
done
log "sink received: $(curl -fsS "http://127.0.0.1:$P_SINK/count") (batches bytes)"

python3 - "$WORK/results.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {(r["run"], r["setting"]): r for r in rows}
print("| run | tracing off req/s | 1 % sampled req/s (ratio) | every decision sampled req/s (ratio) | spans dropped (1 % / all) |")
print("|---|---:|---:|---:|---:|")
for run in dict.fromkeys(r["run"] for r in rows):
    off = int(by[(run, "off")]["rps"])
    one, allr = by[(run, "one")], by[(run, "all")]
    print(f'| {run} | {off:,} | {int(one["rps"]):,} ({int(one["rps"]) / off:.2f} ×) | '
          f'{int(allr["rps"]):,} ({int(allr["rps"]) / off:.2f} ×) | {one["spans_dropped"]} / {allr["spans_dropped"]} |')
PY
