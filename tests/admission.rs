//! The admission webhook over TLS (a test CA made with rcgen): valid ConfigMaps are allowed, invalid ones denied with
//! the loader's message, a malformed review gets a well-formed answer, and replacing the certificate files changes the
//! served certificate without a restart.

mod common;

use std::time::{Duration, Instant};

use common::{Service, free_port, temp_dir};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{Value, json};

const NOAUTH: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: admin\n      sessionVariables: {}\n";

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

fn review(uid: &str, text: Option<&str>, labelled: bool) -> Value {
    let mut labels = json!({});
    if labelled {
        labels["authgate.io/authconfig"] = "true".into();
    }
    let mut data = json!({});
    if let Some(t) = text {
        data["authconfig.yaml"] = t.into();
    }
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "authgate-config", "namespace": "auth", "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "authgate-config", "namespace": "auth", "labels": labels},
                       "data": data},
            "dryRun": false
        }
    })
}

struct Setup {
    _svc: Service,
    port: u16,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
    pki: Pki,
}

fn setup() -> (Setup, Vec<u8>) {
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
        NOAUTH,
        &[
            "--admission-listen",
            &addr,
            "--tls-cert",
            &c,
            "--tls-key",
            &k,
        ],
        &[],
    );
    (
        Setup {
            _svc: svc,
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
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .tls_info(true)
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .timeout(Duration::from_secs(10))
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
    let (s, first_der) = setup();
    wait_listening(s.port).await;
    let c = client(&s.pki, s.port);

    let (ok, der) = post(&c, s.port, review("u-1", Some(NOAUTH), true).to_string()).await;
    assert_eq!(
        der, first_der,
        "the served certificate is the one in the files"
    );
    assert_eq!(ok["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(ok["kind"], "AdmissionReview");
    assert_eq!(ok["response"]["uid"], "u-1");
    assert_eq!(ok["response"]["allowed"], true);

    let bad = NOAUTH.replace("role: admin", "role: admin\n      extra: 1");
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
            review("u-6", Some(NOAUTH), true).to_string(),
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
