#!/usr/bin/env bash
# CPU per request, side by side in one run: NGINX `return 200` and each authgate binary given (a cached decision,
# one token), alternating 6 s wrk runs (one thread, 64 connections) for ROUNDS rounds (default 3). Every server is
# pinned to CPU 0 with one worker, wrk to CPU 1; the server's user and system CPU per request are read from
# /proc/PID/stat around each run. For before/after comparisons of the HTTP path (docs/benchmarks.md, "The data
# listener on its own HTTP/1.1"): build the two binaries, then
#   scripts/bench/cpu-ab.sh /path/to/before/authgate target/release/authgate
# Environment: ROUNDS, DUR (seconds per run), CACHE0=1 (--decision-cache-size 0), TOKENS_FILE (a file of tokens in
# the bench key set; default the one token a.txt).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[ $# -ge 1 ] || { echo "usage: $0 AUTHGATE_BINARY..." >&2; exit 2; }
WORK="${BENCH_DIR:-$ROOT/target/bench-cpu-ab}"
ISSUER=https://bench.clerk.accounts.dev
rm -rf "$WORK"
mkdir -p "$WORK/keys" "$WORK/nginx" "$WORK/logs"
RSS_TOKENS=10 python3 scripts/bench/mint.py "$WORK/keys" 10 >/dev/null
source scripts/bench/lib.sh
ports=($(free_ports $((2 + 2 * $#))))
start_jwks "${ports[0]}"
{
    nginx_conf_head
    echo "    server { listen 127.0.0.1:${ports[1]}; location / { return 200; } }"
    echo "}"
} >"$WORK/nginx/nginx.conf"
taskset -c 0 nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/logs/nginx-error.log" -g 'daemon off;' &
nginx_master=$!
pids+=("$nginx_master")
names=(nginx)
urls=("http://127.0.0.1:${ports[1]}/graphql")
i=0
for bin in "$@"; do
    port=${ports[$((2 + i * 2))]} admin=${ports[$((3 + i * 2))]}
    taskset -c 0 "$bin" serve --config "$WORK/authconfig.yaml" --listen "127.0.0.1:$port" \
        --admin-listen "127.0.0.1:$admin" --grpc-listen off --workers 1 --shutdown-delay-secs 0 --log-format json \
        ${CACHE0:+--decision-cache-size 0} 2>>"$WORK/logs/authgate$i.log" &
    pids+=($!)
    names+=("authgate$i")
    urls+=("http://127.0.0.1:$port/graphql")
    for _ in $(seq 1 200); do
        curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null && break
        sleep 0.05
    done
    i=$((i + 1))
done
sleep 0.5
# NGINX's worker (the master only waits): the process whose CPU is the server's.
spids=("$(pgrep -P "$nginx_master" | head -1)" "${pids[@]:2}")
TOKENS_FILE=${TOKENS_FILE:-$WORK/keys/a.txt}
ticks() { awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$1/stat"; }
printf 'round\tserver\treq_per_s\tuser_us\tsys_us\ttotal_us\tp50_ms\tp99_ms\tnon_2xx\n'
for r in $(seq 1 "${ROUNDS:-3}"); do
    for k in "${!names[@]}"; do
        TOKENS="$TOKENS_FILE" taskset -c 1 wrk -t1 -c64 -d1s -s scripts/bench/tokens.lua "${urls[$k]}" >/dev/null
        read -r u0 s0 < <(ticks "${spids[$k]}")
        out=$(TOKENS="$TOKENS_FILE" taskset -c 1 wrk -t1 -c64 -d"${DUR:-6}s" --latency -s scripts/bench/tokens.lua "${urls[$k]}")
        read -r u1 s1 < <(ticks "${spids[$k]}")
        n=$(awk '/requests in/ { print $1 }' <<<"$out")
        rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
        non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
        p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
        p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
        awk -v r="$r" -v name="${names[$k]}" -v n="$n" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v rps="$rps" \
            -v hz="$(getconf CLK_TCK)" -v x="${non2xx:-0}" -v p50="$p50" -v p99="$p99" \
            'BEGIN { printf "%d\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\n", r, name, rps, u * 1e6 / hz / n, s * 1e6 / hz / n, (u + s) * 1e6 / hz / n, p50, p99, x }'
    done
done
