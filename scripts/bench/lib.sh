# Shared by scripts/bench.sh and scripts/bench/profile-authz.sh (sourced, not run): free loopback ports, the cleanup
# of started processes, and the JWKS server plus the AuthConfig both benchmarks point authgate at.
# Needs WORK (with keys/ and logs/) and ISSUER set by the caller.

# `free_ports N`: N loopback ports free right now, one per line (the sockets are closed when Python exits).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Every process the script starts is added to `pids` and killed on exit.
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# `start_jwks PORT`: serve $WORK/keys (jwks.json) on loopback, and write $WORK/authconfig.yaml pointing at it.
start_jwks() {
    python3 -m http.server "$1" --bind 127.0.0.1 --directory "$WORK/keys" >"$WORK/logs/jwks.log" 2>&1 &
    pids+=($!)
    cat >"$WORK/authconfig.yaml" <<YAML
kind: AuthConfig
version: v4
definition:
  mode:
    jwt:
      key:
        jwkFromUrl: http://127.0.0.1:$1/jwks.json
      issuer: $ISSUER
      claimsConfig:
        namespace:
          claimsFormat: Json
          location: /claims.jwt.hasura.io
      tokenLocation:
        type: BearerAuthorization
YAML
}

# `nginx_conf_head`: the start of an NGINX config for the benchmarks, up to the inside of its `http` block (the caller
# writes the servers and the closing brace): one worker, no access log, keep-alive without a request limit, every
# temporary path under $WORK/nginx.
nginx_conf_head() {
    cat <<NGINX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
NGINX
}
