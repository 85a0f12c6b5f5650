//! The attack suite: one case per row of the JWT attack catalogue (security notes §1.2) and each jwt_tool exploit
//! mode (§1.1), sent through the real HTTP app. Every one is denied with `401` and the `extensions.code` of the check
//! that must refuse it, and the service stays healthy (a valid token is still allowed afterwards).
//!
//! A case aimed at one check gets every other check right: the parser cases are signed with the real key over the
//! exact bytes sent (so only the parser can refuse them), and each has a twin that differs only in the byte the
//! parser objects to and must be allowed: proof that nothing but the parser stands between the case and a `200`.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::configs::Jwt;
use common::http::Answer;
use common::mock::{MockServer, Route};
use common::now;
use common::service::{Service, started};
use common::tokens::{bearer, jwks_doc, mint, read_key};
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
    Jwt::jwk_from_url(jwks_url)
        .issuer(ISSUER)
        .audience(AUD)
        .yaml()
}

fn fixed_config(alg: &str, key: &str) -> String {
    Jwt::fixed(alg, key).issuer(ISSUER).audience(AUD).yaml()
}

async fn send(svc: &Service, authorization: &[u8]) -> Answer {
    let value = reqwest::header::HeaderValue::from_bytes(authorization).expect("header value");
    let request = common::http::client()
        .get(svc.url("/v1/graphql"))
        .header("authorization", value);
    common::http::send(request).await
}

/// One attack: its name, the `extensions.code` the check aimed at must answer (`a|b` where policy allows either),
/// and the `Authorization` value.
type Case<'a> = (&'a str, &'a str, Vec<u8>);

/// Each case must be a 401 with no session header and the JSON error body whose `errors[0].extensions.code` is the
/// case's: a 401 for another reason means the check the case is aimed at did not run (or did not refuse it).
async fn expect_denied(svc: &Service, cases: &[Case<'_>]) {
    let mut problems = Vec::new();
    for (name, expected, auth) in cases {
        let answer = send(svc, auth).await;
        let code = answer.code();
        let Answer {
            status,
            headers,
            body,
            ..
        } = answer;
        let leaked = headers.keys().any(|k| k.as_str().starts_with("x-hasura-"));
        let expected_code = code
            .as_deref()
            .is_some_and(|c| expected.split('|').any(|e| e == c));
        if status != 401 || leaked || !expected_code {
            problems.push(format!(
                "{name}: expected 401 {expected}, got status {status}, code {code:?}, session headers {leaked}, body {body}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "attacks not denied by the check they aim at:\n{}",
        problems.join("\n")
    );
}

/// Each twin (an attack with the one objectionable byte put right, signed the same way) must be allowed: the
/// attack it mirrors then has nothing but its own check in the way.
async fn expect_allowed(svc: &Service, twins: &[(&str, Vec<u8>)]) {
    let mut problems = Vec::new();
    for (name, auth) in twins {
        let a = send(svc, auth).await;
        let user = a.header("x-hasura-user-id");
        if a.status != 200 || user != Some("user_1") {
            problems.push(format!(
                "{name}: status {}, user {user:?}, body {}",
                a.status, a.body
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "twins of the parser cases not allowed (the cases would not test the parser alone):\n{}",
        problems.join("\n")
    );
}

/// `input` (the exact bytes before the last dot) with its RS256 signature by `rsa1`, the key the services trust.
fn resign(input: &[u8]) -> Vec<u8> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(read_key("rsa1", "pem").as_bytes())
        .expect("committed private key parses");
    let sig =
        jsonwebtoken::crypto::sign(input, &key, jsonwebtoken::Algorithm::RS256).expect("sign");
    let mut out = b"Bearer ".to_vec();
    out.extend_from_slice(input);
    out.push(b'.');
    out.extend_from_slice(sig.as_bytes());
    out
}

/// `text` with `member` (a `"name":value` pair) added as the last member of its outer object.
fn with_member(text: &str, member: &str) -> String {
    let body = text.strip_suffix('}').expect("a JSON object");
    format!("{body},{member}}}")
}

/// `json_text` (an object) with a filler member chosen so that `pred` holds for its encoding by `encode`: a
/// padded or standard-alphabet encoding only tests the decoder when it really carries `=`, `+` or `/`.
fn encoding_with(
    json_text: &str,
    encode: impl Fn(&[u8]) -> String,
    pred: impl Fn(&str) -> bool,
) -> (String, String) {
    (0..12)
        .map(|n| with_member(json_text, &format!("\"x\":\"{}\"", "?".repeat(n))))
        .map(|text| (encode(text.as_bytes()), text))
        .find(|(enc, _)| pred(enc))
        .map(|(enc, text)| (text, enc))
        .expect("a filler length gives the wanted encoding")
}

async fn still_healthy(svc: &Service, good: &str) {
    assert_eq!(
        common::raw::http_get_status(&svc.admin_url("/healthz")),
        Some(200)
    );
    let a = send(svc, format!("Bearer {good}").as_bytes()).await;
    assert_eq!(a.status, 200, "a valid token after the attacks: {}", a.body);
    assert_eq!(a.header("x-hasura-user-id"), Some("user_1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item15_jwks_mode_attacks_are_denied_by_the_check_they_aim_at() {
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
    let svc = started(&jwks_config(&format!("{}/jwks.json", mock.base())), &[]);
    let good = mint(&spec("RS256"));

    let h = |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": "k1"});
    let p = {
        let mut c = claims();
        c["exp"] = (now() + 600).into();
        c
    };
    let parts: Vec<&str> = good.split('.').collect();
    assert_eq!(parts[2].len(), 342, "the RS256 signature of a 2048-bit key");
    let with_header = |extra: Value| {
        let mut s = spec("RS256");
        s["header_extra"] = extra;
        mint(&s)
    };
    let with_claims = |patch: Value| {
        let mut s = spec("RS256");
        for (k, v) in patch.as_object().expect("a claims patch is an object") {
            let claims = s["claims"].as_object_mut().expect("spec claims");
            if v.is_null() {
                assert!(claims.remove(k).is_some(), "no claim {k} to remove");
            } else {
                claims.insert(k.clone(), v.clone());
            }
        }
        mint(&s)
    };
    let without = |field: &str| {
        let mut s = spec("RS256");
        let spec = s.as_object_mut().expect("spec object");
        assert!(spec.remove(field).is_some(), "no {field} in the spec");
        s
    };
    // ECDSA "psychic signature" (CVE-2022-21449): r = s = 0.
    let psychic = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let es_header = json!({"alg": "ES256", "typ": "JWT", "kid": "ec1"});

    // The parser cases (rows 18–21): the header and payload text of a valid token, changed only where the parser
    // must object, then signed by the trusted key over exactly the bytes sent. Each twin puts that one thing
    // right and must be allowed.
    let header_text = h("RS256").to_string();
    let payload_text = p.to_string();
    let enc = |text: &str| URL_SAFE_NO_PAD.encode(text);
    let signed = |header_b64: &str, payload_b64: &str| {
        resign(format!("{header_b64}.{payload_b64}").as_bytes())
    };
    // Row 18: nesting far past serde_json's depth limit of 128, inside an otherwise valid claim set.
    let deep = |depth: usize| {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        with_member(&payload_text, &format!("\"x\":{nested}"))
    };
    // Row 19: a duplicated `alg` (the first says RS256, the last none) and a duplicated `exp`.
    let dup_alg_header = with_member(&header_text, "\"alg\":\"none\"");
    let dup_exp_payload = with_member(&payload_text, &format!("\"exp\":{}", now() + 900));
    // Row 20: a claim with a byte that is not UTF-8 (a lossy decoder would make it U+FFFD and allow).
    let non_utf8_payload: Vec<u8> = payload_text
        .replace("\"sub\":\"user_1\"", "\"sub\":\"user_\u{1}\"")
        .into_bytes()
        .into_iter()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect();
    assert!(std::str::from_utf8(&non_utf8_payload).is_err());
    // Row 21: correctly padded, and standard-alphabet (`+` or `/`, no padding) encodings of valid JSON.
    let (padded_header_text, padded_header) =
        encoding_with(&header_text, |b| URL_SAFE.encode(b), |e| e.ends_with('='));
    let (padded_payload_text, padded_payload) =
        encoding_with(&payload_text, |b| URL_SAFE.encode(b), |e| e.ends_with('='));
    let standard = |b: &[u8]| STANDARD_NO_PAD.encode(b);
    let (std_header_text, std_header) =
        encoding_with(&header_text, standard, |e| e.contains(['+', '/']));
    let (std_payload_text, std_payload) =
        encoding_with(&payload_text, standard, |e| e.contains(['+', '/']));

    let parser_cases: Vec<Case> = vec![
        (
            "deep nesting",
            "malformed_token",
            signed(&enc(&header_text), &enc(&deep(5000))),
        ),
        (
            "duplicate header alg",
            "malformed_token",
            signed(&enc(&dup_alg_header), &enc(&payload_text)),
        ),
        (
            "duplicate exp",
            "malformed_token",
            signed(&enc(&header_text), &enc(&dup_exp_payload)),
        ),
        (
            "non-UTF-8 payload",
            "malformed_token",
            signed(
                &enc(&header_text),
                &URL_SAFE_NO_PAD.encode(&non_utf8_payload),
            ),
        ),
        (
            "padded base64 header",
            "malformed_token",
            signed(&padded_header, &enc(&payload_text)),
        ),
        (
            "padded base64 payload",
            "malformed_token",
            signed(&enc(&header_text), &padded_payload),
        ),
        (
            "standard alphabet header",
            "malformed_token",
            signed(&std_header, &enc(&payload_text)),
        ),
        (
            "standard alphabet payload",
            "malformed_token",
            signed(&enc(&header_text), &std_payload),
        ),
        (
            "inner whitespace",
            "malformed_token",
            signed(&enc(&header_text), &format!(" {}", enc(&payload_text))),
        ),
    ];
    let twins: Vec<(&str, Vec<u8>)> = vec![
        (
            "nesting 20 deep",
            signed(&enc(&header_text), &enc(&deep(20))),
        ),
        (
            "one alg",
            signed(
                &enc(&with_member(&header_text, "\"y\":\"none\"")),
                &enc(&payload_text),
            ),
        ),
        (
            "one exp",
            signed(
                &enc(&header_text),
                &enc(&with_member(
                    &payload_text,
                    &format!("\"e\":{}", now() + 900),
                )),
            ),
        ),
        (
            "UTF-8 payload",
            signed(
                &enc(&header_text),
                &enc(&payload_text.replace("\"sub\":\"user_1\"", "\"sub\":\"user_\u{ff}\"")),
            ),
        ),
        (
            "unpadded header",
            signed(&enc(&padded_header_text), &enc(&payload_text)),
        ),
        (
            "unpadded payload",
            signed(&enc(&header_text), &enc(&padded_payload_text)),
        ),
        (
            "URL-safe header",
            signed(&enc(&std_header_text), &enc(&payload_text)),
        ),
        (
            "URL-safe payload",
            signed(&enc(&header_text), &enc(&std_payload_text)),
        ),
        (
            "no whitespace",
            signed(&enc(&header_text), &enc(&payload_text)),
        ),
    ];
    expect_allowed(&svc, &twins).await;
    expect_denied(&svc, &parser_cases).await;

    let cases: Vec<Case> = vec![
        // §1.1 a / row 1: alg none in every casing, empty signature.
        (
            "alg none",
            "invalid_algorithm",
            bearer(&raw(&h("none"), &p, "")),
        ),
        (
            "alg None",
            "invalid_algorithm",
            bearer(&raw(&h("None"), &p, "")),
        ),
        (
            "alg NONE",
            "invalid_algorithm",
            bearer(&raw(&h("NONE"), &p, "")),
        ),
        (
            "alg nOnE",
            "invalid_algorithm",
            bearer(&raw(&h("nOnE"), &p, "")),
        ),
        // §1.1 n: null signature.
        (
            "null signature",
            "invalid_signature",
            bearer(&format!("{}.{}.", parts[0], parts[1])),
        ),
        // §1.1 b / row 23: blank HMAC password.
        (
            "blank HMAC",
            "invalid_algorithm",
            bearer(&mint(
                &json!({"alg": "HS256", "secret": "", "kid": "k1", "claims": claims(), "exp_in": 600}),
            )),
        ),
        // §1.1 k / row 2: key confusion, HS256 signed with the RSA public key PEM.
        (
            "key confusion",
            "invalid_algorithm",
            bearer(&mint(
                &json!({"alg": "HS256", "secret_from_public_pem": "rsa1", "kid": "k1", "claims": claims(), "exp_in": 600}),
            )),
        ),
        // Row 3: HS256 with the symmetric key published in the JWKS (never loaded: symmetric keys are dropped).
        (
            "oct key from JWKS",
            "unknown_kid",
            bearer(&mint(
                &json!({"alg": "HS256", "secret": "published-secret", "kid": "hs", "claims": claims(), "exp_in": 600}),
            )),
        ),
        // §1.1 i / row 6: injected jwk (signed with the attacker's key, rsa2).
        (
            "injected jwk",
            "unsupported_header",
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
            "unsupported_header",
            bearer(&{
                let mut s = spec("RS256");
                s["sign_with"] = "rsa2".into();
                s["header_extra"] = json!({"jku": format!("{}/evil.json", evil.base())});
                mint(&s)
            }),
        ),
        (
            "x5u",
            "unsupported_header",
            bearer(&with_header(
                json!({"x5u": format!("{}/evil.pem", evil.base())}),
            )),
        ),
        (
            "x5c",
            "unsupported_header",
            bearer(&with_header(json!({"x5c": ["MIIB"]}))),
        ),
        // Row 4 / §1.1 kid injection: traversal, SQL, command, blank, huge.
        (
            "kid traversal",
            "unknown_kid",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "../../../../dev/null".into();
                mint(&s)
            }),
        ),
        (
            "kid sqli",
            "unknown_kid",
            bearer(&mint(
                &json!({"alg": "HS256", "secret": "1", "kid": "' UNION SELECT '1';--", "claims": claims(), "exp_in": 600}),
            )),
        ),
        (
            "kid command",
            "unknown_kid",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "| sleep 10".into();
                mint(&s)
            }),
        ),
        (
            "kid blank null-signed",
            "unknown_kid",
            bearer(&raw(&json!({"alg": "RS256", "kid": ""}), &p, "")),
        ),
        (
            "kid huge",
            "malformed_token",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "k".repeat(5000).into();
                mint(&s)
            }),
        ),
        // Row 7: crit.
        (
            "crit",
            "unsupported_header",
            bearer(&with_header(json!({"crit": ["exp"]}))),
        ),
        // Rows 8–12: time claims.
        (
            "expired",
            "expired",
            bearer(&{
                let mut s = spec("RS256");
                s["exp_in"] = (-3600).into();
                mint(&s)
            }),
        ),
        (
            "no exp",
            "malformed_token",
            bearer(&mint(&without("exp_in"))),
        ),
        // Issue 11 item 11: a wrongly typed time claim is malformed (or invalid claims), never a bad signature.
        (
            "exp as string",
            "malformed_token|invalid_claims",
            bearer(&{
                let mut s = without("exp_in");
                s["claims"]["exp"] = (now() + 600).to_string().into();
                mint(&s)
            }),
        ),
        // A NumericDate before 1970 is no real expiry: refused as malformed (or as expired).
        (
            "exp negative",
            "malformed_token|expired",
            bearer(&{
                let mut s = without("exp_in");
                s["claims"]["exp"] = (-5).into();
                mint(&s)
            }),
        ),
        (
            "nbf as string",
            "malformed_token|invalid_claims",
            bearer(&with_claims(json!({"nbf": "0"}))),
        ),
        (
            "iat as string",
            "malformed_token|invalid_claims",
            bearer(&with_claims(json!({"iat": "0"}))),
        ),
        (
            "nbf future",
            "not_yet_valid",
            bearer(&{
                let mut s = spec("RS256");
                s["nbf_in"] = 3600.into();
                mint(&s)
            }),
        ),
        (
            "iat future",
            "issued_in_future",
            bearer(&{
                let mut s = spec("RS256");
                s["iat_in"] = 3600.into();
                mint(&s)
            }),
        ),
        // Rows 13–16, 28: issuer and audience.
        (
            "iss mismatch",
            "invalid_issuer",
            bearer(&with_claims(json!({"iss": "https://evil.example.com"}))),
        ),
        (
            "iss missing",
            "invalid_issuer",
            bearer(&with_claims(json!({"iss": null}))),
        ),
        (
            "aud mismatch",
            "invalid_audience",
            bearer(&with_claims(json!({"aud": "other-api"}))),
        ),
        (
            "aud missing",
            "invalid_audience",
            bearer(&with_claims(json!({"aud": null}))),
        ),
        (
            "iss array without ours",
            "invalid_issuer",
            bearer(&with_claims(json!({"iss": ["https://a", "https://b"]}))),
        ),
        // §1.1 claim type confusion.
        (
            "roles as string",
            "invalid_claims",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": "user"}}),
            )),
        ),
        (
            "default role object",
            "invalid_claims",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": {"r": 1}, "x-hasura-allowed-roles": ["user"]}}),
            )),
        ),
        (
            "claims as array",
            "invalid_claims",
            bearer(&with_claims(json!({"claims.jwt.hasura.io": ["user"]}))),
        ),
        (
            "session value with newline",
            "invalid_claims",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user"], "x-hasura-user-id": "1\r\nx-hasura-role: admin"}}),
            )),
        ),
        (
            "default role with a line break (would be an allow without its role header)",
            "invalid_claims",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "user\r\nx-hasura-role: admin", "x-hasura-allowed-roles": ["user\r\nx-hasura-role: admin"]}}),
            )),
        ),
        (
            "default role with NUL",
            "invalid_claims",
            bearer(&with_claims(
                json!({"claims.jwt.hasura.io": {"x-hasura-default-role": "us\u{0}er", "x-hasura-allowed-roles": ["us\u{0}er"]}}),
            )),
        ),
        // Row 17: oversized token.
        (
            "oversized token",
            "token_too_large",
            bearer(&{
                let mut s = spec("RS256");
                s["pad_to"] = 20_000.into();
                mint(&s)
            }),
        ),
        // Row 19: a duplicated session claim, validly signed: ambiguous JSON is refused after the signature.
        ("duplicate custom claim", "malformed_token", {
            let payload = format!(
                "{{\"iss\":\"{ISSUER}\",\"aud\":\"{AUD}\",\"exp\":{},\"claims.jwt.hasura.io\":{{\"x-hasura-default-role\":\"user\",\"x-hasura-allowed-roles\":[\"user\"],\"x-hasura-user-id\":\"1\",\"x-hasura-user-id\":\"2\"}}}}",
                now() + 600
            );
            signed(parts[0], &enc(&payload))
        }),
        // Row 20: non-ASCII in the header value.
        (
            "non-ASCII header value",
            "invalid_header",
            format!("Bearer {good}é").into_bytes(),
        ),
        // Row 21: segment games.
        (
            "four segments",
            "malformed_token",
            bearer(&format!("{good}.x")),
        ),
        (
            "five segments (JWE)",
            "malformed_token",
            bearer(&format!("{}.a.b.c.d", parts[0])),
        ),
        ("empty token", "malformed_token", b"Bearer ".to_vec()),
        // Row 22: psychic signature.
        (
            "psychic ES256",
            "invalid_signature",
            bearer(&raw(&es_header, &p, &psychic)),
        ),
        // Row 26: JWK alg RS256, token PS256 on the same key.
        (
            "alg differs from JWK alg",
            "invalid_algorithm",
            bearer(&mint(&spec("PS256"))),
        ),
        // Row 27: nested JWT.
        (
            "cty JWT",
            "unsupported_header",
            bearer(&with_header(json!({"cty": "JWT"}))),
        ),
        // Bad signature, unknown kid, no kid.
        // One bit of the signature flipped (the text stays canonical base64), and signatures cut short.
        (
            "bad signature",
            "invalid_signature",
            bearer(&{
                let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("own signature");
                sig[0] ^= 1;
                format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig))
            }),
        ),
        // 342 characters cut to 340: whole base64 groups, so it decodes (to 255 bytes) and the check itself fails.
        (
            "truncated signature",
            "invalid_signature",
            bearer(&format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 2]
            )),
        ),
        // One character cut: no base64 text has a length of 4n + 1.
        (
            "signature of an impossible length",
            "malformed_token",
            bearer(&format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 1]
            )),
        ),
        (
            "unknown kid",
            "unknown_kid",
            bearer(&{
                let mut s = spec("RS256");
                s["kid"] = "nope".into();
                mint(&s)
            }),
        ),
        ("no kid", "malformed_token", bearer(&mint(&without("kid")))),
    ];
    expect_denied(&svc, &cases).await;
    assert_eq!(
        evil.received().len(),
        0,
        "a URL named by a token was fetched"
    );
    still_healthy(&svc, &good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item15_fixed_key_attacks_are_denied_by_the_check_they_aim_at() {
    let rsa = Service::start(
        &fixed_config("RS256", &read_key("rsa1", "pub.pem")),
        &[],
        &[],
    );
    let hs = Service::start(&fixed_config("HS256", HS_SECRET), &[], &[]);
    assert!(rsa.wait_ready(Duration::from_secs(10)) && hs.wait_ready(Duration::from_secs(10)));
    let hs_spec =
        |secret: &str| json!({"alg": "HS256", "secret": secret, "claims": claims(), "exp_in": 600});
    // `alg: none` with every other claim right (iss, aud, exp, the session claims): only the algorithm check
    // stands in its way, as the twin signed by the trusted key over the same claims shows.
    let full = {
        let mut c = claims();
        c["exp"] = (now() + 600).into();
        c
    };
    let none_header = json!({"alg": "none", "typ": "JWT"});
    expect_allowed(
        &rsa,
        &[(
            "the alg none claims, signed",
            resign(
                format!(
                    "{}.{}",
                    b64(&json!({"alg": "RS256", "typ": "JWT"})),
                    b64(&full)
                )
                .as_bytes(),
            ),
        )],
    )
    .await;
    expect_denied(
        &rsa,
        &[
            ("key confusion on a fixed RSA key", "invalid_algorithm", bearer(&mint(&json!({"alg": "HS256", "secret_from_public_pem": "rsa1", "claims": claims(), "exp_in": 600})))),
            ("alg none", "invalid_algorithm", bearer(&raw(&none_header, &full, ""))),
            ("alg none with an RS256 signature", "invalid_algorithm", resign(format!("{}.{}", b64(&none_header), b64(&full)).as_bytes())),
            ("other RSA key", "invalid_signature", bearer(&{ let mut s = spec("RS256"); s["sign_with"] = "rsa2".into(); mint(&s) })),
        ],
    )
    .await;
    expect_denied(
        &hs,
        &[
            ("blank HMAC password", "invalid_signature", bearer(&mint(&hs_spec("")))),
            ("common password", "invalid_signature", bearer(&mint(&hs_spec("secret")))),
            ("HS384 with the right secret", "invalid_algorithm", bearer(&mint(&json!({"alg": "HS384", "secret": HS_SECRET, "claims": claims(), "exp_in": 600})))),
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
async fn item19_one_megabyte_header_is_refused_or_the_connection_closed() {
    let mock = MockServer::start();
    mock.set(
        "/jwks.json",
        Route::json(200, &jwks_doc(&[json!({"key": "rsa1", "kid": "k1"})])),
    );
    let svc = started(&jwks_config(&format!("{}/jwks.json", mock.base())), &[]);
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    let res = common::http::client()
        .get(svc.url("/"))
        .header("authorization", huge)
        .send()
        .await;
    match res {
        Ok(resp) => {
            let s = resp.status().as_u16();
            assert!((400..500).contains(&s), "1 MB header answered {s}");
        }
        // The server may close the connection while the client is still writing the megabyte: a refusal too. A
        // timeout is not: it would mean the service sat on the header.
        Err(e) => assert!(
            !e.is_timeout() && e.is_request(),
            "1 MB header: neither an answer nor a closed connection: {e:?}"
        ),
    }
    still_healthy(&svc, &mint(&spec("RS256"))).await;
}
