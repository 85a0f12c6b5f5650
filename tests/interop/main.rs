//! Interop with real proxies (issues 5 and 13): NGINX (`auth_request`), Caddy (`reverse_proxy` +
//! `handle_response`, the expanded form of `forward_auth`) and three Envoy recipes (HTTP `ext_authz`; HTTP
//! `ext_authz` shaped as Envoy Gateway translates a `SecurityPolicy`; gRPC `ext_authz` to authgate's `--grpc-listen`
//! port), each run from the very configuration file in `deploy/proxies/` that the docs show, in front of an
//! upstream that records what it receives, with the real `authgate serve` as the auth service and a local JWKS
//! server. The spoofing scenario runs again on Envoy 1.36 for each Envoy recipe. Everything listens on 127.0.0.1;
//! every wait has a deadline; every process started here is stopped by a Drop guard.
//!
//! A proxy binary that is not installed skips that proxy's tests with a loud message, except when `CI` is set, where
//! it fails them (`.ci/run` installs them all). `AUTHGATE_TEST_NGINX`, `AUTHGATE_TEST_CADDY`,
//! `AUTHGATE_TEST_ENVOY` and `AUTHGATE_TEST_ENVOY_136` point the tests at another binary.
//!
//! `readme::readme_proxy_snippets_are_the_deploy_files` checks that the proxy snippets in README.md and docs/ are
//! byte for byte the files in `deploy/proxies/`; `readme::readme_and_docs_links_resolve` that their relative links
//! and anchors lead somewhere.
//!
//! Modules: [`discovery`] finds the proxy binaries, [`proxy`] runs one from its deploy file, [`stack`] puts
//! authgate, an upstream and a proxy together, [`scenarios`] holds what every proxy must do,
//! [`envoy_scenarios`] what the Envoy recipes must do besides, [`multi`] multi-config mode (issue 14) behind NGINX
//! and Envoy from their `*-multi` files, [`traces`] one trace across Envoy's OpenTelemetry tracer and authgate
//! (issue 16), [`readme`] the checks of README.md and docs/. The hand-written HTTP
//! client the scenarios send with is `common::raw`.

#[path = "../common/mod.rs"]
mod common;
mod discovery;
mod envoy_scenarios;
mod multi;
mod proxy;
mod readme;
mod scenarios;
mod stack;
mod traces;

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
    envoy => Kind::Envoy(crate::discovery::Recipe::Http),
    envoy_eg_http => Kind::Envoy(crate::discovery::Recipe::EgHttp),
    envoy_grpc => Kind::Envoy(crate::discovery::Recipe::Grpc),
}

/// What every Envoy recipe must do besides.
macro_rules! envoy_tests {
    ($($module:ident => $recipe:ident),* $(,)?) => {$(
        mod $module {
            use super::discovery::{Kind, Recipe};
            use super::envoy_scenarios::*;

            const KIND: Kind = Kind::Envoy(Recipe::$recipe);

            #[test]
            fn denials_carry_authgates_status_headers_and_json_body() {
                denials_carry_authgates_answer(KIND);
            }

            #[test]
            fn jwks_down_is_503_and_nothing_upstream() {
                jwks_down_is_503(KIND);
            }

            #[test]
            fn authgate_stopped_fails_closed_with_503() {
                stopped_authgate_fails_closed(KIND);
            }

            #[test]
            fn headers_with_underscores_are_dropped() {
                underscore_headers_are_dropped(KIND);
            }
        }
    )*};
}

envoy_tests! {
    envoy_only_http => Http,
    envoy_only_eg_http => EgHttp,
    envoy_only_grpc => Grpc,
}

/// What the Envoy Gateway shape does with the names it lists, does not list, or lists in the wrong place.
mod envoy_eg_http_lists {
    use super::discovery::{Kind, Recipe};
    use super::envoy_scenarios::*;

    const KIND: Kind = Kind::Envoy(Recipe::EgHttp);

    #[test]
    fn an_unlisted_hasura_header_reaches_the_upstream_as_the_client_sent_it() {
        eg_unlisted_name_passes_through(KIND);
    }

    #[test]
    fn a_session_header_missing_from_headers_to_ext_auth_can_be_spoofed() {
        eg_name_only_in_headers_to_backend_is_spoofable(KIND);
    }

    #[test]
    fn route_removal_of_a_session_header_deletes_authgates_value_too() {
        eg_route_removal_deletes_the_session_header(KIND);
    }
}

mod envoy_grpc_health {
    use super::discovery::{Kind, Recipe};
    use super::envoy_scenarios::*;

    #[test]
    fn envoy_marks_authgate_unhealthy_while_it_is_not_ready() {
        grpc_health_check_follows_readiness(Kind::Envoy(Recipe::Grpc));
    }
}

/// Envoy 1.36 (an older generation some Istio and Envoy Gateway releases ship): client `x-hasura-*` headers still
/// never reach the upstream, neither as the only value nor as a second one.
mod envoy_1_36 {
    use super::discovery::{Kind, Recipe};
    use super::scenarios::*;

    #[test]
    fn http_client_hasura_headers_never_reach_the_upstream() {
        no_spoofing(Kind::Envoy136(Recipe::Http));
    }

    #[test]
    fn eg_http_client_hasura_headers_never_reach_the_upstream() {
        no_spoofing(Kind::Envoy136(Recipe::EgHttp));
    }

    #[test]
    fn grpc_client_hasura_headers_never_reach_the_upstream() {
        no_spoofing(Kind::Envoy136(Recipe::Grpc));
    }
}
