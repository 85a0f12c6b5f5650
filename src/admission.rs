//! The admission webhook: `POST /validate` answers an AdmissionReview v1 for a ConfigMap carrying the
//! chart's label, using the same loader as the server, with the loader's errors as the denial message and its
//! warnings as warnings. With `--configmap-selector` (multi-config mode) the webhook's objectSelector is the
//! selector, so every ConfigMap sent is an AuthConfig, and the config name it gives (its `authgate.io/config-name`
//! annotation, else its name) must be a valid config name as well. (Two ConfigMaps claiming one name cannot be seen
//! from a single review: the watch reports that as a load error of both.) Served over rustls; the certificate and key are re-read when their files change (`tls`), so
//! a rotated Secret (cert-manager) takes effect without a restart.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use crate::config::name::check_name;
use crate::config::{LoadOptions, load_str};
use crate::kube_watch::selector::{NAME_ANNOTATION, config_name};
use crate::observe::{InternalError, Observer, ReviewResult};
use crate::tls::ReloadingCert;

/// The label that marks a ConfigMap as an AuthConfig (the webhook's objectSelector uses it too).
pub const LABEL: &str = "authgate.io/authconfig";

/// Which ConfigMaps a review judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only those carrying [`LABEL`]`=true` (single-config mode); others are allowed unread.
    Labelled,
    /// Every one sent (multi-config mode: the objectSelector chose them), config name included.
    Every,
}

/// Largest review body read.
const MAX_REVIEW_BYTES: usize = 3 * 1024 * 1024;

/// Review one AdmissionReview body as single-config mode does; always returns a well-formed review (never an HTTP
/// error).
pub fn review(
    body: &[u8],
    opts: &LoadOptions,
    key: &str,
    observer: &dyn Observer,
) -> serde_json::Value {
    review_in(body, opts, key, Scope::Labelled, observer)
}

/// Review one AdmissionReview body for the ConfigMaps of `scope`; always returns a well-formed review.
pub fn review_in(
    body: &[u8],
    opts: &LoadOptions,
    key: &str,
    scope: Scope,
    observer: &dyn Observer,
) -> serde_json::Value {
    // JSON is UTF-8 (RFC 8259 §8.1), and the API server sends nothing else. Checked on the whole body first:
    // serde_json skips the contents of fields the types ignore without validating them, so a body with a stray
    // byte in an ignored place would otherwise pass as a review.
    let (resp, result) = match std::str::from_utf8(body)
        .map_err(|e| format!("the body is not UTF-8: {e}"))
        .and_then(|text| {
            serde_json::from_str::<AdmissionReview<ConfigMap>>(text).map_err(|e| e.to_string())
        })
        .and_then(|r| {
            let req: Result<AdmissionRequest<ConfigMap>, _> = r.try_into();
            req.map_err(|e| e.to_string())
        }) {
        Err(e) => (
            AdmissionResponse::invalid(format!("not an AdmissionReview v1: {e}")),
            ReviewResult::Invalid,
        ),
        Ok(req) => decide(&req, opts, key, scope),
    };
    observer.admission_review(result);
    let uid = resp.uid.clone();
    review_value(serde_json::to_value(resp.into_review()), &uid, observer)
}

/// The review to send: the serialised answer, or, when it could not be serialised, a logged and counted refusal
/// for the same request (the API server then rejects the object rather than being told nothing).
fn review_value(
    rendered: Result<serde_json::Value, serde_json::Error>,
    uid: &str,
    observer: &dyn Observer,
) -> serde_json::Value {
    match rendered {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "admission answer could not be serialised");
            observer.internal_error(InternalError::AdmissionRender);
            serde_json::json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": uid,
                    "allowed": false,
                    "status": {
                        "code": 500,
                        "message": "authgate could not serialise its answer to this review",
                    },
                },
            })
        }
    }
}

fn decide(
    req: &AdmissionRequest<ConfigMap>,
    opts: &LoadOptions,
    key: &str,
    scope: Scope,
) -> (AdmissionResponse, ReviewResult) {
    let resp = AdmissionResponse::from(req);
    if matches!(req.operation, Operation::Delete | Operation::Connect) {
        return (resp, ReviewResult::Allowed);
    }
    let Some(cm) = &req.object else {
        return (resp, ReviewResult::Allowed);
    };
    let labelled = cm
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.get(LABEL).is_some_and(|v| v == "true"));
    if scope == Scope::Labelled && !labelled {
        return (resp, ReviewResult::Allowed);
    }
    if scope == Scope::Every
        && let Err(e) = check_name(&config_name(cm))
    {
        return (
            resp.deny(format!(
                "{e}; name the config with the `{NAME_ANNOTATION}` annotation (a DNS label)"
            )),
            ReviewResult::Denied,
        );
    }
    let Some(text) = cm.data.as_ref().and_then(|d| d.get(key)) else {
        return (
            resp.deny(format!("the AuthConfig ConfigMap has no key `{key}`")),
            ReviewResult::Denied,
        );
    };
    match load_str(text, opts) {
        Ok(loaded) => {
            let mut resp = resp;
            if !loaded.warnings.is_empty() {
                resp.warnings = Some(loaded.warnings);
            }
            (resp, ReviewResult::Allowed)
        }
        Err(errors) => (
            resp.deny(format!("AuthConfig in `{key}` does not load: {errors}")),
            ReviewResult::Denied,
        ),
    }
}

/// A running admission listener.
pub struct Admission {
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Admission {
    /// Stop: in-flight reviews finish, then the listener and its task end.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.task.abort();
    }
}

/// Start the admission listener on `addr`.
pub async fn start(
    addr: &str,
    cert: PathBuf,
    key: PathBuf,
    opts: LoadOptions,
    configmap_key: String,
    scope: Scope,
    observer: Arc<dyn Observer>,
) -> anyhow::Result<Admission> {
    let resolver = ReloadingCert::load(cert, key)?;
    let tls = crate::tls::server_config(resolver.clone(), None, &[])?;
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(admission = %listener.local_addr()?, "admission webhook listening (TLS)");
    let state = web::Data::new((opts, configmap_key, scope, observer));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(MAX_REVIEW_BYTES))
            .route("/validate", web::post().to(validate))
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, tls)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(async move {
        let watcher = tokio::spawn(resolver.watch("admission"));
        if let Err(e) = server.await {
            tracing::error!(error = %e, "admission webhook server ended with an error");
        }
        watcher.abort();
    });
    Ok(Admission { handle, task })
}

async fn validate(
    body: web::Bytes,
    state: web::Data<(LoadOptions, String, Scope, Arc<dyn Observer>)>,
) -> HttpResponse {
    let (opts, key, scope, observer) = state.get_ref();
    HttpResponse::Ok().json(review_in(&body, opts, key, *scope, observer.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    /// Found by the `admission_review` fuzz target (fuzz/regressions/admission_review/non-utf8-in-an-ignored-field.json):
    /// a byte that is not UTF-8 inside a field the review types ignore (here a misspelt `labels`) was skipped
    /// unchecked, and the body, which is not JSON, was answered as a review of an unlabelled ConfigMap: allowed.
    #[test]
    fn a_body_that_is_not_utf8_is_never_allowed() {
        let mut body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",
            "kind":{"group":"","version":"v1","kind":"ConfigMap"},
            "resource":{"group":"","version":"v1","resource":"configmaps"},
            "name":"c","namespace":"auth","operation":"CREATE","userInfo":{"username":"alice"},
            "object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"auth",
            "la)els":{"authgate.io/authcXnfig":"true"}},"data":{}},"dryRun":false}}"#
            .to_vec();
        let valid = review(
            &body,
            &LoadOptions::default(),
            "authconfig.yaml",
            &Metrics::new(),
        );
        assert_eq!(
            valid.pointer("/response/allowed"),
            Some(&serde_json::Value::Bool(true)),
            "the UTF-8 twin is a review of an unlabelled ConfigMap: {valid}"
        );
        let at = body.windows(5).position(|w| w == b"authc").expect("marker") + 5;
        body[at] = 0xff;
        let answer = review(
            &body,
            &LoadOptions::default(),
            "authconfig.yaml",
            &Metrics::new(),
        );
        assert_eq!(
            answer.pointer("/response/allowed"),
            Some(&serde_json::Value::Bool(false)),
            "{answer}"
        );
        let message = answer
            .pointer("/response/status/message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        assert!(message.contains("not UTF-8"), "{answer}");
    }

    #[test]
    fn an_unserialisable_answer_is_a_counted_refusal() {
        let metrics = Metrics::new();
        let err = serde_json::from_str::<serde_json::Value>("not json")
            .expect_err("not JSON does not parse");
        let answer = review_value(Err(err), "uid-1", &metrics);
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["response"]["uid"], "uid-1");
        assert_eq!(answer["response"]["allowed"], false);
        assert!(answer["response"]["status"]["message"].is_string());
        assert_eq!(
            metrics.internal_error_count(InternalError::AdmissionRender),
            1
        );
        let fine = review_value(Ok(serde_json::json!({"a": 1})), "uid-2", &metrics);
        assert_eq!(fine, serde_json::json!({"a": 1}));
        assert_eq!(
            metrics.internal_error_count(InternalError::AdmissionRender),
            1
        );
    }
}
