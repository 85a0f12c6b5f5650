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

/// `helm <verb> ... charts/authgate --namespace authgate --set S...` (verb `template`, or `lint --strict`).
fn helm_chart(verb: &[&str], sets: &[&str]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("helm");
    cmd.args(verb)
        .args(["charts/authgate", "--namespace", "authgate"])
        .current_dir(root);
    if verb.first() == Some(&"template") {
        // A cluster with the Prometheus Operator and cert-manager: their objects are rendered only where the API
        // exists (tests/chart/i15.rs checks the other side).
        cmd.args(i15::CRD_APIS);
    }
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.output().expect("run helm")
}

/// `helm template authgate charts/authgate --namespace authgate --set S...`: the rendered objects.
fn render(sets: &[&str]) -> Vec<Value> {
    let out = helm_chart(&["template", "authgate"], sets);
    rendered(out, &format!("helm template {sets:?}"))
}

/// The objects of a successful `helm template` (`what` names it in the failure).
fn rendered(out: std::process::Output, what: &str) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8(out.stdout).expect("UTF-8 render"))
}

/// The objects of a multi-document YAML render (empty documents left out).
fn parse(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
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
        assert_eq!(
            main_ports,
            [&json!("data"), &json!("admin"), &json!("grpc")],
            "{main}"
        );

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
    let out = helm_chart(
        &["template", "authgate"],
        &["networkPolicy.admissionFromCIDRs={apiserver}"],
    );
    assert!(
        !out.status.success(),
        "admissionFromCIDRs={{apiserver}} must be refused"
    );
}

/// The stderr of a `helm template` that must fail; panics when it renders.
fn render_err(sets: &[&str]) -> String {
    let out = helm_chart(&["template", "authgate"], sets);
    assert!(
        !out.status.success(),
        "helm template {sets:?} must be refused, but it rendered"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn container(docs: &[Value]) -> Value {
    let dep = named(docs, "Deployment", "authgate").expect("the Deployment");
    dep["spec"]["template"]["spec"]["containers"][0].clone()
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

/// The value after `flag` in the container's arguments.
fn arg(docs: &[Value], flag: &str) -> Option<String> {
    let args = args(docs);
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

fn port_named<'a>(ports: &'a Value, name: &str) -> Option<&'a Value> {
    ports.as_array()?.iter().find(|p| p["name"] == name)
}

/// The NetworkPolicy's ingress rule that admits `port`, with the other ports of that rule.
fn np_rule_for(docs: &[Value], port: &str) -> Option<Value> {
    let np = of_kind(docs, "NetworkPolicy");
    assert_eq!(np.len(), 1);
    np[0]["spec"]["ingress"]
        .as_array()
        .expect("ingress rules")
        .iter()
        .find(|r| {
            r["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["port"] == port))
        })
        .cloned()
}

/// Issue 13: the gRPC listener is on by default: a container port, a Service port with `appProtocol:
/// kubernetes.io/h2c` (Istio and Envoy Gateway speak h2c only when told), the same NetworkPolicy peers as the data
/// port; the probes stay on the admin port. Off, it is `--grpc-listen off` and the port is nowhere.
#[test]
fn i13_grpc_port_on_pod_service_and_network_policy_probes_unchanged() {
    if !helm_or_skip("i13_grpc_port_on_pod_service_and_network_policy_probes_unchanged") {
        return;
    }
    let peers = "networkPolicy.dataFrom[0].namespaceSelector.matchLabels.name=envoy-gateway-system";
    let docs = render(&["networkPolicy.enabled=true", peers]);
    assert_eq!(arg(&docs, "--grpc-listen").as_deref(), Some("0.0.0.0:8081"));
    let c = container(&docs);
    assert_eq!(
        port_named(&c["ports"], "grpc"),
        Some(&json!({"name": "grpc", "containerPort": 8081, "protocol": "TCP"}))
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(
            c[probe]["httpGet"],
            json!({"path": path, "port": "admin"}),
            "{probe}"
        );
    }
    let svc = named(&docs, "Service", "authgate").expect("the Service");
    assert_eq!(
        port_named(&svc["spec"]["ports"], "grpc"),
        Some(
            &json!({"name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP",
                     "appProtocol": "kubernetes.io/h2c"})
        )
    );
    let rule = np_rule_for(&docs, "grpc").expect("a NetworkPolicy rule for the gRPC port");
    assert_eq!(
        rule,
        json!({"ports": [{"port": "data", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}],
               "from": [{"namespaceSelector": {"matchLabels": {"name": "envoy-gateway-system"}}}]}),
        "the gRPC port takes the data port's peers"
    );

    // Other ports: the container listens where the flag says, the Service maps its own port to it.
    let moved = render(&["ports.grpc=9000", "service.grpcPort=443"]);
    assert_eq!(
        arg(&moved, "--grpc-listen").as_deref(),
        Some("0.0.0.0:9000")
    );
    assert_eq!(
        port_named(&container(&moved)["ports"], "grpc").map(|p| &p["containerPort"]),
        Some(&json!(9000))
    );
    let svc = named(&moved, "Service", "authgate").expect("the Service");
    assert_eq!(
        port_named(&svc["spec"]["ports"], "grpc").map(|p| (&p["port"], &p["targetPort"])),
        Some((&json!(443), &json!("grpc")))
    );

    let off = render(&["grpc.enabled=false", "networkPolicy.enabled=true"]);
    assert_eq!(arg(&off, "--grpc-listen").as_deref(), Some("off"));
    assert!(port_named(&container(&off)["ports"], "grpc").is_none());
    let svc = named(&off, "Service", "authgate").expect("the Service");
    assert!(port_named(&svc["spec"]["ports"], "grpc").is_none(), "{svc}");
    assert!(np_rule_for(&off, "grpc").is_none());
    assert!(np_rule_for(&off, "data").is_some());
    for flag in ["--grpc-tls-cert", "--grpc-metadata-vars"] {
        assert!(!args(&off).iter().any(|a| a == flag));
    }
}

/// Issue 13: TLS for the gRPC listener from Secrets, mounted as directories (a renewed certificate reaches the pod),
/// an optional client CA, and `--grpc-metadata-vars` from a list. Inconsistent values are refused at render time.
#[test]
fn i13_grpc_tls_from_secrets_and_metadata_vars() {
    if !helm_or_skip("i13_grpc_tls_from_secrets_and_metadata_vars") {
        return;
    }
    let docs = render(&[
        "grpc.tls.enabled=true",
        "grpc.tls.secretName=authgate-grpc-tls",
        "grpc.tls.clientCA.secretName=envoy-client-ca",
        "grpc.tls.clientCA.key=bundle.pem",
        "grpc.metadataVars={x-hasura-user-id,x-hasura-org-id}",
    ]);
    let pod =
        named(&docs, "Deployment", "authgate").expect("the Deployment")["spec"]["template"]["spec"]
            .clone();
    let mounts = &container(&docs)["volumeMounts"];
    // The flag's file must sit in a whole-Secret mount of the named Secret.
    let secret_behind = |path: &str| -> Value {
        let dir = Path::new(path)
            .parent()
            .expect("a directory")
            .to_str()
            .expect("UTF-8");
        let mount = mounts
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["mountPath"] == dir)
            .unwrap_or_else(|| panic!("nothing mounted at {dir}: {mounts}"));
        assert!(mount.get("subPath").is_none(), "{mount}");
        assert_eq!(mount["readOnly"], true, "{mount}");
        let vol = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("the mount's volume")
            .clone();
        vol["secret"]["secretName"].clone()
    };
    let cert = arg(&docs, "--grpc-tls-cert").expect("--grpc-tls-cert");
    let key = arg(&docs, "--grpc-tls-key").expect("--grpc-tls-key");
    let ca = arg(&docs, "--grpc-client-ca").expect("--grpc-client-ca");
    assert!(
        cert.ends_with("/tls.crt") && key.ends_with("/tls.key"),
        "{cert} {key}"
    );
    assert!(ca.ends_with("/bundle.pem"), "{ca}");
    assert_eq!(secret_behind(&cert), "authgate-grpc-tls");
    assert_eq!(secret_behind(&key), "authgate-grpc-tls");
    assert_eq!(secret_behind(&ca), "envoy-client-ca");
    assert_eq!(
        arg(&docs, "--grpc-metadata-vars").as_deref(),
        Some("x-hasura-user-id,x-hasura-org-id")
    );
    // h2c would claim cleartext.
    let svc = named(&docs, "Service", "authgate").expect("the Service");
    let grpc = port_named(&svc["spec"]["ports"], "grpc").expect("the gRPC port");
    assert!(grpc.get("appProtocol").is_none(), "{grpc}");

    // Cleartext by default: no TLS flags, no client CA, no metadata variables.
    let plain = render(&[]);
    for flag in [
        "--grpc-tls-cert",
        "--grpc-tls-key",
        "--grpc-client-ca",
        "--grpc-metadata-vars",
    ] {
        assert!(arg(&plain, flag).is_none(), "{flag} passed by default");
    }

    let e = render_err(&["grpc.tls.enabled=true"]);
    assert!(e.contains("grpc.tls.secretName"), "{e}");
    let e = render_err(&["grpc.tls.clientCA.secretName=ca"]);
    assert!(e.contains("grpc.tls.clientCA.secretName"), "{e}");
}

/// Issue 13: the glue objects are off by default; the chart then renders exactly what it rendered before them.
#[test]
fn i13_glue_objects_are_off_by_default() {
    if !helm_or_skip("i13_glue_objects_are_off_by_default") {
        return;
    }
    let docs = render(&[]);
    for kind in ["SecurityPolicy", "ReferenceGrant", "AuthorizationPolicy"] {
        assert!(
            of_kind(&docs, kind).is_empty(),
            "{kind} rendered by default"
        );
    }
    let kinds: std::collections::BTreeSet<&str> =
        docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
}

/// Issue 13: Envoy Gateway's SecurityPolicy over gRPC: fail closed, 503 when authgate cannot be reached, the gRPC
/// Service port, no header list (every client header reaches authgate), the named targets; and a ReferenceGrant in
/// authgate's namespace exactly when the policy lives elsewhere.
#[test]
fn i13_envoy_gateway_security_policy_grpc() {
    if !helm_or_skip("i13_envoy_gateway_security_policy_grpc") {
        return;
    }
    let on = [
        "envoyGateway.securityPolicy.enabled=true",
        "envoyGateway.securityPolicy.targetRefs[0].kind=HTTPRoute",
        "envoyGateway.securityPolicy.targetRefs[0].name=backend",
        "envoyGateway.securityPolicy.targetRefs[1].kind=Gateway",
        "envoyGateway.securityPolicy.targetRefs[1].name=eg",
        "envoyGateway.securityPolicy.targetRefs[1].sectionName=https",
        "service.grpcPort=9001",
    ];
    let mut sets = on.to_vec();
    sets.push("envoyGateway.securityPolicy.namespace=backend-ns");
    let docs = render(&sets);
    let sp = of_kind(&docs, "SecurityPolicy");
    assert_eq!(sp.len(), 1);
    let sp = sp[0];
    assert_eq!(sp["apiVersion"], "gateway.envoyproxy.io/v1alpha1");
    assert_eq!(sp["metadata"]["namespace"], "backend-ns");
    assert_eq!(
        sp["spec"]["targetRefs"],
        json!([
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "backend"},
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg", "sectionName": "https"}
        ])
    );
    let ext = &sp["spec"]["extAuth"];
    assert_eq!(ext["failOpen"], false, "{ext}");
    assert_eq!(ext["statusOnError"], 503, "{ext}");
    assert_eq!(ext["timeout"], "6s", "{ext}");
    assert_eq!(
        ext["grpc"],
        json!({"backendRefs": [{"name": "authgate", "namespace": "authgate", "port": 9001}]}),
        "the gRPC Service port"
    );
    assert!(ext.get("http").is_none(), "{ext}");
    assert!(
        ext.get("headersToExtAuth").is_none(),
        "a header list would hide client x-hasura-* headers from authgate, which could then not remove them: {ext}"
    );

    let grants = of_kind(&docs, "ReferenceGrant");
    assert_eq!(grants.len(), 1);
    let g = grants[0];
    assert_eq!(g["metadata"]["namespace"], "authgate");
    assert_eq!(
        g["spec"],
        json!({"from": [{"group": "gateway.envoyproxy.io", "kind": "SecurityPolicy", "namespace": "backend-ns"}],
               "to": [{"group": "", "kind": "Service", "name": "authgate"}]})
    );

    // Same namespace: no grant needed, none rendered.
    let local = render(&on);
    assert_eq!(
        of_kind(&local, "SecurityPolicy")[0]["metadata"]["namespace"],
        "authgate"
    );
    assert!(of_kind(&local, "ReferenceGrant").is_empty());
    // statusOnError 0 leaves the field out for Envoy Gateway before 1.8; failOpen stays false.
    let mut old = on.to_vec();
    old.push("envoyGateway.securityPolicy.statusOnError=0");
    let ext = &of_kind(&render(&old), "SecurityPolicy")[0]["spec"]["extAuth"].clone();
    assert!(ext.get("statusOnError").is_none(), "{ext}");
    assert_eq!(ext["failOpen"], false);

    // No targets, or gRPC while the listener is off: refused, not a policy that protects nothing or calls nothing.
    let e = render_err(&["envoyGateway.securityPolicy.enabled=true"]);
    assert!(e.contains("targetRefs"), "{e}");
    let mut off = on.to_vec();
    off.push("grpc.enabled=false");
    let e = render_err(&off);
    assert!(e.contains("grpc.enabled"), "{e}");
}

/// Issue 13: Envoy Gateway's SecurityPolicy in its HTTP shape: the data port, `headersToExtAuth` with the token
/// carriers (`authorization`, `cookie` for Clerk's `__session`), the role choice and auth mode, plus every
/// `headersToBackend` name (so that authgate sees a client copy and names it for removal), the session headers to the
/// backend, the path prefix.
#[test]
fn i13_envoy_gateway_security_policy_http() {
    if !helm_or_skip("i13_envoy_gateway_security_policy_http") {
        return;
    }
    let docs = render(&[
        "envoyGateway.securityPolicy.enabled=true",
        "envoyGateway.securityPolicy.protocol=http",
        "envoyGateway.securityPolicy.targetRefs[0].kind=HTTPRoute",
        "envoyGateway.securityPolicy.targetRefs[0].name=backend",
        "envoyGateway.securityPolicy.path=/check",
        "envoyGateway.securityPolicy.headersToBackend={x-hasura-role,x-hasura-user-id,x-hasura-tenant-id}",
        // It works over HTTP with the gRPC listener off.
        "grpc.enabled=false",
    ]);
    let sp = of_kind(&docs, "SecurityPolicy");
    assert_eq!(sp.len(), 1);
    let ext = &sp[0]["spec"]["extAuth"];
    assert_eq!(ext["failOpen"], false, "{ext}");
    assert!(ext.get("grpc").is_none(), "{ext}");
    assert_eq!(
        ext["http"],
        json!({
            "backendRefs": [{"name": "authgate", "namespace": "authgate", "port": 8080}],
            "path": "/check",
            "headersToBackend": ["x-hasura-role", "x-hasura-user-id", "x-hasura-tenant-id"]
        })
    );
    assert_eq!(
        ext["headersToExtAuth"],
        json!([
            "authorization",
            "cookie",
            "x-hasura-role",
            "x-hasura-auth-mode",
            "x-hasura-user-id",
            "x-hasura-tenant-id"
        ])
    );
}

/// Issue 13: Istio's AuthorizationPolicy: `action: CUSTOM` with the provider's name, the workloads from values, in
/// their namespace; a policy that would select a whole namespace by accident is refused.
#[test]
fn i13_istio_authorization_policy_custom() {
    if !helm_or_skip("i13_istio_authorization_policy_custom") {
        return;
    }
    let docs = render(&[
        "istio.authorizationPolicy.enabled=true",
        "istio.authorizationPolicy.namespace=backend-ns",
        "istio.authorizationPolicy.provider=authgate-http",
        "istio.authorizationPolicy.selector.app=backend",
    ]);
    let ap = of_kind(&docs, "AuthorizationPolicy");
    assert_eq!(ap.len(), 1);
    let ap = ap[0];
    assert_eq!(ap["apiVersion"], "security.istio.io/v1");
    assert_eq!(ap["metadata"]["namespace"], "backend-ns");
    assert_eq!(
        ap["spec"],
        json!({"selector": {"matchLabels": {"app": "backend"}}, "action": "CUSTOM",
               "provider": {"name": "authgate-http"}, "rules": [{}]})
    );

    let gw = render(&[
        "istio.authorizationPolicy.enabled=true",
        "istio.authorizationPolicy.targetRefs[0].kind=Gateway",
        "istio.authorizationPolicy.targetRefs[0].group=gateway.networking.k8s.io",
        "istio.authorizationPolicy.targetRefs[0].name=eg",
    ]);
    let spec = &of_kind(&gw, "AuthorizationPolicy")[0]["spec"];
    assert_eq!(
        spec["targetRefs"],
        json!([{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "eg"}])
    );
    assert!(spec.get("selector").is_none(), "{spec}");
    assert_eq!(
        spec["provider"]["name"], "authgate-grpc",
        "the default provider"
    );

    let e = render_err(&["istio.authorizationPolicy.enabled=true"]);
    assert!(e.contains("selector"), "{e}");
    let e = render_err(&[
        "istio.authorizationPolicy.enabled=true",
        "istio.authorizationPolicy.selector.app=backend",
        "istio.authorizationPolicy.targetRefs[0].kind=Gateway",
        "istio.authorizationPolicy.targetRefs[0].name=eg",
    ]);
    assert!(e.contains("not both"), "{e}");
}

/// Issue 13: `helm lint --strict` passes with the new values on, and values.schema.json refuses wrong types and
/// values for them (each refusal names the value).
#[test]
fn i13_lint_passes_and_schema_refuses_wrong_new_values() {
    if !helm_or_skip("i13_lint_passes_and_schema_refuses_wrong_new_values") {
        return;
    }
    let glue = [
        "envoyGateway.securityPolicy.enabled=true",
        "envoyGateway.securityPolicy.namespace=backend-ns",
        "envoyGateway.securityPolicy.targetRefs[0].kind=HTTPRoute",
        "envoyGateway.securityPolicy.targetRefs[0].name=backend",
        "istio.authorizationPolicy.enabled=true",
        "istio.authorizationPolicy.selector.app=backend",
        "grpc.metadataVars={x-hasura-user-id}",
    ];
    let out = helm_chart(&["lint", "--strict"], &glue);
    assert!(
        out.status.success(),
        "helm lint --strict {glue:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Each one alone must be refused by the schema, naming where.
    let wrong: &[(&str, &str)] = &[
        ("grpc.enabled=yes", "/grpc/enabled"),
        ("ports.grpc=70000", "/ports/grpc"),
        ("service.grpcPort=0", "/service/grpcPort"),
        ("grpc.tls.enabled=1", "/grpc/tls/enabled"),
        ("grpc.metadataVars=x-hasura-user-id", "/grpc/metadataVars"),
        ("grpc.metadataVars={user-id}", "/grpc/metadataVars/0"),
        (
            "grpc.metadataVars={x-hasura-a\\,x-hasura-b}",
            "/grpc/metadataVars",
        ),
        (
            "envoyGateway.securityPolicy.protocol=tcp",
            "/envoyGateway/securityPolicy/protocol",
        ),
        (
            "envoyGateway.securityPolicy.statusOnError=200",
            "/envoyGateway/securityPolicy/statusOnError",
        ),
        (
            "envoyGateway.securityPolicy.statusOnError=none",
            "/envoyGateway/securityPolicy/statusOnError",
        ),
        (
            "envoyGateway.securityPolicy.timeout=6",
            "/envoyGateway/securityPolicy/timeout",
        ),
        (
            "envoyGateway.securityPolicy.path=check",
            "/envoyGateway/securityPolicy/path",
        ),
        (
            "envoyGateway.securityPolicy.headersToBackend={X-Hasura-Role}",
            "/envoyGateway/securityPolicy/headersToBackend",
        ),
        (
            "envoyGateway.securityPolicy.targetRefs[0].kind=Service",
            "/envoyGateway/securityPolicy/targetRefs/0",
        ),
        (
            "envoyGateway.securityPolicy.namespace=Backend_NS",
            "/envoyGateway/securityPolicy/namespace",
        ),
        (
            "envoyGateway.securityPolicy.failOpen=true",
            "/envoyGateway/securityPolicy",
        ),
        (
            "istio.authorizationPolicy.selector=app",
            "/istio/authorizationPolicy/selector",
        ),
        (
            "istio.authorizationPolicy.rules=all",
            "/istio/authorizationPolicy/rules",
        ),
    ];
    for (set, where_) in wrong {
        let e = render_err(&[set]);
        assert!(
            e.contains(where_),
            "--set {set}: the refusal should name {where_:?}: {e}"
        );
    }
}

// ---- Issue 14: several AuthConfigs in one authgate (`authConfigs`, multi-config mode) ----

/// The labels and annotation that tie a ConfigMap to a release's config set (the pods' selector, the webhook's
/// objectSelector, the name the proxies use).
const CONFIG_SET_LABEL: &str = "authgate.io/config-set";
const CONFIG_NAME_ANNOTATION: &str = "authgate.io/config-name";

/// `helm <verb> ... charts/authgate --namespace authgate -f VALUES --set S...`, the values written as JSON (which is
/// YAML) to a file of this process, removed afterwards.
fn helm_values(verb: &[&str], values: &Value, sets: &[&str]) -> std::process::Output {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "authgate-chart-{}-{n}-values.json",
        std::process::id()
    ));
    std::fs::write(&path, values.to_string()).expect("write values file");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("helm");
    cmd.args(verb)
        .args(["charts/authgate", "--namespace", "authgate", "-f"])
        .arg(&path)
        .current_dir(root);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("run helm");
    let _ = std::fs::remove_file(&path);
    out
}

fn render_values(values: &Value, sets: &[&str]) -> Vec<Value> {
    let out = helm_values(&["template", "authgate"], values, sets);
    rendered(out, &format!("helm template -f {values} {sets:?}"))
}

fn render_values_err(values: &Value, sets: &[&str]) -> String {
    let out = helm_values(&["template", "authgate"], values, sets);
    assert!(
        !out.status.success(),
        "helm template -f {values} {sets:?} must be refused, but it rendered"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Two configs: `tenant-a` as an object (the fixed-key example), `b` as a YAML string (the Clerk example).
fn two_configs() -> (Value, Value, String) {
    let object: Value = serde_saphyr::from_str(&example("fixed-key.yaml")).expect("example YAML");
    let text = example("clerk.yaml");
    let values = json!({
        "authConfig": null,
        "authConfigs": {"tenant-a": object, "b": text},
    });
    (values, object, text)
}

fn config_maps(docs: &[Value]) -> Vec<&Value> {
    of_kind(docs, "ConfigMap")
}

/// `authgate check` on one AuthConfig document, through a file: the chart must render what the server loads.
fn authgate_check(text: &str, tag: &str) {
    let path =
        std::env::temp_dir().join(format!("authgate-chart-{}-{tag}.yaml", std::process::id()));
    std::fs::write(&path, text).expect("write AuthConfig");
    let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("run authgate check");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "authgate check refuses the rendered {tag}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 14: `authConfigs` with two entries renders one ConfigMap per entry (release-prefixed name, the set's label,
/// the map key as `authgate.io/config-name`, the document under `configMapKey`, loadable by `authgate check`), runs
/// authgate with `--configmap-selector` on that label in the release namespace, keeps the Role to reading ConfigMaps
/// of that namespace, and points the webhook's objectSelector at the same label.
#[test]
fn i14_auth_configs_render_labelled_config_maps_selector_role_and_webhook() {
    if !helm_or_skip("i14_auth_configs_render_labelled_config_maps_selector_role_and_webhook") {
        return;
    }
    let (values, object, text) = two_configs();
    let docs = render_values(
        &values,
        &[
            "webhook.enabled=true",
            "configMapAnnotations.team=platform",
            // The map key names the config, whatever the extra annotations say.
            "configMapAnnotations.authgate\\.io/config-name=spoofed",
        ],
    );

    let cms = config_maps(&docs);
    let mut names: Vec<&str> = cms
        .iter()
        .map(|c| c["metadata"]["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["authgate-config-b", "authgate-config-tenant-a"]);
    for (cm_name, config, want) in [
        ("authgate-config-tenant-a", "tenant-a", None),
        ("authgate-config-b", "b", Some(&text)),
    ] {
        let cm = named(&docs, "ConfigMap", cm_name).expect("the ConfigMap");
        let meta = &cm["metadata"];
        assert_eq!(meta["namespace"], "authgate", "{cm}");
        assert_eq!(meta["labels"][CONFIG_SET_LABEL], "authgate", "{cm}");
        assert!(
            meta["labels"].get("authgate.io/authconfig").is_none(),
            "a single-config webhook of another release would judge it under its own key: {cm}"
        );
        assert_eq!(
            meta["annotations"],
            json!({CONFIG_NAME_ANNOTATION: config, "team": "platform"}),
            "{cm}"
        );
        let data = cm["data"].as_object().expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["authconfig.yaml"], "{cm}");
        let body = data["authconfig.yaml"].as_str().expect("text");
        match want {
            Some(text) => assert_eq!(body, text.as_str(), "a string entry is kept as written"),
            None => {
                let parsed: Value = serde_saphyr::from_str(body).expect("YAML");
                assert_eq!(parsed, object, "an object entry is rendered as YAML");
            }
        }
        authgate_check(body, config);
    }

    // The server side: the selector on the set's label, in the release namespace; no single ConfigMap.
    let a = args(&docs);
    assert_eq!(
        arg(&docs, "--configmap-selector").as_deref(),
        Some("authgate.io/config-set=authgate"),
        "{a:?}"
    );
    assert_eq!(
        arg(&docs, "--configmap-namespace").as_deref(),
        Some("authgate")
    );
    assert_eq!(
        arg(&docs, "--configmap-key").as_deref(),
        Some("authconfig.yaml")
    );
    for flag in ["--configmap", "--config"] {
        assert!(!a.iter().any(|x| x == flag), "{flag} in {a:?}");
    }

    // RBAC: a Role (never cluster-wide) reading ConfigMaps of the release namespace, nothing else, no names.
    assert!(of_kind(&docs, "ClusterRole").is_empty());
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    let roles = of_kind(&docs, "Role");
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["metadata"]["namespace"], "authgate");
    assert_eq!(
        roles[0]["rules"],
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}])
    );
    let rb = &of_kind(&docs, "RoleBinding")[0];
    assert_eq!(rb["roleRef"]["kind"], "Role");
    assert_eq!(rb["metadata"]["namespace"], "authgate");

    // Admission: the same label, still confined to the release namespace.
    let vwc = of_kind(&docs, "ValidatingWebhookConfiguration");
    assert_eq!(vwc.len(), 1);
    for hook in vwc[0]["webhooks"].as_array().expect("webhooks") {
        assert_eq!(
            hook["objectSelector"],
            json!({"matchLabels": {CONFIG_SET_LABEL: "authgate"}}),
            "{hook}"
        );
        assert_eq!(
            hook["namespaceSelector"]["matchExpressions"],
            json!([{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["authgate"]}])
        );
    }

    // The label follows the full name, so two releases in one namespace never share a set.
    let other = render_values(&values, &["fullnameOverride=tenants"]);
    let dep = of_kind(&other, "Deployment")[0];
    let other_args = &dep["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        other_args
            .as_array()
            .expect("args")
            .windows(2)
            .any(|w| w[0] == "--configmap-selector" && w[1] == "authgate.io/config-set=tenants"),
        "{other_args}"
    );
    for cm in config_maps(&other) {
        assert_eq!(cm["metadata"]["labels"][CONFIG_SET_LABEL], "tenants");
        let name = cm["metadata"]["name"].as_str().expect("name");
        assert!(name.starts_with("tenants-config-"), "{name}");
    }

    let out = helm_values(&["lint", "--strict"], &values, &["webhook.enabled=true"]);
    assert!(
        out.status.success(),
        "helm lint --strict with authConfigs:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn checksum(docs: &[Value]) -> String {
    let dep = named(docs, "Deployment", "authgate").expect("the Deployment");
    dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        .as_str()
        .expect("checksum/config")
        .to_owned()
}

/// Issue 14: the pods' `checksum/config` covers every config of `authConfigs`, so a change to any one of them rolls
/// the pods as a change to `authConfig` does (when `configChecksum` turns it on; issue 15 made it opt-in).
#[test]
fn i14_checksum_covers_every_config() {
    if !helm_or_skip("i14_checksum_covers_every_config") {
        return;
    }
    let (values, _, text) = two_configs();
    let base = checksum(&render_values(&values, &["configChecksum=true"]));
    assert_eq!(
        base,
        checksum(&render_values(&values, &["configChecksum=true"])),
        "the checksum is stable"
    );
    let mut changed_b = values.clone();
    changed_b["authConfigs"]["b"] = json!(text.replace("your-app", "other-app"));
    assert_ne!(
        base,
        checksum(&render_values(&changed_b, &["configChecksum=true"])),
        "b changed"
    );
    let mut changed_a = values.clone();
    changed_a["authConfigs"]["tenant-a"]["definition"]["mode"]["jwt"]["tokenLocation"] =
        json!({"type": "Header", "name": "x-token"});
    assert_ne!(
        base,
        checksum(&render_values(&changed_a, &["configChecksum=true"])),
        "tenant-a changed"
    );
    let mut added = values.clone();
    added["authConfigs"]["c"] = json!(text);
    assert_ne!(
        base,
        checksum(&render_values(&added, &["configChecksum=true"])),
        "c added"
    );
}

/// Issue 14: names that are not DNS labels are refused (schema and template), naming the key; `authConfigs` with
/// `authConfig` or `existingConfigMap` is refused with a message that says what to do; so are an empty entry and
/// more than 256 configs. `authConfig` left as shipped, or null, goes with `authConfigs`.
#[test]
fn i14_auth_configs_refusals() {
    if !helm_or_skip("i14_auth_configs_refusals") {
        return;
    }
    let doc = example("clerk.yaml");
    let long_ok = "a".repeat(63);
    let too_long = "a".repeat(64);
    for bad in ["Tenant", "-a", "a-", "a_b", "a.b", "é", too_long.as_str()] {
        let e = render_values_err(&json!({"authConfigs": {bad: doc}}), &[]);
        assert!(
            e.contains(bad),
            "the refusal of {bad:?} should name it: {e}"
        );
    }
    for good in ["a", "0", "tenant-1", "a-b-c", long_ok.as_str()] {
        let docs = render_values(&json!({"authConfigs": {good: doc}}), &[]);
        let cm = &config_maps(&docs)[0];
        assert_eq!(cm["metadata"]["annotations"][CONFIG_NAME_ANNOTATION], good);
    }

    // authConfig left as the chart ships it goes with authConfigs (its hash in _helpers.tpl matches values.yaml).
    let shipped = render_values(&json!({"authConfigs": {"a": doc}}), &[]);
    assert_eq!(config_maps(&shipped).len(), 1);

    let e = render_values_err(
        &json!({"authConfig": doc.replace("your-app", "mine"), "authConfigs": {"a": doc}}),
        &[],
    );
    assert!(
        e.contains("authConfigs and authConfig cannot be used together"),
        "{e}"
    );
    assert!(
        e.contains("authConfig: null"),
        "the refusal says what to do: {e}"
    );
    let e = render_values_err(
        &json!({"authConfigs": {"a": doc}, "existingConfigMap": "mine"}),
        &[],
    );
    assert!(
        e.contains("authConfigs and existingConfigMap cannot be used together"),
        "{e}"
    );
    for empty in [json!(""), json!("  \n"), json!({})] {
        let e = render_values_err(&json!({"authConfigs": {"a": empty}}), &[]);
        assert!(e.contains("authConfigs"), "{empty}: {e}");
    }
    let many: serde_json::Map<String, Value> =
        (0..257).map(|i| (format!("t{i}"), json!(doc))).collect();
    let e = render_values_err(&json!({"authConfigs": many}), &[]);
    assert!(e.contains("authConfigs") && e.contains("256"), "{e}");
}

/// Issue 14: single-config mode renders exactly what it rendered before `authConfigs` existed: the default render is
/// manifests/authgate.yaml (generated before this change) byte for byte, and the single `authConfig` and
/// `existingConfigMap` paths keep their flag, label and webhook selector.
#[test]
fn i14_single_config_mode_unchanged() {
    if !helm_or_skip("i14_single_config_mode_unchanged") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifests =
        std::fs::read_to_string(root.join("manifests/authgate.yaml")).expect("manifests");
    // manifests/ adds a Namespace before the render and leaves out the Helm ownership labels (issue 15).
    let start = manifests
        .find("---\n# Source:")
        .expect("the chart's render in manifests/");
    let body = &manifests[start..];
    let out = helm_chart(&["template", "authgate"], &[]);
    assert!(out.status.success());
    let rendered: String = String::from_utf8_lossy(&out.stdout)
        .split_inclusive('\n')
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("helm.sh/chart: ") && !t.starts_with("app.kubernetes.io/managed-by: ")
        })
        .collect();
    assert_eq!(rendered, body, "the default render changed");

    for (sets, cm) in [
        (&["webhook.enabled=true"][..], "authgate-config"),
        (
            &["webhook.enabled=true", "existingConfigMap=mine"][..],
            "mine",
        ),
    ] {
        let docs = render(sets);
        assert_eq!(
            arg(&docs, "--configmap").as_deref(),
            Some(format!("authgate/{cm}").as_str()),
            "{sets:?}"
        );
        let a = args(&docs);
        for flag in ["--configmap-selector", "--configmap-namespace"] {
            assert!(!a.iter().any(|x| x == flag), "{sets:?}: {flag} in {a:?}");
        }
        for c in config_maps(&docs) {
            assert_eq!(c["metadata"]["labels"]["authgate.io/authconfig"], "true");
            assert!(
                c["metadata"]["labels"].get(CONFIG_SET_LABEL).is_none(),
                "{c}"
            );
            assert!(c["metadata"].get("annotations").is_none(), "{c}");
        }
        let vwc = of_kind(&docs, "ValidatingWebhookConfiguration");
        assert_eq!(
            vwc[0]["webhooks"][0]["objectSelector"],
            json!({"matchLabels": {"authgate.io/authconfig": "true"}})
        );
    }
}

/// Issue 14: in multi-config mode the chart's Envoy Gateway SecurityPolicy must name its config (there is no
/// default): over gRPC as the context extension `authgate-config`, over HTTP as `/configs/<name>` before `path`.
/// Without a name in multi-config mode, or with one in single-config mode, the render is refused.
#[test]
fn i14_envoy_gateway_policy_names_its_config() {
    if !helm_or_skip("i14_envoy_gateway_policy_names_its_config") {
        return;
    }
    let (values, _, _) = two_configs();
    let on = [
        "envoyGateway.securityPolicy.enabled=true",
        "envoyGateway.securityPolicy.targetRefs[0].kind=HTTPRoute",
        "envoyGateway.securityPolicy.targetRefs[0].name=shop",
    ];
    let mut grpc = on.to_vec();
    grpc.push("envoyGateway.securityPolicy.config=tenant-a");
    let docs = render_values(&values, &grpc);
    let ext = &of_kind(&docs, "SecurityPolicy")[0]["spec"]["extAuth"];
    assert_eq!(
        ext["contextExtensions"],
        json!([{"name": "authgate-config", "type": "Value", "value": "tenant-a"}]),
        "{ext}"
    );
    assert_eq!(ext["failOpen"], false);

    let mut http = grpc.clone();
    http.push("envoyGateway.securityPolicy.protocol=http");
    let docs = render_values(&values, &http);
    let ext = &of_kind(&docs, "SecurityPolicy")[0]["spec"]["extAuth"];
    assert_eq!(ext["http"]["path"], "/configs/tenant-a", "{ext}");
    assert!(ext.get("contextExtensions").is_none(), "{ext}");
    http.push("envoyGateway.securityPolicy.path=/check");
    let docs = render_values(&values, &http);
    let ext = &of_kind(&docs, "SecurityPolicy")[0]["spec"]["extAuth"];
    assert_eq!(ext["http"]["path"], "/configs/tenant-a/check", "{ext}");

    let e = render_values_err(&values, &on);
    assert!(e.contains("envoyGateway.securityPolicy.config"), "{e}");
    let e = render_err(&grpc);
    assert!(e.contains("envoyGateway.securityPolicy.config"), "{e}");
    let e = render_values_err(
        &values,
        &[
            on[0],
            on[1],
            on[2],
            "envoyGateway.securityPolicy.config=Shop",
        ],
    );
    assert!(e.contains("Shop"), "{e}");
}

#[path = "chart/i15.rs"]
mod i15;
#[path = "chart/traces.rs"]
mod traces;
