{{/* Names and labels shared by the templates. */}}
{{- define "kaon-gateway.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kaon-gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kaon-gateway.labels" -}}
app.kubernetes.io/name: {{ include "kaon-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kaon-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kaon-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kaon-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kaon-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kaon-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kaon-gateway.tokenSecret" -}}
{{- if .Values.jupyterhub.apiTokenSecret.name -}}
{{- .Values.jupyterhub.apiTokenSecret.name -}}
{{- else -}}
{{- printf "%s-hub-token" (include "kaon-gateway.fullname" .) -}}
{{- end -}}
{{- end -}}
