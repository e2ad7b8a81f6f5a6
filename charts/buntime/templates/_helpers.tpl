{{/* Names and labels. */}}
{{- define "buntime.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "buntime.fullname" -}}
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

{{- define "buntime.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "buntime.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "buntime.selectorLabels" -}}
app.kubernetes.io/name: {{ include "buntime.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "buntime.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "buntime.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* More than one pod may run at once: the volume must be shared and a PDB makes sense. */}}
{{- define "buntime.multi" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{- define "buntime.secretName" -}}
{{- default (include "buntime.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* The API mount, from RUNTIME_API_PREFIX as the runtime normalises it (trailing / dropped). */}}
{{- define "buntime.apiPath" -}}
{{- $prefix := .Values.runtime.RUNTIME_API_PREFIX | default "" | trimSuffix "/" }}
{{- printf "%s/api" $prefix }}
{{- end }}

{{/* The drain, in whole seconds rounded up. */}}
{{- define "buntime.drainSeconds" -}}
{{- $ms := .Values.runtime.RUNTIME_SHUTDOWN_GRACE_MS | default "30000" | toString }}
{{- if not (regexMatch "^[0-9]+$" $ms) }}
{{- fail (printf "runtime.RUNTIME_SHUTDOWN_GRACE_MS=%q: expected a whole number of milliseconds, such as 30000" $ms) }}
{{- end }}
{{- div (add (int64 $ms) 999) 1000 }}
{{- end }}

{{- define "buntime.terminationGracePeriodSeconds" -}}
{{- $drain := int64 (include "buntime.drainSeconds" .) }}
{{- $floor := add $drain (int64 .Values.preStopSleepSeconds) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $floor 10 }}
{{- else if le (int64 .Values.terminationGracePeriodSeconds) $floor }}
{{- fail (printf "terminationGracePeriodSeconds=%v must be above preStopSleepSeconds + RUNTIME_SHUTDOWN_GRACE_MS (%d s), or the kubelet kills pods mid-drain" .Values.terminationGracePeriodSeconds $floor) }}
{{- else }}
{{- int64 .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The public origins browsers use: the ingress and route hosts. */}}
{{- define "buntime.publicUrls" -}}
{{- $urls := list }}
{{- if .Values.ingress.enabled }}
{{- $tlsHosts := list }}
{{- range .Values.ingress.tls }}{{ $tlsHosts = concat $tlsHosts (.hosts | default list) }}{{ end }}
{{- range .Values.ingress.hosts }}
{{- $urls = append $urls (printf "%s://%s" (ternary "https" "http" (has .host $tlsHosts)) .host) }}
{{- end }}
{{- end }}
{{- if and .Values.route.enabled .Values.route.host }}
{{- $urls = append $urls (printf "%s://%s" (ternary "https" "http" (not (empty .Values.route.tls))) .Values.route.host) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/* PostgreSQL's URL from url or its parts (the password URL-escaped). */}}
{{- define "buntime.postgresUrl" -}}
{{- $pg := .Values.postgresql }}
{{- if $pg.url }}
{{- $pg.url }}
{{- else }}
{{- if not $pg.host }}
{{- fail "postgresql.enabled needs postgresql.url, postgresql.host or postgresql.existingSecret" }}
{{- end }}
{{- printf "postgres://%s:%s@%s:%v/%s" (urlquery $pg.username | replace "+" "%20") (urlquery $pg.password | replace "+" "%20") $pg.host $pg.port $pg.database }}
{{- end }}
{{- end }}
