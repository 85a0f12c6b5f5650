//! One GET of a key set: the HTTP client (built once per registry from the JWKS settings: connect and total
//! timeouts, no redirects, authgate's user agent), the status and size checks, and the endpoint's `max-age`.

use std::collections::HashMap;
use std::time::Duration;

use url::Url;

use super::JwksSettings;
use super::parse::{JwkEntry, parse_jwks};
use crate::{net, telemetry};

/// The JWKS HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the JWKS HTTP client: {0}")]
pub struct ClientError(String);

/// Why a fetch failed (logged and counted; the last good set stays).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport.
    #[error("request failed: {0}")]
    Http(String),
    /// Non-200.
    #[error("unexpected status {0}")]
    Status(u16),
    /// Over the size limit.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// Not a JWKS.
    #[error("not a JWKS document: {0}")]
    Parse(String),
    /// More keys than allowed.
    #[error("{0} keys; at most {1} are accepted")]
    TooManyKeys(usize, usize),
    /// Nothing usable.
    #[error("no usable signing key in the set")]
    NoUsableKey,
}

/// The HTTP client of the JWKS sources (cheap to clone: clones share one connection pool).
#[derive(Clone)]
pub struct JwksClient {
    http: reqwest::Client,
}

impl JwksClient {
    pub fn new(settings: &JwksSettings) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self { http })
    }

    /// Fetch, parse and filter the set at `url`. Returns it and the `max-age` the endpoint asked for, if any. Traced
    /// as a client span: a child of the decision that forced the refresh, else a trace of its own.
    pub(super) async fn fetch(
        &self,
        url: &Url,
        settings: &JwksSettings,
    ) -> Result<(HashMap<String, JwkEntry>, Option<Duration>), FetchError> {
        let span = telemetry::client_span("authgate.jwks_fetch");
        let res =
            tracing::Instrument::instrument(self.fetch_untraced(url, settings), span.clone()).await;
        let status = match &res {
            Ok(_) => Some(200),
            Err(FetchError::Status(s)) => Some(*s),
            Err(_) => None,
        };
        telemetry::record_client(&span, status, res.is_err());
        res
    }

    async fn fetch_untraced(
        &self,
        url: &Url,
        settings: &JwksSettings,
    ) -> Result<(HashMap<String, JwkEntry>, Option<Duration>), FetchError> {
        // A GET of a key set is harmless to send again when a pooled connection closed before any answer.
        let resp = net::send_resending_once(
            self.http
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(settings.timeout),
            |e| tracing::debug!(url = %url, error = %e, "JWKS connection closed before an answer; fetching again"),
        )
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let body = net::read_body(resp, settings.max_body)
            .await
            .map_err(|e| match e {
                net::BodyError::TooLarge(max) => FetchError::TooLarge(max),
                net::BodyError::Read(e) => FetchError::Http(e.to_string()),
            })?;
        let set = parse_jwks(&body, settings.max_keys)?;
        Ok((set, max_age))
    }
}

/// `max-age=N` from a `Cache-Control` value (`no-store`/`no-cache` mean "as soon as allowed": the lower clamp).
fn parse_max_age(v: &str) -> Option<Duration> {
    let cc = crate::cache_control::parse(v);
    if cc.no_store {
        Some(Duration::ZERO)
    } else {
        cc.max_age.map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_parsing() {
        assert_eq!(
            parse_max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
    }
}
