#![no_main]
//! The admission review parser on arbitrary bodies: always a well-formed AdmissionReview answer, never a panic.

use authgate::config::LoadOptions;
use authgate::metrics::Metrics;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let metrics = Metrics::new();
    let answer = authgate::admission::review(data, &LoadOptions::default(), "authconfig.yaml", &metrics);
    assert!(answer.get("response").is_some());
});
