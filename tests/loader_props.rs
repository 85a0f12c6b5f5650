//! The loader never panics, whatever it is fed; and the committed JSON Schema matches the types.

use authgate::config::{LoadOptions, load_str_with_env};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    include_str!("fixtures/vectors/public.yaml"),
    "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: https://x.example/jwks.json\n      tokenLocation:\n        type: Cookie\n        name: __session\n      claimsConfig:\n        locations:\n          x-hasura-default-role:\n            path:\n              path: /role\n              default: user\n          x-hasura-allowed-roles:\n            literal: [user]\n      audience: [a]\n      allowedSkew: 5\n  alternativeModes:\n  - identifier: w\n    config:\n      webhook:\n        method: POST\n        url:\n          value: https://hook.example/x\n        customHeadersConfig:\n          headers:\n            forward: [Authorization]\n            additional: {x-a: b}\n          body:\n            headers:\n              forward: '*'\n",
    "{\"version\":\"v1\",\"definition\":{\"allowRoleEmulationBy\":\"admin\",\"mode\":{\"webhook\":{\"url\":\"http://h/x\",\"method\":\"Get\"}}}}",
];

fn load(text: &str) {
    // Only Ok or Err: a panic fails the property.
    let _ = load_str_with_env(text, &LoadOptions::default(), &|_| {
        Some("an-environment-value".into())
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn truncated_seeds(seed in 0..SEEDS.len(), cut in 0usize..4000) {
        let s = SEEDS[seed];
        let mut end = cut.min(s.len());
        while !s.is_char_boundary(end) { end -= 1; }
        load(&s[..end]);
    }

    #[test]
    fn mutated_seeds(seed in 1..SEEDS.len(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut b = SEEDS[seed].as_bytes().to_vec();
        for (pos, byte) in edits {
            let i = pos % b.len();
            b[i] = byte;
        }
        load(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn random_yaml_shapes(keys in proptest::collection::vec("[a-zA-Z:~/*-]{0,12}", 1..10), nest in 0usize..40) {
        let mut text = String::from("kind: AuthConfig\nversion: v4\ndefinition:\n");
        for (i, k) in keys.iter().enumerate() {
            text.push_str(&"  ".repeat(1 + i % 6));
            text.push_str(k);
            text.push_str(": ");
            text.push_str(&"[".repeat(nest));
            text.push('\n');
        }
        load(&text);
    }
}

#[test]
fn committed_schema_matches_the_types() {
    let committed = include_str!("../schema/authconfig.schema.json");
    let generated = authgate::config::schema::authconfig_schema_text();
    assert!(
        committed == generated,
        "schema/authconfig.schema.json is stale: run `cargo run -- schema > schema/authconfig.schema.json`"
    );
}
