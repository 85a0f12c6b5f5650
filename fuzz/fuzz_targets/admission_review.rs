#![no_main]
//! The admission review parser on arbitrary bodies: always a well-formed AdmissionReview answer, never a panic,
//! and never `allowed` for a body that is not a review (a JSON object whose `request.uid` is a string, echoed in
//! the answer). tests/token_props.rs replays the seeds and regressions on every `cargo test`.

use authgate::config::LoadOptions;
use authgate::metrics::Metrics;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let metrics = Metrics::new();
    let answer =
        authgate::admission::review(data, &LoadOptions::default(), "authconfig.yaml", &metrics);
    let Some(allowed) = answer.pointer("/response/allowed").and_then(Value::as_bool) else {
        panic!("an answer without response.allowed: {answer}")
    };
    if allowed {
        let uid = serde_json::from_slice::<Value>(data).ok().and_then(|b| {
            b.pointer("/request/uid")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        assert!(
            uid.is_some()
                && answer.pointer("/response/uid").and_then(Value::as_str) == uid.as_deref(),
            "allowed a body that is not a review: {:?}",
            String::from_utf8_lossy(data)
        );
    }
});
