//! Issue 15: option combinations rendered pairwise and validated offline, and one test per chart fix.
//!
//! Built-in kinds are validated by deserializing each rendered object into its k8s-openapi type and serializing it
//! back: a field the type does not know (a misspelt or misplaced key, which the API server would prune or refuse) is
//! dropped on the way, so the round trip differs from the render; a wrong type fails the deserialization. Custom
//! resources (their schemas are not available offline) are checked for the fields their CRDs require.

use super::*;

use k8s_openapi::api::{
    admissionregistration::v1::ValidatingWebhookConfiguration,
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use serde::{Serialize, de::DeserializeOwned};

/// The APIs of the Prometheus Operator and cert-manager, as a cluster that has them reports.
pub(crate) const CRD_APIS: [&str; 6] = [
    "--api-versions",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "--api-versions",
    "cert-manager.io/v1/Certificate",
    "--api-versions",
    "cert-manager.io/v1/Issuer",
];

fn template_with_crds() -> Vec<&'static str> {
    let mut verb = vec!["template", "authgate"];
    verb.extend(CRD_APIS);
    verb
}

fn render_crds(values: &Value) -> Vec<Value> {
    let out = helm_values(&template_with_crds(), values, &[]);
    rendered(out, &format!("helm template -f {values}"))
}

/// Drops nulls (k8s-openapi omits an absent optional field), so that only real differences remain.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<(), String> {
    let typed: T = serde_path_to_error::deserialize(doc.clone())
        .map_err(|e| format!("does not deserialize: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let want = without_nulls(doc);
    if back != want {
        return Err(format!(
            "fields lost in the round trip:\n  rendered: {want}\n  typed:    {back}"
        ));
    }
    Ok(())
}

fn require(doc: &Value, pointers: &[&str]) -> Result<(), String> {
    for p in pointers {
        match doc.pointer(p) {
            None | Some(Value::Null) => return Err(format!("required field {p} is missing")),
            Some(Value::String(s)) if s.is_empty() => return Err(format!("{p} is empty")),
            Some(Value::Array(a)) if a.is_empty() => return Err(format!("{p} is empty")),
            _ => {}
        }
    }
    Ok(())
}

/// Validates one rendered object: a built-in by its k8s-openapi type, a custom resource by its required fields.
fn validate(doc: &Value) -> Result<(), String> {
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    require(doc, &["/metadata/name"])?;
    match (api, kind) {
        ("apps/v1", "Deployment") => round_trip::<Deployment>(doc),
        ("v1", "Service") => round_trip::<Service>(doc),
        ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(doc),
        ("v1", "ConfigMap") => round_trip::<ConfigMap>(doc),
        ("v1", "Secret") => round_trip::<Secret>(doc),
        ("v1", "Namespace") => round_trip::<Namespace>(doc),
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<RoleBinding>(doc),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(doc),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => round_trip::<HorizontalPodAutoscaler>(doc),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(doc),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
            round_trip::<ValidatingWebhookConfiguration>(doc)
        }
        ("monitoring.coreos.com/v1", "ServiceMonitor") => require(
            doc,
            &[
                "/spec/selector",
                "/spec/endpoints",
                "/spec/endpoints/0/port",
            ],
        ),
        ("monitoring.coreos.com/v1", "PrometheusRule") => require(
            doc,
            &[
                "/spec/groups",
                "/spec/groups/0/name",
                "/spec/groups/0/rules",
            ],
        ),
        ("cert-manager.io/v1", "Certificate") => require(
            doc,
            &[
                "/spec/secretName",
                "/spec/issuerRef",
                "/spec/issuerRef/name",
            ],
        ),
        ("cert-manager.io/v1", "Issuer") => match doc["spec"].as_object() {
            // An Issuer must configure exactly one issuer type.
            Some(spec) if spec.len() == 1 => Ok(()),
            _ => Err("an Issuer needs exactly one issuer type in spec".into()),
        },
        ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy") => {
            require(doc, &["/spec/targetRefs", "/spec/extAuth"])
        }
        ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant") => {
            require(doc, &["/spec/from", "/spec/to"])
        }
        ("security.istio.io/v1", "AuthorizationPolicy") => {
            require(doc, &["/spec/action", "/spec/provider/name"])
        }
        _ => Err(format!(
            "no validation for {api} {kind}: add it to validate()"
        )),
    }
}

fn validate_all(docs: &[Value], what: &str) {
    assert!(!docs.is_empty(), "{what}: nothing rendered");
    let failures: Vec<String> = docs
        .iter()
        .filter_map(|d| {
            validate(d).err().map(|e| {
                format!(
                    "{} {}: {e}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

/// One option of the pairwise set: a name and the values it sets (merged into the row's values).
struct Opt {
    name: &'static str,
    values: fn() -> Value,
}

fn options() -> Vec<Opt> {
    vec![
        Opt {
            name: "webhook-generated",
            values: || json!({"webhook": {"enabled": true}}),
        },
        Opt {
            name: "webhook-cert-manager",
            values: || json!({"webhook": {"enabled": true, "certManager": {"enabled": true, "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}}),
        },
        Opt {
            name: "webhook-existing-secret",
            values: || json!({"webhook": {"enabled": true, "existingSecret": "own-tls", "caBundle": "Zm9vYmFy"}}),
        },
        Opt {
            name: "autoscaling",
            values: || json!({"autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 4, "targetMemoryUtilizationPercentage": 80}}),
        },
        Opt {
            name: "service-monitor",
            values: || json!({"serviceMonitor": {"enabled": true}}),
        },
        Opt {
            name: "network-policy",
            values: || json!({"networkPolicy": {"enabled": true, "admissionFromCIDRs": ["10.0.0.0/8"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}}),
        },
        Opt {
            name: "grpc-off",
            values: || json!({"grpc": {"enabled": false}}),
        },
        Opt {
            name: "grpc-tls",
            values: || json!({"grpc": {"tls": {"enabled": true, "secretName": "grpc-tls"}}}),
        },
        Opt {
            name: "multi-config",
            values: || json!({"authConfig": null, "authConfigs": {"a": example("fixed-key.yaml"), "b": example("clerk.yaml")}}),
        },
        Opt {
            name: "existing-configmap",
            values: || json!({"existingConfigMap": "my-config"}),
        },
        Opt {
            name: "config-checksum",
            values: || json!({"configChecksum": true}),
        },
        Opt {
            name: "extras",
            values: || {
                json!({
                    "extraEnv": [{"name": "X", "value": "1"}],
                    "extraVolumes": [{"name": "ca", "configMap": {"name": "private-ca"}}],
                    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ca", "readOnly": true}],
                    "podLabels": {"team": "auth"},
                    "podAnnotations": {"example.com/a": "b"},
                    "priorityClassName": "high",
                })
            },
        },
        Opt {
            name: "zone-spread",
            values: || json!({"topologySpread": {"zone": {"enabled": true}}}),
        },
        Opt {
            name: "workers-explicit",
            values: || json!({"workers": {"count": 3}}),
        },
        Opt {
            name: "envoy-gateway",
            values: || json!({"envoyGateway": {"securityPolicy": {"enabled": true, "namespace": "apps", "targetRefs": [{"kind": "HTTPRoute", "name": "api"}]}}}),
        },
        Opt {
            name: "istio",
            values: || json!({"istio": {"authorizationPolicy": {"enabled": true, "selector": {"app": "api"}}}}),
        },
        Opt {
            name: "one-replica",
            values: || json!({"replicaCount": 1}),
        },
    ]
}

/// Pairs of options that cannot be on together (the chart refuses them, tested elsewhere).
fn conflict(a: &str, b: &str) -> bool {
    let pair = |x: &str, y: &str| (a == x && b == y) || (a == y && b == x);
    pair("webhook-cert-manager", "webhook-existing-secret")
        || pair("multi-config", "existing-configmap")
        // The SecurityPolicy must name its config in multi-config mode; covered by the i14 tests.
        || pair("multi-config", "envoy-gateway")
        // A gRPC SecurityPolicy needs the gRPC listener.
        || pair("grpc-off", "envoy-gateway")
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Rows of options such that every compatible pair is on together in some row: greedy, each row started from the
/// first uncovered pair and then filled with every option that covers a new pair without a conflict.
fn pairwise_rows(n: usize, names: &[&str]) -> Vec<Vec<usize>> {
    let mut uncovered: std::collections::BTreeSet<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| !conflict(names[i], names[j]))
        .collect();
    let mut rows = Vec::new();
    while let Some(&(i, j)) = uncovered.iter().next() {
        let mut row = vec![i, j];
        for k in 0..n {
            if row.contains(&k) || row.iter().any(|&r| conflict(names[r], names[k])) {
                continue;
            }
            if row
                .iter()
                .any(|&r| uncovered.contains(&(r.min(k), r.max(k))))
            {
                row.push(k);
            }
        }
        for a in &row {
            for b in &row {
                uncovered.remove(&(*a.min(b), *a.max(b)));
            }
        }
        rows.push(row);
        assert!(rows.len() < 200, "pairwise generation does not converge");
    }
    rows
}

#[test]
fn i15_pairwise_option_combinations_render_and_validate() {
    if !helm_or_skip("i15_pairwise_option_combinations_render_and_validate") {
        return;
    }
    let opts = options();
    let names: Vec<&str> = opts.iter().map(|o| o.name).collect();
    let rows = pairwise_rows(opts.len(), &names);
    // Every compatible pair is covered (checked independently of the generator).
    for i in 0..opts.len() {
        for j in i + 1..opts.len() {
            if conflict(names[i], names[j]) {
                continue;
            }
            assert!(
                rows.iter().any(|r| r.contains(&i) && r.contains(&j)),
                "pair {} + {} not covered",
                names[i],
                names[j]
            );
        }
    }
    // The defaults alone, too.
    validate_all(&render_crds(&json!({})), "default values");
    for row in &rows {
        let mut values = json!({});
        for &i in row {
            merge(&mut values, &(opts[i].values)());
        }
        let what: Vec<&str> = row.iter().map(|&i| names[i]).collect();
        let docs = render_crds(&values);
        validate_all(&docs, &format!("{what:?}"));
        if what.contains(&"service-monitor") {
            assert_eq!(of_kind(&docs, "ServiceMonitor").len(), 1, "{what:?}");
        }
        if what.contains(&"webhook-cert-manager") {
            assert_eq!(of_kind(&docs, "Certificate").len(), 1, "{what:?}");
        }
    }
}

/// The validator itself: a misplaced field and a wrong type are caught (so the pairwise test can fail).
#[test]
fn i15_validator_catches_dropped_fields_and_wrong_types() {
    let ok = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "data"}]}});
    validate(&ok).expect("a valid Service");
    let mut misplaced = ok.clone();
    misplaced["spec"]["ports"][0]["targetport"] = json!(8080);
    assert!(
        validate(&misplaced).is_err(),
        "a misspelt field must be caught"
    );
    let mut wrong = ok.clone();
    wrong["spec"]["ports"][0]["port"] = json!("eighty");
    assert!(validate(&wrong).is_err(), "a wrong type must be caught");
    let cert = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
        "spec": {"secretName": "s", "issuerRef": {"kind": "Issuer"}}});
    assert!(
        validate(&cert).is_err(),
        "an issuerRef without a name must be caught"
    );
}

/// Every documented key path of values.yaml (a key with a `# --` comment above it), read from the file itself so
/// that keys added later (the monitoring values) are held to the same rule.
fn documented_value_paths(text: &str) -> Vec<String> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut paths = Vec::new();
    let mut pending = false;
    let mut in_block: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with("# --") {
            pending = true;
            continue;
        }
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(block) = in_block {
            if indent > block {
                continue;
            }
            in_block = None;
        }
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        if key.starts_with('-') || key.contains(' ') {
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        if pending {
            paths.push(
                stack
                    .iter()
                    .map(|(_, k)| k.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            );
            // A documented key's own body (defaults of an object, a literal block) is not a separate value.
            in_block = Some(indent);
            pending = false;
        }
    }
    paths
}

#[test]
fn i15_chart_readme_documents_every_value() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/authgate");
    let values = std::fs::read_to_string(root.join("values.yaml")).expect("values.yaml");
    let readme =
        std::fs::read_to_string(root.join("README.md")).expect("charts/authgate/README.md");
    let paths = documented_value_paths(&values);
    assert!(paths.len() > 100, "too few values found: {paths:?}");
    for must in [
        "workers.count",
        "webhook.existingSecret",
        "topologySpread.zone.enabled",
        "image.repository",
    ] {
        assert!(
            paths.iter().any(|p| p == must),
            "{must} not found in values.yaml: {paths:?}"
        );
    }
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| !readme.contains(&format!("| `{p}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "charts/authgate/README.md does not document these values (add a row `| `key` | default | text |`): {missing:?}"
    );
}

fn deployment(docs: &[Value]) -> &Value {
    named(docs, "Deployment", "authgate").expect("the Deployment")
}

fn env_named(docs: &[Value], name: &str) -> Vec<Value> {
    container(docs)["env"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["name"] == name).cloned().collect())
        .unwrap_or_default()
}

#[test]
fn i15_webhook_certificate_from_an_existing_secret_is_stable_across_renders() {
    if !helm_or_skip("i15_webhook_certificate_from_an_existing_secret_is_stable_across_renders") {
        return;
    }
    let values =
        json!({"webhook": {"enabled": true, "existingSecret": "own-tls", "caBundle": "Q0E="}});
    let out1 = helm_values(&["template", "authgate"], &values, &[]);
    let out2 = helm_values(&["template", "authgate"], &values, &[]);
    assert!(
        out1.status.success(),
        "{}",
        String::from_utf8_lossy(&out1.stderr)
    );
    assert_eq!(
        out1.stdout, out2.stdout,
        "two renders differ: nothing may be generated"
    );
    let docs = parse(&String::from_utf8(out1.stdout).expect("UTF-8"));
    assert!(
        of_kind(&docs, "Secret").is_empty(),
        "the chart must not make a Secret"
    );
    let vwc = of_kind(&docs, "ValidatingWebhookConfiguration")[0];
    assert_eq!(vwc["webhooks"][0]["clientConfig"]["caBundle"], "Q0E=");
    assert!(vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].is_null());
    let vols = &deployment(&docs)["spec"]["template"]["spec"]["volumes"];
    let tls = vols
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "webhook-tls");
    assert_eq!(
        tls.expect("webhook-tls volume")["secret"]["secretName"],
        "own-tls"
    );

    // The generated pair (the default) differs between two renders: that is what the Secret option is for.
    let generated = json!({"webhook": {"enabled": true}});
    let g1 = helm_values(&["template", "authgate"], &generated, &[]);
    let g2 = helm_values(&["template", "authgate"], &generated, &[]);
    assert_ne!(
        g1.stdout, g2.stdout,
        "the generated certificate is expected to change per render"
    );

    let err = render_values_err(
        &json!({"webhook": {"enabled": true, "existingSecret": "own-tls"}}),
        &[],
    );
    assert!(err.contains("webhook.caBundle"), "{err}");
    let err = render_values_err(
        &json!({"webhook": {"enabled": true, "existingSecret": "x", "caBundle": "Q0E=", "certManager": {"enabled": true}}}),
        &[],
    );
    assert!(err.contains("cannot be used together"), "{err}");
}

#[test]
fn i15_single_config_rbac_names_the_config_map_and_multi_config_cannot() {
    if !helm_or_skip("i15_single_config_rbac_names_the_config_map_and_multi_config_cannot") {
        return;
    }
    let docs = render(&[]);
    let role = named(&docs, "Role", "authgate").expect("Role");
    assert_eq!(
        role["rules"][0]["resourceNames"],
        json!(["authgate-config"]),
        "{role}"
    );
    let docs = render(&["existingConfigMap=mine"]);
    let role = named(&docs, "Role", "authgate").expect("Role");
    assert_eq!(role["rules"][0]["resourceNames"], json!(["mine"]), "{role}");
    assert!(arg(&docs, "--configmap").is_some_and(|a| a.ends_with("/mine")));
    let (values, _, _) = two_configs();
    let docs = render_values(&values, &[]);
    let role = named(&docs, "Role", "authgate").expect("Role");
    assert!(role["rules"][0].get("resourceNames").is_none(), "{role}");
}

#[test]
fn i15_workers_follow_the_cpu_request_with_a_floor_a_cap_and_an_explicit_value() {
    if !helm_or_skip("i15_workers_follow_the_cpu_request_with_a_floor_a_cap_and_an_explicit_value")
    {
        return;
    }
    let downward = json!({"resourceFieldRef": {"containerName": "authgate", "resource": "requests.cpu", "divisor": "1"}});
    let cases: [(&[&str], Option<&str>); 7] = [
        (&[], None),
        (&["resources.requests.cpu=1500m"], None),
        (&["resources.requests.cpu=12"], Some("8")),
        (&["resources.requests.cpu=12", "workers.max=16"], None),
        (&["resources.requests.cpu=250m", "workers.min=2"], Some("2")),
        (&["resources.requests=null"], Some("1")),
        (&["workers.count=3", "resources.requests.cpu=12"], Some("3")),
    ];
    for (sets, want) in cases {
        let docs = render(sets);
        let env = env_named(&docs, "AUTHGATE_WORKERS");
        assert_eq!(env.len(), 1, "{sets:?}: {env:?}");
        match want {
            None => assert_eq!(env[0]["valueFrom"], downward, "{sets:?}"),
            Some(n) => assert_eq!(env[0]["value"], n, "{sets:?}"),
        }
    }
    // The container name in resourceFieldRef must be the container's.
    assert_eq!(container(&render(&[]))["name"], "authgate");
}

#[test]
fn i15_config_checksum_is_opt_in() {
    if !helm_or_skip("i15_config_checksum_is_opt_in") {
        return;
    }
    let ann = |docs: &[Value]| {
        deployment(docs)["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone()
    };
    assert!(
        ann(&render(&[])).is_null(),
        "checksum/config must be off by default"
    );
    let on = ann(&render(&["configChecksum=true"]));
    assert!(on.as_str().is_some_and(|s| s.len() == 64), "{on}");
}

#[test]
fn i15_custom_resources_only_where_their_api_exists() {
    if !helm_or_skip("i15_custom_resources_only_where_their_api_exists") {
        return;
    }
    let values = json!({"serviceMonitor": {"enabled": true}, "webhook": {"enabled": true, "certManager": {"enabled": true}}});
    let without = render_values(&values, &[]);
    for kind in ["ServiceMonitor", "Certificate", "Issuer"] {
        assert!(
            of_kind(&without, kind).is_empty(),
            "{kind} rendered without its API"
        );
    }
    let with = render_crds(&values);
    for kind in ["ServiceMonitor", "Certificate", "Issuer"] {
        assert_eq!(
            of_kind(&with, kind).len(),
            1,
            "{kind} missing although its API exists"
        );
    }
}

#[test]
fn i15_extra_values_reach_the_pod() {
    if !helm_or_skip("i15_extra_values_reach_the_pod") {
        return;
    }
    let values = json!({
        "extraEnv": [{"name": "AUTHGATE_WORKERS", "value": "5"}],
        "extraVolumes": [{"name": "ca", "configMap": {"name": "private-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ca", "readOnly": true}],
        "podLabels": {"team": "auth"},
        "podAnnotations": {"example.com/a": "b"},
        "priorityClassName": "high",
        "topologySpread": {"zone": {"enabled": true, "whenUnsatisfiable": "DoNotSchedule"}},
    });
    let docs = render_values(&values, &[]);
    let pod = &deployment(&docs)["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["team"], "auth");
    assert_eq!(pod["metadata"]["annotations"]["example.com/a"], "b");
    assert_eq!(pod["spec"]["priorityClassName"], "high");
    assert!(
        pod["spec"]["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["name"] == "ca")
    );
    let c = container(&docs);
    assert!(
        c["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| m["mountPath"] == "/etc/ca")
    );
    // extraEnv comes after the chart's entry, so the user's value wins (the last duplicate name applies).
    let env = c["env"].as_array().expect("env");
    let last = env
        .iter()
        .rev()
        .find(|e| e["name"] == "AUTHGATE_WORKERS")
        .expect("AUTHGATE_WORKERS");
    assert_eq!(last["value"], "5");
    let zone = pod["spec"]["topologySpreadConstraints"]
        .as_array()
        .expect("spread")
        .iter()
        .find(|t| t["topologyKey"] == "topology.kubernetes.io/zone")
        .expect("zone spread");
    assert_eq!(zone["whenUnsatisfiable"], "DoNotSchedule");
    assert_eq!(zone["labelSelector"]["matchLabels"], pod_selector(&docs));
    let none = render(&[]);
    assert!(
        !deployment(&none)["spec"]["template"]["spec"]["topologySpreadConstraints"]
            .as_array()
            .expect("spread")
            .iter()
            .any(|t| t["topologyKey"] == "topology.kubernetes.io/zone"),
        "zone spread must be off by default"
    );
}

#[test]
fn i15_schema_refuses_an_unnamed_issuer_and_hpa_min_above_max() {
    if !helm_or_skip("i15_schema_refuses_an_unnamed_issuer_and_hpa_min_above_max") {
        return;
    }
    let err = render_err(&[
        "webhook.enabled=true",
        "webhook.certManager.enabled=true",
        "webhook.certManager.issuerRef.kind=ClusterIssuer",
    ]);
    assert!(err.contains("issuerRef") && err.contains("name"), "{err}");
    render(&[
        "webhook.enabled=true",
        "webhook.certManager.enabled=true",
        "webhook.certManager.issuerRef.name=ca",
    ]);
    let err = render_err(&[
        "autoscaling.enabled=true",
        "autoscaling.minReplicas=5",
        "autoscaling.maxReplicas=3",
    ]);
    assert!(
        err.contains("greater than autoscaling.maxReplicas"),
        "{err}"
    );
    render(&[
        "autoscaling.enabled=true",
        "autoscaling.minReplicas=3",
        "autoscaling.maxReplicas=3",
    ]);
}

#[test]
fn i15_plain_manifests_carry_no_helm_labels_and_a_restricted_namespace() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/authgate.yaml");
    let text = std::fs::read_to_string(&path).expect("manifests/authgate.yaml");
    let docs = parse(&text);
    validate_all(&docs, "manifests/authgate.yaml");
    for d in &docs {
        let labels = &d["metadata"]["labels"];
        for helm in ["helm.sh/chart", "app.kubernetes.io/managed-by"] {
            assert!(
                labels.get(helm).is_none(),
                "{} carries {helm}",
                d["metadata"]["name"]
            );
        }
    }
    assert!(!text.contains("helm.sh/chart") && !text.contains("managed-by"));
    let ns = of_kind(&docs, "Namespace");
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0]["metadata"]["name"], "authgate");
    assert_eq!(
        ns[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    // The Namespace comes first so that `kubectl apply -f` creates it before the objects in it.
    assert_eq!(docs[0]["kind"], "Namespace");
}
