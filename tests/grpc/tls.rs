//! The gRPC listener over TLS: client certificates required when a CA is given, and the certificate, its key and
//! the client CA reloaded from their files without a restart. Certificates are made here with rcgen.

use std::path::Path;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::configs::noauth_config;
use crate::common::service::{Service, ready};
use crate::common::temp_dir;

/// A CA and what it signs.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
struct Pair {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `localhost` (a server) or for a client named `name`.
    fn sign(&self, name: &str) -> Pair {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Replace `path` the way a Secret update does: a sibling file renamed over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A health check over TLS trusting `ca`, with `identity` as the client certificate if given.
async fn health_over_tls(
    port: u16,
    ca: &str,
    identity: Option<&Pair>,
) -> Result<ServingStatus, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert, &id.key));
    }
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| ServingStatus::try_from(r.into_inner().status).unwrap_or(ServingStatus::Unknown))
        .map_err(|s| format!("rpc: {s:?}"))
}

/// Poll until a TLS health check with these credentials is SERVING (at most 10 s).
async fn eventually_serving(port: u16, ca: &str, identity: &Pair) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if health_over_tls(port, ca, Some(identity)).await == Ok(ServingStatus::Serving) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_requires_a_client_certificate_and_reloads_its_files() {
    let (ca1, ca2) = (Ca::new("authgate test CA 1"), Ca::new("authgate test CA 2"));
    let (server1, server2) = (ca1.sign("server 1"), ca2.sign("server 2"));
    let (client1, client2) = (ca1.sign("client 1"), ca2.sign("client 2"));
    let dir = temp_dir("grpc-tls");
    let (cert, key, client_ca) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt"));
    replace(&cert, &server1.cert);
    replace(&key, &server1.key);
    replace(&client_ca, &ca1.pem());
    let svc = Service::start(
        &noauth_config("guest", &[]),
        &[
            "--grpc-tls-cert",
            &cert.display().to_string(),
            "--grpc-tls-key",
            &key.display().to_string(),
            "--grpc-client-ca",
            &client_ca.display().to_string(),
        ],
        &[],
    );
    ready(&svc);
    let port = svc.grpc;

    // A client certificate from the CA: served. None, or one from another CA, or no TLS at all: refused.
    assert_eq!(
        health_over_tls(port, &ca1.pem(), Some(&client1)).await,
        Ok(ServingStatus::Serving),
        "log:\n{}",
        svc.log()
    );
    assert!(
        health_over_tls(port, &ca1.pem(), None).await.is_err(),
        "no client certificate"
    );
    assert!(
        health_over_tls(port, &ca1.pem(), Some(&client2))
            .await
            .is_err(),
        "a client certificate from another CA"
    );
    let cleartext = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(channel) = cleartext {
        assert!(
            HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .is_err(),
            "cleartext HTTP/2 on the TLS listener"
        );
    }

    // The server's certificate and key are replaced by a pair from CA 2: clients trusting CA 2 get through.
    replace(&cert, &server2.cert);
    replace(&key, &server2.key);
    assert!(
        eventually_serving(port, &ca2.pem(), &client1).await,
        "the new server certificate was never served; log:\n{}",
        svc.log()
    );
    assert!(
        health_over_tls(port, &ca1.pem(), Some(&client1))
            .await
            .is_err(),
        "the old certificate is gone"
    );

    // The client CA is replaced: CA 2's clients are accepted, CA 1's no longer.
    replace(&client_ca, &ca2.pem());
    assert!(
        eventually_serving(port, &ca2.pem(), &client2).await,
        "the new client CA was never used; log:\n{}",
        svc.log()
    );
    assert!(
        health_over_tls(port, &ca2.pem(), Some(&client1))
            .await
            .is_err(),
        "CA 1's client after the swap"
    );
}
