//! authgate: a forward-auth service for ingress proxies.
//!
//! A proxy (NGINX `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, Envoy/Istio `ext_authz`) asks, for
//! every client request, whether it may pass and as whom. authgate reads a Hasura DDN-style AuthConfig (v1–v4),
//! validates the request's token (JWT with a fixed key or a JWKS, a webhook, or noAuth) and answers `200` with
//! `x-hasura-*` session headers, `401`/`403`, or `503` when a dependency is down.
//!
//! Layout: `config` turns text into a validated, compiled config (the one loading path, shared by `check`,
//! reloads and admission). Domain modules never name an HTTP framework or the Kubernetes client.
#![forbid(unsafe_code)]

pub mod admission;
pub mod alg;
pub mod authn;
pub mod cache_control;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod contracts;
pub mod gate;
pub mod hash;
pub mod jwks;
pub mod kube_watch;
pub mod listeners;
pub mod metrics;
pub mod observe;
pub mod reload;
pub mod strict_json;
