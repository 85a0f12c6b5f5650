//! The Helm chart: `scripts/check-chart.sh` lints and renders charts/authgate (default values and every file in
//! charts/authgate/ci/), checks the rendered objects (security context, probes, labels, webhook settings), loads the
//! chart's AuthConfig with this crate's `authgate check`, and compares manifests/authgate.yaml with a fresh render.
//! The `item*` tests render the chart with `helm template` and chosen values and check one property each.
//!
//! It needs `helm` on PATH (`scripts/install-helm.sh` installs it). Without helm the tests are skipped, loudly, except
//! under CI (the `CI` environment variable set), where a missing helm is a failure.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};

fn helm_on_path() -> bool {
    Command::new("helm")
        .arg("version")
        .arg("--short")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// True when helm is there; otherwise (outside CI only) print a loud skip line and return false.
fn helm_or_skip(test: &str) -> bool {
    if helm_on_path() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "helm is not on PATH under CI: .ci/run must run scripts/install-helm.sh before the tests"
    );
    // Written to the process's stderr directly: libtest captures `eprintln!` of passing tests, and a skip must be
    // seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: helm is not on PATH (run scripts/install-helm.sh) ***\n"
    );
    false
}

/// `helm template authgate charts/authgate --namespace authgate --set S...`: the rendered objects.
fn render(sets: &[&str]) -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("helm");
    cmd.args([
        "template",
        "authgate",
        "charts/authgate",
        "--namespace",
        "authgate",
    ])
    .current_dir(root);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("run helm template");
    assert!(
        out.status.success(),
        "helm template {sets:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 render");
    serde_saphyr::from_multiple::<Value>(&text)
        .expect("the render is YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn pod_selector(docs: &[Value]) -> Value {
    let dep = named(docs, "Deployment", "authgate").expect("the Deployment");
    dep["spec"]["selector"]["matchLabels"].clone()
}

#[test]
fn chart_lints_renders_and_matches_the_manifests() {
    if !helm_or_skip("chart_lints_renders_and_matches_the_manifests") {
        return;
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/check-chart.sh"))
        .current_dir(root)
        .env("AUTHGATE_BIN", env!("CARGO_BIN_EXE_authgate"))
        .output()
        .expect("run scripts/check-chart.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/check-chart.sh failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("check-chart: ok"),
        "scripts/check-chart.sh exited 0 without its closing line:\n{stdout}\n{stderr}"
    );
}

/// Item 13: admission has its own Service that lists not-ready pods (a pod whose JWKS does not load is unready, and
/// failurePolicy Fail would otherwise refuse the AuthConfig change that fixes it); the webhook and its certificate
/// point at that Service, and the main Service keeps routing to ready pods only.
#[test]
fn item13_admission_has_its_own_service_publishing_not_ready_pods() {
    if !helm_or_skip("item13_admission_has_its_own_service_publishing_not_ready_pods") {
        return;
    }
    for cert_manager in [false, true] {
        let docs = render(&[
            "webhook.enabled=true",
            &format!("webhook.certManager.enabled={cert_manager}"),
        ]);
        let selector = pod_selector(&docs);
        let main = named(&docs, "Service", "authgate").expect("the main Service");
        assert!(
            main["spec"]
                .get("publishNotReadyAddresses")
                .is_none_or(|v| v == false),
            "the main Service must route to ready pods only: {main}"
        );
        let main_ports: Vec<&Value> = main["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| &p["name"])
            .collect();
        assert_eq!(main_ports, [&json!("data"), &json!("admin")], "{main}");

        let adm = named(&docs, "Service", "authgate-admission").expect("the admission Service");
        assert_eq!(adm["spec"]["publishNotReadyAddresses"], true, "{adm}");
        assert_eq!(adm["spec"]["selector"], selector, "{adm}");
        assert_eq!(
            adm["spec"]["ports"],
            json!([{"name": "admission", "port": 443, "targetPort": "admission", "protocol": "TCP"}]),
            "{adm}"
        );

        let vwc = of_kind(&docs, "ValidatingWebhookConfiguration");
        assert_eq!(vwc.len(), 1);
        for hook in vwc[0]["webhooks"].as_array().expect("webhooks") {
            let svc = &hook["clientConfig"]["service"];
            assert_eq!(svc["name"], "authgate-admission", "{hook}");
            assert_eq!(svc["namespace"], "authgate", "{hook}");
            assert_eq!(svc["port"], 443, "{hook}");
        }

        let want = "authgate-admission.authgate.svc";
        if cert_manager {
            let cert = &of_kind(&docs, "Certificate")[0];
            let names = cert["spec"]["dnsNames"].as_array().expect("dnsNames");
            assert!(names.contains(&json!(want)), "{cert}");
        } else {
            let secret = &of_kind(&docs, "Secret")[0];
            let pem = base64::engine::general_purpose::STANDARD
                .decode(secret["data"]["tls.crt"].as_str().expect("tls.crt"))
                .expect("base64");
            let pem = String::from_utf8(pem).expect("PEM text");
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("PEM body");
            // A SAN dNSName is the name's bytes in the DER.
            assert!(
                der.windows(want.len()).any(|w| w == want.as_bytes()),
                "the generated certificate is not for {want}"
            );
        }
    }
    // Without the webhook there is no admission Service.
    let docs = render(&[]);
    assert!(named(&docs, "Service", "authgate-admission").is_none());
}

/// Item 14: the PodDisruptionBudget never blocks a node drain: `maxUnavailable: 1` (never `minAvailable`), and none
/// at all below two pods, counting the HPA's minReplicas when autoscaling owns the replica count.
#[test]
fn item14_pdb_never_blocks_a_drain_whatever_the_replica_count() {
    if !helm_or_skip("item14_pdb_never_blocks_a_drain_whatever_the_replica_count") {
        return;
    }
    let cases: [(&[&str], bool); 6] = [
        (&["replicaCount=1"], false),
        (
            &["autoscaling.enabled=true", "autoscaling.minReplicas=1"],
            false,
        ),
        (&["replicaCount=2"], true),
        (&["replicaCount=5"], true),
        (
            &["autoscaling.enabled=true", "autoscaling.minReplicas=2"],
            true,
        ),
        // The HPA's minimum counts, not replicaCount (which the HPA replaces).
        (
            &[
                "autoscaling.enabled=true",
                "replicaCount=1",
                "autoscaling.minReplicas=3",
            ],
            true,
        ),
    ];
    for (sets, want_pdb) in cases {
        let docs = render(sets);
        let pdbs = of_kind(&docs, "PodDisruptionBudget");
        if !want_pdb {
            assert!(
                pdbs.is_empty(),
                "{sets:?}: a PDB over one pod blocks drains: {pdbs:?}"
            );
            continue;
        }
        assert_eq!(pdbs.len(), 1, "{sets:?}");
        let spec = &pdbs[0]["spec"];
        assert_eq!(spec["maxUnavailable"], 1, "{sets:?}: {spec}");
        assert!(spec.get("minAvailable").is_none(), "{sets:?}: {spec}");
        assert_eq!(
            spec["unhealthyPodEvictionPolicy"], "AlwaysAllow",
            "{sets:?}: {spec}"
        );
        assert_eq!(
            spec["selector"]["matchLabels"],
            pod_selector(&docs),
            "{sets:?}"
        );
    }
}

/// Item 1 (the chart's part): the NetworkPolicy can confine the admission port to the API server's addresses. It
/// cannot select the API server by label, so the CIDRs are values; left empty the port stays open (documented).
#[test]
fn item1_network_policy_confines_the_admission_port_to_given_sources() {
    if !helm_or_skip("item1_network_policy_confines_the_admission_port_to_given_sources") {
        return;
    }
    let admission_rule = |docs: &[Value]| -> Option<Value> {
        let np = of_kind(docs, "NetworkPolicy");
        assert_eq!(np.len(), 1);
        let rules = np[0]["spec"]["ingress"]
            .as_array()
            .expect("ingress")
            .clone();
        let mut hits = rules.into_iter().filter(|r| {
            r["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["port"] == "admission"))
        });
        let hit = hits.next();
        assert!(hits.next().is_none(), "one rule for the admission port");
        hit
    };
    let on = ["networkPolicy.enabled=true", "webhook.enabled=true"];
    let narrowed = render(&[
        on[0],
        on[1],
        "networkPolicy.admissionFromCIDRs={10.0.0.10/32,fd00::10/128}",
    ]);
    let rule = admission_rule(&narrowed).expect("an admission rule");
    assert_eq!(
        rule["from"],
        json!([{"ipBlock": {"cidr": "10.0.0.10/32"}}, {"ipBlock": {"cidr": "fd00::10/128"}}]),
        "{rule}"
    );
    assert_eq!(
        rule["ports"],
        json!([{"port": "admission", "protocol": "TCP"}])
    );

    let peer = render(&[
        on[0],
        on[1],
        "networkPolicy.admissionFromCIDRs={10.0.0.10/32}",
        "networkPolicy.admissionFrom[0].namespaceSelector.matchLabels.name=kube-system",
    ]);
    let rule = admission_rule(&peer).expect("an admission rule");
    assert_eq!(
        rule["from"],
        json!([{"ipBlock": {"cidr": "10.0.0.10/32"}},
               {"namespaceSelector": {"matchLabels": {"name": "kube-system"}}}]),
        "{rule}"
    );

    // The documented default: no sources given, the admission port is open (no `from`).
    let open = render(&on);
    let rule = admission_rule(&open).expect("an admission rule");
    assert!(rule.get("from").is_none(), "{rule}");
    // No webhook, no admission rule.
    assert!(admission_rule(&render(&[on[0]])).is_none());
    // The schema refuses a CIDR that is not one.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("helm")
        .args([
            "template",
            "authgate",
            "charts/authgate",
            "--namespace",
            "authgate",
        ])
        .args(["--set", "networkPolicy.admissionFromCIDRs={apiserver}"])
        .current_dir(root)
        .output()
        .expect("run helm template");
    assert!(
        !out.status.success(),
        "admissionFromCIDRs={{apiserver}} must be refused"
    );
}
