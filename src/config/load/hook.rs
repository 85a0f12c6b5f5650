//! Webhook mode, compiled from the one shape every version is normalised into: the URL (decoded, literal or from
//! the environment) and `customHeadersConfig` with its header names and values checked.

use url::Url;

use super::Compiler;
use super::env::Resolved;
use super::error::{LoadError, invalid_header_name};
use super::normalize::{HookSpec, HookUrl};
use crate::config::compiled::{
    Forward, HookCustom, HookHeaders, HookMethod, WebhookMode, never_forwarded,
};
use crate::config::model::{AllOrList, AuthHookConfigV3Headers};

/// The error for a webhook URL that parses but is not usable. The URL is not repeated: it may carry credentials.
const HOOK_URL_REQUIRED: &str =
    "Invalid URL for auth webhook: an http:// or https:// URL with a host is required";

impl Compiler<'_> {
    pub(super) fn webhook(&mut self, h: HookSpec, path: &str) -> WebhookMode {
        let method = h.method;
        let custom = h.custom.map(|c| {
            if method == HookMethod::Get && c.body.is_some() {
                self.errors.push(LoadError::at(
                    format!("{path}.customHeadersConfig.body"),
                    "unknown field `body`: only a POST webhook has a body",
                ));
            }
            HookCustom {
                headers: c.headers.map(|h| {
                    self.hook_headers(h, &format!("{path}.customHeadersConfig.headers"), true)
                }),
                body_headers: c.body.and_then(|b| b.headers).map(|h| {
                    self.hook_headers(
                        h,
                        &format!("{path}.customHeadersConfig.body.headers"),
                        false,
                    )
                }),
            }
        });
        let url = self.hook_url(h.url, &format!("{path}.url"));
        WebhookMode {
            method,
            url,
            custom,
        }
    }

    fn hook_url(&mut self, url: HookUrl, path: &str) -> Url {
        let (parsed, var) = match url {
            HookUrl::Decoded(u) => (Ok(u), None),
            HookUrl::Written(v) => match self.env_value(v, path) {
                Some(Resolved { text, env }) => (Url::parse(&text), env),
                None => return placeholder_url(),
            },
        };
        let error = match (parsed, var) {
            (Ok(u), _) if is_hook_url(&u) => return u,
            (Ok(_), None) => LoadError::at(path, HOOK_URL_REQUIRED),
            // The parser's reason is one of a fixed set of texts ("invalid port number", ...) and never holds the
            // input; the URL itself is not repeated (it may carry credentials).
            (Err(e), None) => LoadError::at(path, format!("Invalid URL for auth webhook: {e}")),
            // From the environment: one verdict, whatever went wrong, so that a review or a log line can never
            // tell more about the variable than that it does not hold a webhook URL.
            (_, Some(var)) => LoadError::at(
                format!("{path}.valueFromEnv"),
                format!(
                    "Invalid URL for auth webhook: environment variable {var} does not hold an http:// or https:// \
                     URL with a host (its value is not shown)"
                ),
            ),
        };
        self.errors.push(error);
        placeholder_url()
    }

    /// `as_http`: these become HTTP headers of the hook call (not entries of the POST body's `headers` object), so
    /// a hop-by-hop or framing name in them is never sent, and a warning says so.
    fn hook_headers(
        &mut self,
        h: AuthHookConfigV3Headers,
        path: &str,
        as_http: bool,
    ) -> HookHeaders {
        let mut msgs = Vec::new();
        let forward = match h.forward.unwrap_or(AllOrList::All) {
            AllOrList::All => Forward::All,
            AllOrList::List(names) => Forward::List(
                names
                    .iter()
                    .filter_map(|n| match http::HeaderName::from_bytes(n.as_bytes()) {
                        Ok(h) => Some(h),
                        Err(_) => {
                            msgs.push(invalid_header_name(n));
                            None
                        }
                    })
                    .collect(),
            ),
        };
        let mut additional = Vec::new();
        for (name, value) in h.additional.unwrap_or_default() {
            let n = http::HeaderName::from_bytes(name.as_bytes());
            let v = http::HeaderValue::from_str(&value);
            match (n, v) {
                (Ok(n), Ok(v)) => additional.push((n, v)),
                (n, v) => {
                    if n.is_err() {
                        msgs.push(invalid_header_name(&name));
                    }
                    if v.is_err() {
                        let (value, name) = (value.escape_debug(), name.escape_debug());
                        msgs.push(format!(
                            "Header value '{value}' is not a valid header value for header '{name}' in the auth config"
                        ));
                    }
                }
            }
        }
        if !msgs.is_empty() {
            self.errors.push(LoadError::at(path, msgs.join("\n")));
        }
        if as_http {
            let listed = match &forward {
                Forward::All => Vec::new(),
                Forward::List(names) => names.iter().map(|n| ("forward", n)).collect(),
            };
            for (field, name) in listed
                .into_iter()
                .chain(additional.iter().map(|(n, _)| ("additional", n)))
            {
                if never_forwarded(name.as_str()) {
                    self.warnings.push(format!(
                        "{path}.{field}: {name} is a hop-by-hop or framing header and is never sent to the webhook"
                    ));
                }
            }
        }
        HookHeaders {
            forward,
            additional,
        }
    }
}

fn is_hook_url(u: &Url) -> bool {
    matches!(u.scheme(), "http" | "https") && u.host().is_some()
}

/// Never served: stands in for a URL that failed to load, in a config that is rejected anyway.
fn placeholder_url() -> Url {
    Url::parse("http://invalid.invalid/").expect("a constant URL parses")
}
