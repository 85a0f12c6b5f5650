#!/usr/bin/env bash
# Lint and render charts/authgate, then check what it renders.
#
# Renders: the default values, and every file in charts/authgate/ci/ (all optional parts on, with generated
# certificates; with cert-manager; with an existing ConfigMap). Each render is checked for:
#   * the standard labels (app.kubernetes.io/name, instance, version, managed-by, helm.sh/chart) on every object;
#   * the Deployment: replicas/rolling update, the restricted security context, both probes on the admin port, resource
#     requests and a memory limit, hostname topology spread, checksum/config only with configChecksum, the serve args;
#   * the Service ports (the gRPC one with appProtocol kubernetes.io/h2c in cleartext), the admission webhook's own
#     Service (publishNotReadyAddresses), the RBAC rules, the ConfigMap label and key, the PodDisruptionBudget
#     (maxUnavailable, and none below two pods), the NetworkPolicy (data, admin, gRPC and admission ports);
#   * the gRPC listener's flags (`--grpc-listen`, off when disabled; TLS files on whole-directory mounts);
#   * the glue objects when their values are on: the Envoy Gateway SecurityPolicy (failOpen false, backendRefs on this
#     Service's gRPC or data port) and its ReferenceGrant, the Istio AuthorizationPolicy (action CUSTOM);
#   * the ValidatingWebhookConfiguration: failurePolicy, sideEffects, timeout, selectors, rules, service path, and its
#     CA (generated: caBundle equal to the Secret's ca.crt and signing tls.crt; cert-manager: inject-ca-from);
#   * that every value in values.yaml is documented by a `# --` comment;
# and manifests/authgate.yaml must equal a fresh `scripts/render-manifests.sh --stdout`, byte for byte.
#
# Needs helm (scripts/install-helm.sh), python3 with PyYAML (installed with pip when missing) and openssl (to verify the
# generated certificate chain). When AUTHGATE_BIN names an authgate binary, the AuthConfig of each rendered ConfigMap is
# also loaded with `authgate check`. Outside CI a missing openssl or AUTHGATE_BIN skips that check with a loud line on
# stderr; under CI (the CI environment variable set) every skip is a failure.
# Exits non-zero with a message naming each failure.
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=charts/authgate
RELEASE=authgate
NAMESPACE=authgate

fail() { echo "check-chart: FAIL: $*" >&2; exit 1; }

command -v helm >/dev/null 2>&1 || fail "helm not found on PATH (run scripts/install-helm.sh)"
command -v python3 >/dev/null 2>&1 || fail "python3 not found"
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "check-chart: installing PyYAML" >&2
  python3 -m pip install --quiet PyYAML || fail "could not install PyYAML"
fi
echo "check-chart: $(helm version --short)"

API_VERSIONS=(--api-versions monitoring.coreos.com/v1/ServiceMonitor --api-versions cert-manager.io/v1/Certificate
  --api-versions cert-manager.io/v1/Issuer)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

variants=(default)
for f in "$CHART"/ci/*-values.yaml; do
  [[ -e "$f" ]] || continue
  variants+=("$(basename "$f" -values.yaml)")
done

for v in "${variants[@]}"; do
  args=()
  [[ "$v" == default ]] || args=(-f "$CHART/ci/$v-values.yaml")
  echo "check-chart: helm lint --strict ($v)"
  helm lint --strict "$CHART" --namespace "$NAMESPACE" "${args[@]}" > "$work/lint-$v.txt" 2>&1 \
    || { cat "$work/lint-$v.txt" >&2; fail "helm lint ($v)"; }
  echo "check-chart: helm template ($v)"
  # The renders stand for a cluster that has the Prometheus Operator and cert-manager (the chart leaves their objects
  # out where the APIs are missing; tests/chart.rs checks that side).
  helm template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "${args[@]}" "${API_VERSIONS[@]}" > "$work/$v.yaml" 2> "$work/template-$v.txt" \
    || { cat "$work/template-$v.txt" >&2; fail "helm template ($v)"; }
done

# A value the schema refuses must fail the render.
if helm template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --set webhook.failurePolicy=Sometimes \
  > /dev/null 2>&1; then
  fail "values.schema.json accepted webhook.failurePolicy=Sometimes"
fi

echo "check-chart: checking the rendered manifests"
python3 - "$work" "$RELEASE" "$NAMESPACE" "$CHART" "${variants[@]}" <<'PY'
import base64
import os
import re
import subprocess
import sys
import tempfile

import yaml

work, release, ns, chart = sys.argv[1:5]
variants = sys.argv[5:]
errors = []

with open(os.path.join(chart, "Chart.yaml")) as f:
    chart_meta = yaml.safe_load(f)
STD_LABELS = {
    "app.kubernetes.io/name": "authgate",
    "app.kubernetes.io/instance": release,
    "app.kubernetes.io/version": str(chart_meta["appVersion"]),
    "app.kubernetes.io/managed-by": "Helm",
    "helm.sh/chart": f"authgate-{chart_meta['version']}",
}
CLUSTER_SCOPED = {"ValidatingWebhookConfiguration"}
UNDER_CI = bool(os.environ.get("CI"))
skipped = set()


def skip(what):
    """A check that cannot run: a failure under CI, a loud line otherwise (once per reason)."""
    if what in skipped:
        return
    skipped.add(what)
    if UNDER_CI:
        errors.append(f"[ci] {what} (every skip is a failure under CI)")
    else:
        print(f"check-chart: *** SKIPPED: {what} ***", file=sys.stderr)


def err(variant, msg):
    errors.append(f"[{variant}] {msg}")


def dig(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return default
    return obj


def values_for(variant):
    with open(os.path.join(chart, "values.yaml")) as f:
        vals = yaml.safe_load(f)
    if variant != "default":
        with open(os.path.join(chart, "ci", f"{variant}-values.yaml")) as f:
            over = yaml.safe_load(f) or {}

        def merge(a, b):
            for k, v in b.items():
                if isinstance(v, dict) and isinstance(a.get(k), dict):
                    merge(a[k], v)
                else:
                    a[k] = v

        merge(vals, over)
    return vals


def check_values_comments():
    """Every key of values.yaml has a `# --` comment above it, or sits under a key that has one; every key
    without one must be a parent whose children are all documented."""
    path = os.path.join(chart, "values.yaml")
    with open(path) as f:
        lines = f.read().splitlines()
    documented_stack = []  # (indent, documented)
    pending_doc = False
    in_doc_comment = False
    undocumented = []
    block_scalar_indent = None
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block_scalar_indent is not None:
            if stripped == "" or indent > block_scalar_indent:
                continue
            block_scalar_indent = None
        if stripped.startswith("# --"):
            pending_doc = True
            in_doc_comment = True
            continue
        if stripped.startswith("#"):
            if not in_doc_comment:
                pending_doc = False
            continue
        in_doc_comment = False
        if stripped == "":
            pending_doc = False
            continue
        if stripped.startswith("- "):
            continue
        m = re.match(r"^([A-Za-z0-9_.\-/\"']+):(\s|$)", stripped)
        if not m:
            continue
        while documented_stack and documented_stack[-1][0] >= indent:
            documented_stack.pop()
        ancestor_doc = any(d for _, d in documented_stack)
        rest = stripped[m.end():].strip()
        is_parent = rest == ""
        doc = pending_doc or ancestor_doc
        if not doc and not is_parent:
            undocumented.append(f"values.yaml:{n}: {m.group(1)}")
        documented_stack.append((indent, doc))
        pending_doc = False
        if rest.startswith("|") or rest.startswith(">"):
            block_scalar_indent = indent
    for u in undocumented:
        errors.append(f"[values] no `# --` comment: {u}")


def container_port(container, name):
    for p in container.get("ports") or []:
        if p.get("name") == name:
            return p.get("containerPort")
    return None


def arg_after(args, flag):
    if flag in args:
        i = args.index(flag)
        if i + 1 < len(args):
            return args[i + 1]
    for a in args:
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def glue_namespace(vals, kind):
    """The glue objects live beside what they attach to: their namespace value, else the release namespace."""
    if kind == "SecurityPolicy":
        return dig(vals, "envoyGateway", "securityPolicy", "namespace") or None
    if kind == "AuthorizationPolicy":
        return dig(vals, "istio", "authorizationPolicy", "namespace") or None
    return None


def check_cert(variant, secret, ca_bundle, svc_name):
    """Generated certificates: the caBundle is the Secret's ca.crt and it signs tls.crt for <svc>.<ns>.svc."""
    data = secret.get("data") or {}
    for k in ("tls.crt", "tls.key", "ca.crt"):
        if not data.get(k):
            err(variant, f"webhook Secret lacks {k}")
            return
    if ca_bundle != data["ca.crt"]:
        err(variant, "webhook caBundle differs from the Secret's ca.crt")
    try:
        crt = base64.b64decode(data["tls.crt"]).decode()
        ca = base64.b64decode(data["ca.crt"]).decode()
        key = base64.b64decode(data["tls.key"]).decode()
    except Exception as e:  # noqa: BLE001
        err(variant, f"webhook Secret is not base64 PEM: {e}")
        return
    if "BEGIN CERTIFICATE" not in crt or "BEGIN CERTIFICATE" not in ca or "PRIVATE KEY" not in key:
        err(variant, "webhook Secret does not hold PEM certificate, CA and key")
        return
    if subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode != 0:
        skip("openssl not found: the generated certificate chain is not verified")
        return
    with tempfile.TemporaryDirectory() as d:
        cp, kp = os.path.join(d, "tls.crt"), os.path.join(d, "ca.crt")
        with open(cp, "w") as f:
            f.write(crt)
        with open(kp, "w") as f:
            f.write(ca)
        want = f"{svc_name}.{ns}.svc"
        r = subprocess.run(
            ["openssl", "verify", "-CAfile", kp, "-verify_hostname", want, "-purpose", "sslserver", cp],
            capture_output=True, text=True,
        )
        if r.returncode != 0:
            err(variant, f"webhook certificate does not verify for {want} against ca.crt: {r.stdout}{r.stderr}")


def check_variant(variant):
    with open(os.path.join(work, f"{variant}.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    vals = values_for(variant)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
        name = dig(d, "metadata", "name")
        where = f"{d.get('kind')}/{name}"
        labels = dig(d, "metadata", "labels") or {}
        for k, v in STD_LABELS.items():
            if labels.get(k) != v:
                err(variant, f"{where}: label {k} is {labels.get(k)!r}, want {v!r}")
        want_ns = glue_namespace(vals, d.get("kind")) or ns
        if d.get("kind") not in CLUSTER_SCOPED and dig(d, "metadata", "namespace") != want_ns:
            err(variant, f"{where}: metadata.namespace is {dig(d, 'metadata', 'namespace')!r}, want {want_ns!r}")

    def one(kind):
        objs = by_kind.get(kind) or []
        if len(objs) != 1:
            err(variant, f"want exactly one {kind}, got {len(objs)}")
            return None
        return objs[0]

    webhook_on = bool(dig(vals, "webhook", "enabled"))
    hpa_on = bool(dig(vals, "autoscaling", "enabled"))
    min_pods = dig(vals, "autoscaling", "minReplicas") if hpa_on else vals.get("replicaCount")
    cert_manager = webhook_on and bool(dig(vals, "webhook", "certManager", "enabled"))
    own_secret = dig(vals, "webhook", "existingSecret") if webhook_on else ""
    expect = {
        "HorizontalPodAutoscaler": bool(dig(vals, "autoscaling", "enabled")),
        "ServiceMonitor": bool(dig(vals, "serviceMonitor", "enabled")),
        "NetworkPolicy": bool(dig(vals, "networkPolicy", "enabled")),
        "ValidatingWebhookConfiguration": webhook_on,
        "Certificate": cert_manager,
        "Issuer": cert_manager and not dig(vals, "webhook", "certManager", "issuerRef"),
        "Secret": webhook_on and not cert_manager and not own_secret,
        "ConfigMap": not vals.get("existingConfigMap"),
        "PodDisruptionBudget": bool(dig(vals, "podDisruptionBudget", "enabled")) and min_pods >= 2,
        "ServiceAccount": True,
        "Role": True,
        "RoleBinding": True,
        "Deployment": True,
        "SecurityPolicy": bool(dig(vals, "envoyGateway", "securityPolicy", "enabled")),
        "ReferenceGrant": bool(dig(vals, "envoyGateway", "securityPolicy", "enabled"))
        and (dig(vals, "envoyGateway", "securityPolicy", "namespace") or ns) != ns,
        "AuthorizationPolicy": bool(dig(vals, "istio", "authorizationPolicy", "enabled")),
    }
    for kind, want in expect.items():
        have = len(by_kind.get(kind) or [])
        if want and have != 1:
            err(variant, f"want one {kind}, rendered {have}")
        if not want and have:
            err(variant, f"{kind} rendered although its option is off (or, for a PDB, fewer than two pods)")

    dep = one("Deployment")
    if not dep:
        return
    fullname = dep["metadata"]["name"]
    # The main Service, and with the webhook the admission webhook's own Service.
    services = {dig(s, "metadata", "name"): s for s in by_kind.get("Service") or []}
    adm_name = f"{fullname}-admission"
    want_services = {fullname} | ({adm_name} if webhook_on else set())
    if set(services) != want_services:
        err(variant, f"Services are {sorted(services)}, want {sorted(want_services)}")
    svc = services.get(fullname)
    adm_svc = services.get(adm_name)
    if not svc:
        return
    spec = dep.get("spec") or {}
    if expect["HorizontalPodAutoscaler"]:
        if "replicas" in spec:
            err(variant, "Deployment sets replicas although the HPA owns them")
    elif spec.get("replicas") != vals.get("replicaCount"):
        err(variant, f"Deployment replicas is {spec.get('replicas')!r}, want {vals.get('replicaCount')!r}")
    if dig(spec, "strategy", "type") != "RollingUpdate" or dig(spec, "strategy", "rollingUpdate", "maxUnavailable") != 0:
        err(variant, "Deployment strategy must be RollingUpdate with maxUnavailable 0")
    tmpl = spec.get("template") or {}
    selector = dig(spec, "selector", "matchLabels") or {}
    pod_labels = dig(tmpl, "metadata", "labels") or {}
    for k, v in STD_LABELS.items():
        if pod_labels.get(k) != v:
            err(variant, f"pod template: label {k} is {pod_labels.get(k)!r}, want {v!r}")
    for k, v in selector.items():
        if pod_labels.get(k) != v:
            err(variant, f"pod template labels do not match the selector ({k})")
    checksum = dig(tmpl, "metadata", "annotations", "checksum/config")
    if vals.get("configChecksum"):
        if not (isinstance(checksum, str) and re.fullmatch(r"[0-9a-f]{64}", checksum)):
            err(variant, f"pod template lacks a sha256 checksum/config annotation (got {checksum!r})")
    elif checksum is not None:
        err(variant, "checksum/config annotation present although configChecksum is off (it rolls pods on reloads)")
    pod = tmpl.get("spec") or {}
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        err(variant, "pod securityContext.runAsNonRoot must be true")
    if psc.get("runAsUser") != 65532:
        err(variant, "pod securityContext.runAsUser must be 65532")
    if dig(psc, "seccompProfile", "type") != "RuntimeDefault":
        err(variant, "pod securityContext.seccompProfile.type must be RuntimeDefault")
    if pod.get("automountServiceAccountToken") is False:
        err(variant, "the pods need their ServiceAccount token to watch the ConfigMap")
    tsc = pod.get("topologySpreadConstraints") or []
    if not any(
        c.get("topologyKey") == "kubernetes.io/hostname"
        and all((dig(c, "labelSelector", "matchLabels") or {}).get(k) == v for k, v in selector.items())
        for c in tsc
    ):
        err(variant, "no topologySpreadConstraint on kubernetes.io/hostname selecting the pods")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        err(variant, f"want one container, got {len(containers)}")
        return
    c = containers[0]
    sc = c.get("securityContext") or {}

    def eff(key):
        return sc.get(key, psc.get(key))

    if eff("runAsNonRoot") is not True:
        err(variant, "container runAsNonRoot must be true")
    if eff("runAsUser") != 65532:
        err(variant, "container runAsUser must be 65532")
    if sc.get("readOnlyRootFilesystem") is not True:
        err(variant, "container readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        err(variant, "container allowPrivilegeEscalation must be false")
    if sc.get("privileged") is True:
        err(variant, "container must not be privileged")
    if "ALL" not in (dig(sc, "capabilities", "drop") or []) or dig(sc, "capabilities", "add"):
        err(variant, "container capabilities must drop ALL and add nothing")
    if dig(eff("seccompProfile") or {}, "type") != "RuntimeDefault":
        err(variant, "container seccompProfile.type must be RuntimeDefault")
    res = c.get("resources") or {}
    for r in ("cpu", "memory"):
        if not dig(res, "requests", r):
            err(variant, f"container has no {r} request")
    if not dig(res, "limits", "memory"):
        err(variant, "container has no memory limit")

    admin_port = container_port(c, "admin")
    data_port = container_port(c, "data")
    if admin_port != 9090 or data_port != 8080:
        err(variant, f"container ports data/admin are {data_port}/{admin_port}, want 8080/9090")
    grpc_on = bool(dig(vals, "grpc", "enabled"))
    grpc_tls = grpc_on and bool(dig(vals, "grpc", "tls", "enabled"))
    if container_port(c, "grpc") != (8081 if grpc_on else None):
        err(variant, f"container port grpc is {container_port(c, 'grpc')}, want {8081 if grpc_on else None}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        hg = dig(c, probe, "httpGet") or {}
        port = hg.get("port")
        if hg.get("path") != path:
            err(variant, f"{probe} path is {hg.get('path')!r}, want {path}")
        if port not in ("admin", admin_port):
            err(variant, f"{probe} port is {port!r}, want the admin port")

    args = [str(a) for a in c.get("args") or []]
    cm_name = vals.get("existingConfigMap") or f"{fullname}-config"
    if not args or args[0] != "serve":
        err(variant, f"container args must start with serve: {args}")
    if arg_after(args, "--configmap") != f"{ns}/{cm_name}":
        err(variant, f"--configmap is {arg_after(args, '--configmap')!r}, want {ns}/{cm_name}")
    if arg_after(args, "--configmap-key") != vals["configMapKey"]:
        err(variant, f"--configmap-key is {arg_after(args, '--configmap-key')!r}, want {vals['configMapKey']!r}")
    if "--config" in args:
        err(variant, "--config must not be passed beside --configmap")
    if arg_after(args, "--admin-listen") != "0.0.0.0:9090" or arg_after(args, "--listen") != "0.0.0.0:8080":
        err(variant, "--listen/--admin-listen must match the container ports")
    # gRPC: always passed explicitly, so that turning it off is visible in the pod spec.
    want_grpc_listen = "0.0.0.0:8081" if grpc_on else "off"
    if arg_after(args, "--grpc-listen") != want_grpc_listen:
        err(variant, f"--grpc-listen is {arg_after(args, '--grpc-listen')!r}, want {want_grpc_listen!r}")
    for flag in ("--grpc-tls-cert", "--grpc-tls-key"):
        path = arg_after(args, flag)
        if grpc_tls:
            mount = next((m for m in c.get("volumeMounts") or []
                          if path and m.get("mountPath") == os.path.dirname(path)), None)
            if not mount or mount.get("subPath"):
                err(variant, f"{flag} {path!r}: no whole-directory mount holds it (renewals need one)")
        elif path:
            err(variant, f"{flag} passed without grpc.tls.enabled")

    # Service.
    sports = {p.get("name"): p for p in dig(svc, "spec", "ports") or []}
    want_ports = {"data": (8080, "data"), "admin": (9090, "admin")}
    if grpc_on:
        want_ports["grpc"] = (8081, "grpc")
        gp = next((p for p in dig(svc, "spec", "ports") or [] if p.get("name") == "grpc"), {})
        want_proto = None if grpc_tls else "kubernetes.io/h2c"
        if gp.get("appProtocol") != want_proto:
            err(variant, f"Service port grpc: appProtocol is {gp.get('appProtocol')!r}, want {want_proto!r}")
    for name, (port, target) in want_ports.items():
        p = sports.get(name)
        if not p or p.get("port") != port or p.get("targetPort") != target:
            err(variant, f"Service port {name} must be {port} -> {target}, got {p}")
    if set(sports) != set(want_ports):
        err(variant, f"Service ports are {sorted(sports)}, want {sorted(want_ports)}")
    if (dig(svc, "spec", "selector") or {}) != selector:
        err(variant, "Service selector differs from the Deployment selector")
    if dig(svc, "spec", "publishNotReadyAddresses"):
        err(variant, "the main Service must route to ready pods only")
    if adm_svc:
        # Admission needs no keys: pods that are unready (JWKS down) must still answer it, or failurePolicy Fail
        # refuses the change that would fix them.
        if dig(adm_svc, "spec", "publishNotReadyAddresses") is not True:
            err(variant, "the admission Service must set publishNotReadyAddresses: true")
        if (dig(adm_svc, "spec", "selector") or {}) != selector:
            err(variant, "admission Service selector differs from the Deployment selector")
        aports = dig(adm_svc, "spec", "ports") or []
        if [(p.get("name"), p.get("port"), p.get("targetPort")) for p in aports] != [("admission", 443, "admission")]:
            err(variant, f"admission Service ports must be [admission 443 -> admission], got {aports}")

    # RBAC.
    sa_name = pod.get("serviceAccountName")
    sa = one("ServiceAccount")
    if sa and sa["metadata"]["name"] != sa_name:
        err(variant, "the pods do not run as the chart's ServiceAccount")
    role = one("Role")
    if role:
        rules = role.get("rules") or []
        ok = any(
            "" in (r.get("apiGroups") or [])
            and "configmaps" in (r.get("resources") or [])
            and {"get", "list", "watch"} <= set(r.get("verbs") or [])
            for r in rules
        )
        if not ok:
            err(variant, "Role must grant get/list/watch on configmaps")
        for r in rules:
            extra = set(r.get("verbs") or []) - {"get", "list", "watch"}
            if extra or set(r.get("resources") or []) - {"configmaps"}:
                err(variant, f"Role grants more than reading configmaps: {r}")
    rb = one("RoleBinding")
    if rb and role:
        if dig(rb, "roleRef", "name") != role["metadata"]["name"] or dig(rb, "roleRef", "kind") != "Role":
            err(variant, "RoleBinding does not reference the Role")
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name and s.get("namespace") == ns
                   for s in rb.get("subjects") or []):
            err(variant, "RoleBinding does not bind the pods' ServiceAccount")

    # ConfigMap.
    if expect["ConfigMap"]:
        cm = one("ConfigMap")
        if cm:
            if cm["metadata"]["name"] != cm_name:
                err(variant, f"ConfigMap is {cm['metadata']['name']}, the pods watch {cm_name}")
            if dig(cm, "metadata", "labels", "authgate.io/authconfig") != "true":
                err(variant, 'ConfigMap lacks the label authgate.io/authconfig: "true"')
            content = dig(cm, "data", vals["configMapKey"])
            if not content:
                err(variant, f"ConfigMap has no key {vals['configMapKey']}")
            else:
                try:
                    doc = yaml.safe_load(content)
                except yaml.YAMLError as e:
                    err(variant, f"ConfigMap AuthConfig is not YAML: {e}")
                    doc = None
                if not isinstance(doc, dict) or doc.get("kind") != "AuthConfig":
                    err(variant, "ConfigMap does not hold a kind: AuthConfig document")
                binary = os.environ.get("AUTHGATE_BIN")
                if not binary:
                    skip("AUTHGATE_BIN not set: the chart's AuthConfig is not loaded with `authgate check`")
                else:
                    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
                        f.write(content)
                    try:
                        r = subprocess.run([binary, "check", f.name], capture_output=True, text=True)
                    finally:
                        os.unlink(f.name)
                    if r.returncode != 0:
                        err(variant, f"authgate check refuses the chart's AuthConfig: {r.stdout}{r.stderr}")

    # PodDisruptionBudget.
    pdb = one("PodDisruptionBudget") if expect["PodDisruptionBudget"] else None
    if pdb:
        if dig(pdb, "spec", "maxUnavailable") != dig(vals, "podDisruptionBudget", "maxUnavailable"):
            err(variant, "PodDisruptionBudget maxUnavailable must be podDisruptionBudget.maxUnavailable")
        if "minAvailable" in (pdb.get("spec") or {}):
            err(variant, "PodDisruptionBudget must not set minAvailable (it blocks drains at one pod)")
        if (dig(pdb, "spec", "selector", "matchLabels") or {}) != selector:
            err(variant, "PodDisruptionBudget selector differs from the Deployment selector")

    if expect["HorizontalPodAutoscaler"]:
        hpa = one("HorizontalPodAutoscaler")
        if hpa and (dig(hpa, "spec", "scaleTargetRef", "name") != fullname
                    or dig(hpa, "spec", "scaleTargetRef", "kind") != "Deployment"):
            err(variant, "HPA does not target the Deployment")
    if expect["ServiceMonitor"]:
        sm = one("ServiceMonitor")
        if sm:
            ep = dig(sm, "spec", "endpoints", 0) or {}
            if ep.get("port") != "admin" or ep.get("path") != "/metrics":
                err(variant, "ServiceMonitor must scrape /metrics on the admin port")
            if (dig(sm, "spec", "selector", "matchLabels") or {}) != selector:
                err(variant, "ServiceMonitor selector does not select the Service")
    if expect["NetworkPolicy"]:
        np_ = one("NetworkPolicy")
        if np_:
            if (dig(np_, "spec", "podSelector", "matchLabels") or {}) != selector:
                err(variant, "NetworkPolicy does not select the pods")
            rules = dig(np_, "spec", "ingress") or []
            allowed = {p.get("port") for rule in rules for p in rule.get("ports") or []}
            want = {"data", "admin"} | ({"admission"} if webhook_on else set()) | ({"grpc"} if grpc_on else set())
            if allowed != want:
                err(variant, f"NetworkPolicy ingress ports are {allowed}, want {want}")
            for rule in rules:
                if any(p.get("port") == "admission" for p in rule.get("ports") or []):
                    cidrs = dig(vals, "networkPolicy", "admissionFromCIDRs") or []
                    want_from = [{"ipBlock": {"cidr": c}} for c in cidrs]
                    want_from += dig(vals, "networkPolicy", "admissionFrom") or []
                    if len(rule.get("ports")) != 1 or (rule.get("from") or []) != want_from:
                        err(variant, f"NetworkPolicy admission rule must allow exactly {want_from}, got {rule}")

    # Glue objects: they must reach this Service on the right port, and fail closed.
    if expect["SecurityPolicy"]:
        sp = one("SecurityPolicy")
        if sp:
            ext = dig(sp, "spec", "extAuth") or {}
            proto = dig(vals, "envoyGateway", "securityPolicy", "protocol")
            port = dig(svc, "spec", "ports") or []
            want_port = next((p.get("port") for p in port if p.get("name") == ("grpc" if proto == "grpc" else "data")),
                             None)
            refs = dig(ext, proto, "backendRefs") or []
            if ext.get("failOpen") is not False:
                err(variant, "SecurityPolicy extAuth.failOpen must be false")
            if [(r.get("name"), r.get("namespace"), r.get("port")) for r in refs] != [(fullname, ns, want_port)]:
                err(variant, f"SecurityPolicy extAuth.{proto}.backendRefs must be [{fullname}.{ns}:{want_port}]: {refs}")
            if not dig(sp, "spec", "targetRefs"):
                err(variant, "SecurityPolicy has no targetRefs")
        if expect["ReferenceGrant"]:
            rg = one("ReferenceGrant")
            sp_ns = dig(vals, "envoyGateway", "securityPolicy", "namespace")
            if rg and (dig(rg, "spec", "from") != [{"group": "gateway.envoyproxy.io", "kind": "SecurityPolicy",
                                                   "namespace": sp_ns}]
                       or dig(rg, "spec", "to") != [{"group": "", "kind": "Service", "name": fullname}]):
                err(variant, f"ReferenceGrant must admit SecurityPolicies of {sp_ns} to Service {fullname} only")
    if expect["AuthorizationPolicy"]:
        ap = one("AuthorizationPolicy")
        if ap and (dig(ap, "spec", "action") != "CUSTOM"
                   or dig(ap, "spec", "provider", "name") != dig(vals, "istio", "authorizationPolicy", "provider")):
            err(variant, "AuthorizationPolicy must be action CUSTOM with the configured provider")

    # Admission webhook.
    mounts = {m.get("name"): m for m in c.get("volumeMounts") or []}
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    if not webhook_on:
        for flag in ("--admission-listen", "--tls-cert", "--tls-key"):
            if flag in args:
                err(variant, f"{flag} passed although the webhook is off")
        return
    if arg_after(args, "--admission-listen") != "0.0.0.0:8443" or container_port(c, "admission") != 8443:
        err(variant, "--admission-listen and the admission container port must be 8443")
    tls_secret = None
    for flag, file in (("--tls-cert", "tls.crt"), ("--tls-key", "tls.key")):
        path = arg_after(args, flag)
        if not path or os.path.basename(path) != file:
            err(variant, f"{flag} is {path!r}, want a path ending in {file}")
            continue
        mount = next((m for m in mounts.values() if m.get("mountPath") == os.path.dirname(path)), None)
        if not mount:
            err(variant, f"{flag} {path}: no volume mounted at {os.path.dirname(path)}")
            continue
        if mount.get("subPath"):
            err(variant, f"{flag}: a subPath mount never sees renewed certificates")
        tls_secret = dig(volumes.get(mount["name"]) or {}, "secret", "secretName")
        if not tls_secret:
            err(variant, f"{flag}: the volume at {mount['mountPath']} is not a Secret")
    vwc = one("ValidatingWebhookConfiguration")
    if not vwc:
        return
    hooks = vwc.get("webhooks") or []
    if not hooks:
        err(variant, "ValidatingWebhookConfiguration has no webhooks")
    for h in hooks:
        hn = h.get("name")
        if h.get("failurePolicy") != "Fail":
            err(variant, f"webhook {hn}: failurePolicy must be Fail")
        if h.get("sideEffects") != "None":
            err(variant, f"webhook {hn}: sideEffects must be None")
        if h.get("timeoutSeconds") != 5:
            err(variant, f"webhook {hn}: timeoutSeconds must be 5")
        if h.get("admissionReviewVersions") != ["v1"]:
            err(variant, f"webhook {hn}: admissionReviewVersions must be [v1]")
        if dig(h, "objectSelector", "matchLabels") != {"authgate.io/authconfig": "true"}:
            err(variant, f'webhook {hn}: objectSelector must match authgate.io/authconfig: "true"')
        nsel = dig(h, "namespaceSelector", "matchExpressions") or []
        if not any(e.get("key") == "kubernetes.io/metadata.name" and e.get("operator") == "In"
                   and e.get("values") == [ns] for e in nsel):
            err(variant, f"webhook {hn}: namespaceSelector must confine it to namespace {ns}")
        rules = h.get("rules") or []
        if len(rules) != 1 or not (
            rules[0].get("apiGroups") == [""] and rules[0].get("apiVersions") == ["v1"]
            and rules[0].get("resources") == ["configmaps"]
            and sorted(rules[0].get("operations") or []) == ["CREATE", "UPDATE"]
        ):
            err(variant, f"webhook {hn}: rules must be CREATE/UPDATE on v1 configmaps, got {rules}")
        svcref = dig(h, "clientConfig", "service") or {}
        if (svcref.get("name"), svcref.get("namespace"), svcref.get("path"), svcref.get("port")) != (
            adm_name, ns, "/validate", 443,
        ):
            err(variant, f"webhook {hn}: clientConfig.service must be {adm_name}.{ns}:443/validate")
        ca_bundle = dig(h, "clientConfig", "caBundle")
        if cert_manager:
            cert = one("Certificate")
            inject = dig(vwc, "metadata", "annotations", "cert-manager.io/inject-ca-from")
            if cert:
                if inject != f"{ns}/{cert['metadata']['name']}":
                    err(variant, f"inject-ca-from is {inject!r}, want {ns}/{cert['metadata']['name']}")
                if dig(cert, "spec", "secretName") != tls_secret:
                    err(variant, "the Certificate's Secret is not the one mounted for --tls-cert")
                if f"{adm_name}.{ns}.svc" not in (dig(cert, "spec", "dnsNames") or []):
                    err(variant, "the Certificate lacks the DNS name <svc>.<ns>.svc")
            if ca_bundle:
                err(variant, "caBundle set although cert-manager injects it")
        elif own_secret:
            if tls_secret != own_secret:
                err(variant, f"--tls-cert is mounted from {tls_secret!r}, want webhook.existingSecret {own_secret!r}")
            if ca_bundle != dig(vals, "webhook", "caBundle"):
                err(variant, "caBundle is not webhook.caBundle")
            if dig(vwc, "metadata", "annotations", "cert-manager.io/inject-ca-from"):
                err(variant, "inject-ca-from set with webhook.existingSecret")
        else:
            secret = one("Secret")
            if inject := dig(vwc, "metadata", "annotations", "cert-manager.io/inject-ca-from"):
                err(variant, f"inject-ca-from set without cert-manager: {inject}")
            if secret:
                if secret["metadata"]["name"] != tls_secret:
                    err(variant, "the generated Secret is not the one mounted for --tls-cert")
                check_cert(variant, secret, ca_bundle, adm_name)


check_values_comments()
for v in variants:
    check_variant(v)
if errors:
    for e in errors:
        print(f"check-chart: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-chart: {len(variants)} renders checked: {', '.join(variants)}")
PY

echo "check-chart: comparing manifests/authgate.yaml with a fresh render"
[[ -f manifests/authgate.yaml ]] || fail "manifests/authgate.yaml is missing (run scripts/render-manifests.sh)"
scripts/render-manifests.sh --stdout > "$work/manifests.yaml"
if ! cmp -s "$work/manifests.yaml" manifests/authgate.yaml; then
  diff -u manifests/authgate.yaml "$work/manifests.yaml" | head -n 40 >&2 || true
  fail "manifests/authgate.yaml differs from the chart's render (run scripts/render-manifests.sh and commit it)"
fi

echo "check-chart: ok"
