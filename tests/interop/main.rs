//! Interop with real proxies (issue 5): NGINX (`auth_request`), Caddy (`reverse_proxy` + `handle_response`, the
//! expanded form of `forward_auth`) and Envoy (HTTP `ext_authz`), each run from the very configuration file in
//! `deploy/proxies/` that the README shows, in front of an upstream that records what it receives, with the real
//! `authgate serve` as the auth service and a local JWKS server. Everything listens on 127.0.0.1; every wait has a
//! deadline; every process started here is stopped by a Drop guard.
//!
//! A proxy binary that is not installed skips that proxy's tests with a loud message, except when `CI` is set, where
//! it fails them (`.ci/run` installs all three). `AUTHGATE_TEST_NGINX`, `AUTHGATE_TEST_CADDY` and
//! `AUTHGATE_TEST_ENVOY` point the tests at another binary.
//!
//! `readme::readme_proxy_snippets_are_the_deploy_files` checks that the README's proxy snippets are byte for byte
//! the files in `deploy/proxies/`.
//!
//! Modules: [`discovery`] finds the proxy binaries, [`proxy`] runs one from its deploy file, [`stack`] puts
//! authgate, an upstream and a proxy together, [`scenarios`] holds what every proxy must do, [`readme`] the
//! README check. The hand-written HTTP client the scenarios send with is `common::raw`.

#[path = "../common/mod.rs"]
mod common;
mod discovery;
mod proxy;
mod readme;
mod scenarios;
mod stack;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

macro_rules! interop_tests {
    ($($module:ident => $kind:expr),* $(,)?) => {$(
        mod $module {
            use super::discovery::Kind;
            use super::scenarios::*;

            #[test]
            fn valid_token_reaches_the_upstream_with_its_session() {
                valid_token($kind);
            }

            #[test]
            fn bearer_token_works_too() {
                bearer_token($kind);
            }

            #[test]
            fn no_token_is_401_with_www_authenticate() {
                no_token($kind);
            }

            #[test]
            fn disallowed_role_is_403_and_allowed_role_switches() {
                role_choice($kind);
            }

            #[test]
            fn jwks_unreachable_at_start_is_5xx() {
                jwks_down($kind);
            }

            #[test]
            fn clerk_session_cookie_not_first() {
                clerk_cookie($kind);
            }

            #[test]
            fn head_post_and_query_strings_behave_like_get() {
                methods_and_queries($kind);
            }

            #[test]
            fn client_hasura_headers_never_reach_the_upstream() {
                no_spoofing($kind);
            }
        }
    )*};
}

interop_tests! {
    nginx => Kind::Nginx,
    caddy => Kind::Caddy,
    envoy => Kind::Envoy,
}
