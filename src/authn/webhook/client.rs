//! The network client that carries a [`HookRequest`] to the hook and its answer back: one shared reqwest client,
//! concurrent calls bounded by a semaphore so a slow hook cannot make us open unbounded connections, one timeout
//! over the whole call (the wait for a permit included), and the outcome reported to the observer.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::answer::{HookAnswer, identity_from_answer, judge_head};
use super::request::HookRequest;
use super::unavailable;
use crate::authn::reason::{Deny, Reason};
use crate::clock::Clock;
use crate::config::compiled::{HookMethod, WebhookMode};
use crate::net::{self, BodyError};
use crate::observe::{HookResult, Observer};
use crate::telemetry;

/// Largest hook answer read.
pub const MAX_BODY: usize = 1024 * 1024;

/// The webhook client could not be built. Its text is the cause's, followed by the causes under it: reqwest's own
/// text for a build failure is only "builder error".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(String);

impl ClientError {
    fn new(e: &reqwest::Error) -> Self {
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        Self(text)
    }
}

/// The shared webhook client.
pub struct WebhookClient {
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    timeout: Duration,
    observer: Arc<dyn Observer>,
    clock: Arc<dyn Clock>,
}

impl WebhookClient {
    /// One client with at most `max_connections` concurrent calls, each bounded by `timeout` (waiting included).
    /// A call's duration, reported to `observer`, is measured on `clock`.
    pub fn new(
        timeout: Duration,
        max_connections: usize,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .timeout(timeout)
            .pool_max_idle_per_host(max_connections)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::new(&e))?;
        Ok(Self {
            http,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            timeout,
            observer,
            clock,
        })
    }

    /// Call the hook and read its answer. `emulation_by` is v1's `allowRoleEmulationBy`.
    pub async fn call(
        &self,
        mode: &WebhookMode,
        hook: &HookRequest,
        emulation_by: Option<&str>,
    ) -> Result<HookAnswer, Deny> {
        let started = self.clock.instant();
        let span = telemetry::client_span("authgate.webhook");
        let inner = tracing::Instrument::instrument(
            self.call_inner(mode, hook, emulation_by),
            span.clone(),
        );
        let res = tokio::time::timeout(self.timeout, inner).await.unwrap_or_else(|_| {
            Err(unavailable(format!(
                "Error while making the authentication HTTP request to the webhook - timed out after {:?}",
                self.timeout
            )))
        });
        let result = match &res {
            Ok(_) => HookResult::Allow,
            Err(d) if d.reason == Reason::WebhookDenied => HookResult::Deny,
            Err(_) => HookResult::Error,
        };
        if !span.is_disabled() {
            span.record("authgate.result", result.as_str());
            telemetry::record_client(&span, None, result == HookResult::Error);
        }
        self.observer.webhook_call(
            result,
            self.clock
                .instant()
                .saturating_duration_since(started)
                .as_secs_f64(),
        );
        res
    }

    async fn call_inner(
        &self,
        mode: &WebhookMode,
        hook: &HookRequest,
        emulation_by: Option<&str>,
    ) -> Result<HookAnswer, Deny> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| unavailable("webhook client closed"))?;
        // The hook only decides, so sending it the same request twice is harmless; the repeat counts against the
        // same timeout.
        let sent = net::send_resending_once(self.request(mode, hook), |e| {
            let e = e.without_url();
            tracing::debug!(error = %e, "webhook connection closed before an answer; sending again");
        })
        .await;
        // `without_url`: reqwest's message would quote the URL, which can come from the environment and carry
        // credentials; this text reaches the client's 503 body and the logs.
        let resp = sent.map_err(|e| {
            unavailable(format!(
                "Error while making the authentication HTTP request to the webhook - {}",
                e.without_url()
            ))
        })?;
        let max_age = judge_head(resp.status(), resp.headers())?;
        let body = net::read_body(resp, MAX_BODY).await.map_err(|e| match e {
            BodyError::TooLarge(max) => unavailable(format!(
                "Reqwest error: the webhook response is larger than {max} bytes"
            )),
            BodyError::Read(e) => unavailable(format!("Reqwest error: {}", e.without_url())),
        })?;
        let identity = identity_from_answer(&body, emulation_by)?;
        Ok(HookAnswer { identity, max_age })
    }

    fn request(&self, mode: &WebhookMode, hook: &HookRequest) -> reqwest::RequestBuilder {
        let method = match hook.method {
            HookMethod::Get => reqwest::Method::GET,
            HookMethod::Post => reqwest::Method::POST,
        };
        let mut rb = self.http.request(method, mode.url.clone());
        // Traced: the hook gets authgate's own trace context (of the webhook span, current here), never the
        // client's. Untraced, the configured forwarding is left as it is.
        let traced = telemetry::enabled();
        for (n, v) in &hook.headers {
            if traced && telemetry::is_trace_header(n.as_str()) {
                continue;
            }
            rb = rb.header(n.as_str(), v.as_bytes());
        }
        for (n, v) in telemetry::inject_current() {
            rb = rb.header(n, v);
        }
        if let Some(b) = &hook.body {
            rb = rb.body(b.clone());
        }
        rb
    }
}
