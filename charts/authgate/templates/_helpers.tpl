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
