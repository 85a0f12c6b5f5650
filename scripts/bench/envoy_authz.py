#!/usr/bin/env python3
"""The Envoy bootstrap of scripts/bench.sh's "through Envoy" rows (e): one Envoy, one listener per row, so that every
row is served by the same process, worker and build, and the rows can be interleaved in rounds.

Usage: envoy_authz.py JWKS_FILE ISSUER ADMIN_PORT AG_HTTP_PORT AG_GRPC_PORT DIRECT GRPC HTTP JWT JWT_CACHE CACHE_SIZE

Every listener answers with a direct response (no upstream), so a row measures Envoy plus its auth step and nothing
else:
  DIRECT     no auth filter: the cost of the request through Envoy alone (the baseline the hop is measured against)
  GRPC       ext_authz over gRPC to authgate's --grpc-listen (HTTP/2 cleartext), the shape of deploy/proxies' gRPC
             recipe: fail closed, status_on_error 503, every request header sent (Envoy Gateway's and Istio's default)
  HTTP       ext_authz over HTTP to authgate's --listen, as deploy/proxies/envoy.yaml sends it
  JWT        jwt_authn with local_jwks and no JWT cache: a signature check per request
  JWT_CACHE  jwt_authn with its JWT cache on, CACHE_SIZE entries (sized for the token set)
Both ext_authz rows set headers_with_underscores_action: DROP_HEADER like the recipes; so do the others, so that the
baseline pays what they pay.
"""
import json
import sys

(jwks_file, issuer, admin, ag_http, ag_grpc, p_direct, p_grpc, p_http, p_jwt, p_jwt_cache, cache_size) = sys.argv[1:]
jwks = open(jwks_file).read()

ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def listener(name, port, filters):
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": int(port)}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
                            ".v3.HttpConnectionManager",
                            "stat_prefix": name,
                            "common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER"},
                            "route_config": {
                                "virtual_hosts": [
                                    {
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                                    }
                                ]
                            },
                            "http_filters": filters + [ROUTER],
                        },
                    }
                ]
            }
        ],
    }


def ext_authz(service):
    config = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        "status_on_error": {"code": "ServiceUnavailable"},
    }
    config.update(service)
    return {"name": "envoy.filters.http.ext_authz", "typed_config": config}


GRPC = ext_authz({"grpc_service": {"envoy_grpc": {"cluster_name": "authgate_grpc"}, "timeout": "6s"}})
HTTP = ext_authz(
    {
        "allowed_headers": {"patterns": [{"exact": "cookie"}, {"prefix": "x-hasura-"}]},
        "http_service": {
            "server_uri": {"uri": "http://authgate", "cluster": "authgate_http", "timeout": "6s"},
            "authorization_response": {"allowed_upstream_headers": {"patterns": [{"prefix": "x-hasura-"}]}},
        },
    }
)


def jwt_authn(cache):
    provider = {"issuer": issuer, "local_jwks": {"inline_string": jwks}}
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": int(cache_size)}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"clerk": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "clerk"}}],
        },
    }


def cluster(name, port, http2):
    c = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": int(port)}}}}]}
            ],
        },
    }
    if http2:
        c["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return c


bootstrap = {
    "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": int(admin)}}},
    "static_resources": {
        "listeners": [
            listener("e_direct", p_direct, []),
            listener("e_grpc", p_grpc, [GRPC]),
            listener("e_http", p_http, [HTTP]),
            listener("e_jwt", p_jwt, [jwt_authn(False)]),
            listener("e_jwt_cache", p_jwt_cache, [jwt_authn(True)]),
        ],
        "clusters": [cluster("authgate_grpc", ag_grpc, True), cluster("authgate_http", ag_http, False)],
    },
}
# JSON is YAML: Envoy reads the file as a .yaml bootstrap.
json.dump(bootstrap, sys.stdout, indent=1)
print()
