//! JWT mode, compiled: the key source (a JWKS URL, or a fixed key from its material), where the token is read,
//! where the claims are, audience, issuer and the bounded leeway.

use std::net::IpAddr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use url::Url;

use super::error::{LoadError, invalid_header_name};
use super::key::{KeyProblem, fixed_key};
use super::{Compiler, DEFAULT_LEEWAY_SECS, MAX_ALLOWED_SKEW_SECS};
use crate::config::compiled::{ClaimsSpec, JwtKeySource, JwtMode, Mode, TokenLocation};
use crate::config::model::{
    JwtAlgorithm, JwtClaimsConfig, JwtConfig, JwtKey, JwtKeyConfig, JwtTokenLocation,
};
use crate::config::session_rules::HASURA_PREFIX;

/// Shortest HMAC secret that does not draw a warning (RFC 8725 §3.5).
const MIN_HMAC_SECRET_BYTES: usize = 32;

impl Compiler<'_> {
    pub(super) fn jwt(&mut self, j: JwtConfig, path: &str) -> Mode {
        let key = match j.key {
            JwtKey::JwkFromUrl(u) => {
                self.check_jwks_url(&u, &format!("{path}.key.jwkFromUrl"));
                JwtKeySource::JwksUrl(u)
            }
            JwtKey::Fixed(f) => self.fixed(f, &format!("{path}.key.fixed")),
        };
        let token_location = match j.token_location {
            JwtTokenLocation::BearerAuthorization(_) => TokenLocation::Bearer,
            JwtTokenLocation::Cookie(n) => {
                let bad = n.name.is_empty()
                    || n.name
                        .bytes()
                        .any(|b| b <= b' ' || b >= 0x7f || b"=;,\"".contains(&b));
                if bad {
                    self.errors.push(LoadError::at(
                        format!("{path}.tokenLocation.name"),
                        format!("{:?} is not a valid cookie name", n.name),
                    ));
                }
                TokenLocation::Cookie(n.name)
            }
            JwtTokenLocation::Header(n) => {
                if http::HeaderName::from_bytes(n.name.as_bytes()).is_err() {
                    self.errors.push(LoadError::at(
                        format!("{path}.tokenLocation.name"),
                        invalid_header_name(&n.name),
                    ));
                }
                TokenLocation::Header(n.name)
            }
        };
        let claims = match j.claims_config {
            JwtClaimsConfig::Namespace(ns) => ClaimsSpec::Namespace {
                format: ns.claims_format,
                location: ns.location,
            },
            JwtClaimsConfig::Locations(map) => {
                // Two custom claims that differ only in case would collide as headers on every token.
                let mut seen: Vec<String> = Vec::new();
                for (name, _) in &map.custom {
                    let lower = name.to_lowercase();
                    if lower.starts_with(HASURA_PREFIX) && seen.contains(&lower) {
                        self.errors.push(LoadError::at(
                            format!("{path}.claimsConfig.locations.{name}"),
                            format!("claim {name} collides with another claim after lower-casing"),
                        ));
                    }
                    seen.push(lower);
                }
                ClaimsSpec::Locations(map)
            }
        };
        Mode::Jwt(Arc::new(JwtMode {
            key,
            token_location,
            claims,
            audience: j.audience,
            issuer: j.issuer,
            leeway: self.leeway(j.allowed_skew, &format!("{path}.allowedSkew")),
        }))
    }

    /// A fixed key. A missing environment variable was already reported by `env_value`.
    fn fixed(&mut self, f: JwtKeyConfig, path: &str) -> JwtKeySource {
        let rejected = |algorithm| JwtKeySource::Fixed {
            algorithm,
            key: DecodingKey::from_secret(b""),
        };
        let Some(algorithm) = algorithm(f.algorithm) else {
            self.errors.push(LoadError::at(
                format!("{path}.algorithm"),
                format!("{:?} is not an algorithm authgate verifies", f.algorithm),
            ));
            return rejected(Algorithm::HS256);
        };
        let kpath = format!("{path}.key");
        let material = self.env_value(f.key, &kpath);
        let parsed = match &material {
            Some(m) => fixed_key(algorithm, &m.text),
            None => Ok(DecodingKey::from_secret(
                b"placeholder for a config that is rejected",
            )),
        };
        // Where a message about the key goes, and how it names the value: a literal key by its field, a key from the
        // environment by its variable too. No message holds the key, a part of it or its length.
        let var = material.as_ref().and_then(|m| m.env.as_deref());
        let (at, from) = match var {
            Some(var) => (
                format!("{kpath}.valueFromEnv"),
                format!(" (environment variable {var})"),
            ),
            None => (kpath.clone(), String::new()),
        };
        let problem = match parsed {
            Ok(key) => {
                if crate::alg::is_hmac(algorithm)
                    && material
                        .as_ref()
                        .is_some_and(|m| m.text.len() < MIN_HMAC_SECRET_BYTES)
                {
                    self.warnings.push(format!(
                        "{at}: the {algorithm:?} secret{from} is shorter than the recommended \
                         {MIN_HMAC_SECRET_BYTES} bytes; use at least {MIN_HMAC_SECRET_BYTES} random bytes \
                         (RFC 8725 §3.5)"
                    ));
                }
                return JwtKeySource::Fixed { algorithm, key };
            }
            Err(problem) => problem,
        };
        let msg = match (problem, var) {
            (KeyProblem::EmptySecret, _) => format!("the {algorithm:?} secret{from} is empty"),
            // From the environment: one verdict for every way a PEM can be wrong.
            (KeyProblem::Pem(_), Some(_)) => format!(
                "not a valid public key PEM for {algorithm:?}{from}: the variable does not hold one (its value is \
                 not shown)"
            ),
            (KeyProblem::Pem(why), None) => {
                format!("not a valid public key PEM for {algorithm:?}: {why}")
            }
        };
        self.errors.push(LoadError::at(at, msg));
        rejected(algorithm)
    }

    /// `allowedSkew`, bounded: it is added to and subtracted from the clock on every request.
    fn leeway(&mut self, allowed_skew: Option<u64>, path: &str) -> u64 {
        match allowed_skew {
            None => DEFAULT_LEEWAY_SECS,
            Some(s) if s <= MAX_ALLOWED_SKEW_SECS => s,
            Some(s) => {
                self.errors.push(LoadError::at(
                    path,
                    format!(
                        "{s} seconds is too much clock skew; at most {MAX_ALLOWED_SKEW_SECS} are accepted (a larger \
                         skew only widens the window in which an expired token is still accepted)"
                    ),
                ));
                DEFAULT_LEEWAY_SECS
            }
        }
    }

    fn check_jwks_url(&mut self, u: &Url, path: &str) {
        match u.scheme() {
            "https" => {}
            "http" if self.opts.insecure_jwks_http || is_loopback(u) => {}
            "http" => self.errors.push(LoadError::at(
                path,
                format!(
                    "{u} uses plain http; a JWKS must be fetched over https:// (http:// is allowed for loopback \
                     hosts, or for any host with --insecure-jwks-http)"
                ),
            )),
            other => self.errors.push(LoadError::at(path, format!("unsupported URL scheme `{other}` for a JWKS"))),
        }
        if u.host().is_none() {
            self.errors
                .push(LoadError::at(path, format!("{u} has no host")));
        }
    }
}

/// The algorithm a config names: the model's serde name is its JOSE name.
pub(super) fn algorithm(a: JwtAlgorithm) -> Option<Algorithm> {
    match serde_json::to_value(a) {
        Ok(Value::String(name)) => crate::alg::by_name(&name),
        _ => None,
    }
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
