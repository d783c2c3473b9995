{{/* Names, labels and the per-service facts every template shares. */}}

{{- define "farmlokal.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "farmlokal.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "farmlokal.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The three services: env prefix, ports (the settings' defaults), schema, module, health service. */}}
{{- define "farmlokal.services" -}}
catalog:
  prefix: CATALOG_
  port: 15051
  metricsPort: 9101
  schema: catalog
  module: catalog_service
  dbPasswordKey: catalog-db-password
  health: farmlokal.catalog.v1.CatalogService
webhook:
  prefix: WEBHOOK_
  port: 15052
  metricsPort: 9201
  schema: webhooks
  module: webhook_service
  dbPasswordKey: webhooks-db-password
  health: farmlokal.webhook.v1.WebhookService
auth:
  prefix: AUTH_
  port: 15053
  metricsPort: 9301
  schema: auth
  module: auth_service
  dbPasswordKey: auth-db-password
  health: farmlokal.auth.v1.TokenInfoService
{{- end -}}

{{- define "farmlokal.serviceHost" -}}
{{- printf "%s-%s.%s.svc.%s" (include "farmlokal.fullname" .root) .component .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}

{{- define "farmlokal.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-dev" (include "farmlokal.fullname" .)) -}}
{{- end -}}

{{- define "farmlokal.sandboxUrl" -}}
{{- printf "http://%s-sandbox.%s.svc.%s:18090" (include "farmlokal.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "farmlokal.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}

{{/* mysql+mysqldb://USER:$(PASSWORD_ENV)@HOST:PORT/SCHEMA: Kubernetes expands $(VAR) from the env above it. */}}
{{- define "farmlokal.databaseUrl" -}}
{{- printf "mysql+mysqldb://%s:$(%s)@%s:%v/%s?charset=utf8mb4" .user .passwordEnv .host .port .schema -}}
{{- end -}}

{{- define "farmlokal.redisEnv" -}}
{{- $r := .root.Values.redis -}}
{{- if $r.auth }}
- name: FARMLOKAL_REDIS_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "farmlokal.secretName" .root }}, key: redis-password}}
{{- end }}
{{- $cred := ternary ":$(FARMLOKAL_REDIS_PASSWORD)@" "" $r.auth }}
{{- if $r.sentinel.enabled }}
- name: {{ .prefix }}REDIS_URL
  value: {{ printf "redis+sentinel://%s%s/%s/%v" $cred (join "," $r.sentinel.hosts) $r.sentinel.masterName $r.db | quote }}
- name: {{ .prefix }}REDIS_SENTINELS
  value: {{ join "," $r.sentinel.hosts | quote }}
- name: {{ .prefix }}REDIS_MASTER_NAME
  value: {{ $r.sentinel.masterName | quote }}
{{- else }}
- name: {{ .prefix }}REDIS_URL
  value: {{ printf "redis://%s%s:%v/%v" $cred $r.host $r.port $r.db | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings: dict "root" . "securityContext" (the pod's security context). */}}
{{- define "farmlokal.podSecurity" -}}
securityContext:
  {{- toYaml .securityContext | nindent 2 }}
automountServiceAccountToken: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "farmlokal.topologySpread" -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ .root.Values.topologySpread.zone }}
    labelSelector:
      matchLabels:
        {{- include "farmlokal.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ .root.Values.topologySpread.node }}
    labelSelector:
      matchLabels:
        {{- include "farmlokal.selectorLabels" . | nindent 8 }}
{{- end -}}
