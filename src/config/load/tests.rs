//! Unit tests of the loader: error paths, document selection, what messages may say about a value, bounds.

use jsonwebtoken::Algorithm;

use super::jwt::algorithm;
use super::key::fixed_key;
use super::*;
use crate::config::compiled::Mode;
use crate::config::model::JwtAlgorithm;

fn load(text: &str) -> Result<Loaded, LoadErrors> {
    load_str_with_env(text, &LoadOptions::default(), &|_| None)
}

const NOAUTH: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: admin\n      sessionVariables: {}\n";

#[test]
fn error_paths_name_the_field() {
    let text = NOAUTH.replace("role: admin", "role: admin\n      extra: 1");
    let e = load(&text).unwrap_err().to_string();
    assert!(
        e.starts_with("definition.mode.noAuth.extra: unknown field `extra`"),
        "{e}"
    );
    let e = load(&NOAUTH.replace("version: v4", "version: v9"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("version: unknown variant `v9`"), "{e}");
}

#[test]
fn multi_document_streams() {
    let other = "kind: Model\nversion: v1\ndefinition: {}\n";
    let ok = format!("{other}---\n{NOAUTH}---\n{other}");
    assert!(load(&ok).is_ok());
    let none = format!("{other}---\n{other}");
    assert!(
        load(&none)
            .unwrap_err()
            .to_string()
            .contains("none of the 2 documents")
    );
    let two = format!("{NOAUTH}---\n{NOAUTH}");
    assert!(
        load(&two)
            .unwrap_err()
            .to_string()
            .contains("2 documents have `kind: AuthConfig`")
    );
}

#[test]
fn yaml_syntax_errors_carry_a_location() {
    let e = load("kind: AuthConfig\nversion: [v4\n").unwrap_err();
    assert!(e.0[0].location.is_some(), "{e:?}");
}

/// Item 1: what a config may learn about a variable of the environment (the admission port lets anyone write
/// one): that it is missing, or not a URL, not a PEM, short; never its value, a part of it or its length.
#[test]
fn item1_messages_never_hold_a_value_from_env() {
    const DSN: &str = "postgres://dbadmin7:s3cr3tpass@pgprimary.internal:5432/x";
    let env = |name: &str| match name {
        "DSN" => Some(DSN.to_owned()),
        "SHORT" => Some("hunter2-xq9-secret".to_owned()),
        "BADPORT" => Some("https://dbadmin7:s3cr3tpass@pgprimary.internal:99999999/".to_owned()),
        "BADV6" => Some("https://[s3cr3tpass".to_owned()),
        "PEMISH" => Some(
            "-----BEGIN PUBLIC KEY-----\ns3cr3tpass$$\n-----END PRIVATE s3cr3tpass-----".to_owned(),
        ),
        _ => None,
    };
    let hook = |url: &str| {
        format!(
            "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    webhook:\n      method: GET\n      url:\n        {url}\n"
        )
    };
    let fixed = |alg: &str, key: &str| {
        format!(
            "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: {alg}\n          key:\n            {key}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
        )
    };
    let v1_hook = |url: &str| {
        format!(
            "kind: AuthConfig\nversion: v1\ndefinition:\n  mode:\n    webhook:\n      url: '{url}'\n      method: Get\n"
        )
    };
    let mut texts = Vec::new();
    for var in ["DSN", "SHORT", "BADPORT", "BADV6", "PEMISH"] {
        let from_env = format!("valueFromEnv: {var}");
        for config in [
            hook(&from_env),
            fixed("RS256", &from_env),
            fixed("ES256", &from_env),
            fixed("EdDSA", &from_env),
            fixed("HS256", &from_env),
        ] {
            let text = match load_str_with_env(&config, &LoadOptions::default(), &env) {
                Ok(l) => l.warnings.join("\n"),
                Err(e) => e.to_string(),
            };
            if !text.is_empty() {
                assert!(text.contains(var), "names the variable {var}: {text}");
            }
            texts.push(text);
        }
    }
    // Literal values are not repeated either (they may carry credentials too).
    for config in [
        hook(&format!("value: '{DSN}'")),
        hook("value: 'https://dbadmin7:s3cr3tpass@pgprimary.internal:99999999/'"),
        v1_hook(DSN),
        v1_hook("https://dbadmin7:s3cr3tpass@pgprimary.internal:99999999/"),
        fixed("HS256", "value: hunter2-xq9-secret"),
    ] {
        let text = match load(&config) {
            Ok(l) => l.warnings.join("\n"),
            Err(e) => e.to_string(),
        };
        assert!(!text.is_empty(), "{config}");
        texts.push(text);
    }
    for text in &texts {
        for part in [
            "postgres",
            "dbadmin7",
            "s3cr3tpass",
            "pgprimary",
            "5432",
            "99999999",
            "hunter2",
            "$$",
        ] {
            assert!(!text.contains(part), "{part:?} in: {text}");
        }
        for len in [DSN.len(), "hunter2-xq9-secret".len()] {
            assert!(
                !text.contains(&format!("{len} bytes")),
                "a length in: {text}"
            );
        }
    }
    let all = texts.join("\n");
    assert!(
        all.contains("shorter than the recommended 32 bytes"),
        "{all}"
    );
    assert!(
        all.contains("environment variable DSN does not hold an http:// or https:// URL"),
        "{all}"
    );
    assert!(
        all.contains("invalid port number"),
        "a literal URL keeps the parser's reason: {all}"
    );
}

const JWT: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: https://x.example/jwks.json\n      allowedSkew: SKEW\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /c\n";

#[test]
fn item10_allowed_skew_is_bounded_at_load() {
    for ok in ["0", "60", "300"] {
        let l = load(&JWT.replace("SKEW", ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
        let Mode::Jwt(j) = &l.config.mode else {
            panic!("not a jwt mode")
        };
        assert_eq!(j.leeway.to_string(), ok);
    }
    for bad in ["301", "86400", "18446744073709551615"] {
        let e = load(&JWT.replace("SKEW", bad)).expect_err(bad);
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].path, "definition.mode.jwt.allowedSkew", "{e}");
        assert!(e.0[0].message.contains("at most 300"), "{e}");
    }
    // In an alternative mode, the path says which one.
    let alt = format!(
        "{NOAUTH}  alternativeModes:\n  - identifier: a\n    config:\n      jwt:\n        key:\n          jwkFromUrl: https://x.example/jwks.json\n        allowedSkew: 999999\n        tokenLocation:\n          type: BearerAuthorization\n        claimsConfig:\n          namespace:\n            claimsFormat: Json\n            location: /c\n"
    );
    let e = load(&alt).expect_err("alternative");
    assert_eq!(
        e.0[0].path, "definition.alternativeModes[0].config.jwt.allowedSkew",
        "{e}"
    );
}

#[test]
fn item11_no_auth_role_or_session_value_with_a_control_character_is_a_load_error() {
    for (role, vars, path) in [
        ("\"ad\\nmin\"", "{}", "definition.mode.noAuth.role"),
        ("\"ad\\u0000min\"", "{}", "definition.mode.noAuth.role"),
        ("\"ad\\tmin\"", "{}", "definition.mode.noAuth.role"),
        (
            "admin",
            "{x-hasura-user-id: \"1\\r\\nx-evil: 1\"}",
            "definition.mode.noAuth.sessionVariables.x-hasura-user-id",
        ),
        (
            "admin",
            "{x-hasura-a: \"1\", X-Hasura-A: \"2\"}",
            "definition.mode.noAuth.sessionVariables.x-hasura-a",
        ),
    ] {
        let text = NOAUTH
            .replace("role: admin", &format!("role: {role}"))
            .replace("sessionVariables: {}", &format!("sessionVariables: {vars}"));
        let e = load(&text).expect_err(&text);
        assert!(
            e.0.iter().any(|e| e.path.eq_ignore_ascii_case(path)),
            "{text}\n=> {e}"
        );
    }
    // Control: a tab in a session value is allowed (as in a token's claims).
    let text = NOAUTH.replace(
        "sessionVariables: {}",
        "sessionVariables: {x-hasura-a: \"a\\tb\"}",
    );
    assert!(load(&text).is_ok());
}

#[test]
fn reflows_single_line_pem() {
    let pem = "-----BEGIN PUBLIC KEY-----MCowBQYDK2VwAyEAcULrEu6VR05/G7wT+KW6CDKV7yZMwiEE5nnnFwsV+7o=-----END PUBLIC KEY-----";
    assert!(fixed_key(Algorithm::EdDSA, pem).is_ok());
}

#[test]
fn framing_headers_named_for_the_hook_are_a_warning() {
    let text = "kind: AuthConfig\nversion: v3\ndefinition:\n  mode:\n    webhook:\n      method: POST\n      url:\n        value: https://hook.example/auth\n      customHeadersConfig:\n        headers:\n          forward: [Host, x-tenant]\n          additional:\n            content-length: \"1\"\n            x-extra: e\n        body:\n          headers:\n            forward: [host]\n            additional:\n              expect: 100-continue\n";
    let l = load(text).unwrap_or_else(|e| panic!("{e}"));
    let path = "definition.mode.webhook.customHeadersConfig.headers";
    assert_eq!(
        l.warnings,
        vec![
            format!(
                "{path}.forward: host is a hop-by-hop or framing header and is never sent to the webhook"
            ),
            format!(
                "{path}.additional: content-length is a hop-by-hop or framing header and is never sent to the webhook"
            ),
        ],
        "only the HTTP headers of the call warn; the POST body's headers object may name anything"
    );
}

#[test]
fn every_algorithm_a_config_names_is_one_authgate_verifies() {
    let schema = schemars::schema_for!(JwtAlgorithm);
    let names = schema
        .get("enum")
        .and_then(serde_json::Value::as_array)
        .expect("the algorithm schema lists its names");
    assert_eq!(names.len(), crate::alg::ALL.len());
    for name in names {
        let a: JwtAlgorithm = serde_json::from_value(name.clone()).expect("a listed name decodes");
        let got = algorithm(a).expect("a config's algorithm is in the table");
        assert_eq!(Some(got), name.as_str().and_then(crate::alg::by_name));
    }
}
