#![no_main]
//! The gRPC `Check` path (policy §12) on arbitrary input: bytes → a `CheckRequest` (ext_authz_input.rs: an encoded
//! request, or a client request in a line format, in either of Envoy's header forms) → the ext_authz adapter → the
//! gate → a `CheckResponse`. The gate has the token_path target's config and fixed HS256 key, the wall clock, and
//! its decision cache off, so that every input is judged afresh and a failure replays alone.
//!
//! Properties: never a panic; never an allow (the fuzzer cannot sign, and the one signed token it is given expired in
//! 2020); an RPC error only for a check without `attributes.request.http`, and then `INVALID_ARGUMENT`; every other
//! check answered by a `CheckResponse` that is a denial whose gRPC code goes with its HTTP status (401/403/431:
//! `PERMISSION_DENIED`, 503: `UNAVAILABLE`) and that carries no dynamic metadata. tests/token_props.rs checks the
//! same on the seeds and regressions on every `cargo test`.

use std::sync::{Arc, LazyLock};

use authgate::clock::SystemClock;
use authgate::config::{LoadOptions, load_str_with_env};
use authgate::contracts::check_view::CheckView;
use authgate::contracts::ext_authz::{self, ExtAuthzSettings};
use authgate::gate::{Gate, GateSettings};
use authgate::observe::Ignore;
use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use libfuzzer_sys::fuzz_target;
use prost::Message;

mod ext_authz_input;

const CONFIG: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: HS256\n          key:\n            value: fuzz-secret-fuzz-secret-fuzz-secret-0\n      issuer: https://issuer.example\n      audience: [api]\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n";

struct Fixture {
    gate: Gate,
    settings: ExtAuthzSettings,
    rt: tokio::runtime::Runtime,
}

// Built once: the target exercises the Check path, not the loader (that is `config_load`).
static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let loaded = load_str_with_env(CONFIG, &LoadOptions::default(), &|_| None)
        .expect("the target's config loads");
    let settings = GateSettings {
        cache_size: 0,
        ..GateSettings::default()
    };
    let gate = Gate::new(settings, Arc::new(Ignore), Arc::new(SystemClock)).expect("the gate");
    gate.apply(loaded.config);
    Fixture {
        gate,
        settings: ExtAuthzSettings {
            metadata_vars: vec!["x-hasura-user-id".to_owned()],
            auth_mode_header: "x-hasura-auth-mode".to_owned(),
        },
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
    }
});

fuzz_target!(|data: &[u8]| {
    // The listener reads a check from the wire with the view; whatever it reads, prost reads the same.
    if let (Ok(view), Ok(msg)) = (CheckView::decode(data), CheckRequest::decode(data)) {
        assert_eq!(
            view.sorted_maps(),
            CheckView::of_message(&msg).sorted_maps(),
            "the wire view and prost disagree"
        );
    }
    let req = CheckRequest::decode(data).unwrap_or_else(|_| ext_authz_input::built(data));
    let f = &*FIXTURE;
    let has_http = req
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .is_some_and(|r| r.http.is_some());
    match f.rt.block_on(ext_authz::check(&f.gate, &req, &f.settings)) {
        Err(status) => {
            assert!(
                !has_http,
                "an RPC error for a check with an HTTP request: {status:?} for {req:?}"
            );
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        }
        Ok(resp) => {
            assert!(
                has_http,
                "a CheckResponse for a check without an HTTP request: {resp:?}"
            );
            let Some(HttpResponse::DeniedResponse(denied)) = &resp.http_response else {
                panic!("not a denial (the fuzzer cannot sign): {resp:?} for {req:?}")
            };
            let expected = match denied.status.as_ref().map_or(0, |s| s.code) {
                401 | 403 | 431 => tonic::Code::PermissionDenied,
                503 => tonic::Code::Unavailable,
                other => panic!("a denial with HTTP status {other}: {resp:?}"),
            };
            let code = resp.status.as_ref().map_or(0, |s| s.code);
            assert_eq!(code, expected as i32, "the gRPC code of {resp:?}");
            assert!(
                resp.dynamic_metadata.is_none(),
                "metadata on a denial: {resp:?}"
            );
        }
    }
});
