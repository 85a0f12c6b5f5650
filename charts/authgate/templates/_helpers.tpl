{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "authgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the objects: fullnameOverride, else the release name when it contains the chart name, else
<release>-<chart>.
*/}}
{{- define "authgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The helm.sh/chart label value: <chart>-<version>, "+" replaced since labels cannot hold it.
*/}}
{{- define "authgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the pods; never change them on an installed release (Deployment selectors are immutable).
*/}}
{{- define "authgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels, on every object of the chart.
*/}}
{{- define "authgate.labels" -}}
helm.sh/chart: {{ include "authgate.chart" . }}
{{ include "authgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: authgate
{{- end }}

{{/*
ServiceAccount the pods run as.
*/}}
{{- define "authgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the ConfigMap holding the AuthConfig: the existing one, or the chart's.
*/}}
{{- define "authgate.configMapName" -}}
{{- if .Values.existingConfigMap }}
{{- .Values.existingConfigMap }}
{{- else }}
{{- printf "%s-config" (include "authgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Names of the admission webhook's objects.
*/}}
{{- define "authgate.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "authgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "authgate.webhookCertificateName" -}}
{{- printf "%s-webhook" (include "authgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "authgate.webhookIssuerName" -}}
{{- printf "%s-selfsigned" (include "authgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The admission webhook's Service (it publishes not-ready pods; see service.yaml).
*/}}
{{- define "authgate.admissionServiceName" -}}
{{- printf "%s-admission" (include "authgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
DNS names the API server uses to reach the admission listener through its Service.
*/}}
{{- define "authgate.webhookDNSNames" -}}
{{- $svc := include "authgate.admissionServiceName" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/*
Image reference: repository@digest, else repository:tag (tag defaults to the appVersion).
*/}}
{{- define "authgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Where the admission listener's certificate is mounted.
*/}}
{{- define "authgate.tlsDir" -}}
/etc/authgate/tls
{{- end }}

{{/*
Where the gRPC listener's certificate and, optionally, the CA of its clients are mounted.
*/}}
{{- define "authgate.grpcTlsDir" -}}
/etc/authgate/grpc-tls
{{- end }}

{{- define "authgate.grpcClientCADir" -}}
/etc/authgate/grpc-client-ca
{{- end }}

{{/*
Multi-config mode (docs/multi-config.md, "Several APIs in one authgate"): "true" when `authConfigs` has an entry, else empty. The
mode follows the values, never a count: one entry in `authConfigs` is still multi-config mode.
*/}}
{{- define "authgate.multiConfig" -}}
{{- if .Values.authConfigs }}true{{ end }}
{{- end }}

{{/*
The label every ConfigMap of this release's config set carries, and the pods' `--configmap-selector` on it. Its value
is the full name (at most 63 characters, a valid label value), so two releases in one namespace never read each
other's configs.
*/}}
{{- define "authgate.configSetLabel" -}}
authgate.io/config-set
{{- end }}

{{- define "authgate.configSetSelector" -}}
{{- printf "%s=%s" (include "authgate.configSetLabel" .) (include "authgate.fullname" .) }}
{{- end }}

{{/*
Name of the ConfigMap of one `authConfigs` entry (the dict's `key`): <fullname>-config-<key>. A ConfigMap name may be
253 characters long and these are at most 63 + 8 + 63, so nothing is cut and two keys never share a name.
*/}}
{{- define "authgate.multiConfigMapName" -}}
{{- printf "%s-config-%s" (include "authgate.fullname" .root) .key }}
{{- end }}

{{/*
"true" when `authConfig` was left as the chart ships it (or set to null/empty): only then may `authConfigs` be used.
values.yaml cannot be read from a template, so the shipped document is recognised by its SHA-256; tests/chart.rs
renders `authConfigs` alone, which fails if this hash and values.yaml part ways.
*/}}
{{- define "authgate.authConfigUnset" -}}
{{- if or (empty .Values.authConfig) (eq (sha256sum (toString .Values.authConfig)) "3c956eda7a547e35d56604a8836f9515f8ac32763484044af1c3a850fbac38ae") }}true{{ end }}
{{- end }}

{{/*
Refusals of values that cannot mean anything in multi-config mode, with a message naming the value. The schema refuses
bad keys too; this repeats it so that the message says what a config name is.
*/}}
{{- define "authgate.validateConfigs" -}}
{{- if .Values.authConfigs }}
{{- if .Values.existingConfigMap }}
{{- fail "authConfigs and existingConfigMap cannot be used together: existingConfigMap is single-config mode (one ConfigMap); in multi-config mode label your own ConfigMaps instead (see docs/multi-config.md, Several APIs in one authgate)" }}
{{- end }}
{{- if not (include "authgate.authConfigUnset" .) }}
{{- fail "authConfigs and authConfig cannot be used together: authConfig is single-config mode, authConfigs multi-config mode (every proxy route then names its config). Move the document into authConfigs under a name, and leave authConfig unset (authConfig: null)" }}
{{- end }}
{{- if gt (len .Values.authConfigs) 256 }}
{{- fail (printf "authConfigs has %d entries; authgate loads at most 256 configs" (len .Values.authConfigs)) }}
{{- end }}
{{- range $name, $doc := .Values.authConfigs }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" $name) }}
{{- fail (printf "authConfigs key %q is not a config name: a DNS label, 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-' (proxies name it in /configs/<name>)" $name) }}
{{- end }}
{{- if or (empty $doc) (and (kindIs "string" $doc) (not (trim $doc))) }}
{{- fail (printf "authConfigs.%s is empty: give it an AuthConfig document (an object or a YAML/JSON string)" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The CPU request in whole cores, rounded up as the Downward API rounds `resourceFieldRef` with divisor 1 ("50m" -> 1,
"1500m" -> 2, 2 -> 2); empty when no CPU request is set.
*/}}
{{- define "authgate.cpuRequestCores" -}}
{{- $cpu := toString (dig "requests" "cpu" "" (default dict .Values.resources)) }}
{{- if $cpu }}
{{- if hasSuffix "m" $cpu }}
{{- div (add (trimSuffix "m" $cpu | int64) 999) 1000 }}
{{- else }}
{{- $cpu | float64 | ceil | int64 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The AUTHGATE_WORKERS env entry. authgate's default is one worker per CPU it sees, which without a CPU limit is every
core of the node, so the chart always sets it: the explicit `workers.count`; else the pod's CPU request through the
Downward API (a VPA that changes the request changes the workers at the next pod start); else, when the request is
unset or rounds outside [workers.min, workers.max], the clamped number written into the manifest.
*/}}
{{- define "authgate.workersEnv" -}}
{{- $min := int64 .Values.workers.min }}
{{- $max := int64 .Values.workers.max }}
{{- $cores := include "authgate.cpuRequestCores" . }}
- name: AUTHGATE_WORKERS
{{- if gt (int64 .Values.workers.count) 0 }}
  value: {{ .Values.workers.count | int64 | toString | quote }}
{{- else if not $cores }}
  value: {{ $min | toString | quote }}
{{- else if lt (int64 $cores) $min }}
  value: {{ $min | toString | quote }}
{{- else if gt (int64 $cores) $max }}
  value: {{ $max | toString | quote }}
{{- else }}
  valueFrom:
    resourceFieldRef:
      containerName: authgate
      resource: requests.cpu
      divisor: "1"
{{- end }}
{{- end }}

{{/*
Capability names of the custom resources the chart may render; an object whose API the cluster (or `helm template
--api-versions`) does not offer is left out, and NOTES.txt says so.
*/}}
{{- define "authgate.hasServiceMonitor" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor" }}true{{ end }}
{{- end }}

{{- define "authgate.hasCertManager" -}}
{{- if and (.Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate") (.Capabilities.APIVersions.Has "cert-manager.io/v1/Issuer") }}true{{ end }}
{{- end }}

{{/*
Refusals of webhook certificate values that contradict each other.
*/}}
{{- define "authgate.validateWebhook" -}}
{{- if .Values.webhook.enabled }}
{{- if and .Values.webhook.existingSecret .Values.webhook.certManager.enabled }}
{{- fail "webhook.existingSecret and webhook.certManager.enabled cannot be used together: pick one source of the serving certificate" }}
{{- end }}
{{- if and .Values.webhook.existingSecret (not .Values.webhook.caBundle) }}
{{- fail "webhook.existingSecret needs webhook.caBundle: the base64 PEM of the CA that signed its certificate (the API server verifies the webhook with it)" }}
{{- end }}
{{- if and .Values.webhook.caBundle (not .Values.webhook.existingSecret) }}
{{- fail "webhook.caBundle is only used with webhook.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}
