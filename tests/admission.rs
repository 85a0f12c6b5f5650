//! The admission webhook over TLS (a test CA made with rcgen): valid ConfigMaps are allowed, invalid ones denied with
//! the loader's message, a malformed review gets a well-formed answer, and replacing the certificate files changes the
//! served certificate without a restart.

mod common;

use std::time::{Duration, Instant};

use common::configs::{Jwt, admission_review as review, noauth_config, webhook_config_from_env};
use common::service::Service;
use common::{free_port, temp_dir};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        Pki { ca }
    }

    /// A server certificate for `localhost`: (cert PEM, key PEM, cert DER).
    fn leaf(&self) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

struct Setup {
    svc: Service,
    port: u16,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
    pki: Pki,
}

fn setup() -> (Setup, Vec<u8>) {
    setup_with(&noauth_config("admin", &[]), &[])
}

/// The service on `config`, with an admission listener and `env` added to its environment.
fn setup_with(config: &str, env: &[(String, String)]) -> (Setup, Vec<u8>) {
    let pki = Pki::new();
    let dir = temp_dir("admission");
    let (cert, key, der) = pki.leaf();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, cert).expect("cert");
    std::fs::write(&key_path, key).expect("key");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (c, k) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let svc = Service::start(
        config,
        &[
            "--admission-listen",
            &addr,
            "--tls-cert",
            &c,
            "--tls-key",
            &k,
        ],
        env,
    );
    (
        Setup {
            svc,
            port,
            cert_path,
            key_path,
            pki,
        },
        der,
    )
}

fn client(pki: &Pki, port: u16) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(pki.ca.pem().as_bytes()).expect("CA cert");
    common::http::client_builder(Duration::from_secs(10))
        .tls_certs_only([ca])
        .tls_info(true)
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .build()
        .expect("client")
}

async fn post(c: &reqwest::Client, port: u16, body: String) -> (Value, Vec<u8>) {
    let resp = c
        .post(format!("https://localhost:{port}/validate"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("admission request over TLS");
    assert_eq!(
        resp.status().as_u16(),
        200,
        "a review is always answered with 200"
    );
    let der = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate().map(<[u8]>::to_vec))
        .unwrap_or_default();
    let text = resp.text().await.expect("body");
    (serde_json::from_str(&text).expect("JSON review"), der)
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "admission listener never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_reviews_over_tls() {
    let noauth = noauth_config("admin", &[]);
    let (s, first_der) = setup();
    wait_listening(s.port).await;
    let c = client(&s.pki, s.port);

    let (ok, der) = post(&c, s.port, review("u-1", Some(&noauth), true).to_string()).await;
    assert_eq!(
        der, first_der,
        "the served certificate is the one in the files"
    );
    assert_eq!(ok["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(ok["kind"], "AdmissionReview");
    assert_eq!(ok["response"]["uid"], "u-1");
    assert_eq!(ok["response"]["allowed"], true);

    let bad = noauth.replace("role: admin", "role: admin\n      extra: 1");
    let (denied, _) = post(&c, s.port, review("u-2", Some(&bad), true).to_string()).await;
    assert_eq!(denied["response"]["uid"], "u-2");
    assert_eq!(denied["response"]["allowed"], false);
    let msg = denied["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        msg.contains("definition.mode.noAuth.extra: unknown field `extra`"),
        "{denied}"
    );

    let v1 = "kind: AuthConfig\nversion: v1\ndefinition:\n  mode:\n    noAuth:\n      role: a\n      sessionVariables: {}\n";
    let (warned, _) = post(&c, s.port, review("u-3", Some(v1), true).to_string()).await;
    assert_eq!(warned["response"]["allowed"], true);
    let warnings = warned["response"]["warnings"].to_string();
    assert!(warnings.contains("deprecated"), "{warned}");

    let (missing, _) = post(&c, s.port, review("u-4", None, true).to_string()).await;
    assert_eq!(missing["response"]["allowed"], false, "{missing}");

    let (unlabelled, _) = post(&c, s.port, review("u-5", Some(&bad), false).to_string()).await;
    assert_eq!(
        unlabelled["response"]["allowed"], true,
        "not ours: {unlabelled}"
    );

    for junk in ["{", "[]", "{\"kind\":\"AdmissionReview\"}", "null"] {
        let (answer, _) = post(&c, s.port, junk.to_owned()).await;
        assert_eq!(answer["kind"], "AdmissionReview", "{junk}: {answer}");
        assert_eq!(answer["response"]["allowed"], false, "{junk}: {answer}");
    }

    // Rotate: new files, same paths; new handshakes get the new certificate, no restart.
    let (cert, key, new_der) = s.pki.leaf();
    std::fs::write(&s.key_path, key).expect("key");
    std::fs::write(&s.cert_path, cert).expect("cert");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = client(&s.pki, s.port);
        let (answer, der) = post(
            &fresh,
            s.port,
            review("u-6", Some(&noauth), true).to_string(),
        )
        .await;
        assert_eq!(answer["response"]["allowed"], true);
        if der == new_der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A DSN-shaped secret: a user, a password, a host and a port that must never come back to whoever asked.
const LEAK_DSN: &str = "postgres://dbadmin7:s3cr3tpass@pgprimary.internal:5432/x";
/// A short HMAC secret (18 bytes: under the recommended 32, so it draws a warning).
const LEAK_SECRET: &str = "hunter2-xq9-secret";
/// An http(s) webhook URL with credentials in it (user info, and a key in the query, which reqwest would quote in
/// an error): it loads, and it must not come back either.
const LEAK_HOOK: &str = "http://dbadmin7:s3cr3tpass@127.0.0.1:1/hook?key=s3cr3tpass";

fn leak_env() -> Vec<(String, String)> {
    [
        ("AUTHGATE_LEAK_DSN", LEAK_DSN),
        ("AUTHGATE_LEAK_SECRET", LEAK_SECRET),
        ("AUTHGATE_LEAK_HOOK", LEAK_HOOK),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn hook_from_env(var: &str) -> String {
    webhook_config_from_env("GET", var)
}

fn fixed_from_env(alg: &str, var: &str) -> String {
    Jwt::fixed_from_env(alg, var).yaml()
}

/// Fails when `text` holds a secret value, a part of one (user, password, host, port, scheme) or a length of one
/// (as any number in the text, or only as "N bytes" in a log, whose timestamps are full of numbers).
fn assert_no_leak(what: &str, text: &str) {
    assert_no_value(what, text);
    let numbers: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .collect();
    for len in [LEAK_DSN.len(), LEAK_SECRET.len(), LEAK_HOOK.len()] {
        assert!(
            !numbers.contains(&len.to_string().as_str()),
            "{what} contains the length {len} of a secret:\n{text}"
        );
    }
}

fn assert_no_value(what: &str, text: &str) {
    for part in [
        LEAK_DSN,
        "postgres",
        "dbadmin7",
        "s3cr3tpass",
        "pgprimary",
        LEAK_SECRET,
        "hunter2",
        "xq9",
        LEAK_HOOK,
    ] {
        assert!(!text.contains(part), "{what} contains {part:?}:\n{text}");
    }
    // The DSN's port is a number: it leaks as a number of its own ("...:5432/x"), which is how it is looked for.
    // As a substring it also turned up, by chance, inside a log's microsecond timestamps and loopback ports
    // (127.0.0.1:54321), failing about one run in forty.
    assert!(
        !text
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| n == "5432"),
        "{what} contains the port 5432:\n{text}"
    );
}

/// Item 1: an AdmissionReview (or `check`, or a reload in `serve`) whose AuthConfig reads a variable of the pod's
/// environment learns at most a one-bit verdict about it (missing, not a URL, not a PEM, short), never the value,
/// a part of it or its length; the messages still name the field and the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item1_admission_check_and_logs_never_echo_a_value_from_env() {
    let served = fixed_from_env("HS256", "AUTHGATE_LEAK_SECRET");
    let (s, _) = setup_with(&served, &leak_env());
    wait_listening(s.port).await;
    let c = client(&s.pki, s.port);

    // (uid, config, allowed, what the answer must name)
    let cases = [
        (
            "leak-a",
            hook_from_env("AUTHGATE_LEAK_DSN"),
            false,
            "definition.mode.webhook.url.valueFromEnv",
        ),
        (
            "leak-b",
            hook_from_env("AUTHGATE_LEAK_SECRET"),
            false,
            "definition.mode.webhook.url.valueFromEnv",
        ),
        (
            "leak-c",
            fixed_from_env("RS256", "AUTHGATE_LEAK_DSN"),
            false,
            "definition.mode.jwt.key.fixed.key.valueFromEnv",
        ),
        (
            "leak-d",
            fixed_from_env("ES256", "AUTHGATE_LEAK_SECRET"),
            false,
            "definition.mode.jwt.key.fixed.key.valueFromEnv",
        ),
        (
            "leak-e",
            fixed_from_env("HS256", "AUTHGATE_LEAK_SECRET"),
            true,
            "definition.mode.jwt.key.fixed.key.valueFromEnv",
        ),
        ("leak-f", hook_from_env("AUTHGATE_LEAK_HOOK"), true, ""),
    ];
    for (uid, config, allowed, names) in &cases {
        let (answer, _) = post(&c, s.port, review(uid, Some(config), true).to_string()).await;
        assert_eq!(answer["response"]["uid"], *uid, "{answer}");
        assert_eq!(answer["response"]["allowed"], *allowed, "{uid}: {answer}");
        let text = answer.to_string();
        assert_no_leak(&format!("the review answer {uid}"), &text);
        assert!(text.contains(names), "{uid} must name {names}: {text}");
        if !names.is_empty() {
            let var = config
                .lines()
                .find_map(|l| l.trim().strip_prefix("valueFromEnv: "))
                .expect("a valueFromEnv line");
            assert!(text.contains(var), "{uid} must name {var}: {text}");
        }
    }
    let (warned, _) = post(
        &c,
        s.port,
        review("leak-e", Some(&cases[4].1), true).to_string(),
    )
    .await;
    let warnings = warned["response"]["warnings"].to_string();
    assert!(
        warnings.contains("shorter than the recommended 32 bytes"),
        "the short secret still draws its one-bit warning: {warned}"
    );

    // `authgate check`, text and JSON, on the same configs with the same environment.
    let dir = temp_dir("leak-check");
    let files: Vec<String> = cases
        .iter()
        .map(|(uid, config, _, _)| {
            let f = dir.join(format!("{uid}.yaml"));
            std::fs::write(&f, config).expect("write config");
            f.display().to_string()
        })
        .collect();
    for format in ["text", "json"] {
        let out = std::process::Command::new(common::service::bin())
            .arg("check")
            .args(["--format", format])
            .args(&files)
            .envs(leak_env())
            .output()
            .expect("run authgate check");
        assert_eq!(out.status.code(), Some(1), "some of the configs fail");
        let text = common::combined(&out);
        assert!(
            text.contains("AUTHGATE_LEAK_DSN") && text.contains("AUTHGATE_LEAK_SECRET"),
            "check names the variables: {text}"
        );
        assert_no_leak(&format!("authgate check --format {format}"), &text);
    }

    // `serve` logs: the served config drew the short-secret warning at start; now a rejected reload (the DSN as a
    // webhook URL), then one that loads (credentials in an http URL) and a request that makes the hook fail.
    let reloads = |result: &str| {
        common::service::metric(
            &s.svc.metrics(),
            &format!("authgate_config_reloads_total{{result=\"{result}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let wait_reloads = |result: &str, n: f64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while reloads(result) < n {
            assert!(
                Instant::now() < deadline,
                "no {result} reload:\n{}",
                s.svc.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Replaced by a rename, so the watcher never reads a half-written file.
    common::write_atomic(&s.svc.config_path, &hook_from_env("AUTHGATE_LEAK_DSN"));
    wait_reloads("error", 1.0);
    common::write_atomic(&s.svc.config_path, &hook_from_env("AUTHGATE_LEAK_HOOK"));
    wait_reloads("success", 2.0);
    let resp = common::http::client()
        .get(s.svc.url("/"))
        .send()
        .await
        .expect("a decision");
    assert_eq!(resp.status().as_u16(), 503, "the hook at port 1 is down");
    let body = resp.text().await.expect("body");
    assert_no_leak("the 503 answer of a failed webhook call", &body);
    let log = s.svc.log();
    assert!(
        log.contains("AUTHGATE_LEAK_DSN") && log.contains("AUTHGATE_LEAK_SECRET"),
        "the log names the variables:\n{log}"
    );
    assert_no_value("the serve log", &log);
    for len in [LEAK_DSN.len(), LEAK_SECRET.len(), LEAK_HOOK.len()] {
        assert!(
            !log.contains(&format!("{len} bytes")),
            "the serve log contains the length {len} of a secret:\n{log}"
        );
    }
}

/// Item 13: the admission listener answers while `/readyz` is not ready (here: a JWKS that never loads), so the
/// chart's admission Service (publishNotReadyAddresses) can reach pods whose keys are down, and a fix to the
/// AuthConfig is never refused because the current one is broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item13_admission_answers_while_not_ready() {
    let dead_jwks = Jwt::jwk_from_url("http://127.0.0.1:1/jwks.json").yaml();
    let noauth = noauth_config("admin", &[]);
    let (s, _) = setup_with(&dead_jwks, &[]);
    wait_listening(s.port).await;
    let c = client(&s.pki, s.port);
    let bad = noauth.replace("role: admin", "role: admin\n      extra: 1");
    // Over a window of 2 s: never ready, and every review answered, valid ones allowed and invalid ones denied.
    let start = Instant::now();
    let mut answered = 0;
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(2) {
        let ready = common::raw::http_get_status(&s.svc.admin_url("/readyz"));
        assert_ne!(
            ready,
            Some(200),
            "a dead JWKS must keep /readyz unready:\n{}",
            s.svc.log()
        );
        assert!(ready.is_some(), "the admin listener answers /readyz");
        n += 1;
        let (fix, _) = post(
            &c,
            s.port,
            review(&format!("fix-{n}"), Some(&noauth), true).to_string(),
        )
        .await;
        assert_eq!(fix["response"]["allowed"], true, "{fix}");
        let (denied, _) = post(
            &c,
            s.port,
            review(&format!("bad-{n}"), Some(&bad), true).to_string(),
        )
        .await;
        assert_eq!(denied["response"]["allowed"], false, "{denied}");
        answered += 2;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered >= 4, "too few reviews in the window: {answered}");
    assert_ne!(
        common::raw::http_get_status(&s.svc.admin_url("/readyz")),
        Some(200),
        "still unready at the end of the window"
    );
}

/// `serve --configmap-selector` with the admission listener: the objectSelector chose what is sent, so every
/// ConfigMap is judged, labelled or not, and so is the config name it gives (annotation, else its own name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_selector_mode_every_configmap_and_its_config_name_are_judged() {
    let pki = Pki::new();
    let dir = temp_dir("admission-selector");
    let (cert, key, _) = pki.leaf();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, cert).expect("cert");
    std::fs::write(&key_path, key).expect("key");
    // A cluster that is never reached: the watch retries in the background, the webhook does not need it.
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: none\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: none\n    user: u\ncurrent-context: c\n",
            free_port()
        ),
    )
    .expect("kubeconfig");
    let port = free_port();
    let source = [
        "--configmap-selector".to_owned(),
        "team=auth".to_owned(),
        "--configmap-namespace".to_owned(),
        "auth".to_owned(),
    ];
    let (addr, c, k) = (
        format!("127.0.0.1:{port}"),
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let env = [
        ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
        ("KUBERNETES_SERVICE_HOST".to_owned(), String::new()),
    ];
    let _svc = Service::start_with(
        &source,
        &dir.join("authgate"),
        &[
            "--admission-listen",
            &addr,
            "--tls-cert",
            &c,
            "--tls-key",
            &k,
        ],
        &env,
    );
    wait_listening(port).await;
    let client = client(&pki, port);
    let noauth = noauth_config("admin", &[]);
    let broken = noauth.replace("role: admin", "rolee: admin");
    let named = |uid: &str, text: &str, name: &str, annotation: Option<&str>| {
        let mut r = review(uid, Some(text), false);
        r["request"]["object"]["metadata"]["name"] = name.into();
        if let Some(a) = annotation {
            r["request"]["object"]["metadata"]["annotations"] =
                serde_json::json!({"authgate.io/config-name": a});
        }
        r.to_string()
    };
    let verdict = |v: &Value| {
        (
            v["response"]["allowed"].as_bool(),
            v["response"]["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let (v, _) = post(&client, port, named("s-1", &noauth, "tenant-a", None)).await;
    assert_eq!(verdict(&v).0, Some(true), "{v}");
    let (v, _) = post(&client, port, named("s-2", &broken, "tenant-a", None)).await;
    let (allowed, msg) = verdict(&v);
    assert_eq!(allowed, Some(false), "judged without the label: {v}");
    assert!(msg.contains("rolee"), "{v}");
    let (v, _) = post(
        &client,
        port,
        named("s-3", &noauth, "rel-a", Some("Tenant_A")),
    )
    .await;
    let (allowed, msg) = verdict(&v);
    assert_eq!(allowed, Some(false), "{v}");
    assert!(
        msg.contains("`Tenant_A` is not a valid config name")
            && msg.contains("authgate.io/config-name"),
        "{v}"
    );
    // A ConfigMap name may hold dots; a config name may not: the annotation names it.
    let (v, _) = post(&client, port, named("s-4", &noauth, "tenant.a", None)).await;
    assert_eq!(verdict(&v).0, Some(false), "{v}");
    let (v, _) = post(
        &client,
        port,
        named("s-5", &noauth, "tenant.a", Some("tenant-a")),
    )
    .await;
    assert_eq!(verdict(&v).0, Some(true), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}
