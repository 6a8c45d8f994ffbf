{{/* The release's resource name: <release>-coding-potential, or the release alone when it already says so. */}}
{{- define "coding-potential.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "coding-potential.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Seldon v1 labels every pod of a SeldonDeployment with seldon-deployment-id: its name. */}}
{{- define "coding-potential.podSelector" -}}
seldon-deployment-id: {{ include "coding-potential.fullname" . }}
{{- end -}}

{{- define "coding-potential.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "coding-potential.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
