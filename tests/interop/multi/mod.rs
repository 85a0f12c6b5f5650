//! Multi-config mode (issue 14) behind real NGINX and Envoy (HTTP and gRPC `ext_authz`), each run from its
//! multi-config file in `deploy/proxies/`: [`stack`] puts `authgate serve --config DIR` (configs `a` and `b`), an
//! upstream and the proxy together; [`scenarios`] holds what every form must do.

mod scenarios;
mod stack;

macro_rules! multi_tests {
    ($($module:ident => $form:expr),* $(,)?) => {$(
        mod $module {
            use super::scenarios::*;
            use super::stack::Form;

            #[test]
            fn each_route_is_judged_by_its_own_config() {
                each_route_judges_with_its_config($form);
            }

            #[test]
            fn the_client_path_never_selects_a_config() {
                super::scenarios::the_client_path_never_selects_a_config($form);
            }

            #[test]
            fn a_check_naming_no_config_is_503_unknown_config() {
                a_check_without_a_config_name_is_unknown_config($form);
            }

            #[test]
            fn client_hasura_headers_never_reach_the_upstream() {
                super::scenarios::client_hasura_headers_never_reach_the_upstream($form);
            }
        }
    )*};
}

multi_tests! {
    nginx => Form::Nginx,
    envoy_http => Form::EnvoyHttp,
    envoy_grpc => Form::EnvoyGrpc,
}

/// The Envoy forms with a route added that was not given its config: it fails closed.
mod forgotten_route {
    use super::scenarios::a_route_without_its_setting_fails_closed;
    use super::stack::Form;

    #[test]
    fn envoy_http_route_that_turns_off_no_filter_passes_no_token() {
        a_route_without_its_setting_fails_closed(Form::EnvoyHttp);
    }

    #[test]
    fn envoy_grpc_route_without_context_extensions_is_503_unknown_config() {
        a_route_without_its_setting_fails_closed(Form::EnvoyGrpc);
    }
}
