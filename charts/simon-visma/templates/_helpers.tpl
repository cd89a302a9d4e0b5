{{/*
Chart name, cut to 63 characters (the DNS label limit for names and label values).
*/}}
{{- define "simon-visma.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: the release name, plus the chart name when the release
name does not already contain it.
*/}}
{{- define "simon-visma.fullname" -}}
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
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "simon-visma.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the operator pod; they never change after install.
*/}}
{{- define "simon-visma.selectorLabels" -}}
app.kubernetes.io/name: {{ include "simon-visma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels of every object (Helm's recommended app.kubernetes.io/* set).
*/}}
{{- define "simon-visma.labels" -}}
helm.sh/chart: {{ include "simon-visma.chart" . }}
{{ include "simon-visma.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: simon-visma
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Name of the ServiceAccount the operator runs as.
*/}}
{{- define "simon-visma.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "simon-visma.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image, tag defaulting to the chart's appVersion.
*/}}
{{- define "simon-visma.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Name of the PVC that holds the SQLite file.
*/}}
{{- define "simon-visma.claimName" -}}
{{- default (printf "%s-data" (include "simon-visma.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
True when the SQLite file lives on a PVC (created or existing).
*/}}
{{- define "simon-visma.usePVC" -}}
{{- if and (eq .Values.database.type "sqlite") .Values.persistence.enabled }}true{{ end }}
{{- end }}

{{/*
Topology spread constraints as YAML: the given ones (each without a labelSelector gets the
pods' labels), or a soft spread across nodes when there is more than one replica.
*/}}
{{- define "simon-visma.topologySpreadConstraints" -}}
{{- $selector := dict "matchLabels" (include "simon-visma.selectorLabels" . | fromYaml) }}
{{- $constraints := list }}
{{- range .Values.topologySpreadConstraints }}
{{- if hasKey . "labelSelector" }}
{{- $constraints = append $constraints . }}
{{- else }}
{{- $constraints = append $constraints (set (deepCopy .) "labelSelector" $selector) }}
{{- end }}
{{- else }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- $constraints = list (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" $selector) }}
{{- end }}
{{- end }}
{{- with $constraints }}{{ toYaml . }}{{ end }}
{{- end }}
