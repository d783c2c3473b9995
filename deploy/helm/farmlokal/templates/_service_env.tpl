{{/* The settings of one service (its pydantic settings by env prefix): where it listens, its MySQL user
(password by reference), Redis, its peers by their headless Services, its secrets by reference. */}}
{{- define "farmlokal.serviceEnv" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $svc := .svc -}}
{{- $values := index $root.Values.services $name -}}
{{- $secret := include "farmlokal.secretName" $root -}}
{{- $mysql := $root.Values.mysql -}}
{{- $p := $svc.prefix -}}
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: {{ $p }}GRPC_HOST
  value: 0.0.0.0
- name: {{ $p }}GRPC_PORT
  value: {{ $svc.port | quote }}
- name: {{ $p }}METRICS_PORT
  value: {{ $svc.metricsPort | quote }}
- name: {{ $p }}WORKERS
  value: {{ $values.workers | quote }}
- name: {{ $p }}GRACE_SECONDS
  value: {{ $values.graceSeconds | quote }}
- name: FARMLOKAL_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ $svc.dbPasswordKey }}}}
- name: {{ $p }}DATABASE_URL
  value: {{ include "farmlokal.databaseUrl" (dict "user" (index $mysql.users $name) "passwordEnv" "FARMLOKAL_DB_PASSWORD" "host" $mysql.primary.host "port" $mysql.primary.port "schema" $svc.schema) | quote }}
{{- if and (eq $name "catalog") $mysql.replica.host }}
- name: CATALOG_DATABASE_READ_URL
  value: {{ include "farmlokal.databaseUrl" (dict "user" (index $mysql.users $name) "passwordEnv" "FARMLOKAL_DB_PASSWORD" "host" $mysql.replica.host "port" $mysql.replica.port "schema" $svc.schema) | quote }}
{{- end }}
{{- include "farmlokal.redisEnv" (dict "root" $root "prefix" $p) }}
{{- if eq $name "catalog" }}
- name: CATALOG_AUTH_ADDRESS
  value: {{ printf "%s:15053" (include "farmlokal.serviceHost" (dict "root" $root "component" "auth")) }}
- name: CATALOG_WEBHOOK_ADDRESS
  value: {{ printf "%s:15052" (include "farmlokal.serviceHost" (dict "root" $root "component" "webhook")) }}
- name: CATALOG_CURSOR_SECRET
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: catalog-cursor-secret}}
- name: CATALOG_SUPPLIER_BASE_URL
  value: {{ $root.Values.supplier.baseUrl | default (include "farmlokal.sandboxUrl" $root) | quote }}
- name: CATALOG_SUPPLIER_HEALTH_URL
  value: {{ $root.Values.supplier.healthUrl | default (printf "%s/healthz" (include "farmlokal.sandboxUrl" $root)) | quote }}
- name: CATALOG_OAUTH_HEALTH_URL
  value: {{ $root.Values.oauth.healthUrl | default (printf "%s/healthz" (include "farmlokal.sandboxUrl" $root)) | quote }}
{{- else if eq $name "webhook" }}
- name: WEBHOOK_CATALOG_ADDRESS
  value: {{ printf "%s:15051" (include "farmlokal.serviceHost" (dict "root" $root "component" "catalog")) }}
- name: WEBHOOK_SOURCE_SECRETS
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: webhook-source-secrets}}
{{- else if eq $name "auth" }}
- name: AUTH_TOKEN_URL
  value: {{ $root.Values.oauth.tokenUrl | default (printf "%s/oauth/token" (include "farmlokal.sandboxUrl" $root)) | quote }}
- name: AUTH_CLIENT_ID
  value: {{ $root.Values.oauth.clientId | quote }}
- name: AUTH_CLIENT_SECRET
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: auth-client-secret}}
- name: AUTH_CLIENT_AUTH_METHOD
  value: {{ $root.Values.oauth.clientAuthMethod | quote }}
- name: AUTH_AUDIENCE
  value: {{ $root.Values.oauth.audience | quote }}
- name: AUTH_SCOPE
  value: {{ $root.Values.oauth.scope | quote }}
{{- end }}
{{- range $key, $value := $values.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
