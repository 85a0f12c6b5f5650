//! The attack suite: one case per row of the JWT attack catalogue (security notes §1.2) and each jwt_tool exploit
//! mode (§1.1), sent through the real HTTP app. Every one is denied with `401`, and the service stays healthy (a
//! valid token is still allowed afterwards).

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{MockServer, Route, Service, jwks_doc, mint, now, read_key};
use serde_json::{Value, json};

const ISSUER: &str = "https://clerk.example.com";
const AUD: &str = "api";
const HS_SECRET: &str = "a-long-enough-hmac-secret-for-the-fixed-mode-0123";

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUD, "sub": "user_1",
           "claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user"],
                                    "x-hasura-user-id": "user_1"}})
}

fn spec(alg: &str) -> Value {
    json!({"alg": alg, "sign_with": "rsa1", "kid": "k1", "claims": claims(), "exp_in": 600})
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token from raw header and payload JSON with the given signature segment.
fn raw(header: &Value, payload: &Value, sig: &str) -> String {
    format!("{}.{}.{sig}", b64(header), b64(payload))
}

fn jwks_config(jwks_url: &str) -> String {
    format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: {jwks_url}\n      issuer: {ISSUER}\n      audience: [{AUD}]\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
    )
}

fn fixed_config(alg: &str, key: &str) -> String {
    // A PEM goes in a block scalar; an HMAC secret inline (a block scalar would add a newline to it).
    let value = if key.contains('\n') {
        let lines: String = key
            .lines()
            .map(|l| format!("              {l}\n"))
            .collect();
        format!("|\n{lines}")
    } else {
        format!("{key}\n")
    };
    format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: {alg}\n          key:\n            value: {value}      issuer: {ISSUER}\n      audience: [{AUD}]\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
    )
}

async fn send(svc: &Service, authorization: &[u8]) -> (u16, reqwest::header::HeaderMap, String) {
    let value = reqwest::header::HeaderValue::from_bytes(authorization).expect("header value");
    let resp = common::client()
        .get(svc.url("/v1/graphql"))
        .header("authorization", value)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

/// Each case must be a 401 with no session header and the JSON error body.
async fn expect_denied(svc: &Service, cases: &[(&str, Vec<u8>)]) {
    let mut problems = Vec::new();
    for (name, auth) in cases {
        let (status, headers, body) = send(svc, auth).await;
        let leaked = headers.keys().any(|k| k.as_str().starts_with("x-hasura-"));
        let code = serde_json::from_str::<Value>(&body).ok().and_then(|b| {
            b.pointer("/errors/0/extensions/code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if status != 401 || leaked || code.is_none() {
            problems.push(format!(
                "{name}: status {status}, session headers {leaked}, body {body}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "attacks not denied with 401:\n{}",
        problems.join("\n")
    );
}

async fn still_healthy(svc: &Service, good: &str) {
    assert_eq!(
        common::http_get_status(&svc.admin_url("/healthz")),
        Some(200)
    );
    let (status, headers, body) = send(svc, format!("Bearer {good}").as_bytes()).await;
    assert_eq!(status, 200, "a valid token after the attacks: {body}");
    assert_eq!(
        headers
            .get("x-hasura-user-id")
            .and_then(|v| v.to_str().ok()),
        Some("user_1")
    );
}

fn bearer(t: &str) -> Vec<u8> {
    format!("Bearer {t}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_mode_attacks_are_denied() {
    let mock = MockServer::start();
    let evil = MockServer::start();
    let mut keys = vec![
        json!({"key": "rsa1", "kid": "k1"}),
        json!({"key": "p256", "kid": "ec1"}),
    ];
    keys.push(json!({"oct": "published-secret", "kid": "hs", "alg": "HS256"}));
    mock.set("/jwks.json", Route::json(200, &jwks_doc(&keys)));
    evil.set(
        "/evil.json",
        Route::json(200, &jwks_doc(&[json!({"key": "rsa2", "kid": "k1"})])),
    );
    let svc = Service::start(
        &jwks_config(&format!("{}/jwks.json", mock.base())),
        &[],
        &[],
    );
    assert!(
        svc.wait_ready(Duration::from_secs(10)),
        "not ready:\n{}",
        svc.log()
    );
    let good = mint(&spec("RS256"));

    let h = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": "k1"});
    let p = {
        let mut c = claims();
        c["exp"] = (now() + 600).into();
        c
    };
    let parts: Vec<&str> = good.split('.').collect();
    let with_header = |extra: Value| {
        let mut s = spec("RS256");
        s["header_extra"] = extra;
        mint(&s)
    };
    let with_claims = |patch: Value| {
        let mut s = spec("RS256");
        for (k, v) in patch.as_object().into_iter().flatten() {
            if v.is_null() {
                s["claims"].as_object_mut().map(|o| o.remove(k));
            } else {
                s["claims"][k] = v.clone();
            }
        }
        mint(&s)
    };
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_payload = URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{},\"x\":{deep}}}", now() + 600));
    let dup_payload = URL_SAFE_NO_PAD.encode(format!(
        "{{\"exp\":{},\"exp\":{},\"iss\":\"{ISSUER}\"}}",
        now() + 600,
        now() + 600
    ));
    let dup_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none","kid":"k1"}"#);
    // ECDSA "psychic signature" (CVE-2022-21449): r = s = 0.
    let psychic = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let es_header = json!({"alg": "ES256", "typ": "JWT", "kid": "ec1"});

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        // §1.1 a / row 1: alg none in every casing, empty signature.
        ("alg none", bearer(&raw(&h("none"), &p, ""))),
        ("alg None", bearer(&raw(&h("None"), &p, ""))),
        ("alg NONE", bearer(&raw(&h("NONE"), &p, ""))),
        ("alg nOnE", bearer(&raw(&h("nOnE"), &p, ""))),
        // §1.1 n: null signature.
        (
            "null signature",
            bearer(&format!("{}.{}.", parts[0], parts[1])),
        ),
        // §1.1 b / row 23: blank HMAC password.
        (
            "blank HMAC",
            bearer(&mint(
                &json!({"alg": "HS256", "secret": "", "kid": "k1", "claims": claims(), "exp_in": 600}),
            )),
        ),
        // §1.1 k / row 2: key confusion, HS256 signed with the RSA public key PEM.
        (
            "key confusion",
            bearer(&mint(
                &json!({"alg": "HS256", "secret_from_public_pem": "rsa1", "kid": "k1", "claims": claims(), "exp_in": 600}),
            )),
        ),
        // Row 3: HS256 with the symmetric key published in the JWKS.
        (
            "oct key from JWKS",
            bearer(&mint(
                &json!({"alg": "HS256", "secret": "published-secret", "kid": "hs", "claims": claims(), "exp_in": 600}),
            )),
        ),
        // §1.1 i / row 6: injected jwk (signed with the attacker's key, rsa2).
        (
            "injected jwk",
            bearer(&{
                let mut s = spec("RS256");
                s["sign_with"] = "rsa2".into();
                s["header_extra"] = json!({"jwk": "{{jwk:rsa2}}"});
                mint(&s)
            }),
        ),
        // §1.1 s / row 6: jku and x5u spoofing (must never be fetched).
        (
            "jku",
            bearer(&{
                let mut s = spec("RS256");
                s["sign_with"] = "rsa2".into();
                s["header_extra"] = json!({"jku": format!("{}/evil.json", evil.base())});
                mint(&s)
            }),
        ),
        (
            "x5u",
            bearer(&with_header(
                json!({"x5u": format!("{}/evil.pem", evil.base())}),
            )),
        ),
        ("x5c", bearer(&with_header(json!({"x5c": ["MIIB"]})))),
        // Row 4 / §1.1 kid injection: traversal, SQL, command, blank, huge.
        (
            "kid traversal",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "../../../../dev/null".into();
                mint(&s)
            }),
        ),
        (
            "kid sqli",
            bearer(&mint(
                &json!({"alg": "HS256", "secret": "1", "kid": "' UNION SELECT '1';--", "claims": claims(), "exp_in": 600}),
            )),
        ),
        (
            "kid command",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "| sleep 10".into();
                mint(&s)
            }),
        ),
        (
            "kid blank null-signed",
            bearer(&raw(&json!({"alg": "RS256", "kid": ""}), &p, "")),
        ),
        (
            "kid huge",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "k".repeat(5000).into();
                mint(&s)
            }),
        ),
        // Row 7: crit.
        ("crit", bearer(&with_header(json!({"crit": ["exp"]})))),
        // Rows 8–12: time claims.
        (
            "expired",
            bearer(&{
                let mut s = spec("RS256");
                s["exp_in"] = (-3600).into();
                mint(&s)
            }),
        ),
        (
            "no exp",
            bearer(&{
                let mut s = spec("RS256");
                s.as_object_mut().map(|o| o.remove("exp_in"));
                mint(&s)
            }),
        ),
        (
            "exp as string",
            bearer(&{
                let mut s = spec("RS256");
                s.as_object_mut().map(|o| o.remove("exp_in"));
                s["claims"]["exp"] = (now() + 600).to_string().into();
                mint(&s)
            }),
        ),
        (
            "exp negative",
            bearer(&{
                let mut s = spec("RS256");
                s.as_object_mut().map(|o| o.remove("exp_in"));
                s["claims"]["exp"] = (-5).into();
                mint(&s)
            }),
        ),
        ("nbf as string", bearer(&with_claims(json!({"nbf": "0"})))),
        (
            "nbf future",
            bearer(&{
                let mut s = spec("RS256");
                s["nbf_in"] = 3600.into();
                mint(&s)
            }),
        ),
        (
            "iat future",
            bearer(&{
                let mut s = spec("RS256");
                s["iat_in"] = 3600.into();
                mint(&s)
            }),
        ),
        // Rows 13–16, 28: issuer and audience.
        (
            "iss mismatch",
            bearer(&with_claims(json!({"iss": "https://evil.example.com"}))),
        ),
        ("iss missing", bearer(&with_claims(json!({"iss": null})))),
        (
            "aud mismatch",
            bearer(&with_claims(json!({"aud": "other-api"}))),
        ),
        ("aud missing", bearer(&with_claims(json!({"aud": null})))),
        (
            "iss array without ours",
            bearer(&with_claims(json!({"iss": ["https://a", "https://b"]}))),
        ),
        // §1.1 claim type confusion.
        (
            "roles as string",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": "user"}}),
            )),
        ),
        (
            "default role object",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": {"r": 1}, "x-hasura-allowed-roles": ["user"]}}),
            )),
        ),
        (
            "claims as array",
            bearer(&with_claims(json!({"claims.jwt.hasura.io": ["user"]}))),
        ),
        (
            "session value with newline",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user"], "x-hasura-user-id": "1\r\nx-hasura-role: admin"}}),
            )),
        ),
        (
            "default role with a line break (would be an allow without its role header)",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "user\r\nx-hasura-role: admin", "x-hasura-allowed-roles": ["user\r\nx-hasura-role: admin"]}}),
            )),
        ),
        (
            "default role with NUL",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "us\u{0}er", "x-hasura-allowed-roles": ["us\u{0}er"]}}),
            )),
        ),
        // Row 17: oversized token.
        (
            "oversized token",
            bearer(&{
                let mut s = spec("RS256");
                s["pad_to"] = 20_000.into();
                mint(&s)
            }),
        ),
        // Row 18: deep nesting.
        (
            "deep nesting",
            bearer(&format!("{}.{deep_payload}.{}", parts[0], parts[2])),
        ),
        // Row 19: duplicate keys.
        (
            "duplicate header alg",
            bearer(&format!("{dup_header}.{}.{}", parts[1], parts[2])),
        ),
        (
            "duplicate exp",
            bearer(&format!("{}.{dup_payload}.{}", parts[0], parts[2])),
        ),
        (
            "duplicate custom claim",
            bearer(&{
                // Re-sign a payload with a duplicated session claim: a valid signature over ambiguous JSON.
                let payload = format!(
                    "{{\"iss\":\"{ISSUER}\",\"aud\":\"{AUD}\",\"exp\":{},\"claims.jwt.hasura.io\":{{\"x-hasura-default-role\":\"user\",\"x-hasura-allowed-roles\":[\"user\"],\"x-hasura-user-id\":\"1\",\"x-hasura-user-id\":\"2\"}}}}",
                    now() + 600
                );
                let input = format!("{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload));
                let key =
                    jsonwebtoken::EncodingKey::from_rsa_pem(read_key("rsa1", "pem").as_bytes())
                        .expect("key");
                let sig = jsonwebtoken::crypto::sign(
                    input.as_bytes(),
                    &key,
                    jsonwebtoken::Algorithm::RS256,
                )
                .expect("sign");
                format!("{input}.{sig}")
            }),
        ),
        // Row 20: non-UTF-8 in the payload, and non-ASCII in the header value.
        (
            "non-UTF-8 payload",
            bearer(&format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x7b]),
                parts[2]
            )),
        ),
        (
            "non-ASCII header value",
            format!("Bearer {good}é").into_bytes(),
        ),
        // Row 21: base64 variants and segment games.
        (
            "padded base64",
            bearer(&format!("{}==.{}.{}", parts[0], parts[1], parts[2])),
        ),
        (
            "standard alphabet",
            bearer(&format!(
                "{}.{}.{}",
                STANDARD.encode(p.to_string()),
                parts[1],
                parts[2]
            )),
        ),
        ("four segments", bearer(&format!("{good}.x"))),
        (
            "five segments (JWE)",
            bearer(&format!("{}.a.b.c.d", parts[0])),
        ),
        ("empty token", b"Bearer ".to_vec()),
        (
            "inner whitespace",
            bearer(&format!("{}. {}.{}", parts[0], parts[1], parts[2])),
        ),
        // Row 22: psychic signature.
        ("psychic ES256", bearer(&raw(&es_header, &p, &psychic))),
        // Row 26: JWK alg RS256, token PS256 on the same key.
        ("alg differs from JWK alg", bearer(&mint(&spec("PS256")))),
        // Row 27: nested JWT.
        ("cty JWT", bearer(&with_header(json!({"cty": "JWT"})))),
        // Bad signature and unknown kid.
        (
            "bad signature",
            bearer(&format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 4]
            )),
        ),
        (
            "unknown kid",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "nope".into();
                mint(&s)
            }),
        ),
    ];
    cases.push((
        "no kid",
        bearer(&{
            let mut s = spec("RS256");
            s.as_object_mut().map(|o| o.remove("kid"));
            mint(&s)
        }),
    ));
    expect_denied(&svc, &cases).await;
    assert_eq!(
        evil.received().len(),
        0,
        "a URL named by a token was fetched"
    );
    still_healthy(&svc, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_key_attacks_are_denied() {
    let rsa = Service::start(
        &fixed_config("RS256", &read_key("rsa1", "pub.pem")),
        &[],
        &[],
    );
    let hs = Service::start(&fixed_config("HS256", HS_SECRET), &[], &[]);
    assert!(rsa.wait_ready(Duration::from_secs(10)) && hs.wait_ready(Duration::from_secs(10)));
    let hs_spec =
        |secret: &str| json!({"alg": "HS256", "secret": secret, "claims": claims(), "exp_in": 600});
    expect_denied(
        &rsa,
        &[
            ("key confusion on a fixed RSA key", bearer(&mint(&json!({"alg": "HS256", "secret_from_public_pem": "rsa1", "claims": claims(), "exp_in": 600})))),
            ("alg none", bearer(&raw(&json!({"alg": "none"}), &json!({"exp": now() + 600}), ""))),
            ("other RSA key", bearer(&{ let mut s = spec("RS256"); s["sign_with"] = "rsa2".into(); mint(&s) })),
        ],
    )
    .await;
    expect_denied(
        &hs,
        &[
            ("blank HMAC password", bearer(&mint(&hs_spec("")))),
            ("common password", bearer(&mint(&hs_spec("secret")))),
            ("HS384 with the right secret", bearer(&mint(&json!({"alg": "HS384", "secret": HS_SECRET, "claims": claims(), "exp_in": 600})))),
        ],
    )
    .await;
    still_healthy(
        &rsa,
        &mint(&json!({"alg": "RS256", "sign_with": "rsa1", "claims": claims(), "exp_in": 600})),
    )
    .await;
    still_healthy(&hs, &mint(&hs_spec(HS_SECRET))).await;
}

/// A header far beyond any token is refused by the HTTP layer (never a 200), and the service keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_megabyte_header_is_refused() {
    let mock = MockServer::start();
    mock.set(
        "/jwks.json",
        Route::json(200, &jwks_doc(&[json!({"key": "rsa1", "kid": "k1"})])),
    );
    let svc = Service::start(
        &jwks_config(&format!("{}/jwks.json", mock.base())),
        &[],
        &[],
    );
    assert!(svc.wait_ready(Duration::from_secs(10)));
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    let res = common::client()
        .get(svc.url("/"))
        .header("authorization", huge)
        .send()
        .await;
    if let Ok(resp) = res {
        let s = resp.status().as_u16();
        assert!((400..500).contains(&s), "1 MB header answered {s}");
    }
    still_healthy(&svc, &mint(&spec("RS256"))).await;
}
