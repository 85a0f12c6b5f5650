//! authgate: a forward-auth service for ingress proxies.
//!
//! A proxy (NGINX `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, Envoy/Istio `ext_authz` over HTTP or
//! gRPC) asks, for
//! every client request, whether it may pass and as whom. authgate reads a Hasura DDN-style AuthConfig (v1–v4),
//! validates the request's token (JWT with a fixed key or a JWKS, a webhook, or noAuth) and answers `200` with
//! `x-hasura-*` session headers, `401`/`403`, or `503` when a dependency is down.
//!
//! # One request
//!
//! listener → contract adapter → gate (cache) → authn (token → identity, asking jwks for keys) → gate → adapter.
//! `listeners` accepts the proxy's call and hands it to a `contracts` adapter, which builds an `AuthRequest` and
//! calls the gate. The gate selects the mode and answers from its decision cache when it can; otherwise `authn`
//! turns the token into an identity (a JWT's key comes from `jwks`, a webhook is called) and the identity into a
//! session. The gate caches the `Decision` and returns it, and the adapter renders it as `200`/`401`/`403`/`503`.
//! Configs arrive beside this path: `reload` (a file or a directory) or `kube_watch` (a ConfigMap, or every ConfigMap
//! a label selector matches) loads one with `config` and swaps it into the gate; a request uses one snapshot
//! throughout. In multi-config mode (policy §13) the adapter also reads the config's name the proxy gave (the
//! `/configs/<name>` path prefix, the `authgate-config` context extension) and the gate decides with that config.
//!
//! # Modules, and which way each may import
//!
//! Shared leaves, which any module may import; they import nothing else of the crate, except that `observe` names
//! `authn`'s `Reason`:
//! - `alg`: the one table of JWS algorithms (names, families, which are symmetric).
//! - `hash`: the one SHA-256 helper (cache keys, key fingerprints, the config file's change detector).
//! - `clock`: time as the domain is given it (`Clock`; the system clock or a manual one for tests).
//! - `strict_json`: a JSON value that refuses duplicate keys, for tokens, webhook answers and configs.
//! - `cache_control`: the `Cache-Control` directives read from JWKS endpoints and webhooks.
//! - `net`: the size-limited HTTP response reading shared by the JWKS fetch and the webhook client.
//! - `observe`: the typed outcomes the domain reports (`Observer`), and the `Transport` a decision came through.
//! - `telemetry`: the `tracing` subscriber (logs) and the OpenTelemetry layer and OTLP exporter (traces, feature
//!   `otel`); the decision span the adapters open and the gate fills, the JWKS and webhook child spans.
//!
//! The domain: plain data in and out, no HTTP framework, Kubernetes client or prometheus type in its interface:
//! - `config`: AuthConfig text → validated, compiled config (model, loader, schema, reading a file, the rules of
//!   config names); imports no other module but the leaves.
//! - `jwks`: key sources behind one interface: a fixed key, or a JWKS fetched, parsed, cached and refreshed, kept
//!   on error up to a maximum staleness; imports `config`.
//! - `authn`: token → identity → session: token extraction, JWT verification and claims, the webhook mode, role
//!   selection, the bounded deny `Reason`s; imports `jwks`, `config`.
//! - `gate`: the hub: the config snapshot reloads swap (one, or one per name: `named`), mode selection, the
//!   decision caches, readiness, `Decision` out; imports `authn`, `jwks`, `config`.
//!
//! The edge, which names actix-web, hyper, kube or prometheus, and which the domain imports only in its tests:
//! - `metrics`: the registry and every series; an `Observer`, and the only module that names prometheus.
//! - `contracts`: proxy adapters: an HTTP request or an Envoy gRPC `CheckRequest` → `AuthRequest`, a `Decision` →
//!   the response (`answer`: what every transport says; `forward`: HTTP; `ext_authz`: gRPC, `check_view`: its
//!   request read from the wire); imports `gate` and `authn`.
//! - `http1`: the data listener, an HTTP/1.1 server written for the auth subrequest (request heads read with
//!   httparse, strict framing, keep-alive, timeouts, the connection cap, the graceful stop) on a single-threaded
//!   runtime per worker; every request goes to `contracts::forward`; imports `contracts`, `gate`.
//! - `listeners`: the actix-web apps and their listeners (admin, `dev`'s JWKS), the data listener's start, `run`
//!   and the graceful drain of every listener; imports `contracts`, `gate`, `metrics`, `grpc`, `http1`.
//! - `grpc`: the gRPC listener on hyper's HTTP/2 (ext_authz `Check` served directly, `grpc.health.v1` by tonic's
//!   generated server) on a multi-threaded runtime of its own, cleartext or TLS; imports `contracts`, `gate`, `tls`
//!   (and `listeners`' socket `bind`).
//! - `tls`: the certificate resolver reloaded from its files, client-certificate verification, the file watcher;
//!   shared by `admission` and `grpc`.
//! - `admission`: the AdmissionReview webhook on its own TLS listener, judged by the `config` loader (and, for the
//!   selector's ConfigMaps, the config-name rules); imports `config`, `tls`, `kube_watch`'s selector naming.
//! - `reload`: load a config off the request path, swap it into the gate, keep the last good one; the file source;
//!   in multi-config mode the `ConfigSink` every source reports to (the gate), the `Reconciler` (names, changes,
//!   the removal grace) and the directory / several-files source; imports `config`, `gate`, `clock`.
//! - `kube_watch`: the ConfigMap source and the label-selector source, watched with kube-rs; imports `reload`,
//!   `config`, `gate`.
//!
//! The entry, which nothing above imports:
//! - `cli`: clap subcommands and flags, and nothing else; reads `gate`'s and `jwks`' settings only for their
//!   defaults.
//! - `cmd`: one module per subcommand (`serve`, `dev`, `check`, `schema`, `explain`): flags → settings, then start the parts;
//!   may import any module.
//! - `explain`: `authgate explain`, the gate's decision for one request narrated step by step; builds a `Gate` as
//!   `serve` does and renders with `contracts::forward`; may import any module.
//! - `dev`: the embedded issuers of `authgate dev` (throw-away keys, their JWKS, tokens, two AuthConfigs); imports
//!   only leaves.
#![forbid(unsafe_code)]

pub mod admission;
pub mod alg;
pub mod authn;
#[cfg(test)]
mod boundary_tests;
pub mod cache_control;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod contracts;
pub mod dev;
pub mod explain;
pub mod gate;
pub mod grpc;
pub mod hash;
pub mod http1;
pub mod jwks;
pub mod kube_watch;
pub mod listeners;
pub mod metrics;
pub mod net;
pub mod observe;
pub mod reload;
pub mod strict_json;
pub mod telemetry;
pub mod tls;
