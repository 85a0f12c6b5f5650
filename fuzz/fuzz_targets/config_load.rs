#![no_main]
//! The AuthConfig loader on arbitrary bytes: it must return Ok or Err, never panic or hang, and an Err names at
//! least one error.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let loaded = authgate::config::load_str_with_env(
            text,
            &authgate::config::LoadOptions::default(),
            &|_| Some("fuzz-env-value".to_owned()),
        );
        if let Err(errors) = loaded {
            assert!(!errors.0.is_empty(), "a load error without any error");
        }
    }
});
