//! The embedded issuers of `authgate dev`: each an RSA key made at start, its public JWKS, Clerk-shaped tokens signed
//! with it and the AuthConfig that trusts it; and the minimal Envoy configuration that tries the gRPC listener, one
//! route per config. For development only; the keys never leave the process.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::clock::unix_now;

/// An embedded issuer: a key pair and its public JWKS.
pub struct DevIssuer {
    key: KeyPair,
    /// The issuer URL (`iss`), also where the JWKS is served.
    pub issuer: String,
    /// The key's id: distinct per issuer, as real issuers' are, so a token names a key the other issuer's key set
    /// does not hold.
    kid: String,
}

impl DevIssuer {
    /// A fresh RSA-2048 key, known as `kid`.
    pub fn generate(issuer: String, kid: String) -> anyhow::Result<Self> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
        Ok(Self { key, issuer, kid })
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let pk = self.key.public_key();
        let n = URL_SAFE_NO_PAD.encode(pk.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(pk.exponent().big_endian_without_leading_zero());
        json!({"keys": [{"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": n, "e": e}]})
    }

    /// A Clerk-template-shaped RS256 token for `user_id` with Hasura claims, valid for `ttl` seconds.
    pub fn token(
        &self,
        user_id: &str,
        default_role: &str,
        allowed: &[&str],
        ttl: u64,
    ) -> anyhow::Result<String> {
        let now = unix_now();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let claims = json!({
            "iss": self.issuer, "sub": user_id, "sid": "sess_dev", "azp": "http://localhost:3000",
            "iat": now, "nbf": now.saturating_sub(5), "exp": now + ttl,
            "claims.jwt.hasura.io": {
                "x-hasura-default-role": default_role,
                "x-hasura-allowed-roles": allowed,
                "x-hasura-user-id": user_id
            }
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| anyhow::anyhow!("signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The Clerk-shaped AuthConfig for this issuer.
    pub fn config(&self) -> String {
        format!(
            "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: {}/.well-known/jwks.json\n      issuer: {}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n",
            self.issuer, self.issuer
        )
    }
}

/// Where the Envoy of [`envoy_bootstrap`] listens.
pub const ENVOY_DEV_LISTEN: (&str, u16) = ("127.0.0.1", 10000);

/// The Envoy route of config `name`: requests under `/<name>/` are checked with `authgate-config: <name>` in the
/// context extensions, then answered by Envoy itself with the session headers it would have sent upstream.
fn envoy_route(name: &str) -> String {
    format!(
        r#"              - match: {{prefix: "/{name}/"}}
                direct_response: {{status: 200, body: {{inline_string: "allowed by authgate (config {name})\n"}}}}
                response_headers_to_add:
                - header: {{key: x-hasura-role, value: "%REQ(x-hasura-role)%"}}
                - header: {{key: x-hasura-user-id, value: "%REQ(x-hasura-user-id)%"}}
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                    check_settings: {{context_extensions: {{authgate-config: {name}}}}}
"#
    )
}

/// A minimal Envoy bootstrap for trying the gRPC listener at `grpc` (`host:port`) in multi-config mode: Envoy on
/// [`ENVOY_DEV_LISTEN`] routes `/<name>/` for each of `configs` to that config (over gRPC `ext_authz`, raw headers,
/// failing closed with `503`), then answers every allowed request itself, echoing the session headers it would have
/// sent upstream; a denial is authgate's, status, headers and body. Any other path is checked without a config name,
/// which authgate refuses (`503 unknown_config`): there is no default config.
pub fn envoy_bootstrap(grpc_host: &str, grpc_port: u16, configs: &[&str]) -> String {
    let (host, port) = ENVOY_DEV_LISTEN;
    let routes: String = configs.iter().map(|n| envoy_route(n)).collect();
    let paths: Vec<String> = configs.iter().map(|n| format!("/{n}/ -> {n}")).collect();
    let paths = paths.join(", ");
    format!(
        r#"# Envoy in front of `authgate dev` (development only): every request is checked by authgate over gRPC
# ext_authz, each route naming its config in the context extensions ({paths}); an allowed request is answered
# by Envoy itself, with the session headers it would send upstream echoed. Any other path names no config: 503.
# Run: envoy -c THIS_FILE   then send the Envoy curl lines that authgate dev printed to http://{host}:{port}/
static_resources:
  listeners:
  - name: ingress
    address: {{socket_address: {{address: {host}, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          common_http_protocol_options: {{headers_with_underscores_action: DROP_HEADER}}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
{routes}              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "allowed by authgate\n"}}}}
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              status_on_error: {{code: ServiceUnavailable}}
              encode_raw_headers: true
              grpc_service:
                envoy_grpc: {{cluster_name: authgate_grpc}}
                timeout: 2s
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: authgate_grpc
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: authgate_grpc
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: "{grpc_host}", port_value: {grpc_port}}}}}}}
"#
    )
}
