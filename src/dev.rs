//! The embedded issuer of `authgate dev`: an RSA key made at start, its public JWKS, Clerk-shaped tokens signed with
//! it and the AuthConfig that trusts it; and the minimal Envoy configuration that tries the gRPC listener. For
//! development only; the key never leaves the process.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::clock::unix_now;

const KID: &str = "authgate-dev-key";

/// The embedded issuer: a key pair and its public JWKS.
pub struct DevIssuer {
    key: KeyPair,
    /// The issuer URL (`iss`), also where the JWKS is served.
    pub issuer: String,
}

impl DevIssuer {
    /// A fresh RSA-2048 key.
    pub fn generate(issuer: String) -> anyhow::Result<Self> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
        Ok(Self { key, issuer })
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let pk = self.key.public_key();
        let n = URL_SAFE_NO_PAD.encode(pk.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(pk.exponent().big_endian_without_leading_zero());
        json!({"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": n, "e": e}]})
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
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
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

/// A minimal Envoy bootstrap for trying the gRPC listener at `grpc` (`host:port`): Envoy on [`ENVOY_DEV_LISTEN`]
/// asks authgate over gRPC `ext_authz` (raw headers, failing closed with `503`), then answers every allowed request
/// itself, echoing the session headers it would have sent upstream; a denial is authgate's, status, headers and body.
pub fn envoy_bootstrap(grpc_host: &str, grpc_port: u16) -> String {
    let (host, port) = ENVOY_DEV_LISTEN;
    format!(
        r#"# Envoy in front of `authgate dev` (development only): every request is checked by authgate over gRPC
# ext_authz; an allowed one is answered by Envoy itself, with the session headers it would send upstream echoed.
# Run: envoy -c THIS_FILE   then send the curl lines that authgate dev printed to http://{host}:{port}/
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
              - match: {{prefix: "/"}}
                direct_response: {{status: 200, body: {{inline_string: "allowed by authgate\n"}}}}
                response_headers_to_add:
                - header: {{key: x-hasura-role, value: "%REQ(x-hasura-role)%"}}
                - header: {{key: x-hasura-user-id, value: "%REQ(x-hasura-user-id)%"}}
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
